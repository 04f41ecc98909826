"""Stratified pools: the subset a stage draws from a split keeps the category mix and every suite.

SRC samples its data 2:1:1 across perception, chart and math & science (SRC.md). A stage that
takes N items of a pool (rationale fine-tuning, R-Scorer training, each iteration's calibration
items) draws them here: N split over the categories by the configured weights (largest
remainder), each category's share split evenly across its suites present in the pool (a suite
with too few items gives its shortfall to the others), each suite's items in a seeded random
order. The result interleaves the suites (round robin), so any prefix of it is stratified too.
Never a prefix of a file sorted by suite.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Sequence

from benchmarks.records import CATEGORIES, BenchmarkItem

PAPER_RATIO = (2.0, 1.0, 1.0)
"""perception : chart : math_science [paper]."""


def _split(total: int, weights: dict[str, float], capacity: dict[str, int]) -> dict[str, int]:
    """``total`` split by ``weights`` (largest remainder), never above ``capacity``; leftovers move on."""
    counts = {key: 0 for key in weights}
    left = min(total, sum(capacity.values()))
    open_keys = [k for k in weights if capacity[k] > 0 and weights[k] > 0]
    while left > 0 and open_keys:
        weight_sum = sum(weights[k] for k in open_keys)
        raw = {k: left * weights[k] / weight_sum for k in open_keys}
        share = {k: min(int(raw[k]), capacity[k] - counts[k]) for k in open_keys}
        rest = left - sum(share.values())
        for k in sorted(open_keys, key=lambda k: (raw[k] - int(raw[k]), -open_keys.index(k)), reverse=True):
            if rest == 0:
                break
            if share[k] < capacity[k] - counts[k]:
                share[k] += 1
                rest -= 1
        for k in open_keys:
            counts[k] += share[k]
        left -= sum(share.values())
        open_keys = [k for k in open_keys if counts[k] < capacity[k]]
        if sum(share.values()) == 0:
            break
    return counts


def stratified_pool(
    items: Sequence[BenchmarkItem],
    n: int | None,
    ratio: Sequence[float] = PAPER_RATIO,
    seed: int = 0,
    salt: str = "",
) -> list[BenchmarkItem]:
    """``n`` items of ``items`` (all when None or more than there are), stratified as the module says.

    ``salt`` names the draw (``rft``, ``scorer``, ``calib-1`` ...) so different stages draw
    independently under one seed.
    """
    if len(ratio) != len(CATEGORIES) or any(w < 0 for w in ratio):
        raise ValueError(f"ratio needs {len(CATEGORIES)} non-negative weights, got {list(ratio)}")
    by_suite: dict[str, list[BenchmarkItem]] = {}
    for item in items:
        by_suite.setdefault(item.suite, []).append(item)
    for suite, members in by_suite.items():
        random.Random(f"{seed}:{salt}:{suite}").shuffle(members)
    total = len(items) if n is None else min(n, len(items))
    suites_of = {c: sorted(s for s, m in by_suite.items() if m[0].category == c) for c in CATEGORIES}
    weights = dict(zip(CATEGORIES, ratio))
    capacity = {c: sum(len(by_suite[s]) for s in suites_of[c]) for c in CATEGORIES}
    per_category = _split(total, weights, capacity)
    if sum(per_category.values()) < total:  # categories the ratio weights 0 fill what is left
        rest = _split(
            total - sum(per_category.values()),
            {c: 1.0 for c in CATEGORIES},
            {c: capacity[c] - per_category[c] for c in CATEGORIES},
        )
        per_category = {c: per_category[c] + rest[c] for c in CATEGORIES}
    chosen: dict[str, list[BenchmarkItem]] = {}
    for category, count in per_category.items():
        suites = suites_of[category]
        counts = _split(count, {s: 1.0 for s in suites}, {s: len(by_suite[s]) for s in suites})
        for suite in suites:
            chosen[suite] = by_suite[suite][: counts[suite]]
    order = sorted(chosen)
    longest = max((len(v) for v in chosen.values()), default=0)
    return [chosen[s][i] for i in range(longest) for s in order if i < len(chosen[s])]


def disjoint_slices(
    items: Sequence[BenchmarkItem],
    n: int | None,
    count: int,
    ratio: Sequence[float] = PAPER_RATIO,
    seed: int = 0,
    salt: str = "",
) -> list[list[BenchmarkItem]]:
    """``count`` disjoint stratified pools of ``n`` items each (fewer when the pool runs out)."""
    slices: list[list[BenchmarkItem]] = []
    used: set[str] = set()
    for k in range(count):
        left = [item for item in items if item.id not in used]
        pool = stratified_pool(left, n, ratio, seed, f"{salt}-{k + 1}")
        used.update(item.id for item in pool)
        slices.append(pool)
    return slices


def pool_hash(items: Iterable[BenchmarkItem]) -> str:
    """Identity of a pool: sha256 over its item ids in order."""
    return hashlib.sha256("\n".join(item.id for item in items).encode()).hexdigest()


def composition(items: Iterable[BenchmarkItem]) -> dict[str, dict[str, int]]:
    """Items per category and per suite (what a stage manifest records of its pool)."""
    items = list(items)
    return {
        "category": dict(sorted(Counter(i.category for i in items).items())),
        "suite": dict(sorted(Counter(i.suite for i in items).items())),
    }
