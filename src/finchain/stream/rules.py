"""The rule language: a tokenizer, a recursive-descent parser, and a compiler to closures.

::

    rule       := "WHEN" expr "THEN" action
    action     := ("alert" | "block" | "review") [STRING]
    expr       := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | comparison
    comparison := additive [("<" | "<=" | ">" | ">=" | "==" | "=" | "!=") additive]
    additive   := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | aggregate | IDENT | "(" expr ")"
    aggregate  := STAT "(" [IDENT ","] DURATION ")" "BY" IDENT
    STAT       := count | sum | mean | avg | var | std | min | max

Keywords are case-insensitive; durations are ``250ms``, ``30s``, ``5m``, ``1h``, ``1d``.
An aggregate is a per-event lookback over the key named after ``BY``: ``sum(amount, 5m) BY card``
is the card's spend over the 5 minutes up to and including this event. Rules never go through
``eval``: each node becomes a small Python closure over the engine's result columns.

>>> r = parse_rule('WHEN sum(amount, 5m) BY card > 50000 AND count(1m) BY card >= 10 '
...                'THEN alert "velocity"')
>>> r.action, r.message, [(a.stat, a.field, a.span, a.key) for a in r.aggregates()]
('alert', 'velocity', [('sum', 'amount', 300000, 'card'), ('count', None, 60000, 'card')])
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from finchain.stream.errors import RuleSyntaxError, StreamError
from finchain.stream.timeutil import parse_duration

__all__ = ["Aggregate", "Rule", "RuleSet", "parse_rule"]

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<duration>\d+(?:ms|s|m|h|d)\b)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><=|>=|==|!=|[<>=+\-*/(),])
    """,
    re.VERBOSE,
)

_KEYWORDS = {"when", "then", "and", "or", "not", "by", "true", "false"}
_STATS = {"count", "sum", "mean", "avg", "var", "std", "min", "max"}
_ACTIONS = {"alert", "block", "review"}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


@dataclass(slots=True, frozen=True)
class Token:
    kind: str  # duration, number, string, ident, keyword, op, eof
    text: str
    line: int
    column: int


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens with 1-based line and column numbers."""
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise RuleSyntaxError(
                f"unexpected character {source[pos]!r}", source, line, pos - line_start + 1
            )
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ws":
            for j, ch in enumerate(text):
                if ch == "\n":
                    line += 1
                    line_start = pos + j + 1
        else:
            if kind == "ident" and text.lower() in _KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, text, line, pos - line_start + 1))
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


# -- syntax tree -------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Aggregate:
    stat: str
    field: str | None
    span: int
    key: str


@dataclass(slots=True, frozen=True)
class Node:
    op: str  # const, field, agg, cmp, and, or, not, neg, arith
    args: tuple[Any, ...]


@dataclass(slots=True)
class Rule:
    """A parsed rule; :meth:`compile` turns it into a predicate over result columns."""

    name: str
    source: str
    tree: Node
    action: str
    message: str

    def aggregates(self) -> list[Aggregate]:
        out: list[Aggregate] = []

        def walk(node: Node) -> None:
            if node.op == "agg":
                out.append(node.args[0])
            else:
                for a in node.args:
                    if isinstance(a, Node):
                        walk(a)

        walk(self.tree)
        return out


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> RuleSyntaxError:
        tok = tok or self.peek()
        found = "end of rule" if tok.kind == "eof" else repr(tok.text)
        return RuleSyntaxError(f"{message}, found {found}", self.source, tok.line, tok.column)

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "keyword" and tok.text.lower() == word

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.error(f"expected {word.upper()}")
        return self.next()

    def expect_op(self, op: str) -> Token:
        tok = self.peek()
        if tok.kind != "op" or tok.text != op:
            raise self.error(f"expected {op!r}")
        return self.next()

    def rule(self, name: str) -> Rule:
        self.expect_kw("when")
        tree = self.expr()
        self.expect_kw("then")
        tok = self.next()
        if tok.kind != "ident" or tok.text.lower() not in _ACTIONS:
            raise self.error("expected an action (alert, block or review)", tok)
        message = name
        if self.peek().kind == "string":
            message = _unquote(self.next().text)
        if self.peek().kind != "eof":
            raise self.error("expected end of rule")
        return Rule(name, self.source, tree, tok.text.lower(), message)

    def expr(self) -> Node:
        node = self.and_()
        while self.is_kw("or"):
            self.next()
            node = Node("or", (node, self.and_()))
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.is_kw("and"):
            self.next()
            node = Node("and", (node, self.not_()))
        return node

    def not_(self) -> Node:
        if self.is_kw("not"):
            self.next()
            return Node("not", (self.not_(),))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _CMP:
            self.next()
            return Node("cmp", (tok.text, left, self.additive()))
        return left

    def additive(self) -> Node:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.next().text
            node = Node("arith", (op, node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.next().text
            node = Node("arith", (op, node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.peek().kind == "op" and self.peek().text == "-":
            self.next()
            return Node("neg", (self.unary(),))
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.next()
            text = tok.text
            return Node("const", (float(text) if any(c in text for c in ".eE") else int(text),))
        if tok.kind == "string":
            self.next()
            return Node("const", (_unquote(tok.text),))
        if tok.kind == "keyword" and tok.text.lower() in ("true", "false"):
            self.next()
            return Node("const", (tok.text.lower() == "true",))
        if tok.kind == "op" and tok.text == "(":
            self.next()
            node = self.expr()
            self.expect_op(")")
            return node
        if tok.kind == "ident":
            self.next()
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text == "(":
                if tok.text.lower() not in _STATS:
                    raise self.error(
                        f"unknown statistic {tok.text!r} (use {', '.join(sorted(_STATS))})", tok
                    )
                return self.aggregate(tok)
            return Node("field", (tok.text,))
        if tok.kind == "duration":
            raise self.error("a duration belongs inside an aggregate like sum(amount, 5m)")
        raise self.error("expected a number, a field or an aggregate")

    def aggregate(self, name_tok: Token) -> Node:
        stat = name_tok.text.lower()
        stat = "mean" if stat == "avg" else stat
        self.expect_op("(")
        field: str | None = None
        tok = self.peek()
        if tok.kind == "ident":
            field = self.next().text
            self.expect_op(",")
            tok = self.peek()
        if tok.kind != "duration":
            raise self.error("expected a window length like 5m")
        span = parse_duration(self.next().text)
        self.expect_op(")")
        self.expect_kw("by")
        key = self.next()
        if key.kind != "ident":
            raise self.error("expected the key field after BY", key)
        if field is None and stat != "count":
            raise self.error(f"{stat}() needs a field, like {stat}(amount, 5m)", name_tok)
        return Node("agg", (Aggregate(stat, field, span, key.text),))


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse_rule(source: str, name: str = "rule") -> Rule:
    """Parse one rule; :class:`RuleSyntaxError` points at the offending token.

    >>> try:
    ...     parse_rule("WHEN count(5m) BY card >> 3 THEN alert")
    ... except RuleSyntaxError as exc:
    ...     print(exc)
    expected a number, a field or an aggregate, found '>' at line 1, column 25
      WHEN count(5m) BY card >> 3 THEN alert
                              ^
    """
    return _Parser(source).rule(name)


# -- compilation -------------------------------------------------------------------------------
Cols = dict[str, list[Any]]
Fn = Callable[[Cols, Cols, int], Any]


def _compile(node: Node, resolve: Callable[[Aggregate], str]) -> Fn:
    op = node.op
    if op == "const":
        value = node.args[0]
        return lambda rel, vals, i: value
    if op == "field":
        name = node.args[0]

        def field(rel: Cols, vals: Cols, i: int) -> Any:
            col = rel.get(name)
            return None if col is None else col[i]

        return field
    if op == "agg":
        col = resolve(node.args[0])
        return lambda rel, vals, i: vals[col][i]
    if op == "cmp":
        fn = _CMP[node.args[0]]
        left = _compile(node.args[1], resolve)
        right = _compile(node.args[2], resolve)

        def cmp(rel: Cols, vals: Cols, i: int) -> bool:
            a = left(rel, vals, i)
            b = right(rel, vals, i)
            if a is None or b is None:
                return False
            try:
                return bool(fn(a, b))
            except TypeError:
                return False

        return cmp
    if op == "and":
        a, b = (_compile(x, resolve) for x in node.args)
        return lambda rel, vals, i: bool(a(rel, vals, i)) and bool(b(rel, vals, i))
    if op == "or":
        a, b = (_compile(x, resolve) for x in node.args)
        return lambda rel, vals, i: bool(a(rel, vals, i)) or bool(b(rel, vals, i))
    if op == "not":
        a = _compile(node.args[0], resolve)
        return lambda rel, vals, i: not a(rel, vals, i)
    if op == "neg":
        a = _compile(node.args[0], resolve)

        def neg(rel: Cols, vals: Cols, i: int) -> Any:
            v = a(rel, vals, i)
            return None if v is None else -v

        return neg
    if op == "arith":
        fn = _ARITH[node.args[0]]
        left = _compile(node.args[1], resolve)
        right = _compile(node.args[2], resolve)

        def arith(rel: Cols, vals: Cols, i: int) -> Any:
            a = left(rel, vals, i)
            b = right(rel, vals, i)
            if a is None or b is None:
                return None
            try:
                return fn(a, b)
            except (ZeroDivisionError, TypeError):
                return None

        return arith
    raise StreamError(f"internal: unknown rule node {op}")  # pragma: no cover


class RuleSet:
    """Named rules, compiled against an engine's lookback columns; replace rules at any time.

    >>> rs = RuleSet({"big": "WHEN amount > 100 THEN alert"})
    >>> rs.names()
    ['big']
    """

    def __init__(self, rules: dict[str, str] | None = None) -> None:
        self.rules: dict[str, Rule] = {}
        self._compiled: list[tuple[Rule, Fn]] = []
        self._engine: Any = None
        for name, text in (rules or {}).items():
            self.rules[name] = parse_rule(text, name)

    def names(self) -> list[str]:
        return sorted(self.rules)

    def sources(self) -> dict[str, str]:
        return {n: r.source for n, r in sorted(self.rules.items())}

    def add(self, name: str, text: str) -> Rule:
        rule = parse_rule(text, name)
        self.rules[name] = rule
        if self._engine is not None:
            self.bind(self._engine)
        return rule

    def remove(self, name: str) -> None:
        if name not in self.rules:
            raise StreamError(f"no rule named {name!r}")
        del self.rules[name]
        if self._engine is not None:
            self.bind(self._engine)

    def bind(self, engine: Any) -> None:
        """Create the lookbacks the rules need on ``engine`` and compile every rule."""

        def resolve(agg: Aggregate) -> str:
            name, stat = engine.lookback_for(agg.key, agg.field, agg.span, agg.stat)
            return f"{name}.{stat}"

        self._compiled = [(r, _compile(r.tree, resolve)) for _, r in sorted(self.rules.items())]
        self._engine = engine

    def evaluate(self, rel: Cols, vals: Cols, time_field: str = "ts") -> list[Any]:
        from finchain.stream.engine import Alert

        alerts: list[Alert] = []
        ts = rel[time_field]
        offsets = rel.get("_offset")
        for rule, fn in self._compiled:
            aggs = rule.aggregates()
            key_field = aggs[0].key if aggs else None
            for i in range(len(ts)):
                if fn(rel, vals, i):
                    key: Hashable = rel[key_field][i] if key_field in rel else None
                    off = offsets[i] if offsets is not None else -1
                    alerts.append(Alert(rule.name, rule.action, rule.message, key, ts[i], off))
        return alerts

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules.values())
