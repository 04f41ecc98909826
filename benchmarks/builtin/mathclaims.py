"""Checking arithmetic stated in free text ("5 × 3 = 15", "180 - 40 - 60 = 80").

Shared by the math & science suites: :func:`evaluate` computes an expression,
:func:`arithmetic_checks` verifies every ``lhs = rhs`` chain in a text and
:func:`stated_value` reads the value a phrase states.
"""

from __future__ import annotations

import math
import re

from benchmarks.builtin.base import ClaimCheck

_OPS = {"+": "+", "-": "-", "−": "-", "–": "-", "×": "*", "x": "*", "X": "*", "*": "*", "·": "*"}
_OPS.update({"÷": "/", "/": "/", "^": "^", "²": "²", "³": "³", "√": "√", "(": "(", ")": ")"})
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\S")
_RUN = re.compile(r"(?:[-−]?\d|[(√])(?:[\d\s()+\-−–×xX*·÷/^²³√=°]|\.(?=\d))*")
_NUM = re.compile(r"[-−]?\d+(?:\.\d+)?")


def _tokens(expr: str) -> list[str] | None:
    out: list[str] = []
    for tok in _TOKEN.findall(expr.replace("°", " ")):
        if tok[0].isdigit():
            out.append(tok)
        elif tok in _OPS:
            out.append(_OPS[tok])
        else:
            return None
    return out


class _Parser:
    """Recursive descent over ``+ - * / ^ ² ³ √ ( )`` with unary minus."""

    def __init__(self, tokens: list[str]) -> None:
        self.toks, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        self.i += 1
        return self.toks[self.i - 1]

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.factor()
        while self.peek() in ("*", "/", "(", "√"):
            op = self.take() if self.peek() in ("*", "/") else "*"
            rhs = self.factor()
            value = value * rhs if op == "*" else value / rhs
        return value

    def factor(self) -> float:
        if self.peek() == "-":
            self.take()
            return -self.factor()
        return self.power()

    def power(self) -> float:
        value = self.atom()
        while self.peek() in ("^", "²", "³"):
            op = self.take()
            exponent = 2.0 if op == "²" else 3.0 if op == "³" else self.factor()
            if abs(exponent) > 64:
                raise ValueError("exponent too large")
            value = value**exponent
        return value

    def atom(self) -> float:
        tok = self.peek()
        if tok is None:
            raise ValueError("unexpected end")
        self.take()
        if tok == "(":
            value = self.expr()
            if self.peek() != ")":
                raise ValueError("missing )")
            self.take()
            return value
        if tok == "√":
            value = self.atom() if self.peek() != "-" else self.factor()
            if value < 0:
                raise ValueError("negative root")
            return math.sqrt(value)
        if tok[0].isdigit():
            return float(tok)
        raise ValueError(f"unexpected {tok!r}")


def evaluate(expr: str) -> float | None:
    """Value of a written arithmetic expression (``2 × (5 + 3)``, ``√(6² + 8²)``); ``None`` if not one."""
    tokens = _tokens(expr)
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expr()
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    if parser.i != len(tokens) or isinstance(value, complex) or math.isnan(value):
        return None
    return float(value)


def _balance(part: str) -> str:
    """Drop unmatched leading ``(`` / trailing ``)`` left over from the surrounding prose."""
    part = part.strip()
    while part.endswith(")") and part.count(")") > part.count("("):
        part = part[:-1].strip()
    while part.startswith("(") and part.count("(") > part.count(")"):
        part = part[1:].strip()
    return part


def _runs(text: str) -> list[str]:
    """Maximal arithmetic-looking spans of ``text`` (trailing prose and punctuation trimmed)."""
    out = []
    for match in _RUN.finditer(text):
        run = match.group(0)
        while run and run[-1] not in "0123456789)²³°":
            run = run[:-1]
        if run:
            out.append(run)
    return out


def _equal(lhs: float, rhs: float, rhs_text: str) -> bool:
    literal = re.fullmatch(r"\s*[-−]?\d+\.(\d+)\s*°?\s*", rhs_text)
    tol = 0.5 * 10 ** -len(literal.group(1)) + 1e-9 if literal else 1e-9
    return abs(lhs - rhs) <= max(tol, 1e-9 * abs(rhs))


def arithmetic_checks(text: str) -> list[ClaimCheck]:
    """One check per ``=`` in each stated chain (``5 × 3 = 15``, ``6² + 8² = 36 + 64 = 100``)."""
    checks: list[ClaimCheck] = []
    for run in _runs(text):
        if "=" not in run:
            continue
        parts = [_balance(p) for p in run.split("=")]
        values = [evaluate(p) for p in parts]
        if any(not p for p in parts) or any(v is None for v in values):
            continue
        for k in range(len(parts) - 1):
            lhs, rhs = values[k], values[k + 1]
            assert lhs is not None and rhs is not None
            checks.append(
                ClaimCheck(f"{parts[k]} = {parts[k + 1]}", _equal(lhs, rhs, parts[k + 1]), "arithmetic")
            )
    return checks


def stated_value(tail: str) -> float | None:
    """The value a phrase states: the end of its first ``=`` chain, else its first number."""
    tail = re.sub(
        r"^\s*(?:about|approximately|exactly|equal to|of)\s+", "", tail.strip(), flags=re.IGNORECASE
    )
    runs = _runs(tail)
    if runs and "=" in runs[0]:
        last = _balance(runs[0].split("=")[-1])
        value = evaluate(last)
        if value is not None:
            return value
    number = _NUM.search(tail)
    return float(number.group(0).replace("−", "-")) if number else None
