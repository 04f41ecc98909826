"""The choice reader: shared-prefix scoring, ties, batch invariance, candidates; the validity suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.records import read_items
from benchmarks.registry import BENCHMARKS
from harness.implied_answer import ReaderConfig, ReadQuery
from harness.implied_answer.choice import ChoiceReader, choice_candidates, continuation_logprobs
from harness.implied_answer.conclusion import ConclusionReader
from harness.implied_answer.validity import generated_cases, measured_validity, negate, public_cases, validate


@pytest.fixture(scope="module")
def micro_reader(tmp_path_factory: pytest.TempPathFactory) -> ChoiceReader:
    cache = tmp_path_factory.mktemp("reader-cache")
    return ChoiceReader(ReaderConfig(name="choice", backbone="srcal-micro-lm", cache_dir=str(cache)))


QUERIES = [
    ReadQuery("Is there a cat?", "yes_no", "I see a sofa and a lamp near the window."),
    ReadQuery(
        "How many birds are there?",
        "integer",
        "Two birds sit on the left, 3 more fly.",
        candidates=["5", "4"],
    ),
    ReadQuery("What digit is shown?", "multiple_choice", "It has a loop at the top.", ["8", "9", "3", "0"]),
    ReadQuery(
        "What share is blue?", "text", "Blue covers 45% and red 30% of the pie.", candidates=["45%", "30"]
    ),
    ReadQuery(
        "What does the fox eat?", "text", "An arrow points from the rabbit to the fox.", candidates=["rabbit"]
    ),
]


def test_shared_prefix_equals_separate_forwards(micro_reader: ChoiceReader) -> None:
    import torch

    loaded = micro_reader.lm._model()
    model = loaded.model
    prefix = list(range(5, 40))
    continuations = [[7], [9, 11, 13], [21, 22], [30, 31, 32, 33]]
    shared = continuation_logprobs(model, prefix, continuations)
    for got, cont in zip(shared, continuations):
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prefix + cont])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        expected = sum(float(logp[len(prefix) - 1 + j, t]) for j, t in enumerate(cont))
        assert got == pytest.approx(expected, abs=1e-4)


def test_ties_are_undecided(micro_reader: ChoiceReader) -> None:
    assert micro_reader.decide(["A", "B", "C"], [-1.0, -1.0, -3.0]).status == "tie"
    assert micro_reader.decide(["A", "B"], [-1.0, -2.0]).answer == "A"
    # identical option texts score identically: a tie, never a coin flip
    same = ReadQuery("Which?", "multiple_choice", "The shape is round.", ["circle", "circle"])
    assert micro_reader.read([same])[0].status == "tie"


def test_min_confidence_leaves_close_calls_undecided(tmp_path: Path) -> None:
    reader = ChoiceReader(
        ReaderConfig(name="choice", backbone="srcal-micro-lm", cache_dir=str(tmp_path), min_confidence=0.9)
    )
    assert reader.decide(["yes", "no"], [-1.0, -1.2]).status == "unsure"
    assert reader.decide(["yes", "no"], [-1.0, -9.0]).answer == "yes"


def test_batch_invariance_and_cache(micro_reader: ChoiceReader, tmp_path: Path) -> None:
    together = micro_reader.read(QUERIES)
    fresh = ChoiceReader(ReaderConfig(name="choice", backbone="srcal-micro-lm", cache_dir=str(tmp_path)))
    alone = [fresh.read([q])[0] for q in QUERIES]
    assert [(r.answer, r.status, r.raw) for r in together] == [(r.answer, r.status, r.raw) for r in alone]
    forwards = fresh.forwards
    assert [r.raw for r in fresh.read(QUERIES)] == [r.raw for r in alone]
    assert fresh.forwards == forwards  # served from the cache


def test_explicit_conclusion_is_read_first(tmp_path: Path) -> None:
    reader = ChoiceReader(ReaderConfig(name="choice", backbone="srcal-micro-lm", cache_dir=str(tmp_path)))
    got = reader.read(
        [ReadQuery("How many?", "integer", "5 - 2 = 3, so the answer is 3.", candidates=["7", "3"])]
    )
    assert (got[0].answer, got[0].status, reader.forwards) == ("3", "ok", 0)


def test_candidates() -> None:
    numbers = choice_candidates(QUERIES[1])
    assert [a for a, _ in numbers] == ["3", "5", "4"]  # stated numbers, then final and gold
    percent = choice_candidates(QUERIES[3])
    assert [a for a, _ in percent] == ["45%", "30%", "30"]  # a text benchmark keeps the percent sign
    words = [a for a, _ in choice_candidates(QUERIES[4])]
    assert words[0] == "rabbit" and "arrow" in words and "fox" not in words  # question words are not answers
    assert [a for a, _ in choice_candidates(QUERIES[0])] == ["yes", "no"]


# ----------------------------------------------------------------------------- validity suite


@pytest.fixture(scope="module")
def generated(smoke_dataset: Path) -> list:
    return generated_cases(read_items(smoke_dataset / "test.jsonl"))


def test_generated_labels_hold_by_construction(generated: list) -> None:
    variants = {c.variant for c in generated}
    assert variants == {"gold", "altered", "cut"}
    for case in generated:
        spec = BENCHMARKS.get(case.benchmark)
        doc = spec.to_doc(case.doc)
        row = spec.score(case.response, doc)
        assert row["final_answer"] is not None, case.case
        if case.implied is None:
            assert case.consistent is None
            continue
        label = spec.score(f"x\nAnswer: {case.implied}", doc)
        assert spec.same_answer(label["final_answer"], row, doc) is case.consistent, case.case
        if case.variant == "altered" and case.consistent:
            assert case.implied != doc.answer or doc.answer_type == "text", case.case


def test_negation_rules() -> None:
    assert negate("There is a 3.") == "There is no 3."
    assert negate("There is no 3.") == "There is a 3."
    assert (
        negate("25 is less than 30, so the value decreases.")
        == "25 is less than 30, so the value does not decrease."
    )
    assert negate("The result 81 is not less than 79.") == "The result 81 is less than 79."
    assert negate("so the answer is yes.") == "so the answer is no."
    assert negate("Arrows point left.") is None


def test_public_cases_are_coherent() -> None:
    cases = public_cases()
    by_benchmark = {c.benchmark for c in cases}
    assert len(by_benchmark) == 10
    for name in by_benchmark:
        assert sum(c.benchmark == name for c in cases) >= 10
    for case in cases:
        spec = BENCHMARKS.get(case.benchmark)
        doc = spec.to_doc(case.doc)
        assert doc.image is None
        if case.benchmark == "llava_bench_wild" or case.implied is None:
            continue
        row = spec.score(case.response, doc)
        label = spec.score(f"x\nAnswer: {case.implied}", doc)
        assert spec.same_answer(label["final_answer"], row, doc) is case.consistent, case.case


def test_conclusion_reader_validity_on_generated(generated: list) -> None:
    """A regression floor for the model-free reader; the measured figures are in docs/metrics.md."""
    report = validate(ConclusionReader(), generated)
    pooled = report["pooled"]["generated"]
    assert pooled["agreement"] >= 0.9 and pooled["coverage"] >= 0.85
    assert report["by_variant"]["cut"]["n_non_decisive"] > 0
    timing = report["timing"]
    assert timing["cases"] == len(generated) and timing["seconds"] >= 0
    assert timing["seconds_per_100"] == pytest.approx(100 * timing["seconds"] / len(generated), abs=0.01)


def test_a_reader_dtype_is_part_of_its_identity_away_from_auto(tmp_path: Path) -> None:
    """Readings in another dtype are another reader's: never served from the default's cache."""
    auto = ChoiceReader(ReaderConfig(name="choice", backbone="srcal-micro-lm", cache_dir=str(tmp_path)))
    bf16 = ChoiceReader(
        ReaderConfig(name="choice", backbone="srcal-micro-lm", cache_dir=str(tmp_path), dtype="bf16")
    )
    assert "dtype" not in auto.identity() and bf16.identity()["dtype"] == "bf16"
    assert auto.cache.log.path != bf16.cache.log.path and auto.lm.cache.log.path != bf16.lm.cache.log.path


def test_measured_validity_finds_a_moved_backbone_by_its_weights(tmp_path: Path) -> None:
    """An entry measured on a model directory is quoted wherever that directory is loaded from."""
    settings = {"choice_scoring": "sum", "min_confidence": 0.0}
    entries = [
        {"reader": "choice", "backbone": "smollm2-135m-instruct", "settings": settings, "public": {"n": 1}},
        {
            "reader": "choice",
            "backbone": "qwen-1.5b",
            "backbone_hash": "abc",
            "settings": settings,
            "public": {"n": 2},
        },
    ]
    path = tmp_path / "validity.json"
    path.write_text(json.dumps(entries))
    moved = {"reader": "choice", "backbone": "/elsewhere/model", "backbone_hash": "abc", **settings}
    assert measured_validity(moved, path)["public"] == {"n": 2}
    assert measured_validity({**moved, "backbone_hash": "other"}, path) == {"measured": False}
    assert measured_validity({**moved, "min_confidence": 0.5}, path) == {"measured": False}
    default = {"reader": "choice", "backbone": "smollm2-135m-instruct", "backbone_hash": "x", **settings}
    assert measured_validity(default, path)["public"] == {"n": 1}


def test_reader_validity_tool_records_settings_and_cost(smoke_dataset: Path, tmp_path: Path) -> None:
    from tools.reader_validity import main as remake

    out = tmp_path / "entries.json"
    (entry,) = remake(
        ["--readers", "conclusion", "--data", str(smoke_dataset), "--per-suite", "3", "--out", str(out)]
    )
    assert "--per-suite 3" in entry["command"] and "3 items per suite" in entry["command"]
    assert entry["seconds_per_100"] >= 0 and entry["generated"]["n"] > 0
    assert json.loads(out.read_text()) == [entry]
    with pytest.raises(SystemExit):
        remake(["--readers", "choice", "--reader-model", str(tmp_path)])  # the entry would have no name


def test_cli_readers_validate(smoke_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "validity"
    cmd = [sys.executable, "-m", "harness.cli", "readers", "validate", "--reader", "conclusion"]
    cmd += ["--data", str(smoke_dataset), "--per-suite", "5", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert {"generated", "public"} <= set(report["pooled"])
    assert "| **public** (pooled)" in (out / "report.md").read_text()
    bad = subprocess.run(cmd[:7] + ["--suites", "easyvq"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "did you mean 'easyvqa'" in bad.stderr
