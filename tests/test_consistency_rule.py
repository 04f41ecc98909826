"""`consistent` compares the implied answer with the final answer, never with gold, on every benchmark.

For each public benchmark (real-schema fixture rows, image fields removed) and each built-in
suite (smoke items), two cases the old rule got wrong on MathVista:

* the final answer is correct and the rationale implies another answer -> ``consistent`` False;
* the rationale implies the gold answer and the final answer is another -> ``consistent`` False;

and the control: implied equals final (both wrong) -> True. The reader is bypassed (the implied
answer is given), so this tests the matching rule alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.records import LETTERS, read_items
from benchmarks.registry import BENCHMARKS, BUILTIN_SUITES, PUBLIC_BENCHMARKS
from benchmarks.spec import EvalDoc
from harness.consistency import consistency_fields
from harness.implied_answer import ImpliedAnswer
from harness.rescore import rescore
from tests.test_public_benchmarks import FIXTURE_FILE, FIXTURES

JUDGED = ("llava_bench_wild",)
"""Open-ended: no per-item correctness, so the 'final answer is correct' cases do not apply."""


def without_images(name: str) -> list[dict[str, Any]]:
    spec = BENCHMARKS.get(name)
    rows = json.loads((FIXTURES / f"{FIXTURE_FILE[name]}.json").read_text())
    keep = [r for r in rows if all(r.get(k) in allowed for k, allowed in (spec.row_filter or {}).items())]
    return [
        {k: v for k, v in r.items() if k not in (spec.image_field, "image", "decoded_image")} for r in keep
    ]


def gold_and_other(doc: EvalDoc) -> tuple[str, str]:
    """The gold answer as a response would write it, and a different answer of the same type."""
    if doc.answer_type == "multiple_choice":
        gold = doc.answer if doc.answer in LETTERS else LETTERS[doc.choices.index(doc.answer)]
        return gold, next(x for x in LETTERS[: len(doc.choices)] if x != gold)
    if doc.answer_type == "yes_no":
        return doc.answer, "no" if doc.answer == "yes" else "yes"
    gold = doc.extra.get("mv_answer", doc.answer)
    try:
        value = float(gold.rstrip("%"))
    except ValueError:
        return gold, "zebra"
    other = str(int(value) * 3 + 7) if float(value).is_integer() else f"{value * 3 + 7:.2f}"
    return gold, other + ("%" if gold.endswith("%") else "")


def consistent(name: str, doc: EvalDoc, implied: str, final: str) -> tuple[bool | None, bool]:
    spec = BENCHMARKS.get(name)
    row = spec.score(f"Let me think about it.\nAnswer: {final}", doc)
    assert row["final_answer"] is not None, row
    implied_norm = spec.score(f"Answer: {implied}", doc)["final_answer"]
    fields = consistency_fields(spec, doc, row, ImpliedAnswer(implied_norm, "ok", implied))
    return fields["consistent"], bool(row["correct"])


def public_docs() -> list[tuple[str, int]]:
    return [(n, i) for n in PUBLIC_BENCHMARKS if n not in JUDGED for i in range(len(without_images(n)))]


@pytest.mark.parametrize(("name", "index"), public_docs())
def test_public_rule_never_reads_gold(name: str, index: int) -> None:
    spec = BENCHMARKS.get(name)
    doc = spec.to_doc(without_images(name)[index])
    assert doc.image is None
    gold, other = gold_and_other(doc)
    verdict, correct = consistent(name, doc, implied=other, final=gold)
    assert correct is True and verdict is False, "correct final answer, rationale implies another"
    verdict, correct = consistent(name, doc, implied=gold, final=other)
    assert correct is False and verdict is False, "rationale implies gold, final answer differs"
    verdict, _ = consistent(name, doc, implied=other, final=other)
    assert verdict is True, "a wrong answer its rationale leads to is consistent"


def test_mathvista_issue_example() -> None:
    """The report's case: gold 3, rationale computes 3, final answer 7 -> inconsistent."""
    spec = BENCHMARKS.get("mathvista_testmini")
    raw = next(r for r in without_images("mathvista_testmini") if r["answer_type"] == "integer")
    doc = spec.to_doc({**raw, "answer": "3"})
    row = spec.score("There are 5 cubes; removing 2 leaves 5 - 2 = 3.\nAnswer: 7", doc)
    fields = consistency_fields(spec, doc, row, ImpliedAnswer("3", "ok", "3"))
    assert (row["final_answer"], fields["consistent"]) == ("7", False)


def test_llavabench_text_rule_and_undecided_without_answer_line() -> None:
    spec = BENCHMARKS.get("llava_bench_wild")
    doc = spec.to_doc(without_images("llava_bench_wild")[0])

    class Judge:
        def judge(self, *args: Any, **kwargs: Any) -> tuple[float, float]:
            return 8.0, 6.0

    spec = type(spec)(judge=Judge())
    row = spec.score("The car in the picture is painted red.\nAnswer: blue", doc)
    assert row["explicit_answer"] and row["final_answer"] == "blue"
    assert spec.same_answer("red", row, doc) is False
    assert spec.same_answer("Blue.", row, doc) is True
    bare = spec.score("The car is red.", doc)
    assert spec.same_answer("red", bare, doc) is None


@pytest.mark.parametrize("suite", BUILTIN_SUITES)
def test_builtin_rule_never_reads_gold(suite: str, smoke_dataset: Path) -> None:
    spec = BENCHMARKS.get(suite)
    items = [i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == suite]
    kinds = {}
    for item in items:
        kinds.setdefault(item.answer_type, item)
    assert kinds
    for item in kinds.values():
        doc = spec.to_doc(item.to_dict())
        gold, other = gold_and_other(doc)
        verdict, correct = consistent(suite, doc, implied=other, final=gold)
        assert (correct, verdict) == (True, False), item.id
        verdict, correct = consistent(suite, doc, implied=gold, final=other)
        assert (correct, verdict) == (False, False), item.id
        verdict, _ = consistent(suite, doc, implied=other, final=other)
        assert verdict is True, item.id


@pytest.mark.parametrize("name", PUBLIC_BENCHMARKS)
@pytest.mark.parametrize("with_consistency", [False, True])
def test_score_without_image_fields(
    name: str, with_consistency: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`srcal score` needs no image: response files in the real schema without any image field."""
    from harness.implied_answer import ReaderConfig

    docs = without_images(name)
    lines = []
    for i, raw in enumerate(docs):
        doc = BENCHMARKS.get(name).to_doc(raw)
        gold, _ = gold_and_other(doc)
        lines.append({"id": f"r{i}", "response": f"I looked at it closely.\nAnswer: {gold}", "doc": raw})
    path = tmp_path / "responses.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    if name in JUDGED:
        verdicts = tmp_path / "verdicts.jsonl"
        verdicts.write_text(
            "".join(json.dumps({"question_id": str(r["question_id"]), "scores": [8, 6]}) + "\n" for r in docs)
        )
        monkeypatch.setenv("SRCAL_JUDGE", "file")
        monkeypatch.setenv("SRCAL_JUDGE_FILE", str(verdicts))
    reader = ReaderConfig(name="conclusion") if with_consistency else None
    result = rescore(name, path, consistency=with_consistency, reader=reader, bootstrap=0)
    assert len(result.rows) == len(docs)
    if name not in JUDGED:
        assert all(r["correct"] for r in result.rows)
    if with_consistency:
        assert all("consistent" in r for r in result.rows)
