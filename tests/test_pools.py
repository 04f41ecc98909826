"""Stratified pools: the category mix and every suite kept, seeded, disjoint where asked, identified by hash."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.pools import composition, disjoint_slices, pool_hash, stratified_pool
from benchmarks.records import read_items


@pytest.fixture(scope="module")
def rft(smoke_dataset: Path) -> list:
    return read_items(smoke_dataset / "rft.jsonl")  # 48 items: 24 perception, 12 chart, 12 math & science


def test_two_one_one_evenly_across_suites(rft: list) -> None:
    pool = stratified_pool(rft, 24, seed=0, salt="rft")
    counts = composition(pool)
    assert counts["category"] == {"chart": 6, "math_science": 6, "perception": 12}
    assert counts["suite"] == {
        "arithmetic": 2,
        "charts": 6,
        "digits": 4,
        "easyvqa": 4,
        "geometry": 2,
        "scenes": 4,
        "science": 2,
    }
    assert len({item.id for item in pool}) == 24


def test_not_a_prefix_of_the_sorted_file(rft: list) -> None:
    pool = stratified_pool(rft, 8, seed=0, salt="rft")
    assert [i.id for i in pool] != [i.id for i in rft[:8]]
    assert len({i.suite for i in pool}) >= 6  # a prefix of the suite-sorted file holds 1 or 2 suites


def test_every_prefix_is_stratified(rft: list) -> None:
    pool = stratified_pool(rft, 48, seed=0, salt="rft")
    first = Counter(i.suite for i in pool[:7])
    assert set(first) == {"arithmetic", "charts", "digits", "easyvqa", "geometry", "scenes", "science"}


def test_seeded_and_salted(rft: list) -> None:
    a = [i.id for i in stratified_pool(rft, 12, seed=0, salt="rft")]
    assert a == [i.id for i in stratified_pool(rft, 12, seed=0, salt="rft")]
    assert a != [i.id for i in stratified_pool(rft, 12, seed=1, salt="rft")]
    assert a != [i.id for i in stratified_pool(rft, 12, seed=0, salt="scorer")]


def test_ratio_and_shortfall(rft: list) -> None:
    only_charts = stratified_pool(rft, 10, ratio=(0, 1, 0), seed=0)
    assert composition(only_charts)["category"] == {"chart": 10}
    # 20 chart items asked for, 12 exist: the rest comes from the other categories
    more = stratified_pool(rft, 20, ratio=(0, 1, 0), seed=0)
    assert len(more) == 20 and composition(more)["category"]["chart"] == 12
    assert len(stratified_pool(rft, None)) == len(stratified_pool(rft, 500)) == 48
    with pytest.raises(ValueError, match="3 non-negative weights"):
        stratified_pool(rft, 4, ratio=(1, 1))


def test_disjoint_slices(rft: list) -> None:
    slices = disjoint_slices(rft, 16, 3, seed=0, salt="calib")
    ids = [i.id for s in slices for i in s]
    assert [len(s) for s in slices] == [16, 16, 16] and len(set(ids)) == 48
    for s in slices:
        assert composition(s)["category"] == {"chart": 4, "math_science": 4, "perception": 8}


def test_pool_hash_is_the_pools_identity(rft: list) -> None:
    a, b = stratified_pool(rft, 8, seed=0), stratified_pool(rft, 8, seed=1)
    assert pool_hash(a) == pool_hash(list(a)) and pool_hash(a) != pool_hash(b)
    assert pool_hash(a) != pool_hash(a[::-1])
