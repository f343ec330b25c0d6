"""One million personalised messages: micromarket's sandboxed renderer beside plain Jinja2 loops.

Target (DESIGN.md, Performance): one million personalised messages rendered in under a minute on
this two-core machine.

The contexts come from a synthetic Arrow table shaped as ``context_table``'s output (every column
of ``customers`` and ``customer_profile`` with the schema's types, a segment, a persona, an offer
and five recommendations per customer from 2,000 products), built with NumPy and Arrow, so no
workspace is needed.
The same three-part e-mail template (:data:`TEMPLATE`) is rendered, in batches of 100,000, by

- ``micromarket``: ``contexts_from_arrow`` (converting the customer fields the template reads and
  the contact fields) then ``MessageTemplate.render_all`` (sandboxed);
- ``plain Jinja2``: the usual loop, ``batch.to_pylist()`` and three ``Template.render`` calls per
  customer in a non-sandboxed ``jinja2.Environment`` (the parts as three templates);
- ``plain Jinja2, sandboxed``: the same loop in ``ImmutableSandboxedEnvironment``, the sandbox's
  own cost in the usual loop.

All three get the same filters, ``finalize`` and whitespace settings; the first 1,000 messages of
each peer are checked equal to micromarket's before timing.

Usage: python bench/campaign_render.py [N]   (default 1000000; JSON also in bench/out/campaign_render-<N>.json)
"""

import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import Environment, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

sys.path.insert(0, str(Path(__file__).parent))
from _common import record  # noqa: E402

from micromarket.campaigns.messages import MessageTemplate, contexts_from_arrow, template_filters  # noqa: E402
from micromarket.schema import get_table  # noqa: E402

OUT = Path(__file__).parent / "out"
BATCH = 100_000
CAMPAIGN = "spring"
UNSUBSCRIBE = "https://shop.example/unsubscribe/{customer_id}"

#: The template rendered: a subject, a text part and an HTML part with a loop over five products.
TEMPLATE = """\
{% block subject %}
{{ customer.first_name | default('Hello', true) | title }}, {{ offer.discount_depth | percent }} off for you
{% endblock %}

{% block text %}
Hi {{ customer.first_name | default('there', true) | title }},

As one of our {{ persona }} customers you get {{ offer.discount_depth | percent }} off this spring.
You last shopped with us on {{ customer.last_purchase | date }}; picked for you:
{% for item in recommendations %}
- {{ item.name }} ({{ item.category }}), {{ item.list_price | money }}
{% endfor %}

Unsubscribe: {{ unsubscribe_url }}
{% endblock %}

{% block html %}
<p>Hi {{ customer.first_name | default('there', true) | title }},</p>
<p>As one of our <b>{{ persona }}</b> customers you get <b>{{ offer.discount_depth | percent }}</b> off this spring.</p>
<ul>
{% for item in recommendations %}
  <li>{{ item.name }} <i>{{ item.category }}</i> {{ item.list_price | money }}</li>
{% endfor %}
</ul>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
{% endblock %}
"""

_ARROW = {"VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BIGINT": pa.int64(), "TIMESTAMP": pa.timestamp("us"),
          "DATE": pa.date32(), "BOOLEAN": pa.bool_()}
_NAMES = np.array(["ann", "bob", "chloé", "dev", "eva", "<script>alert(1)</script>"])


def _column(name: str, kind: pa.DataType, n: int, rng: np.random.Generator) -> pa.Array:
    """Plausible values of one customer column (about 10 % NULL for the contact fields)."""
    if name in ("customer_id", "email"):
        ids = pa.array(np.arange(n)).cast(pa.string())
        return ids if name == "customer_id" else pc.binary_join_element_wise("customer", ids, "@example.com", "")
    if name == "first_name":
        return _pick(_NAMES, n, rng)
    if kind == pa.string():
        return _pick([f"{name[:3]}-{i}" for i in range(50)], n, rng)
    if kind == pa.float64():
        return pa.array(rng.gamma(2.0, 10.0, n))
    if kind == pa.int64():
        return pa.array(rng.integers(0, 10, n))
    if kind == pa.bool_():
        return pa.array(rng.random(n) < 0.7)
    days = rng.integers(19_000, 20_000, n).astype("int32")
    return pa.array(days, pa.date32()) if kind == pa.date32() else pa.array(days.astype("int64") * 86_400_000_000, kind)


def _pick(values, n: int, rng: np.random.Generator, null_share: float = 0.1) -> pa.Array:
    """``n`` values drawn from ``values``, about ``null_share`` of them NULL."""
    return pa.array(values).take(pa.array(rng.integers(0, len(values), n), mask=rng.random(n) < null_share))


def contexts_table(n: int, seed: int = 0) -> pa.Table:
    """A synthetic table shaped as ``context_table``'s output, of ``n`` customers."""
    rng = np.random.default_rng(seed)
    columns = [c for t in ("customers", "customer_profile") for c in get_table(t).columns
               if c.name not in ("load_id", "profile_run_id")]
    fields, seen = {}, set()
    for col in columns:
        if col.name not in seen:
            seen.add(col.name)
            fields[col.name] = _column(col.name, _ARROW[col.dtype], n, rng)
    customer = pa.StructArray.from_arrays(list(fields.values()), names=list(fields))
    segment = pa.array(rng.integers(0, 5, n))
    offer = pa.StructArray.from_arrays(
        [_pick(["treatment"], n, rng, 0.0), _pick(["email"], n, rng, 0.0), pa.array(rng.choice([0.0, 0.1, 0.2], n))],
        names=["name", "channel", "discount_depth"])
    k, products = 5, 2_000  # five recommendations each, from a catalogue of 2,000 products
    ids = np.arange(products)
    catalogue = pa.StructArray.from_arrays(
        [pa.array([f"P{i}" for i in ids]), pa.array([f"Product #{i}" for i in ids]),
         pa.array(np.array(["Cheese", "Wine", "Deli", "Snacks"])[ids % 4]),
         pa.array(np.array(["Heritage", "Artisan", "micromarket"])[ids % 3]),
         pa.array(np.round(rng.gamma(2.0, 3.0, products), 2))],
        names=["product_id", "name", "category", "brand", "list_price"])
    items = catalogue.take(pa.array(rng.integers(0, products, n * k)))
    recs = pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype="int32")), items)
    personas = ["Cheese lovers", "Wine buyers", "Bargain hunters", "Busy families", "Snackers"]
    segments = pa.array([f"clusters/segment-0{i}" for i in range(5)])
    return pa.table({"customer": customer, "segment": segments.take(segment),
                     "persona": pa.array(personas).take(segment), "offer": offer, "recommendations": recs})


def _plain_parts(environment: type) -> list:
    """The template's three parts as three Jinja2 templates of ``environment`` (HTML escaped)."""
    parts = dict(re.findall(r"{% block (\w+) %}(.*?){% endblock %}", TEMPLATE, re.S))
    finish = {"subject": lambda s: " ".join(s.split()), "text": str.strip, "html": str.strip}
    out = []
    for name in ("subject", "text", "html"):
        env = environment(undefined=StrictUndefined, autoescape=name == "html", trim_blocks=True, lstrip_blocks=True,
                          finalize=lambda v: "" if v is None else v)
        env.filters.update(template_filters("GBP"))
        out.append((env.from_string(parts[name]), finish[name]))
    return out


def plain_render(batch: pa.RecordBatch, parts: list) -> list[tuple]:
    """The usual loop: a dictionary per row, three ``render`` calls per customer."""
    out = []
    for row in batch.to_pylist():
        url = UNSUBSCRIBE.replace("{customer_id}", row["customer"]["customer_id"])
        context = dict(row, campaign=CAMPAIGN, unsubscribe_url=url)
        out.append(tuple(finish(template.render(context)) for template, finish in parts))
    return out


def time_micromarket(batches: list, template: MessageTemplate) -> dict:
    build = render = 0.0
    chars = 0
    for batch in batches:
        start = time.perf_counter()
        contexts = contexts_from_arrow(batch, campaign=CAMPAIGN, unsubscribe_url=UNSUBSCRIBE, fields=template.fields)
        mid = time.perf_counter()
        chars += sum(len(s) + len(t) + len(h) for s, t, h in template.render_all(contexts))
        render += time.perf_counter() - mid
        build += mid - start
    return {"contexts_s": round(build, 2), "render_s": round(render, 2), "seconds": round(build + render, 2),
            "chars": chars}


def time_plain(batches: list, parts: list) -> dict:
    start = time.perf_counter()
    chars = sum(len(s) + len(t) + len(h) for batch in batches for s, t, h in plain_render(batch, parts))
    return {"seconds": round(time.perf_counter() - start, 2), "chars": chars}


def main(n: int) -> None:
    table = contexts_table(n)
    batches = table.to_batches(max_chunksize=BATCH)
    template = MessageTemplate(TEMPLATE, "bench.tmpl", currency="GBP")
    peers = {"plain Jinja2 (Environment, per-customer render)": _plain_parts(Environment),
             "plain Jinja2, sandboxed (ImmutableSandboxedEnvironment, per-customer render)":
                 _plain_parts(ImmutableSandboxedEnvironment)}
    sample = table.slice(0, 1000).to_batches()[0]
    ours = list(template.render_all(contexts_from_arrow(sample, campaign=CAMPAIGN, unsubscribe_url=UNSUBSCRIBE)))
    for name, parts in peers.items():
        assert [tuple(r) for r in ours] == plain_render(sample, parts), f"{name} renders other messages"
    ours_name = "micromarket (sandboxed, contexts from Arrow columns, render_all)"
    rows = [{"renderer": ours_name, **time_micromarket(batches, template)}]
    rows += [{"renderer": name, **time_plain(batches, parts)} for name, parts in peers.items()]
    for row in rows:
        row.update(messages=n, messages_per_s=round(n / row["seconds"]))
    record(f"campaign render, {n:,} messages", rows)
    OUT.mkdir(exist_ok=True)
    (OUT / f"campaign_render-{n}.json").write_text(json.dumps(
        {"benchmark": "campaign render", "date": dt.date.today().isoformat(), "messages": n, "runs": rows}, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
