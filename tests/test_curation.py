from __future__ import annotations

import pytest

from benchmarks.records import RecordError
from benchmarks.registry import UnknownNameError
from calibrate.baselines import outcome_scores
from calibrate.config import METHODS, CurationConfig
from calibrate.curation import candidate_scores, curate, curate_item, scores_from_verdicts
from calibrate.records import (
    Candidate,
    CandidateScores,
    CandidateSet,
    PairVerdict,
    PreferencePair,
    read_records,
    write_records,
)
from calibrate.verdicts import SCORERS


def cand(i: int, correct: bool | None = True, logprob: float = -1.0) -> Candidate:
    return Candidate(
        candidate_id=i,
        text=f"response {i}",
        rationale="",
        final_answer="x",
        parse_status="ok",
        correct=correct,
        logprob_sum=logprob,
        num_tokens=1,
    )


def verdicts_of(verdicts: list[tuple[int, int, list[float], list[float]]]) -> CandidateScores:
    return CandidateScores(
        item_id="q",
        method="src",
        mode="pairwise",
        verdicts=[PairVerdict(a, b, ab, ba) for a, b, ab, ba in verdicts],
    )


class TestScores:
    def test_order_debiased_win_probability(self) -> None:
        # 0 beats 1 when shown first (0.9) and when shown second (p_ba[1] = 0.7): w01 = 0.8, w10 = 0.2
        j = verdicts_of([(0, 1, [0.9, 0.1, 0.0], [0.3, 0.7, 0.0])])
        s = scores_from_verdicts(j, [0, 1], weighted=True)
        assert s[0] == pytest.approx(0.6) and s[1] == pytest.approx(-0.6)

    def test_position_bias_cancels(self) -> None:
        # A scorer that always prefers the first shown response says nothing about the pair.
        j = verdicts_of([(0, 1, [0.8, 0.2, 0.0], [0.8, 0.2, 0.0])])
        s = scores_from_verdicts(j, [0, 1], weighted=True)
        assert s[0] == pytest.approx(0.0) and s[1] == pytest.approx(0.0)

    def test_confidence_weighting_discounts_ties(self) -> None:
        # 0 vs 1: confident win for 0; 0 vs 2: near-tie that slightly favours 2.
        verdicts = [
            (0, 1, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            (0, 2, [0.0, 0.1, 0.9], [0.1, 0.0, 0.9]),
        ]
        weighted = scores_from_verdicts(verdicts_of(verdicts), [0, 1, 2], weighted=True)
        plain = scores_from_verdicts(verdicts_of(verdicts), [0, 1, 2], weighted=False)
        # weighted: (1 * 1 + 0.1 * -0.1) / 1.1 ; plain: (1 - 0.1) / 2
        assert weighted[0] == pytest.approx((1.0 - 0.01) / 1.1)
        assert plain[0] == pytest.approx(0.45)
        assert weighted[0] > plain[0]


class TestCurateItem:
    def test_best_vs_worst_with_margin(self) -> None:
        cs = CandidateSet("q", [cand(0), cand(1), cand(2)])
        out = curate_item(cs, {0: 0.5, 1: -0.7, 2: 0.1}, CurationConfig(tau=0.1))
        assert out.reason == "kept"
        assert (out.pair.chosen_id, out.pair.rejected_id) == (0, 1)
        assert out.pair.margin == pytest.approx(1.2)

    def test_correctness_gate(self) -> None:
        cs = CandidateSet("q", [cand(0, correct=False), cand(1, correct=True), cand(2, correct=False)])
        out = curate_item(cs, {0: 0.9, 1: 0.0, 2: -0.9}, CurationConfig(tau=0.0))
        assert out.pair.chosen_id == 1 and out.pair.rejected_id == 2
        none_correct = CandidateSet("q", [cand(0, correct=False), cand(1, correct=False)])
        assert curate_item(none_correct, {0: 1.0, 1: 0.0}, CurationConfig()).reason == "no_correct_candidate"

    def test_tau_drops_close_calls(self) -> None:
        cs = CandidateSet("q", [cand(0), cand(1)])
        assert curate_item(cs, {0: 0.02, 1: 0.0}, CurationConfig(tau=0.05)).reason == "below_tau"

    def test_self_confidence_term(self) -> None:
        cs = CandidateSet("q", [cand(0, logprob=-0.01), cand(1, logprob=-5.0)])
        without = curate_item(cs, {0: 0.0, 1: 0.1}, CurationConfig(tau=0.0, lambda_c=0.0))
        with_c = curate_item(cs, {0: 0.0, 1: 0.1}, CurationConfig(tau=0.0, lambda_c=1.0))
        assert without.pair.chosen_id == 1 and with_c.pair.chosen_id == 0

    def test_more_pairs_per_item(self) -> None:
        """Every (eligible, other) pair at least tau apart, largest margin first, capped; the paper's pair first."""
        cs = CandidateSet("q", [cand(0), cand(1), cand(2), cand(3, correct=False)])
        scores = {0: 0.6, 1: 0.5, 2: -0.4, 3: 0.55}
        one = curate_item(cs, scores, CurationConfig(tau=0.2))
        assert [(p.chosen_id, p.rejected_id) for p in one.pairs] == [(0, 2)]
        many = curate_item(cs, scores, CurationConfig(tau=0.2, pairs_per_item=3))
        # (0, 2) 1.0 is the paper's; then (1, 2) 0.9; (3, 2) 0.95 is excluded: 3 is wrong (not eligible)
        assert [(p.chosen_id, p.rejected_id) for p in many.pairs] == [(0, 2), (1, 2)]
        assert [p.margin for p in many.pairs] == [pytest.approx(1.0), pytest.approx(0.9)]
        close = curate_item(cs, scores, CurationConfig(tau=0.05, pairs_per_item=10))
        assert (0, 1) in [(p.chosen_id, p.rejected_id) for p in close.pairs]  # 0.1 apart >= tau 0.05
        assert all(p.margin >= 0.05 for p in close.pairs) and len(close.pairs) == len(
            {(p.chosen_id, p.rejected_id) for p in close.pairs}
        )
        with pytest.raises(ValueError, match="pairs_per_item"):
            CurationConfig(pairs_per_item=0)

    def test_too_few(self) -> None:
        assert (
            curate_item(CandidateSet("q", [cand(0)]), {0: 1.0}, CurationConfig()).reason
            == "too_few_candidates"
        )


class TestCurate:
    def test_outcome_baseline_ignores_verdicts(self) -> None:
        cs = CandidateSet("q", [cand(0, correct=False), cand(1, correct=True)])
        assert outcome_scores(cs) == {0: 0.0, 1: 1.0}
        record = CandidateScores("q", "outcome-dpo", "direct", scores={"0": 0.0, "1": 1.0})
        pairs, summary = curate([cs], {"q": record}, CurationConfig(tau=0.5), method="outcome-dpo")
        assert len(pairs) == 1 and pairs[0].chosen_id == 1 and pairs[0].method == "outcome-dpo"
        assert summary["pairs_kept"] == 1

    def test_direct_scores_stand_as_they_are(self) -> None:
        # a direct record is used as S_i even when the scorer also left verdicts (they are ignored)
        record = CandidateScores(
            "q", "csr-style", "direct", verdicts_of([(0, 1, [0.0, 1.0, 0.0], [])]).verdicts
        )
        record.scores = {"0": 0.25, "1": -0.5}
        assert candidate_scores(record, [0, 1], weighted=True) == {0: 0.25, 1: -0.5}

    def test_unscored_items_counted(self) -> None:
        cs = CandidateSet("q", [cand(0), cand(1)])
        pairs, summary = curate([cs], {}, CurationConfig())
        assert pairs == [] and summary["reasons"] == {"not_scored": 1}


class TestRecords:
    def test_candidate_scores_round_trip_and_mode_check(self) -> None:
        record = verdicts_of([(0, 1, [0.9, 0.1, 0.0], [0.3, 0.7, 0.0])])
        assert CandidateScores.from_dict(record.to_dict()) == record
        with pytest.raises(RecordError, match="mode"):
            CandidateScores.from_dict({**record.to_dict(), "mode": "judged"})

    def test_pairs_file_round_trip(self, tmp_path) -> None:
        pairs = [
            PreferencePair(f"i{n}", 0, 1, "chosen \u00e9", "rejected", 0.5, {"0": 0.5, "1": 0.0})
            for n in (2, 1)
        ]
        write_records(tmp_path / "pairs.jsonl", pairs)
        assert read_records(PreferencePair, tmp_path / "pairs.jsonl") == pairs  # file order
        assert read_records(PreferencePair, tmp_path / "pairs.jsonl", ["i1"]) == pairs[1:]


def test_every_iterating_method_has_one_candidate_scorer() -> None:
    assert set(SCORERS.names()) == set(METHODS) - {"sft-only"}
    for name in SCORERS:
        assert SCORERS.get(name).method == name
    with pytest.raises(UnknownNameError, match="did you mean 'csr-style'"):
        SCORERS.get("csr-styl")
