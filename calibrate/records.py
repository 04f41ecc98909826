"""Records that cross SRC stage boundaries, written as JSONL (one line per calibration item).

- ``CandidateSet`` (``iter_k/candidates.jsonl``): the policy's candidate responses for one item.
- ``CandidateScores`` (``iter_k/verdicts.jsonl``): how the method's candidate scorer rated one item's
  candidates (the R-Scorer's pairwise verdicts, a self-reward, answer correctness); curation reads only this.
- ``PreferencePair`` (``iter_k/pairs.jsonl``): the curated chosen/rejected pair and why.

Every record carries ``schema_version``; readers reject other versions. `read_records` and
`write_records` move them through :class:`calibrate.artifacts.ItemLog` files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from benchmarks.records import RecordError
from calibrate.artifacts import ItemLog

SCHEMA_VERSION = 1
R = TypeVar("R")


def _from_dict(cls: type[R], data: dict[str, Any]) -> R:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise RecordError(f"{cls.__name__}: unknown field {unknown[0]!r}")
    if data.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise RecordError(f"{cls.__name__}: unsupported schema_version {data.get('schema_version')!r}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise RecordError(f"{cls.__name__}: {exc}") from exc


@dataclass
class Candidate:
    """One candidate response.

    Attributes:
        candidate_id: index within its item (stable across resumes).
        text: the full response.
        rationale / final_answer / parse_status: the parsed response (see benchmarks.parsing).
        correct: whether final_answer matches the gold answer (None when the item has no gold).
        logprob_sum / num_tokens: summed token log-probability under the generating policy and length.
        token_logprobs: per-token log-probabilities of the response.
        origin: how it was produced (``sampling``, ``sentence_search``, ``greedy``) and its settings.
    """

    candidate_id: int
    text: str
    rationale: str
    final_answer: str | None
    parse_status: str
    correct: bool | None
    logprob_sum: float
    num_tokens: int
    token_logprobs: list[float] = field(default_factory=list)
    origin: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_logprob(self) -> float:
        return self.logprob_sum / max(1, self.num_tokens)


@dataclass
class CandidateSet:
    item_id: str
    candidates: list[Candidate]
    num_generated: int = 0
    """Candidates generated before deduplication."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateSet:
        data = dict(data)
        data["candidates"] = [_from_dict(Candidate, c) for c in data.get("candidates", [])]
        return _from_dict(cls, data)


@dataclass
class PairVerdict:
    """The R-Scorer on one unordered pair (a < b): verdict probabilities in both orders.

    ``p_ab`` = [P(A), P(B), P(Tie)] with ``a`` shown first; ``p_ba`` with ``b`` shown first
    (so ``p_ba[0]`` is the probability that ``b`` wins). Pointwise mode fills ``p_ab`` from
    the two independent scores and leaves ``p_ba`` empty.
    """

    a: int
    b: int
    p_ab: list[float]
    p_ba: list[float] = field(default_factory=list)


SCORE_MODES = ("pairwise", "pointwise", "direct")
"""How curation turns a `CandidateScores` into per-candidate scores: from its pair ``verdicts``
(``pairwise``, ``pointwise``: order-debiased, confidence-weighted) or its ``scores`` as they are (``direct``)."""


@dataclass
class CandidateScores:
    """One item's candidates as the method's candidate scorer rated them (``iter_k/verdicts.jsonl``).

    ``src`` (the R-Scorer) fills ``verdicts`` (mode ``pairwise``, or ``pointwise`` with the per-candidate
    P(good) in ``pointwise`` and verdicts derived from them); the baselines fill ``scores`` (mode ``direct``:
    ``csr-style`` a self-reward, ``outcome-dpo`` answer correctness). See `calibrate.verdicts.SCORERS`.
    """

    item_id: str
    method: str
    """The method whose candidate scorer wrote it (a key of `calibrate.verdicts.SCORERS`)."""
    mode: str
    """One of `SCORE_MODES`."""
    verdicts: list[PairVerdict] = field(default_factory=list)
    pointwise: dict[str, float] = field(default_factory=dict)
    """Pointwise mode: candidate_id (as str) -> P(good)."""
    scores: dict[str, float] = field(default_factory=dict)
    """Direct mode: candidate_id (as str) -> the candidate's score."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateScores:
        data = dict(data)
        data["verdicts"] = [_from_dict(PairVerdict, v) for v in data.get("verdicts", [])]
        record = _from_dict(cls, data)
        if record.mode not in SCORE_MODES:
            raise RecordError(f"CandidateScores: unknown mode {record.mode!r}")
        return record


@dataclass
class PreferencePair:
    """A curated preference pair and the scores that chose it."""

    item_id: str
    chosen_id: int
    rejected_id: int
    chosen: str
    rejected: str
    margin: float
    scores: dict[str, float]
    """candidate_id (as str) -> aggregated score S_i."""
    method: str = "src"
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreferencePair:
        return _from_dict(cls, dict(data))


class _Record(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def read_records(cls: type[R], path: str | Path, item_ids: Iterable[str] | None = None) -> list[R]:
    """The ``cls`` records of the per-item JSONL at ``path`` (an `ItemLog`): those of ``item_ids`` in that
    order, or all of them in file order."""
    log = ItemLog(path)
    rows = log.ordered(item_ids) if item_ids is not None else list(log.records.values())
    return [cls.from_dict(r) for r in rows]  # type: ignore[attr-defined]


def write_records(path: str | Path, records: Iterable[_Record]) -> None:
    """Write ``records`` as the whole per-item JSONL at ``path``, atomically (`ItemLog.replace`)."""
    ItemLog.replace(path, (r.to_dict() for r in records))
