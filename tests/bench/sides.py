"""Side-by-side timing for the benchmarks: srcal's path and its baselines, the same rounds, interleaved.

:func:`side_by_side` runs ``rounds`` rounds; in each, every baseline runs once (timed here, in
pytest-benchmark's untimed ``setup``), then srcal's path runs once (timed by pytest-benchmark and
here). Interleaving puts both sides under the same machine load, round by round (the CPU machine
is shared and noisy). Medians of the rounds are compared; each round's outputs are kept so the
test can check that the sides did the same work.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROUNDS = 3


@dataclass
class Sides:
    """Per side (``ours`` and each baseline's name): seconds and output of every round."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    outputs: dict[str, list[Any]] = field(default_factory=dict)

    def median(self, side: str) -> float:
        return statistics.median(self.seconds[side])

    def ratio(self, baseline: str, side: str = "ours") -> float:
        """How many times faster ``side`` is than ``baseline`` (ratio of median seconds)."""
        return self.median(baseline) / self.median(side)

    def info(self) -> dict[str, Any]:
        """Median and per-round seconds of every side, for ``benchmark.extra_info``."""
        return {
            f"{side}_s": {"median": round(self.median(side), 2), "rounds": [round(s, 2) for s in seconds]}
            for side, seconds in self.seconds.items()
        }


def side_by_side(
    benchmark: Any, ours: Callable[[], Any], baselines: dict[str, Callable[[], Any]], rounds: int = ROUNDS
) -> Sides:
    """Time ``ours`` (with ``benchmark.pedantic``) and every baseline over the same ``rounds``, interleaved."""
    sides = Sides({k: [] for k in ("ours", *baselines)}, {k: [] for k in ("ours", *baselines)})

    def run(side: str, fn: Callable[[], Any]) -> None:
        started = time.perf_counter()
        out = fn()
        sides.seconds[side].append(time.perf_counter() - started)
        sides.outputs[side].append(out)

    def setup() -> None:
        for name, fn in baselines.items():
            run(name, fn)

    benchmark.pedantic(lambda: run("ours", ours), setup=setup, rounds=rounds, iterations=1)
    return sides
