"""Chart claim checking: which numeric and relational claims in a rationale the chart supports.

Recognised claims (lower-cased, whitespace collapsed, the text after "Answer:" ignored):
a label's value ("The bar for Europe is 81."), the highest / lowest value, sums and
differences written out ("81 - 79 = 2"), numeric comparisons ("81 is greater than 79"),
label comparisons ("Europe is greater than Japan") and trends ("the value increases from
2004 to 2005"). Label-aware patterns are compiled once per chart's labels.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from benchmarks.builtin.base import ClaimCheck

_HIGH = ("highest", "largest", "greatest", "maximum", "biggest", "most", "max")
_LOW = ("lowest", "smallest", "minimum", "least", "min", "fewest")
_GREATER = ("greater", "more", "higher", "larger", "bigger")
_LESS = ("less", "lower", "smaller", "fewer")
_UP = ("increase", "rise", "rose", "grow", "grew", "go up", "goes up", "went up")
_DOWN = ("decrease", "fall", "fell", "drop", "decline", "go down", "goes down", "went down")
_NUM_RE = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_ARITH_RE = re.compile(
    rf"(?<![\w.])(?P<expr>(?:{_NUM_RE})(?:\s*[-+]\s*(?:{_NUM_RE}))+)\s*=\s*(?P<result>-?(?:{_NUM_RE}))(?![\w])"
)
_NUMERIC_RE = re.compile(
    rf"(?<![\w.,])(?P<x>{_NUM_RE})\s*%? is (?P<neg>not )?(?P<word>{'|'.join(_GREATER + _LESS)}) than "
    rf"(?P<y>{_NUM_RE})(?![\w])"
)


def _num(token: str) -> float:
    return float(token.replace(",", ""))


def _evaluate(expr: str) -> float:
    tokens = re.findall(rf"[-+]|{_NUM_RE}", expr)
    total, sign = 0.0, 1
    for token in tokens:
        if token in "+-":
            sign = 1 if token == "+" else -1
        else:
            total += sign * _num(token)
    return total


@lru_cache(maxsize=512)
def _patterns(labels: tuple[str, ...]) -> dict[str, re.Pattern[str]]:
    """The label-aware claim patterns for one chart (labels lower-cased)."""
    alt = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    label = rf"(?:the (?:year|month) )?(?<![\w])(?P<label>{alt})(?![\w])"
    num = rf"(?P<num>{_NUM_RE})(?![\w])(?!\s*[-+*/=]\s*\d)"
    high_low = "|".join(_HIGH + _LOW)
    greater_less = "|".join(_GREATER + _LESS)
    up_down = "|".join(_UP + _DOWN)

    def two(tag: str) -> str:
        return rf"(?<![\w])(?P<{tag}>{alt})(?![\w])"

    return {
        "value": re.compile(
            rf"\b(?:for|of|in|at) {label},? (?:is|was|equals|reads|shows|stands at|has|had|=|:|at|with) "
            rf"(?:a value of |about |approximately |around |roughly |only |exactly )?{num}"
        ),
        "value2": re.compile(
            rf"(?<!and )(?<!between )(?<!or )(?<!than ){label}(?: has a value of| (?:is|was)|\s*[:=])\s*{num}"
        ),
        "extreme": re.compile(
            rf"\b(?P<word>{high_low}) (?:[a-z()%$]+ ){{0,4}}?(?:is|was|of) (?:about )?{num}(?:\s*%)?"
            rf"(?:,? (?:for|at|in|by|from|belonging to) {label})?"
        ),
        "has_extreme": re.compile(rf"{label} (?:has|had|is|shows|with) (?:the )?(?P<word>{high_low})\b"),
        "compare": re.compile(
            rf"{two('a')} (?:is|was|has) (?P<neg>not )?(?:a )?(?P<word>{greater_less}) (?:value )?than "
            rf"(?:that of |the value (?:of|for) )?{two('b')}"
        ),
        "trend": re.compile(
            rf"(?P<neg>(?:does|did) not |(?:does|did)n't )?(?P<word>{up_down})(?:s|d|ed)? from "
            rf"(?:the (?:year|month) )?{two('a')} to (?:the (?:year|month) )?{two('b')}"
        ),
    }


def claim_checks(rationale: str, facts: dict[str, Any]) -> list[ClaimCheck]:
    """Every recognised claim in ``rationale``, judged against the chart's ``facts["values"]``."""
    values: dict[str, int] = {str(k).lower(): v for k, v in facts.get("values", {}).items()}
    if not values:
        return []
    body = re.split(r"\n\s*(?:final\s+)?answer\s*:", rationale, flags=re.IGNORECASE)[0]
    text = re.sub(r"\s+", " ", body.lower().replace("−", "-"))
    res = _patterns(tuple(values))
    hi, lo = max(values.values()), min(values.values())
    checks: list[ClaimCheck] = []
    seen: set[tuple[str, int]] = set()
    for pattern in (res["value"], res["value2"]):
        for m in pattern.finditer(text):
            if (m.group("label"), m.start("num")) in seen:
                continue
            seen.add((m.group("label"), m.start("num")))
            true = _num(m.group("num")) == values[m.group("label")]
            checks.append(ClaimCheck(m.group(0), true, "value"))
    for m in res["extreme"].finditer(text):
        best = hi if m.group("word") in _HIGH else lo
        true = _num(m.group("num")) == best and (m.group("label") is None or values[m.group("label")] == best)
        checks.append(ClaimCheck(m.group(0), true, "extreme"))
    for m in res["has_extreme"].finditer(text):
        best = hi if m.group("word") in _HIGH else lo
        checks.append(ClaimCheck(m.group(0), values[m.group("label")] == best, "extreme"))
    for m in _ARITH_RE.finditer(text):
        checks.append(
            ClaimCheck(m.group(0), _evaluate(m.group("expr")) == _num(m.group("result")), "arithmetic")
        )
    for m in _NUMERIC_RE.finditer(text):
        x, y = _num(m.group("x")), _num(m.group("y"))
        holds = x > y if m.group("word") in _GREATER else x < y
        checks.append(ClaimCheck(m.group(0), holds != bool(m.group("neg")), "arithmetic"))
    for m in res["compare"].finditer(text):
        x, y = values[m.group("a")], values[m.group("b")]
        holds = x > y if m.group("word") in _GREATER else x < y
        checks.append(ClaimCheck(m.group(0), holds != bool(m.group("neg")), "compare"))
    for m in res["trend"].finditer(text):
        x, y = values[m.group("a")], values[m.group("b")]
        holds = y > x if m.group("word").startswith(_UP) else y < x
        checks.append(ClaimCheck(m.group(0), holds != bool(m.group("neg")), "trend"))
    return checks
