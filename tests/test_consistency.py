"""Rationale-answer consistency: readers, flags and metrics on hand-written responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.metrics import consistency_metrics
from benchmarks.records import read_items
from benchmarks.registry import BENCHMARKS
from harness.consistency import consistency_fields, read_query
from harness.implied_answer import ReaderConfig, ReadQuery
from harness.implied_answer.conclusion import ConclusionReader
from harness.rescore import ResponsesFileError, rescore

MC = ["8", "9", "3", "0"]


def _row(spec_name: str, doc: dict, response: str, reader=None) -> dict:
    spec = BENCHMARKS.get(spec_name)
    d = spec.to_doc(doc)
    row = spec.score(response, d)
    implied = (reader or ConclusionReader()).read([read_query(d, row["rationale"])])[0]
    return {**row, **consistency_fields(spec, d, row, implied)}


@pytest.fixture(scope="module")
def digits_item(smoke_dataset: Path) -> dict:
    items = [i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == "digits" and i.choices]
    return items[0].to_dict()


class TestConclusionReader:
    @pytest.mark.parametrize(
        ("kind", "choices", "rationale", "expected"),
        [
            ("multiple_choice", MC, "The image shows the digit 9. That is option B.", "B"),
            ("multiple_choice", ["2001", "2002", "2003"], "The lowest value is 21, for 2003.", "C"),
            ("integer", None, "The digit 4 appears 2 times.", "2"),
            ("integer", None, "The hypotenuse is √1600 = 40.", "40"),
            ("integer", None, "The liquid reaches -21 °C.", "-21"),
            ("text", None, "The image shows a brown triangle. So the color is brown.", "brown"),
            ("yes_no", None, "It is not a triangle, so the answer is yes.", "yes"),
        ],
    )
    def test_reads_stated_conclusions(self, kind, choices, rationale, expected) -> None:
        got = ConclusionReader().read_one(ReadQuery("q?", kind, rationale, choices))
        assert (got.answer, got.status) == (expected, "ok")

    @pytest.mark.parametrize(
        ("question", "rationale", "expected"),
        [
            ("Is there a 3?", "There is a 3.", "yes"),
            ("Is there a 3?", "The digits are 1 and 2. There is no 3.", "no"),
            ("Is there a dog in the image?", "A brown dog is sitting next to the car.", "yes"),
            (
                "Is the temperature above freezing (0 °C)?",
                "-21 °C is below 0 °C, so it is below freezing.",
                "no",
            ),
            ("Is the result less than 79?", "91 - 10 = 81. The result 81 is not less than 79.", "no"),
            (
                "Does the price decrease from 2000 to 2001?",
                "25 is less than 30, so the value decreases from 2000 to 2001.",
                "yes",
            ),
            (
                "Is the lettuce the producer?",
                "No arrow points to the lettuce, so the producer is the lettuce.",
                "yes",
            ),
        ],
    )
    def test_yes_no_polarity(self, question: str, rationale: str, expected: str) -> None:
        got = ConclusionReader().read_one(ReadQuery(question, "yes_no", rationale))
        assert (got.answer, got.status) == (expected, "ok")

    def test_never_guesses(self) -> None:
        reader = ConclusionReader()
        assert (
            reader.read_one(ReadQuery("Is there a 3?", "yes_no", "The image shows some digits.")).status
            == "no_conclusion"
        )
        assert reader.read_one(ReadQuery("q?", "integer", "")).status == "no_rationale"


class TestFlags:
    def test_rationale_implying_another_answer_is_flagged(self, digits_item: dict) -> None:
        gold = digits_item["answer"]
        other = next(letter for letter in "ABCD" if letter != gold)
        row = _row("digits", digits_item, f"The image shows a digit. That is option {other}.\nAnswer: {gold}")
        assert row["correct"] is True
        assert row["implied_answer"] == other
        assert row["consistent"] is False  # a lucky answer: right, for reasons implying another

    def test_consistent_response_is_not_flagged(self, digits_item: dict) -> None:
        gold = digits_item["answer"]
        wrong = next(letter for letter in "ABCD" if letter != gold)
        right = _row("digits", digits_item, f"That is option {gold}.\nAnswer: {gold}")
        faithful = _row("digits", digits_item, f"That is option {wrong}.\nAnswer: {wrong}")
        assert right["consistent"] is True and right["correct"] is True
        assert faithful["consistent"] is True and faithful["correct"] is False

    def test_undecided_without_rationale_or_answer(self, digits_item: dict) -> None:
        bare = _row("digits", digits_item, digits_item["answer"])
        assert bare["implied_status"] == "no_rationale" and bare["consistent"] is None
        no_answer = _row("digits", digits_item, "That is option A. I am not sure.")
        assert no_answer["consistent"] is None

    def test_numeric_rule_decides_agreement(self, smoke_dataset: Path) -> None:
        spec = BENCHMARKS.get("arithmetic")
        item = next(
            i
            for i in read_items(smoke_dataset / "test.jsonl")
            if i.suite == "arithmetic" and i.answer_type == "integer"
        )
        doc = spec.to_doc(item.to_dict())
        value = int(item.answer)
        row = spec.score(f"The result is {value}.0.\nAnswer: {value}", doc)
        implied = ConclusionReader().read([read_query(doc, row["rationale"])])[0]
        assert consistency_fields(spec, doc, row, implied)["consistent"] is True
        row = spec.score(f"The result is {value + 1}.\nAnswer: {value}", doc)
        implied = ConclusionReader().read([read_query(doc, row["rationale"])])[0]
        assert consistency_fields(spec, doc, row, implied)["consistent"] is False


class TestMetrics:
    ROWS = [
        {"correct": True, "consistent": True, "parse_status": "ok", "rationale": "r"},
        {"correct": True, "consistent": False, "parse_status": "ok", "rationale": "r"},
        {"correct": False, "consistent": True, "parse_status": "ok", "rationale": "r"},
        {"correct": False, "consistent": False, "parse_status": "ok", "rationale": "r"},
        {"correct": False, "consistent": None, "parse_status": "invalid", "rationale": ""},
    ]

    def test_table_rates_and_cis(self) -> None:
        m = consistency_metrics(self.ROWS, bootstrap=500, seed=1)
        assert m["table"] == {
            "correct_consistent": 1,
            "correct_inconsistent": 1,
            "wrong_consistent": 1,
            "wrong_inconsistent": 1,
        }
        assert m["accuracy"] == pytest.approx(2 / 5)
        assert m["consistency_rate"] == pytest.approx(2 / 4)
        assert m["consistency_coverage"] == pytest.approx(4 / 5)
        assert m["lucky_answer_rate"] == pytest.approx(1 / 4)
        assert m["faithful_error_rate"] == pytest.approx(1 / 4)
        assert m["parse_failure_rate"] == pytest.approx(1 / 5)
        for key in ("accuracy", "consistency_rate"):
            lo, hi = m["ci95"][key]
            assert lo <= m[key] <= hi and lo < hi
        assert m["claim_accuracy"] is None  # nothing checkable: undefined, not 0

    def test_claims_count_only_responses_that_make_one(self) -> None:
        rows = [
            {"rationale": "r", "claims_checked": 3, "claims_true": 2},
            {"rationale": "r", "claims_checked": 1, "claims_true": 0},
            {"rationale": "r", "claims_checked": 0, "claims_true": 0},  # nothing checkable said
            {"rationale": "", "claims_checked": 0, "claims_true": 0},  # no rationale at all
        ]
        m = consistency_metrics(rows, bootstrap=200, seed=0)
        assert m["claim_accuracy"] == pytest.approx(2 / 4)  # not dragged down by the claimless
        assert m["claim_coverage"] == pytest.approx(2 / 4)  # of all documents
        assert m["no_claim_responses"] == 1 and m["claims_checked"] == 4
        lo, hi = m["ci95"]["claim_coverage"]
        assert lo <= m["claim_coverage"] <= hi

    def test_rows_without_the_key_are_not_checkable(self) -> None:
        checked = [{"rationale": "r", "claims_checked": 2, "claims_true": 2}]
        public = [{"rationale": "r"}, {"rationale": "r", "claims_checked": None}]  # pooled rows hold None
        m = consistency_metrics(checked + public, bootstrap=200, seed=0)
        assert m["claim_accuracy"] == 1.0 and m["claim_coverage"] == 1.0
        assert m["no_claim_responses"] == 0

    def test_benchmark_without_checkable_claims_gives_none(self) -> None:
        m = consistency_metrics(self.ROWS, bootstrap=200, seed=0)
        assert m["claim_accuracy"] is None and m["claim_coverage"] is None
        assert "claim_accuracy" not in m["ci95"] and "claim_coverage" not in m["ci95"]
        assert m["claims_checked"] == 0 and m["no_claim_responses"] == 0
        none_said = [{**r, "claims_checked": 0, "claims_true": 0} for r in self.ROWS]
        m = consistency_metrics(none_said, bootstrap=200, seed=0)
        assert m["claim_accuracy"] is None  # checkable, but no claim to be right or wrong about
        assert m["claim_coverage"] == 0.0 and m["no_claim_responses"] == 4

    def test_bootstrap_is_seeded(self) -> None:
        a = consistency_metrics(self.ROWS, bootstrap=200, seed=3)["ci95"]
        b = consistency_metrics(self.ROWS, bootstrap=200, seed=3)["ci95"]
        assert a == b


class TestScoreConsistency:
    def _write(self, path: Path, lines: list[dict]) -> Path:
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return path

    def test_rescore_adds_consistency(self, digits_item: dict, tmp_path: Path) -> None:
        gold = digits_item["answer"]
        other = next(letter for letter in "ABCD" if letter != gold)
        path = self._write(
            tmp_path / "r.jsonl",
            [
                {"id": "1", "response": f"That is option {other}.\nAnswer: {gold}", "doc": digits_item},
                {"id": "2", "response": f"That is option {gold}.\nAnswer: {gold}", "doc": digits_item},
            ],
        )
        result = rescore("digits", path, consistency=True, reader=ReaderConfig(name="conclusion"))
        assert [r["consistent"] for r in result.rows] == [False, True]
        assert result.summary["lucky_answers"] == 1 and result.summary["consistency_rate"] == 0.5

    def test_reads_lmms_eval_samples_log(self, smoke_dataset: Path, tmp_path: Path) -> None:
        items = [i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == "digits"][:3]
        lines = [
            {"doc_id": k, "target": i.answer, "filtered_resps": [f"Answer: {i.answer}"], "input": i.question}
            for k, i in enumerate(items)
        ]
        path = self._write(tmp_path / "20261126_samples_srcal_digits.jsonl", lines)
        result = rescore("digits", path, docs_source=str(smoke_dataset))
        assert [r["id"] for r in result.rows] == [i.id for i in items]
        assert result.summary["accuracy"] == 1.0

        lines[1]["target"] = "not-the-answer"
        bad = self._write(tmp_path / "bad.jsonl", lines)
        with pytest.raises(ResponsesFileError, match=r"bad.jsonl:2: field 'target'"):
            rescore("digits", bad, docs_source=str(smoke_dataset))
        with pytest.raises(ResponsesFileError, match="give --docs"):
            rescore("digits", path)


def test_lm_reader_reads_and_caches(tmp_path: Path) -> None:
    from harness.implied_answer.lm import LMReader

    reader = LMReader(ReaderConfig(backbone="srcal-micro-lm", cache_dir=str(tmp_path)))
    queries = [
        ReadQuery("What digit?", "multiple_choice", "That is option B.", MC),
        ReadQuery("How many?", "integer", "It appears 2 times."),
        ReadQuery("How many?", "integer", ""),
    ]
    first = reader.read(queries)
    assert reader.calls == 1
    assert first[2].status == "no_rationale"
    assert all(r.status in ("ok", "invalid") for r in first[:2])
    again = LMReader(ReaderConfig(backbone="srcal-micro-lm", cache_dir=str(tmp_path)))
    assert again.read(queries) == first and again.calls == 0  # served from the cache
    assert again.identity()["backbone_hash"] == reader.identity()["backbone_hash"]
