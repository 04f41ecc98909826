"""The ``digits`` built-in suite (MNIST and optdigits): generation, answers, gold rationales and the checker."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from benchmarks.builtin.base import Draft
from benchmarks.builtin.digits import _SOURCES, SUITE, _source
from benchmarks.fileio import png_bytes
from benchmarks.parsing import parse_response
from benchmarks.records import LETTERS, SPLITS
from benchmarks.registry import BENCHMARKS, SUITES
from benchmarks.scoring import answers_match

FACTS = {"digits": [3, 7, 3, 1], "layout": "row", "dataset": "mnist"}


@pytest.fixture(scope="module")
def drafts() -> dict[str, list[Draft]]:
    return {split: SUITE.generate(split, 60, 0) for split in SPLITS}


@pytest.fixture(scope="module")
def items(drafts: dict[str, list[Draft]]) -> list[Draft]:
    return [d for split in SPLITS for d in drafts[split]]


def _value(d: Draft) -> str:
    """The answer as a value (a multiple-choice letter read through its choices)."""
    return d.choices[LETTERS.index(d.answer)] if d.answer_type == "multiple_choice" else d.answer


def _sources(d: Draft) -> tuple[str, list[int]]:
    """The source dataset and image indices an item's key names (``digits/<dataset>/<i>-<j>-...``)."""
    _, dataset, indices = d.image_key.split("/")
    return dataset, [int(i) for i in indices.split("-")]


def _expected(d: Draft) -> str:
    """The answer recomputed from the question and the facts alone."""
    digits = d.facts["digits"]
    q = d.question
    if d.question_type == "recognize":
        return str(digits[0])
    if d.question_type == "max":
        return str(max(digits))
    if d.question_type == "count":
        if q == "How many digits are shown in the image?":
            return str(len(digits))
        target = int(re.fullmatch(r"How many times does the digit (\d) appear in the image\?", q).group(1))
        return str(digits.count(target))
    target = int(re.fullmatch(r"Is there an? (\d) in the image\?", q).group(1))
    return "yes" if target in digits else "no"


class TestGenerate:
    @pytest.mark.parametrize("n", [0, 1, 7, 40])
    def test_exact_count(self, n: int) -> None:
        assert len(SUITE.generate("calib", n, seed=3)) == n

    def test_deterministic_including_pixels(self) -> None:
        a, b = SUITE.generate("rft", 25, 1), SUITE.generate("rft", 25, 1)
        for x, y in zip(a, b, strict=True):
            fields = ("question", "answer", "answer_type", "choices", "rationale", "facts", "image_key")
            assert all(getattr(x, f) == getattr(y, f) for f in fields)
            assert png_bytes(x.image) == png_bytes(y.image)

    def test_seed_and_split_change_the_stream(self) -> None:
        base = [d.image_key for d in SUITE.generate("base", 20, 0)]
        assert base != [d.image_key for d in SUITE.generate("base", 20, 1)]
        assert base != [d.image_key for d in SUITE.generate("test", 20, 0)]

    def test_registered(self) -> None:
        assert SUITES.get("digits") is SUITE
        assert BENCHMARKS.get("digits").category == "perception"
        assert SUITE.info.question_types == ["recognize", "count", "max", "contains"]


class TestItems:
    def test_images_and_facts(self, items: list[Draft]) -> None:
        for d in items:
            assert d.image.size == (224, 224) and d.image.mode == "RGB"
            assert json.loads(json.dumps(d.facts)) == d.facts
            digits = d.facts["digits"]
            assert all(isinstance(x, int) and 0 <= x <= 9 for x in digits)
            if d.question_type == "recognize":
                assert len(digits) == 1 and d.facts["layout"] == "single"
            else:
                assert 3 <= len(digits) <= 6 and d.facts["layout"] == "row"
            assert (d.source, d.license) == _SOURCES[d.facts["dataset"]]

    def test_facts_are_the_source_labels(self, items: list[Draft]) -> None:
        """Each digit in the facts is the label of the source image drawn in its place."""
        for d in items:
            dataset, indices = _sources(d)
            assert dataset == d.facts["dataset"]
            _, labels = _source(dataset)
            assert [int(labels[i]) for i in indices] == d.facts["digits"]

    def test_splits_draw_disjoint_source_images(self, drafts: dict[str, list[Draft]]) -> None:
        used = {
            split: {(ds, i) for d in drafts[split] for ds, ids in [_sources(d)] for i in ids}
            for split in SPLITS
        }
        for k, a in enumerate(SPLITS):
            for b in SPLITS[k + 1 :]:
                assert not used[a] & used[b], (a, b)

    def test_no_identical_image_across_splits(self, drafts: dict[str, list[Draft]]) -> None:
        def digests(split: str) -> set[str]:
            return {hashlib.sha256(d.image.tobytes()).hexdigest() for d in drafts[split]}

        assert not digests("base") & digests("test")

    def test_answers_follow_from_the_facts(self, items: list[Draft]) -> None:
        assert {d.question_type for d in items} == set(SUITE.info.question_types)
        for d in items:
            assert _value(d) == _expected(d), (d.question, d.facts, d.answer)

    def test_multiple_choice_is_valid(self, items: list[Draft]) -> None:
        mc = [d for d in items if d.answer_type == "multiple_choice"]
        assert mc
        for d in mc:
            assert d.answer in LETTERS[: len(d.choices)]
            assert len(set(d.choices)) == len(d.choices) >= 3
        assert len({d.answer for d in mc}) >= 3

    def test_yes_no_balanced(self, drafts: dict[str, list[Draft]]) -> None:
        for split in SPLITS:
            counts = Counter(d.answer for d in drafts[split] if d.answer_type == "yes_no")
            assert counts["yes"] == counts["no"] > 0


class TestGoldRationales:
    def test_every_claim_true_and_nonempty(self, items: list[Draft]) -> None:
        for d in items:
            checks = SUITE.check_rationale(d.rationale, d.facts)
            assert checks and all(c.true for c in checks), (d.rationale, checks)

    def test_answer_recovered_by_parser(self, items: list[Draft]) -> None:
        for d in items:
            assert d.rationale.splitlines()[-1] == f"Answer: {d.answer}"
            parsed = parse_response(d.rationale, d.answer_type, d.choices)
            assert parsed.parse_status == "ok"
            assert answers_match(parsed.final_answer, d.answer, d.answer_type, d.choices)

    def test_rationale_states_the_answer(self, items: list[Draft]) -> None:
        for d in items:
            body = d.rationale.split("\nAnswer:")[0]
            if d.answer_type == "yes_no":
                assert ("There is no " in body) == (d.answer == "no"), body
            else:
                assert re.search(rf"\b{_value(d)}\b", body), body
            if d.answer_type == "multiple_choice":
                assert body.endswith(f"That is option {d.answer}.")


class TestCorruptedRationales:
    @staticmethod
    def _flagged(d: Draft, text: str) -> bool:
        return any(not c.true for c in SUITE.check_rationale(text, d.facts))

    def test_changed_digit_is_flagged(self, items: list[Draft]) -> None:
        for d in items:
            first = str(d.facts["digits"][0])
            wrong = str((int(first) + 1) % 10)
            bad = re.sub(rf"(shows the digits? ){first}", rf"\g<1>{wrong}", d.rationale, count=1)
            assert bad != d.rationale and self._flagged(d, bad), bad

    def test_changed_count_and_max_are_flagged(self, items: list[Draft]) -> None:
        stated = [d for d in items if d.question_type in ("count", "max")]
        assert stated
        for d in stated:
            match = re.search(r"(?:appears|There are|largest digit is) (\d+)", d.rationale)
            n = int(match.group(1))
            bad = d.rationale[: match.start(1)] + str(n + 1 if n < 9 else n - 1) + d.rationale[match.end(1) :]
            assert self._flagged(d, bad), bad

    def test_flipped_presence_is_flagged(self, items: list[Draft]) -> None:
        contains = [d for d in items if d.question_type == "contains"]
        assert contains
        for d in contains:
            bad = re.sub(
                r"There is (no|an?) (\d)",
                lambda m: f"There is {'a' if m.group(1) == 'no' else 'no'} {m.group(2)}",
                d.rationale,
            )
            assert self._flagged(d, bad), bad


class TestChecker:
    def test_free_text_is_checked(self) -> None:
        text = (
            "I think the image shows the digits 3, 7, 3 and 1. The digit 3 appears two times. "
            "There are 4 digits. The largest digit is 7. The smallest digit is 1. There is a 7. There is no 5."
        )
        checks = SUITE.check_rationale(text, FACTS)
        assert {c.kind for c in checks} == {"digits", "count", "max", "min", "contains"}
        assert len(checks) == 7 and all(c.true for c in checks), [c for c in checks if not c.true]

    @pytest.mark.parametrize(
        "claim",
        [
            "The image shows the digits 3, 7 and 1.",
            "The digit 3 appears 1 time.",
            "There are 5 digits.",
            "The largest digit is 3.",
            "The smallest digit is 3.",
            "There is an 8.",
            "There is no 1.",
        ],
    )
    def test_false_claims_are_flagged(self, claim: str) -> None:
        checks = SUITE.check_rationale(claim, FACTS)
        assert len(checks) == 1 and not checks[0].true

    def test_text_without_claims(self) -> None:
        assert SUITE.check_rationale("I looked at the picture carefully.", FACTS) == []
