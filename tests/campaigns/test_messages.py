"""Personalised messages: the template format, escaping, errors that say where, the sandbox against
injection, the variables built from a generated chain's tables, and the how-to's example."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from micromarket.campaigns.messages import (
    CONTACT_FIELDS,
    PRODUCT_FIELDS,
    VARIABLES,
    MessageTemplate,
    Rendered,
    SandboxError,
    TemplateError,
    UnknownCustomerError,
    contexts_from_arrow,
    load_template,
    message_context,
    message_contexts,
    preview,
)
from micromarket.exceptions import MicromarketError

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "templates.md"

EVERYTHING = """\
{% block subject %}{{ campaign }}: {{ offer.discount_depth | percent }} off, {{ customer.first_name }}{% endblock %}
{% block text %}
{{ customer.first_name }} {{ customer.last_name }} ({{ customer.customer_id }}), {{ segment }} / {{ persona }}
{{ offer.name }} by {{ offer.channel }}; spent {{ customer.clv | money }} since {{ customer.first_purchase | date }}
{% for item in recommendations %}
{{ loop.index }}. {{ item.product_id }} {{ item.name }} [{{ item.category }}]
{% endfor %}
{{ unsubscribe_url }}
{% endblock %}
{% block html %}
<p>{{ customer.first_name }}</p><a href="{{ unsubscribe_url }}">stop</a>
{% endblock %}
"""


def context(**customer) -> dict:
    """A context with every variable (the customer's fields overridable)."""
    return {
        "customer": {"customer_id": "C1", "first_name": "Ann", "last_name": "Lee", "clv": 1234.5,
                     "first_purchase": dt.date(2024, 3, 2)} | customer,
        "segment": "clusters/segment-01", "persona": "Cheese lovers",
        "recommendations": [{"product_id": "P1", "name": "Brie", "category": "Cheese"},
                            {"product_id": "P2", "name": "Rioja", "category": "Wine"}],
        "offer": {"name": "treatment", "channel": "email", "discount_depth": 0.2},
        "campaign": "spring", "unsubscribe_url": "https://shop.example/u/C1",
    }


def test_renders_every_variable():
    rendered = MessageTemplate(EVERYTHING, "all.tmpl").render(context())
    assert rendered.subject == "spring: 20% off, Ann"
    assert rendered.text == ("Ann Lee (C1), clusters/segment-01 / Cheese lovers\n"
                             "treatment by email; spent £1,234.50 since 2 March 2024\n"
                             "1. P1 Brie [Cheese]\n2. P2 Rioja [Wine]\n"
                             "https://shop.example/u/C1")
    assert rendered.html == '<p>Ann</p><a href="https://shop.example/u/C1">stop</a>'


def test_html_is_escaped_and_subject_and_text_are_not():
    name = "<script>alert(1)</script>"
    rendered = MessageTemplate(EVERYTHING, "all.tmpl").render(context(first_name=name))
    assert rendered.html.startswith("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")
    assert "<script>" not in rendered.html
    assert rendered.subject.endswith(name) and rendered.text.startswith(name)


def test_escaping_cannot_be_turned_off():
    for source in ("{% block html %}{{ customer.first_name | safe }}{% endblock %}",
                   "{% block html %}{% autoescape false %}{{ customer.first_name }}{% endautoescape %}{% endblock %}"):
        with pytest.raises(SandboxError, match="escape"):
            MessageTemplate(source, "raw.tmpl")


def test_text_only_template_for_sms_and_push():
    source = "Hi {{ customer.first_name }}, {{ offer.discount_depth | percent }} off today.\n"
    template = MessageTemplate(source, "sms.tmpl")
    assert template.parts == ("text",)
    assert template.render(context()) == Rendered(None, "Hi Ann, 20% off today.", None)


def test_subject_is_one_line_whatever_the_data():
    # A line break in a header could add headers (Bcc: ...): the subject keeps one line.
    template = MessageTemplate("{% block subject %}\nHi {{ customer.first_name }}\n{% endblock %}", "s.tmpl")
    assert template.render(context(first_name="Ann\r\nBcc: all@example.com")).subject == "Hi Ann Bcc: all@example.com"


def test_missing_values_print_as_nothing_and_default_applies():
    source = ("[{{ customer.first_name }}] {{ customer.first_name | default('there', true) }} "
              "[{{ customer.clv | money }}]")
    assert MessageTemplate(source, "m.tmpl").render(context(first_name=None, clv=None)).text == "[] there []"


def test_filters():
    source = ("{{ 1234.5 | money }} {{ 1234.5 | money('EUR') }} {{ 9 | money(decimals=0) }} {{ -2 | money }} "
              "{{ 0.125 | percent(1) }} {{ customer.first_purchase | date('%d/%m/%Y') }} {{ '2024-03-02' | date }}")
    text = MessageTemplate(source, "f.tmpl", currency="USD").render(context()).text
    assert text == "$1,234.50 €1,234.50 $9 -$2.00 12.5% 02/03/2024 2 March 2024"


def test_render_all_matches_render():
    template = MessageTemplate(EVERYTHING, "all.tmpl")
    contexts = [context(first_name=name) for name in ("Ann", "Bob", "<i>Eve</i>")]
    assert list(template.render_all(contexts)) == [template.render(c) for c in contexts]


# -- errors name the template, the part, the line and the name ----------------------------------
def test_unknown_variable_is_refused_when_loaded():
    source = "{% block subject %}Hi{% endblock %}\n{% block html %}\n<p>\n{{ ofer.name }}</p>\n{% endblock %}"
    with pytest.raises(TemplateError) as info:
        MessageTemplate(source, "spring.tmpl")
    error = info.value
    assert str(error).startswith("spring.tmpl, html part, line 4: 'ofer' is undefined (variables: customer, segment")
    assert (error.template, error.part, error.line) == ("spring.tmpl", "html", 4)
    assert isinstance(error, MicromarketError) and isinstance(error, ValueError)


def test_undefined_variable_at_render_names_part_line_and_variable():
    source = "{% block subject %}x{% endblock %}\n{% block html %}\n\n<b>{{ offer.name }}</b>\n{% endblock %}"
    template = MessageTemplate(source, "spring.tmpl")
    partial = {k: v for k, v in context().items() if k != "offer"}
    with pytest.raises(TemplateError) as info:
        template.render(partial)
    assert str(info.value) == ("spring.tmpl, html part, line 4, customer C1: 'offer' is undefined "
                               "(variables: customer, segment, persona, recommendations, campaign, unsubscribe_url)")


def test_unknown_field_names_the_field_and_lists_the_fields():
    template = MessageTemplate("{% block text %}\nHi\n{{ customer.frist_name }}\n{% endblock %}", "typo.tmpl")
    with pytest.raises(TemplateError) as info:
        template.render(context())
    assert str(info.value).startswith("typo.tmpl, text part, line 3, customer C1: no field 'frist_name' "
                                      "(fields: customer_id, first_name, last_name")


@pytest.mark.parametrize("source, line, part, message", [
    ("{% block text %}\nHi\n{{ customer.first_name }\n{% endblock %}", 3, "text", "unexpected '}'"),
    ("{% block subject %}x{% endblock %}\n{% block html %}\n{% if offer.name %}\n<p>\n{% endblock %}", 5, "html",
     "Encountered unknown tag 'endblock'"),
    ("{% block text %}\n{{ customer.first_name | shout }}{% endblock %}", 2, "text", "No filter named 'shout'"),
    ("{% block text %}x{% endblock %}\n{% block footer %}y{% endblock %}", 2, None, "unknown part 'footer'"),
    ("Dear customer,\n{% block text %}x{% endblock %}", 1, None, "only the parts"),
])
def test_load_errors_name_the_line(source, line, part, message):
    with pytest.raises(TemplateError) as info:
        MessageTemplate(source, "bad.tmpl")
    assert (info.value.line, info.value.part) == (line, part)
    assert message in str(info.value) and str(info.value).startswith("bad.tmpl, ")


def test_render_error_of_a_filter_names_the_line():
    template = MessageTemplate("{% block text %}\n{{ customer.first_name | money }}\n{% endblock %}", "m.tmpl")
    with pytest.raises(TemplateError, match=r"^m\.tmpl, text part, line 2, customer C1: TypeError: '>=' not supported"):
        template.render(context())


def test_errors_survive_pickling():
    # Errors cross process boundaries (background jobs) with their parts intact.
    error = pickle.loads(pickle.dumps(SandboxError("access refused", "spring.tmpl", "html", 3, "C1")))
    assert isinstance(error, SandboxError) and (error.template, error.part, error.line) == ("spring.tmpl", "html", 3)
    assert str(error) == "spring.tmpl, html part, line 3, customer C1: access refused"


def test_from_file_names_the_file(tmp_path):
    path = tmp_path / "spring.tmpl"
    path.write_text("{% block text %}\n{{ nobody }}\n{% endblock %}", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"^spring\.tmpl, text part, line 2: 'nobody' is undefined"):
        load_template(path)
    with pytest.raises(TemplateError, match="cannot read"):
        load_template(tmp_path / "missing.tmpl")


# -- the sandbox -------------------------------------------------------------------------------
SANDBOX = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ customer.__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% include '/etc/passwd' %}",
    "{% import 'macros.html' as m %}",
    "{% extends 'base.html' %}",
    "{{ customer | attr('__class__') }}",
    "{{ customer['__class__'] }}",
    # names computed while rendering: the sandbox's run-time checks
    "{% set a = '__cla' ~ 'ss__' %}{{ customer[a] }}",
    "{{ customer | attr('__cla' ~ 'ss__') }}",
    "{{ '{0.__class__}'.format(customer) }}",
    "{{ recommendations.append(1) }}",
    "{{ 'x' * 1000000 }}",
    "{{ 2 ** 1000000 }}",
]
UNDEFINED = ["{{ config }}", "{{ request }}", "{{ os.environ }}", "{{ range(10 ** 6) | list | length }}"]


@pytest.mark.parametrize("payload", SANDBOX + UNDEFINED)
@pytest.mark.parametrize("part", ["text", "html"])
def test_injection_raises_and_renders_nothing(payload, part):
    source = f"{{% block subject %}}Hi{{% endblock %}}\n{{% block {part} %}}\nHello\n{payload}\n{{% endblock %}}"
    produced = []
    with pytest.raises(TemplateError) as info:
        produced.append(MessageTemplate(source, "evil.tmpl").render(context()))
    assert produced == []
    assert f"evil.tmpl, {part} part" in str(info.value) and info.value.line in (2, 4)
    if payload in SANDBOX:
        assert isinstance(info.value, SandboxError) and "templates run in a sandbox" in str(info.value)
    else:
        assert not isinstance(info.value, SandboxError)


def test_sandbox_message_names_the_attribute_and_the_line():
    with pytest.raises(SandboxError) as info:
        MessageTemplate("{% block text %}\nHi {{ customer.__class__ }}\n{% endblock %}", "spring.tmpl")
    assert str(info.value) == ("spring.tmpl, text part, line 2: access to attribute '__class__' is not allowed "
                               "(templates run in a sandbox)")


# -- the how-to's example ------------------------------------------------------------------------
def _marked(text: str, label: str) -> str:
    return re.search(rf"<!-- {re.escape(label)} -->\s*```\w*\n(.*?)```\s*<!-- end -->", text, re.S).group(1)


def test_the_documented_example_renders_as_documented():
    doc = DOC.read_text(encoding="utf-8")
    template = MessageTemplate(_marked(doc, "example template: spring.tmpl"), "spring.tmpl")
    rendered = template.render(json.loads(_marked(doc, "example context")))
    for part in ("subject", "text", "html"):
        assert getattr(rendered, part) == _marked(doc, f"example {part}").rstrip("\n"), part


def test_every_variable_and_filter_is_documented():
    doc = DOC.read_text(encoding="utf-8")
    for name in VARIABLES + PRODUCT_FIELDS + ("money", "percent", "date"):
        assert f"`{name}`" in doc, name


# -- the variables from the workspace -------------------------------------------------------------
def test_message_context_from_the_chain(chain):
    ws, _ = chain
    planned = ws.table("offer_plan").order_by("customer_id").limit(1).to_pyarrow().to_pylist()[0]
    unplanned = (ws.table("customers").anti_join(ws.table("offer_plan"), "customer_id")
                 .order_by("customer_id").limit(1).to_pyarrow()["customer_id"][0].as_py())
    found = message_context(ws, [planned["customer_id"], unplanned], campaign="spring",
                            unsubscribe_url="https://shop.example/u/{customer_id}")
    contexts = {c["customer"]["customer_id"]: c for c in found}
    assert set(contexts) == {planned["customer_id"], unplanned}
    first = contexts[planned["customer_id"]]
    assert set(first) == set(VARIABLES)
    profiled = {"email", "postcode", "consent_email", "clv", "p_alive", "rfm_segment", "last_purchase"}
    assert profiled <= set(first["customer"])
    assert first["offer"] == {"name": planned["offer"], "channel": planned["channel"],
                              "discount_depth": planned["discount_depth"]}
    assert contexts[unplanned]["offer"] == {"name": None, "channel": None, "discount_depth": None}
    assert first["campaign"] == "spring"
    assert first["unsubscribe_url"] == f"https://shop.example/u/{planned['customer_id']}"
    recs = ws.table("recommendations")
    expected = (recs.filter((recs.customer_id == planned["customer_id"]) & (recs["rank"] <= 5))
                .order_by("rank").to_pyarrow()["product_id"].to_pylist())
    assert [item["product_id"] for item in first["recommendations"]] == expected
    assert all(set(item) == set(PRODUCT_FIELDS) and item["name"] for item in first["recommendations"])
    segments = ws.table("segments")
    personas = segments.filter(segments.segmentation == "clusters").to_pandas().set_index("name")["persona_name"]
    assert first["segment"].startswith("clusters/segment-") and first["persona"] == personas[first["segment"]]


def test_message_contexts_in_batches_with_only_the_fields_used(chain):
    ws, _ = chain
    batches = list(message_contexts(ws, batch_size=2_500, fields={"customer": {"clv"}}))
    assert [len(b) for b in batches] == [2_500, 2_500, 1_000]
    ids = {c["customer"]["customer_id"] for b in batches for c in b}
    assert len(ids) == ws.table("customers").count().execute()
    assert set(batches[0][0]["customer"]) == set(CONTACT_FIELDS) | {"clv"}


def test_preview_one_customer(chain, tmp_path):
    ws, _ = chain
    customer = ws.table("offer_plan").order_by("customer_id").limit(1).to_pyarrow()["customer_id"][0].as_py()
    path = tmp_path / "spring.tmpl"
    path.write_text(EVERYTHING, encoding="utf-8")
    rendered = preview(ws, path, customer, campaign="spring", unsubscribe_url="https://shop.example/u/{customer_id}")
    assert rendered.subject.startswith("spring: ") and f"({customer})" in rendered.text
    lines = rendered.text.splitlines()
    assert [line[:3] for line in lines[2:7]] == ["1. ", "2. ", "3. ", "4. ", "5. "]  # the five recommendations
    assert lines[-1] == f"https://shop.example/u/{customer}" and f'href="{lines[-1]}"' in rendered.html


def test_preview_of_an_unknown_customer(chain):
    ws, _ = chain
    with pytest.raises(UnknownCustomerError, match="customer_id='nobody' is not in the workspace's customers table"):
        preview(ws, MessageTemplate("Hi", "hi.tmpl"), "nobody")


def test_stages_not_run_leave_values_empty(ws, tmp_path):
    path = tmp_path / "customers.parquet"
    customers = {"customer_id": ["A", "B"], "email": ["a@example.com", None], "first_name": ["Ann", None]}
    pd.DataFrame(customers).to_parquet(path)
    ws.ingest(path, table="customers")
    contexts = {c["customer"]["customer_id"]: c for c in message_context(ws)}
    assert set(contexts) == {"A", "B"}
    first = contexts["A"]
    assert first["segment"] is None and first["persona"] is None and first["recommendations"] == []
    assert first["offer"] == {"name": None, "channel": None, "discount_depth": None}
    assert first["customer"]["clv"] is None
    text = MessageTemplate(EVERYTHING, "all.tmpl").render(first).text
    assert text == "Ann  (A),  / \n by ; spent  since"


# -- contexts from Arrow ------------------------------------------------------------------------------
def _table(prices: list[float]) -> pa.Table:
    item = lambda pid, price: {"product_id": pid, "name": f"n{pid}", "category": "c", "brand": "b", "list_price": price}
    return pa.table({
        "customer": [{"customer_id": "1", "first_name": "Ann", "clv": 2.0, "last_purchase": dt.date(2024, 1, 2)},
                     {"customer_id": "2", "first_name": None, "clv": None, "last_purchase": None}],
        "segment": ["s", None], "persona": ["p", None],
        "offer": [{"name": "o", "channel": "email", "discount_depth": 0.1},
                  {"name": None, "channel": None, "discount_depth": None}],
        "recommendations": [[item("P1", prices[0]), item("P2", 2.0)], [item("P1", prices[1])]],
    })


def test_contexts_from_arrow_share_identical_products_only():
    same = contexts_from_arrow(_table([1.0, 1.0]))
    assert same[0]["recommendations"][0] is same[1]["recommendations"][0]
    differ = contexts_from_arrow(_table([1.0, 9.0]))
    assert [r["list_price"] for c in differ for r in c["recommendations"]] == [1.0, 2.0, 9.0]
    assert differ[1]["customer"] == {"customer_id": "2", "first_name": None, "clv": None, "last_purchase": None}
    assert differ[0]["customer"]["last_purchase"] == dt.date(2024, 1, 2)


def test_fields_used_are_kept_and_a_missing_one_keeps_all():
    table = _table([1.0, 1.0])
    kept = contexts_from_arrow(table, fields={"customer": {"clv"}})[0]["customer"]
    assert set(kept) == {"customer_id", "first_name", "clv"}
    template = MessageTemplate("{{ customer.clv }} {{ customer.nickname }}", "n.tmpl")
    assert template.fields["customer"] == {"clv", "nickname"}
    contexts = contexts_from_arrow(table, fields=template.fields)
    assert "last_purchase" in contexts[0]["customer"]
    every = "customer_id, first_name, clv, last_purchase"
    with pytest.raises(TemplateError, match=f"no field 'nickname' .fields: {every}."):
        template.render(contexts[0])
