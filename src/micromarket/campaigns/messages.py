"""Personalised campaign messages from user-written templates, rendered in a sandbox.

A template is one file of up to three parts written as Jinja blocks, ``subject``, ``text`` and
``html`` (a file without blocks is all ``text``: an SMS or a push message). The parts are
rendered for each customer with the variables of :data:`VARIABLES`, built from the workspace's
tables by :func:`message_contexts`. See ``docs/how-to/templates.md`` for the format, the
variables and the filters.

Templates are untrusted: marketers write them, and a template must not reach the files, the
environment or Python's internals. They are compiled once by Jinja's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`, without a loader (``include``,
``import`` and ``extends`` are refused when the template is loaded), and every attribute whose
name starts with ``_`` is refused, when the template is loaded where the name is written out,
and by the sandbox while it renders where the name is computed. Undefined variables are errors
(``StrictUndefined``); the HTML part escapes every value, the subject and text do not.

Rendering a million messages takes well under a minute on two cores (``bench/campaign_render.py``):
the contexts are built from Arrow columns, not row by row, and each part is rendered straight from
its compiled block, without the per-call copy of the globals that ``Template.render`` makes.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from ..data.keys import among
from ..exceptions import MicromarketError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from ..workspace import Workspace

#: The parts a template may have, in the order of :class:`Rendered`.
PARTS = ("subject", "text", "html")
#: The variables every message is rendered with (see :func:`message_contexts`).
VARIABLES = ("customer", "segment", "persona", "recommendations", "offer", "campaign", "unsubscribe_url",
             "preferences_url")
#: Fields of each recommended product.
PRODUCT_FIELDS = ("product_id", "name", "category", "brand", "list_price")
#: Customer fields every context keeps, whatever the template uses: what a channel needs to reach the customer.
CONTACT_FIELDS = ("customer_id", "email", "phone", "first_name", "last_name", "postcode", "country")

_SANDBOX = "templates run in a sandbox"
_BLOCK = re.compile(r"{%-?\s*block\s+(\w+)")
_MAX_SEQUENCE = 100_000  # longest string or list `*` may make
_MAX_POWER_BITS = 100_000  # largest integer `**` may make


class TemplateError(MicromarketError, ValueError):
    """A message template cannot be loaded or rendered.

    Parameters
    ----------
    message : str
        What went wrong.
    template : str
        The template's name (its file name).
    part : str, optional
        ``subject``, ``text`` or ``html``.
    line : int, optional
        The line in the template file.
    customer_id : str, optional
        The customer whose message failed to render.
    """

    def __init__(self, message: str, template: str, part: str | None = None, line: int | None = None,
                 customer_id: str | None = None):
        where = ", ".join([template] + ([f"{part} part"] if part else []) + ([f"line {line}"] if line else [])
                          + ([f"customer {customer_id}"] if customer_id is not None else []))
        super().__init__(f"{where}: {message}")
        self.template, self.part, self.line, self.customer_id = template, part, line, customer_id
        self.reason = message

    def __reduce__(self):
        # Rebuilt from its parts (not from the message alone) when it crosses a process boundary.
        return type(self), (self.reason, self.template, self.part, self.line, self.customer_id)


class SandboxError(TemplateError):
    """A template tried to reach something the sandbox keeps out (Python internals, files)."""


class UnknownCustomerError(MicromarketError, LookupError):
    """A customer id that is not in the workspace's ``customers`` table."""


class Rendered(NamedTuple):
    """The rendered parts of one message; a part the template lacks is ``None``."""

    subject: str | None
    text: str | None
    html: str | None


# -- filters ------------------------------------------------------------------------------------
_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "INR": "₹"}
_NO_DECIMALS = {"JPY", "KRW", "ISK"}


def money(value: Any, currency: str = "GBP", decimals: int | None = None) -> str:
    """An amount of money: ``£12.50``, ``€1,200.00``, ``SEK 99.00``; ``None`` and NaN as ``""``.

    >>> money(1234.5, "GBP"), money(-3, "EUR"), money(1500, "JPY"), money(9.9, "SEK"), money(None)
    ('£1,234.50', '-€3.00', '¥1,500', 'SEK 9.90', '')
    """
    return _money_filter(currency, decimals)(value)


def _money_filter(currency: str, decimals: int | None = None) -> Callable[..., str]:
    """The ``money`` filter of a workspace's currency: the prefix and format worked out once, as a
    template may write dozens of amounts per message."""
    code = currency.upper()
    prefix = _SYMBOLS.get(code) or f"{code} "
    spec = f",.{decimals if decimals is not None else (0 if code in _NO_DECIMALS else 2)}f"

    def money_filter(value: Any, currency: str | None = None, decimals: int | None = None) -> str:
        if currency is not None or decimals is not None:
            return _money_filter(currency or code, decimals)(value)
        if value is None or value != value:  # NULL or NaN
            return ""
        return prefix + format(value, spec) if value >= 0 else "-" + prefix + format(-value, spec)

    return money_filter


def percent(value: Any, decimals: int = 0) -> str:
    """A share as a percentage: ``0.2`` gives ``20%``; ``None`` gives ``""``.

    >>> percent(0.2), percent(0.125, 1), percent(None)
    ('20%', '12.5%', '')
    """
    if value is None or value != value:  # NULL or NaN
        return ""
    return f"{value * 100:.{decimals}f}%"


def date(value: Any, format: str | None = None) -> str:
    """A date (or timestamp, or ISO text) written out: ``3 March 2026`` unless ``format`` (strftime) says otherwise.

    >>> date(dt.date(2026, 3, 3)), date("2026-03-03T10:00:00", "%d/%m/%Y"), date(None)
    ('3 March 2026', '03/03/2026', '')
    """
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.strftime(format) if format else f"{value.day} {value:%B %Y}"


# -- the sandbox --------------------------------------------------------------------------------
class _Undefined(StrictUndefined):
    """StrictUndefined whose messages name the missing field and list the ones there are."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint or obj is missing or not isinstance(obj, dict):
            return super()._undefined_message
        return f"no field {name!r} (fields: {', '.join(map(str, obj))})"


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox messages render in.

    ``*`` and ``**`` are checked, so ``'x' * 10**9`` or ``9**9**9`` cannot exhaust the memory
    (intercepting them also stops Jinja folding such constants while it compiles).
    """

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The contexts are plain dicts: read their fields directly, which skips the failed
        # attribute lookup (an exception each time) the sandbox would try first.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        return self.undefined(f"access to attribute {attribute!r} is not allowed ({_SANDBOX})",
                              name=attribute, obj=obj, exc=SecurityError)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > _MAX_SEQUENCE:
                    raise SecurityError(f"'*' would make a sequence longer than {_MAX_SEQUENCE:,} ({_SANDBOX})")
        elif (isinstance(left, int) and isinstance(right, int) and right > 0
              and left.bit_length() * right > _MAX_POWER_BITS):
            raise SecurityError(f"'**' would make a number of more than {_MAX_POWER_BITS:,} bits ({_SANDBOX})")
        return super().call_binop(context, operator, left, right)


def template_filters(currency: str = "GBP") -> dict[str, Callable[..., str]]:
    """The filters micromarket adds to Jinja's: ``money`` (in ``currency`` unless given), ``percent``, ``date``."""
    return {"money": _money_filter(currency), "percent": percent, "date": date}


def _sandbox(autoescape: bool, currency: str) -> _Sandbox:
    env = _Sandbox(autoescape=autoescape, undefined=_Undefined, trim_blocks=True, lstrip_blocks=True,
                   finalize=_blank_none, loader=None)
    env.filters.update(template_filters(currency))
    # Every value comes from customer data (names, addresses, product names from a feed): nothing
    # a template prints may skip escaping in the HTML part.
    del env.filters["safe"]
    env.globals.pop("lipsum", None)  # lorem ipsum has no place in a customer's message
    return env


def _blank_none(value: Any) -> Any:
    """Missing values (NULL in the tables) print as nothing, not as ``None``."""
    return "" if value is None else value


# -- templates ----------------------------------------------------------------------------------
class _Part(NamedTuple):
    """One compiled part and what rendering it needs."""

    index: int
    name: str
    escape: bool
    template: Any  # the jinja2.Template its block was compiled in
    render: Callable[[Context], Iterator[str]]
    finish: Callable[[str], str]


def _one_line(text: str) -> str:
    # A subject is a header: a line break in it (a customer's name with one, say) could add headers.
    return " ".join(text.split())


class MessageTemplate:
    """A message template: loaded, checked and compiled once, then rendered for each customer.

    Parameters
    ----------
    source : str
        The template: Jinja blocks ``subject``, ``text`` and ``html`` (any of them), or, without
        blocks, the text of an SMS or push message.
    name : str
        Its name in error messages (the file name for :meth:`from_file`).
    currency : str
        The currency the ``money`` filter writes amounts in (the workspace's ``workspace.currency``).
    variables : iterable of str
        The variables templates may use; any other name is refused when the template is loaded.

    Raises
    ------
    TemplateError
        On a syntax error, an unknown part, text outside the parts, or an unknown variable; the
        message names the template, the part and the line.
    SandboxError
        On ``include``, ``import``, ``extends``, ``self`` or an attribute starting with ``_``.

    Examples
    --------
    >>> t = MessageTemplate("{% block subject %}Hi {{ customer.first_name }}{% endblock %}"
    ...                     "{% block html %}<p>{{ customer.first_name }}</p>{% endblock %}", "hi.tmpl")
    >>> t.render({"customer": {"first_name": "<Ann>"}})
    Rendered(subject='Hi <Ann>', text=None, html='<p>&lt;Ann&gt;</p>')
    """

    def __init__(self, source: str, name: str = "<template>", *, currency: str = "GBP",
                 variables: Iterable[str] = VARIABLES):
        self.name, self.source, self.currency = name, source, currency
        self.variables = tuple(variables)
        self._blocks = [(source.count("\n", 0, m.start()) + 1, m.group(1)) for m in _BLOCK.finditer(source)]
        plain = _sandbox(False, currency)
        compiled: dict[bool, Any] = {}
        try:  # a syntax error is found while parsing; an unknown filter or test while compiling
            ast = plain.parse(source, name, name)
            names = self._check(ast, plain)
            self._parts = [self._compile(i, part, compiled) for i, part in enumerate(PARTS) if part in names]
        except TemplateSyntaxError as exc:
            raise TemplateError(exc.message or "syntax error", name, self._part_at(exc.lineno), exc.lineno) from None
        #: The fields of ``customer`` and ``offer`` the template reads, or ``None`` where it uses
        #: the variable whole (passes it on, loops over it, computes a field's name).
        self.fields = {variable: _used_fields(ast, variable) for variable in ("customer", "offer")}
        #: The parts the template has.
        self.parts = tuple(p.name for p in self._parts)

    @classmethod
    def from_file(cls, path: str | Path, *, currency: str = "GBP",
                  variables: Iterable[str] = VARIABLES) -> "MessageTemplate":
        """Load the template in the UTF-8 file ``path`` (named by its file name in errors)."""
        path = Path(path)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read the template: {exc}", str(path)) from None
        return cls(source, path.name, currency=currency, variables=variables)

    def __repr__(self) -> str:
        return f"MessageTemplate({self.name!r}, parts={self.parts})"

    # -- loading --------------------------------------------------------------------------------
    def _part_at(self, line: int | None) -> str | None:
        """The part that line ``line`` of the file belongs to (``None`` before the first)."""
        if not self._blocks:
            return "text"
        inside = [name for start, name in self._blocks if line is not None and start <= line]
        return inside[-1] if inside and inside[-1] in PARTS else None

    def _check(self, ast: nodes.Template, env: _Sandbox) -> set[str]:
        """Refuse what a template may not do; return the names of its parts."""
        problems = _sandbox_problems(ast) + self._layout_problems(ast)
        if not problems:  # the search for names compiles the template, which needs it sound
            problems = self._unknown_names(ast, env)
        if problems:
            line, kind, message = min(problems, key=lambda p: (p[0], p[1] is not SandboxError))
            raise kind(message, self.name, self._part_at(line), line)
        blocks = [node.name for node in ast.body if isinstance(node, nodes.Block)]
        return set(blocks) if blocks else {"text"}

    def _layout_problems(self, ast: nodes.Template) -> list[tuple]:
        top = set(map(id, ast.body))
        problems = [(b.lineno, TemplateError, f"unknown part {b.name!r}: the parts are {', '.join(PARTS)}")
                    for b in ast.find_all(nodes.Block) if b.name not in PARTS]
        problems += [(b.lineno, TemplateError, f"part {b.name!r} is inside another tag: write the parts one "
                      "after another") for b in ast.find_all(nodes.Block) if id(b) not in top]
        if any(isinstance(node, nodes.Block) for node in ast.body):
            problems += [(node.lineno, TemplateError, f"only the parts ({', '.join(PARTS)}) are sent: "
                          "move what is outside them into one") for node in ast.body if not _blank(node)]
        return problems

    def _unknown_names(self, ast: nodes.Template, env: _Sandbox) -> list[tuple]:
        unknown = meta.find_undeclared_variables(ast) - set(self.variables) - set(env.globals) - {"self"}
        lines = {n.name: n.lineno for n in reversed(list(ast.find_all(nodes.Name))) if n.name in unknown}
        known = ", ".join(self.variables)
        return [(lines.get(name, 1), TemplateError, f"{name!r} is undefined (variables: {known})") for name in unknown]

    def _compile(self, index: int, part: str, compiled: dict[bool, Any]) -> _Part:
        # Autoescaping is decided when Jinja compiles, so the file is compiled once per mode and
        # each part taken from the right one (filters such as `join` also read the mode at run time).
        escape = part == "html"
        if escape not in compiled:
            env = _sandbox(escape, self.currency)
            code = env.compile(self.source, self.name, self.name)
            compiled[escape] = env.template_class.from_code(env, code, env.make_globals(None))
        template = compiled[escape]
        render = template.blocks[part] if part in template.blocks else template.root_render_func
        return _Part(index, part, escape, template, render, _one_line if part == "subject" else str.strip)

    # -- rendering ------------------------------------------------------------------------------
    def render(self, context: dict) -> Rendered:
        """Render the parts for one customer's ``context`` (see :data:`VARIABLES`).

        Raises
        ------
        TemplateError
            When a part fails (an undefined variable or field, a filter's error); nothing is returned.
        SandboxError
            When a part reaches for something the sandbox keeps out.
        """
        return next(self.render_all((context,)))

    def render_all(self, contexts: Iterable[dict]) -> Iterator[Rendered]:
        """Render each context in ``contexts`` in turn (as :meth:`render`, without its per-call cost)."""
        name, parts = self.name, self._parts
        first = parts[0].template
        env, globals_, blocks = first.environment, dict(first.globals), first.blocks
        for context in contexts:
            # One context for the three parts, made here rather than by Template.render, which
            # would copy the globals out of a ChainMap for every part of every message (a third of
            # the time). Escaping is compiled into each part's code; the context's flag is set to
            # match for the filters that read it (`join`, `replace`, macros).
            ctx = Context(env, {**globals_, **context}, name, blocks)
            out: list[str | None] = [None, None, None]
            for part in parts:
                try:
                    ctx.eval_ctx.autoescape = part.escape
                    out[part.index] = part.finish("".join(part.render(ctx)))
                except Exception as exc:
                    raise self._error(exc, part, context) from exc
            yield Rendered(*out)

    def _error(self, exc: Exception, part: _Part, context: dict) -> TemplateError:
        """The error to raise for ``exc``, raised while ``part`` rendered ``context``."""
        line, tb = None, exc.__traceback__
        while tb is not None:  # the last frame of the template's own code is where it failed
            if tb.tb_frame.f_code.co_filename == self.name:
                line = part.template.get_corresponding_lineno(tb.tb_lineno)
            tb = tb.tb_next
        customer = context.get("customer")
        customer_id = customer.get("customer_id") if isinstance(customer, dict) else None
        if isinstance(exc, SecurityError):
            message = str(exc) if _SANDBOX in str(exc) else f"{exc} ({_SANDBOX})"
            return SandboxError(message, self.name, part.name, line, customer_id)
        if isinstance(exc, UndefinedError):
            message = str(exc)
            if message.endswith("is undefined"):
                message += f" (variables: {', '.join(context)})"
            return TemplateError(message, self.name, part.name, line, customer_id)
        return TemplateError(f"{type(exc).__name__}: {exc}", self.name, part.name, line, customer_id)


def load_template(path: str | Path, *, currency: str = "GBP") -> MessageTemplate:
    """Load the message template in the file ``path``: see :class:`MessageTemplate`."""
    return MessageTemplate.from_file(path, currency=currency)


def _sandbox_problems(ast: nodes.Template) -> list[tuple]:
    """What the template writes out that the sandbox refuses, as (line, error class, message)."""
    tags = {nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from ... import",
            nodes.Extends: "extends"}
    found = [(n.lineno, SandboxError, f"'{tags[type(n)]}' is not allowed: a template is one file, "
              f"it cannot read others ({_SANDBOX})") for n in ast.find_all(tuple(tags))]
    found += [(n.lineno, SandboxError, f"'self' is not available ({_SANDBOX})")
              for n in ast.find_all(nodes.Name) if n.name == "self"]
    found += [(n.lineno, SandboxError, f"'safe' is not available: the HTML part escapes every value ({_SANDBOX})")
              for n in ast.find_all(nodes.Filter) if n.name == "safe"]
    found += [(n.lineno, SandboxError, "'autoescape' is not allowed: the HTML part always escapes values, "
               f"the subject and text never do ({_SANDBOX})") for n in ast.find_all(nodes.EvalContextModifier)]
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        attribute = _written_attribute(node)
        if attribute is not None and attribute.startswith("_"):
            found.append((node.lineno, SandboxError, f"access to attribute {attribute!r} is not allowed ({_SANDBOX})"))
    return found


def _used_fields(ast: nodes.Template, variable: str) -> frozenset[str] | None:
    """The fields of ``variable`` that ``ast`` reads by name, or ``None`` if it uses the variable otherwise."""
    used, named = set(), set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == variable:
            field = node.attr if isinstance(node, nodes.Getattr) else _written_attribute(node)
            if field is None:
                return None
            used.add(field)
            named.add(id(node.node))
    whole = any(n.name == variable and id(n) not in named for n in ast.find_all(nodes.Name))
    return None if whole else frozenset(used)


def _written_attribute(node: nodes.Node) -> str | None:
    """The attribute ``node`` reads, where the template writes its name out: ``x.name``,
    ``x['name']`` or ``x | attr('name')``."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = node.arg if isinstance(node, nodes.Getitem) else (node.args[0] if node.name == "attr" and node.args else None)
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def _blank(node: nodes.Node) -> bool:
    """Whether a top-level node is a part, or only white space between parts."""
    if isinstance(node, nodes.Block):
        return True
    return isinstance(node, nodes.Output) and all(
        isinstance(child, nodes.TemplateData) and not child.data.strip() for child in node.nodes)


# -- the variables ------------------------------------------------------------------------------
def context_table(ws: "Workspace", customer_ids: Iterable[str] | None = None, *, segmentation: str = "clusters",
                  granularity: str = "segment", top: int = 5) -> "ir.Table":
    """One row per customer with what a message may say about them, as an Ibis expression.

    Parameters
    ----------
    ws : Workspace
    customer_ids : iterable of str, optional
        The customers (default: everyone in ``customers``).
    segmentation, granularity : str
        The clustered segments whose name and persona a message quotes (``micromarket segment cluster``).
    top : int
        The most recommendations per customer.

    Returns
    -------
    ibis Table
        ``customer`` (a struct of the ``customers`` columns and the ``customer_profile`` columns),
        ``segment``, ``persona``, ``offer`` (a struct: ``name``, ``channel``, ``discount_depth``
        from ``offer_plan``) and ``recommendations`` (a list of structs of :data:`PRODUCT_FIELDS`
        in rank order), in no particular order. Stages not run yet leave their values empty.
    """
    import ibis

    customers = ws.table("customers")
    if customer_ids is not None:
        customers = among(customers, "customer_id", customer_ids)
    own = [c for c in customers.columns if c != "load_id"]
    profile = _optional(ws, "customer_profile")
    profiled = [c for c in profile.columns if c not in own and c != "profile_run_id"] if profile is not None else []
    labels, plan, recs = _labels(ws, segmentation, granularity), _plan(ws), _recommendations(ws, top)
    joined = customers
    for right in (profile, labels, plan, recs):
        if right is not None:
            joined = joined.left_join(right, customers.customer_id == right.customer_id)
    fields = {c: customers[c] for c in own} | {c: profile[c] for c in profiled}
    null = ibis.null("string")
    return joined.select(
        customer=ibis.struct(fields),
        segment=labels.segment if labels is not None else null,
        persona=labels.persona if labels is not None else null,
        offer=ibis.struct({"name": plan.offer, "channel": plan.channel, "discount_depth": plan.discount_depth}
                          if plan is not None
                          else {"name": null, "channel": null, "discount_depth": ibis.null("float64")}),
        recommendations=recs.recommendations if recs is not None else ibis.null("array<string>"),
    )


def _optional(ws: "Workspace", name: str) -> "ir.Table | None":
    """The table ``name``, or ``None`` where the workspace has none (a stage not run on this engine)."""
    return ws.storage.any_table(name)


def _labels(ws: "Workspace", segmentation: str, granularity: str) -> "ir.Table | None":
    """``customer_id, segment, persona`` of the clustered segments at ``granularity``."""
    segments, members = _optional(ws, "segments"), _optional(ws, "segment_members")
    if segments is None or members is None:
        return None
    chosen = segments.filter((segments.kind == "cluster") & (segments.segmentation == segmentation)
                             & (segments.granularity == granularity))
    joined = members.inner_join(chosen, "segment_id")
    return joined.select(members.customer_id, segment=chosen.name, persona=chosen.persona_name)


def _plan(ws: "Workspace") -> "ir.Table | None":
    plan = _optional(ws, "offer_plan")
    return None if plan is None else plan.select("customer_id", "offer", "channel", "discount_depth")


def _recommendations(ws: "Workspace", top: int) -> "ir.Table | None":
    """``customer_id, recommendations``: each customer's first ``top`` products, in rank order."""
    import ibis

    recs, products = _optional(ws, "recommendations"), _optional(ws, "products")
    if recs is None:
        return None
    recs = recs.filter(recs["rank"] <= top)
    if products is None:
        items = recs.mutate(**{f: ibis.null("string") for f in PRODUCT_FIELDS[1:]})
        item = {f: items[f] for f in PRODUCT_FIELDS}
    else:
        items = recs.left_join(products, "product_id")
        item = {"product_id": recs.product_id} | {f: products[f] for f in PRODUCT_FIELDS[1:]}
        items = items.select(customer_id=recs.customer_id, rank=recs["rank"], **item)
        item = {f: items[f] for f in PRODUCT_FIELDS}
    # Sorted after collecting, by the rank leading each struct: Spark cannot order inside an
    # aggregation, and both engines sort an array of structs field by field.
    ranked = ibis.struct({"rank": items["rank"], **item}).collect().sort()
    listed = ranked.map(lambda entry: ibis.struct({f: entry[f] for f in PRODUCT_FIELDS}))
    return items.group_by("customer_id").aggregate(recommendations=listed)


def contexts_from_arrow(table: "pa.Table | pa.RecordBatch", *, campaign: str = "",
                        unsubscribe_url: str | Callable[[str], str] | None = None,
                        preferences_url: str | Callable[[str], str] | None = None,
                        fields: dict[str, Iterable[str] | None] | None = None) -> list[dict]:
    """The render contexts of the rows of ``table`` (shaped as :func:`context_table`'s output).

    Column by column, not row by row: each Arrow column becomes a Python list once, then the rows'
    dictionaries are zipped together. Recommended products with the same ``product_id`` share one
    dictionary (templates cannot change it: the sandbox is immutable).

    Parameters
    ----------
    table : pyarrow Table or RecordBatch
    campaign : str
        The campaign's name.
    unsubscribe_url : str or callable, optional
        Each customer's unsubscribe link: text in which ``{customer_id}`` is replaced by the
        (URL-quoted) customer id, or a function of the customer id (a signed link).
    preferences_url : str or callable, optional
        Each customer's preference-centre link, given the same way (``None`` in the context
        where not given).
    fields : dict, optional
        ``{"customer": names}``: the customer fields to convert (a template's
        :attr:`MessageTemplate.fields`), beside :data:`CONTACT_FIELDS`; all of them when ``None``,
        or when a name is not in the table (so an error about it lists every field there is).

    Returns
    -------
    list of dict
        One dictionary of :data:`VARIABLES` per row.
    """
    customer = _chunk(table.column("customer"))
    customers = _struct_rows(customer, _kept(customer, (fields or {}).get("customer")))
    offers = _struct_rows(_chunk(table.column("offer")))
    segments, personas = _values(table.column("segment")), _values(table.column("persona"))
    recs = _list_rows(table.column("recommendations"))
    ids = [c["customer_id"] for c in customers]
    urls, choices = _urls(unsubscribe_url, ids), _urls(preferences_url, ids)
    return [{"customer": c, "segment": s, "persona": p, "recommendations": r, "offer": o, "campaign": campaign,
             "unsubscribe_url": u, "preferences_url": q}
            for c, s, p, r, o, u, q in zip(customers, segments, personas, recs, offers, urls, choices)]


def _kept(column: "pa.StructArray", used: Iterable[str] | None) -> list[str] | None:
    """The fields of ``column`` to convert for a template that reads ``used`` (``None``: all)."""
    names = [column.type.field(i).name for i in range(column.type.num_fields)]
    if used is None or not set(used) <= set(names):
        return None
    wanted = set(used) | set(CONTACT_FIELDS)
    return [n for n in names if n in wanted]


def _chunk(column: "pa.Array | pa.ChunkedArray") -> "pa.Array":
    import pyarrow as pa

    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _values(column: "pa.Array | pa.ChunkedArray") -> list:
    """A column's values as Python objects; NULL as ``None``."""
    import pyarrow as pa

    column = _chunk(column)
    kind = column.type
    # Arrow makes a date or datetime object ten times slower than NumPy does (NaT becomes None);
    # NumPy has no time zones, and makes integers of nanoseconds, so those are cast or left to Arrow.
    if pa.types.is_date32(kind):
        return column.to_numpy(zero_copy_only=False).astype(object).tolist()
    if pa.types.is_timestamp(kind) and kind.tz is None:
        column = column.cast(pa.timestamp("us"), safe=False) if kind.unit == "ns" else column
        return column.to_numpy(zero_copy_only=False).astype(object).tolist()
    if (pa.types.is_floating(kind) or pa.types.is_integer(kind)) and column.null_count == 0:
        return column.to_numpy().tolist()
    return column.to_pylist()


def _struct_rows(column: "pa.StructArray", names: list[str] | None = None) -> list[dict]:
    """A struct column (its fields ``names``, default all) as one dictionary per row (a NULL
    struct gives NULL fields)."""
    every = [column.type.field(i).name for i in range(column.type.num_fields)]
    names = names or every
    # field() ignores the struct's own NULLs; flatten() applies them, to every field at once.
    flat = dict(zip(every, column.flatten())) if column.null_count else None
    values = [_values(flat[name] if flat else column.field(name)) for name in names]
    return [dict(zip(names, row)) for row in zip(*values)] if values else [{} for _ in range(len(column))]


def _list_rows(column: "pa.Array | pa.ChunkedArray") -> list[list]:
    """A list column as one Python list per row (NULL as an empty list); structs become
    dictionaries, one per distinct ``product_id`` where the structs have one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    column = _chunk(column)
    if pa.types.is_null(column.type):
        return [[] for _ in range(len(column))]
    flat = column.flatten()  # the values of the non-NULL lists, in order
    items = _shared_items(flat) if pa.types.is_struct(flat.type) else None
    if items is None:
        items = _struct_rows(flat) if pa.types.is_struct(flat.type) else _values(flat)
    ends = np.cumsum(pc.list_value_length(column).fill_null(0).to_numpy()).tolist()
    return [items[start:end] for start, end in zip([0] + ends[:-1], ends)]


def _shared_items(flat: "pa.StructArray") -> list[dict] | None:
    """One dictionary per distinct ``product_id``, repeated where the items repeat it, or ``None``
    when the items have no ``product_id`` or differ in another field for the same one.

    A million customers' top five name a few thousand products: each is converted once.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if flat.type.get_field_index("product_id") < 0 or flat.null_count:
        return None
    codes = pc.dictionary_encode(flat.field("product_id"), null_encoding="encode").indices.to_numpy()
    distinct, first = np.unique(codes, return_index=True)
    firsts = flat.take(pa.array(first))
    positions = pa.array(np.searchsorted(distinct, codes))
    if not firsts.take(positions).equals(flat):
        return None
    shared = _struct_rows(firsts)
    return [shared[i] for i in positions.to_numpy().tolist()]


def _urls(url: str | Callable[[str], str] | None, customer_ids: list[str]) -> list[str | None]:
    if url is None:
        return [None] * len(customer_ids)
    if callable(url):
        return [url(c) for c in customer_ids]
    return [url.replace("{customer_id}", quote(str(c), safe="")) for c in customer_ids]


def message_contexts(ws: "Workspace", customer_ids: Iterable[str] | None = None, *, campaign: str = "",
                     unsubscribe_url: str | Callable[[str], str] | None = None,
                     preferences_url: str | Callable[[str], str] | None = None, batch_size: int = 100_000,
                     fields: dict[str, Iterable[str] | None] | None = None, **options: Any) -> Iterator[list[dict]]:
    """The render contexts of the workspace's customers, in batches of ``batch_size``.

    Parameters
    ----------
    ws : Workspace
    customer_ids : iterable of str, optional
        The customers (default: everyone in ``customers``).
    campaign, unsubscribe_url, preferences_url, fields
        See :func:`contexts_from_arrow`; ``fields=template.fields`` converts only the customer
        fields a template reads (and the contact fields).
    batch_size : int
        Customers per batch: memory holds one batch of contexts at a time.
    **options
        ``segmentation``, ``granularity``, ``top``: see :func:`context_table`.

    Yields
    ------
    list of dict
        The contexts of up to ``batch_size`` customers (:data:`VARIABLES`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} should be >= 1")
    reader = context_table(ws, customer_ids, **options).to_pyarrow_batches(chunk_size=batch_size)
    for batch in reader:
        if batch.num_rows:
            yield contexts_from_arrow(batch, campaign=campaign, unsubscribe_url=unsubscribe_url,
                                      preferences_url=preferences_url, fields=fields)


def message_context(ws: "Workspace", customer_ids: Iterable[str] | None = None, **options: Any) -> list[dict]:
    """The render contexts of ``customer_ids`` (a few customers; use :func:`message_contexts` for many).

    Takes the options of :func:`message_contexts`.
    """
    return [context for batch in message_contexts(ws, customer_ids, **options) for context in batch]


def preview(ws: "Workspace", template: MessageTemplate | str | Path, customer_id: str, **options: Any) -> Rendered:
    """One customer's message, as it would be sent.

    Parameters
    ----------
    ws : Workspace
    template : MessageTemplate, or the path of a template file
        A file is loaded with the workspace's currency.
    customer_id : str
    **options
        ``campaign``, ``unsubscribe_url`` and the options of :func:`context_table`.

    Raises
    ------
    UnknownCustomerError
        If ``customer_id`` is not in the workspace's ``customers`` table.
    TemplateError
        If the template cannot be loaded or rendered for this customer.
    """
    if not isinstance(template, MessageTemplate):
        template = MessageTemplate.from_file(template, currency=ws.config["workspace"]["currency"])
    contexts = message_context(ws, [customer_id], **options)
    if not contexts:
        raise UnknownCustomerError(f"customer_id={customer_id!r} is not in the workspace's customers table")
    return template.render(contexts[0])


__all__ = ["CONTACT_FIELDS", "PARTS", "PRODUCT_FIELDS", "VARIABLES", "MessageTemplate", "Rendered", "SandboxError",
           "TemplateError", "UnknownCustomerError", "context_table", "contexts_from_arrow", "date", "load_template",
           "message_context", "message_contexts", "money", "percent", "preview", "template_filters"]
