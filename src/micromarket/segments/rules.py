"""Rule segments: a small, safe expression language over the customer profile.

A rule is parsed (Lark, LALR) into a tree and the tree is translated into an Ibis
expression; user text never reaches SQL except as literals that Ibis quotes. Example::

    clv > 500 and p_alive < 0.5 and area.type == "Affluent suburbs"
        and bought(category="Cheese", within="90d")

Names
    Columns of ``customer_profile`` (``clv``, ``p_alive``, ``frequency``, ...), of
    ``customers`` (``gender``, ``birth_year``, ... or ``customer.gender``, and every
    attribute a customers file brought, such as ``income_desc``), of the customer's area (``area.median_income``, any census column, and ``area.type`` once
    ``micromarket segment areas`` has run), and ``age`` (years at the last transaction).
Operators
    ``and or not``, ``== != < <= > >=``, ``in [..]``, ``not in [..]``,
    ``is null``, ``is not null``, ``between .. and ..``, ``+ - * /``, parentheses.
    A band attribute (``income_desc`` with values such as ``Under 15K``, ``50-74K``,
    ``250K+``) compares in its bands' order with one of its values
    (``income_desc >= "50-74K"``) and by where its band starts with a number
    (``kid_category_desc > 0``: one child or more).
Functions
    ``bought(category=, product=, channel=, store=, within=, min_count=, min_spend=)``: the
    customer bought matching lines (in the last ``within``, e.g. ``"90d"``, ``"8w"``,
    ``"6m"``, ``"1y"``, counted back from the last transaction in the data);
    ``in_segment("name")``: a member of another saved segment.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import ibis
import ibis.expr.types as ir
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..exceptions import MicromarketError

if TYPE_CHECKING:
    from ..workspace import Workspace

GRAMMAR = r"""
?start: or_test
?or_test: and_test (_OR and_test)*
?and_test: not_test (_AND not_test)*
?not_test: _NOT not_test                          -> negation
         | comparison
?comparison: arith
           | arith COMPARE arith                  -> compare
           | arith _IN list                       -> isin
           | arith _NOT _IN list                  -> notin
           | arith _IS _NULL                      -> isnull
           | arith _IS _NOT _NULL                 -> notnull
           | arith _BETWEEN arith _AND arith      -> between
?arith: term
      | arith ADD term                            -> binary
?term: factor
     | term MUL factor                            -> binary
?factor: atom
       | ADD factor                               -> neg
?atom: constant
     | call
     | name
     | "(" or_test ")"
name: NAME ("." NAME)?
call: NAME "(" [argument ("," argument)*] ")"
argument: NAME "=" literal                        -> keyword
        | literal                                 -> positional
list: "[" [literal ("," literal)*] "]"
?literal: constant
        | ADD NUMBER                              -> signed
?constant: NUMBER                                 -> number
         | STRING                                 -> string
         | _TRUE                                  -> true
         | _FALSE                                 -> false
COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
ADD: "+" | "-"
MUL: "*" | "/"
_AND: "and"i
_OR: "or"i
_NOT: "not"i
_IN: "in"i
_IS: "is"i
_NULL: "null"i
_BETWEEN: "between"i
_TRUE: "true"i
_FALSE: "false"i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
%ignore /[ \t\r\n]+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

#: Words of the language, for error messages.
FUNCTIONS = ("bought", "in_segment")
_BOUGHT_ARGUMENTS = ("category", "product", "channel", "store", "within", "min_count", "min_spend")
_TOKEN_WORDS = {"NAME": "a column name", "NUMBER": "a number", "STRING": 'a quoted text ("...")',
                "COMPARE": "a comparison (== != < <= > >=)", "ADD": "+ or -", "MUL": "* or /",
                "LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "COMMA": ",", "DOT": ".", "EQUAL": "=",
                "_AND": "and", "_OR": "or", "_NOT": "not", "_IN": "in", "_IS": "is", "_NULL": "null",
                "_BETWEEN": "between", "_TRUE": "true", "_FALSE": "false", "MINUS": "-", "$END": "the end"}


class RuleError(MicromarketError, ValueError):
    """A rule that cannot be parsed or does not fit the data; the message shows where."""

    def __init__(self, rule: str, position: int | None, message: str):
        self.rule, self.position = rule, position
        where = ""
        if position is not None:
            where = f" at position {position + 1}\n  {rule}\n  {' ' * position}^"
        super().__init__(f"rule error{where}\n{message}")


def parse(rule: str) -> Tree:
    """Parse ``rule`` into a syntax tree, or raise :class:`RuleError` naming the position and what was expected."""
    if not isinstance(rule, str) or not rule.strip():
        raise RuleError(str(rule), None, "the rule is empty; write a condition such as clv > 100")
    control = next((i for i, c in enumerate(rule) if ord(c) < 32 and c not in "\t\n\r"), None)
    if control is not None:  # a NUL cannot stand in the engine's SQL, and no rule needs one
        raise RuleError(rule, control, f"control character {rule[control]!r} at position {control + 1}")
    try:
        return _PARSER.parse(rule)
    except UnexpectedInput as exc:
        raise _syntax_error(rule, exc) from None


def _syntax_error(rule: str, exc: UnexpectedInput) -> RuleError:
    position = getattr(exc, "pos_in_stream", None)
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end or position is None:
        position = len(rule)
    expected = sorted({_TOKEN_WORDS.get(t, t.lower()) for t in getattr(exc, "expected", None) or
                       getattr(exc, "allowed", None) or []})
    if isinstance(exc, UnexpectedCharacters):
        found = repr(rule[position])
    elif isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        found = repr(str(exc.token))
    else:
        found = "the end of the rule"
    hint = f"expected {', '.join(expected)}" if expected else "unexpected input"
    return RuleError(rule, position, f"{hint}; found {found}")


@dataclass
class RuleContext:
    """What a rule's names and functions resolve against.

    ``columns`` maps each name the rule may use to a function of the base table that
    returns the column; ``bought`` and ``in_segment`` return the customer ids of the
    function's condition.
    """

    base: ir.Table
    columns: dict[str, Callable[[ir.Table], ir.Value]]
    bought: Callable[..., ir.Table]
    in_segment: Callable[[str], ir.Table]
    #: Column of ``base`` -> its bands in order, for attributes such as income bands.
    bands: dict[str, list[str]] = field(default_factory=dict)


@v_args(meta=True)
class _ToIbis(Transformer):
    """Tree -> Ibis boolean expression over the context's base table."""

    def __init__(self, rule: str, context: RuleContext):
        super().__init__()
        self.rule, self.ctx = rule, context

    def _error(self, meta, message: str) -> RuleError:
        return RuleError(self.rule, getattr(meta, "start_pos", None), message)

    # -- literals and names ---------------------------------------------------------------
    def number(self, meta, items):
        text = str(items[0])
        value = float(text) if any(c in text for c in ".eE") or len(text) > 18 else int(text)
        if not math.isfinite(value):
            raise self._error(meta, f"the number {text} is too large")
        return ibis.literal(value)

    def signed(self, meta, items):
        value = self.number(meta, items[1:]).op().value
        return ibis.literal(-value if str(items[0]) == "-" else value)

    def string(self, meta, items):
        return ibis.literal(_unquote(str(items[0])))

    def true(self, meta, items):
        return ibis.literal(True)

    def false(self, meta, items):
        return ibis.literal(False)

    def name(self, meta, items):
        key = ".".join(str(t) for t in items)
        if key not in self.ctx.columns:
            close = difflib.get_close_matches(key, list(self.ctx.columns), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; names: {', '.join(sorted(self.ctx.columns))}"
            raise self._error(meta, f"unknown name {key!r}{hint}")
        return self.ctx.columns[key](self.ctx.base)

    # -- operators --------------------------------------------------------------------------
    def compare(self, meta, items):
        left, op, right = items
        if self._band(left) is not None:
            left, right = self._banded(meta, left, right, str(op))
        elif self._band(right) is not None:
            right, left = self._banded(meta, right, left, str(op))
        self._check_types(meta, left, right, str(op))
        ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
        return ops[str(op)](left, right)

    def binary(self, meta, items):
        left, op, right = items
        for side in (left, right):
            if not side.type().is_numeric():
                raise self._error(meta, f"{op} needs numbers; {_describe(side)} is {side.type()}")
        return {"+": left + right, "-": left - right, "*": left * right, "/": left / right}[str(op)]

    def neg(self, meta, items):
        sign, value = items
        if not value.type().is_numeric():
            raise self._error(meta, f"{sign} needs a number; {_describe(value)} is {value.type()}")
        return -value if str(sign) == "-" else value

    def between(self, meta, items):
        value, low, high = items
        if self._band(value) is not None:
            kinds = {isinstance(b.op().value, str) for b in (low, high) if type(b.op()).__name__ == "Literal"}
            if len(kinds) > 1:
                raise self._error(meta, f"between on {_describe(value)} needs two of its bands or two numbers, "
                                        "not one of each")
            (value, low), (_, high) = self._banded(meta, value, low, "between"), self._banded(meta, value, high, "between")
        self._check_types(meta, value, low, "between")
        self._check_types(meta, value, high, "between")
        return value.between(low, high)

    def isin(self, meta, items):
        value, values = items
        for v in values:
            self._check_types(meta, value, v, "in")
        return value.isin(values)

    def notin(self, meta, items):
        return ~self.isin(meta, items)

    def isnull(self, meta, items):
        return items[0].isnull()

    def notnull(self, meta, items):
        return items[0].notnull()

    def list(self, meta, items):
        return [i for i in items if i is not None]

    def negation(self, meta, items):
        return ~self._boolean(meta, items[0], "not")

    def and_test(self, meta, items):
        out = self._boolean(meta, items[0], "and")
        for item in items[1:]:
            out = out & self._boolean(meta, item, "and")
        return out

    def or_test(self, meta, items):
        out = self._boolean(meta, items[0], "or")
        for item in items[1:]:
            out = out | self._boolean(meta, item, "or")
        return out

    # -- functions --------------------------------------------------------------------------
    def keyword(self, meta, items):
        return (str(items[0]), items[1], meta)

    def positional(self, meta, items):
        return (None, items[0], meta)

    def call(self, meta, items):
        function, arguments = str(items[0]), [a for a in items[1:] if a is not None]
        if function not in FUNCTIONS:
            close = difflib.get_close_matches(function, FUNCTIONS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise self._error(meta, f"unknown function {function!r}: the language has {', '.join(FUNCTIONS)}{hint}")
        values = {}
        for key, value, arg_meta in arguments:
            if key is None and function != "in_segment":
                raise self._error(arg_meta, f"{function}() takes named arguments: {', '.join(_BOUGHT_ARGUMENTS)}")
            values[key or "name"] = value.op().value
        try:
            ids = self.ctx.in_segment(**values) if function == "in_segment" else self.ctx.bought(**values)
        except TypeError:
            allowed = "one segment name" if function == "in_segment" else ", ".join(_BOUGHT_ARGUMENTS)
            raise self._error(meta, f"{function}() takes {allowed}; got {', '.join(map(str, values)) or 'nothing'}")
        except RuleError as exc:
            raise self._error(meta, str(exc).split("\n")[-1]) from None
        return self.ctx.base.customer_id.isin(ids.customer_id)

    # -- bands ----------------------------------------------------------------------------------
    def _band(self, value) -> list[str] | None:
        """The ordered bands of ``value`` if it is a band attribute's column, else ``None``."""
        if isinstance(value, ir.Column) and type(value.op()).__name__ == "Field":
            return self.ctx.bands.get(value.get_name())
        return None

    def _banded(self, meta, column, other, op: str):
        """``(column, other)`` made comparable: positions in the band order against a band value
        (equality stays equality of text, so ``== "Unknown"`` works), where a band starts
        against a number; unchanged otherwise."""
        order = self._band(column)
        if order is None or not isinstance(other, ir.Scalar) or type(other.op()).__name__ != "Literal":
            return column, other
        value = other.op().value
        if isinstance(value, str) and op in ("==", "!="):
            return column, other
        if isinstance(value, str):
            if value not in order:
                close = difflib.get_close_matches(value, order, n=2, cutoff=0.5)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise self._error(meta, f"{value!r} is not a band of {_describe(column)}; its bands in order: "
                                        f"{' < '.join(order)}{hint}")
            return band_position(column, order), ibis.literal(float(order.index(value)))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _band_start(column, order), other
        return column, other

    # -- checks -------------------------------------------------------------------------------
    def _boolean(self, meta, value, word: str):
        if not isinstance(value, ir.Value) or not value.type().is_boolean():
            raise self._error(meta, f"'{word}' joins conditions; {_describe(value)} is not a condition")
        return value

    def _check_types(self, meta, left, right, op: str) -> None:
        lt, rt = left.type(), right.type()
        comparable = (lt.is_numeric() and rt.is_numeric()) or (lt.is_string() and rt.is_string()) or \
            (lt.is_boolean() and rt.is_boolean()) or lt.is_null() or rt.is_null() or \
            (lt.is_temporal() and (rt.is_temporal() or rt.is_string())) or (rt.is_temporal() and lt.is_string())
        if not comparable:
            raise self._error(meta, f"cannot compare {_describe(left)} ({lt}) with {_describe(right)} ({rt}) using {op}")


def band_position(column: ir.Value, order: list[str]) -> ir.Value:
    """Each value's position in the band order (NULL for values outside it, such as ``Unknown``)."""
    return ibis.cases(*[(column == band, float(i)) for i, band in enumerate(order)], else_=ibis.null("float64"))


def _band_start(column: ir.Value, order: list[str]) -> ir.Value:
    """Where each value's band starts (``50-74K``: 50000; an open lower end: below every number)."""
    from ..ingest.attributes import band_bound

    starts = [(band, band_bound(band)) for band in order]
    return ibis.cases(*[(column == band, start if math.isfinite(start) else -1e300) for band, start in starts],
                      else_=ibis.null("float64"))


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unquote(text: str) -> str:
    """A quoted string's text: ``\\"`` and ``\\\\`` stand for the character after the backslash
    (any other text, accented letters included, is kept as written). A control character is refused:
    no value holds one, and a NUL cannot stand in the engine's SQL."""
    body = _ESCAPE.sub(lambda m: m.group(1), text[1:-1])
    if any(ord(c) < 32 for c in body):
        raise RuleError(text, None, f"the text {text} holds a control character")
    return body


def _describe(value: Any) -> str:
    if isinstance(value, ir.Value):
        op = value.op()
        if hasattr(op, "value") and type(op).__name__ == "Literal":
            return repr(op.value)
        return getattr(value, "get_name", lambda: "the expression")()
    return repr(value)


def compile_rule(rule: str, context: RuleContext) -> ir.BooleanValue:
    """Translate ``rule`` into a boolean Ibis expression over ``context.base``.

    Raises
    ------
    RuleError
        For syntax errors, unknown names and functions, and type mismatches, with the position.
    """
    tree = parse(rule)
    try:
        predicate = _ToIbis(rule, context).transform(tree)
    except VisitError as exc:  # errors raised inside the transformer arrive wrapped
        if isinstance(exc.orig_exc, RuleError):
            raise exc.orig_exc from None
        raise RuleError(rule, None, f"cannot evaluate the rule: {exc.orig_exc}") from None
    if isinstance(predicate, Token) or not isinstance(predicate, ir.Value) or not predicate.type().is_boolean():
        raise RuleError(rule, 0, f"a rule must be a condition (true or false per customer); {_describe(predicate)} is not")
    return predicate


def referenced_segments(rule: str) -> set[str]:
    """Names of the segments ``rule`` uses through ``in_segment("...")``."""
    names = set()
    for call in parse(rule).find_data("call"):
        if str(call.children[0]) == "in_segment":
            for argument in call.children[1:]:
                literal = argument.children[-1] if argument is not None else None
                if isinstance(literal, Tree) and literal.data == "string":
                    names.add(_unquote(str(literal.children[0])))
    return names


__all__ = ["RuleError", "parse", "compile_rule", "referenced_segments", "RuleContext", "FUNCTIONS",
           "GRAMMAR", "band_position"]
