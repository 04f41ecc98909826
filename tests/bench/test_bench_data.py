"""Data-build throughput per built-in suite (``tox -e bench``).

Figures are items/s of ``Suite.generate`` plus image encoding, each suite measured in
the same run; the comparison that matters is between suites (which one dominates the
default build), so read them side by side rather than as absolute numbers.
"""

from __future__ import annotations

import pytest

from benchmarks.fileio import png_bytes
from benchmarks.registry import BUILTIN_SUITES, SUITES

N = 60


@pytest.mark.parametrize("name", BUILTIN_SUITES)
def test_suite_generation(benchmark, name: str) -> None:
    suite = SUITES.get(name)
    suite.generate("test", 2, 0)  # warm the source data caches outside the timing

    def run() -> int:
        drafts = suite.generate("rft", N, 1)
        return sum(len(png_bytes(d.image)) for d in drafts)

    total = benchmark.pedantic(run, rounds=2, iterations=1)
    assert total > 0
    benchmark.extra_info["items_per_round"] = N


@pytest.mark.parametrize("name", ["arithmetic", "geometry", "science"])
def test_generate_300_base_items(benchmark, name: str) -> None:
    """``Suite.generate`` alone (no image encoding) of 300 base items: the unit tests' former
    ``test_speed`` wall-time checks (< 5 s each), measured here instead."""
    suite = SUITES.get(name)
    suite.generate("test", 2, 0)  # warm the source data caches (MNIST) outside the timing
    drafts = benchmark.pedantic(suite.generate, args=("base", 300, 11), rounds=3, iterations=1)
    assert len(drafts) == 300
    benchmark.extra_info["items_per_round"] = 300
