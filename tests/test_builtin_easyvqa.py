"""The ``easyvqa`` built-in suite (easy-VQA images and questions): generation, answers, gold rationales, checker."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from benchmarks.builtin.base import Draft
from benchmarks.builtin.easyvqa import COLOR_NAMES, COLORS, SHAPES, SUITE
from benchmarks.fileio import png_bytes
from benchmarks.parsing import parse_response
from benchmarks.records import LETTERS, SPLITS
from benchmarks.registry import BENCHMARKS, SUITES
from benchmarks.scoring import answers_match

FACTS = {"shape": "triangle", "color": "teal"}
RGB = {name: rgb for rgb, name in COLORS.items()}


@pytest.fixture(scope="module")
def drafts() -> dict[str, list[Draft]]:
    return {split: SUITE.generate(split, 80, 0) for split in SPLITS}


@pytest.fixture(scope="module")
def items(drafts: dict[str, list[Draft]]) -> list[Draft]:
    return [d for split in SPLITS for d in drafts[split]]


def _value(d: Draft) -> str:
    return d.choices[LETTERS.index(d.answer)] if d.answer_type == "multiple_choice" else d.answer


def _expected(d: Draft) -> str:
    """The answer recomputed from the question and the facts alone."""
    q = d.question.lower()
    if d.question_type == "shape":
        return d.facts["shape"]
    if d.question_type == "color":
        return d.facts["color"]
    named_shapes = [s for s in SHAPES if s in q]
    named_colors = [c for c in COLOR_NAMES if re.search(rf"\b{c}\b", q)]
    assert named_shapes or named_colors, q
    present = all(s == d.facts["shape"] for s in named_shapes) and all(
        c == d.facts["color"] for c in named_colors
    )
    negated = bool(re.search(r"\bnot\b|\bno\b", q))
    return "yes" if present != negated else "no"


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
        assert base != [d.image_key for d in SUITE.generate("rft", 20, 0)]

    def test_registered(self) -> None:
        assert SUITES.get("easyvqa") is SUITE
        assert BENCHMARKS.get("easyvqa").category == "perception"
        assert SUITE.info.license == "MIT"


class TestItems:
    def test_images_and_facts(self, items: list[Draft]) -> None:
        for d in items:
            assert d.image.size == (64, 64) and d.image.mode == "RGB"
            assert json.loads(json.dumps(d.facts)) == d.facts
            assert d.facts["shape"] in SHAPES and d.facts["color"] in COLOR_NAMES

    def test_colour_fact_is_the_shape_colour_in_the_pixels(self, items: list[Draft]) -> None:
        """Of easy-VQA's eight drawing colours, the one with the most pixels is the fact."""
        for d in items:
            pixels = np.asarray(d.image).reshape(-1, 3)
            counts = {name: int((pixels == rgb).all(axis=1).sum()) for name, rgb in RGB.items()}
            assert max(counts, key=counts.get) == d.facts["color"], (d.image_key, counts)

    def test_splits_use_disjoint_images(self, drafts: dict[str, list[Draft]]) -> None:
        keys = {split: {d.image_key for d in drafts[split]} for split in SPLITS}
        assert all(k.startswith("easyvqa/test/") for k in keys["test"])
        assert all(k.startswith("easyvqa/train/") for s in ("base", "rft", "calib") for k in keys[s])
        for k, a in enumerate(SPLITS):
            for b in SPLITS[k + 1 :]:
                assert not keys[a] & keys[b], (a, b)

    def test_answers_follow_from_the_facts(self, items: list[Draft]) -> None:
        assert {d.question_type for d in items} == set(SUITE.info.question_types)
        for d in items:
            assert _value(d) == _expected(d), (d.question, d.facts, d.answer)

    def test_multiple_choice_is_valid(self, items: list[Draft]) -> None:
        mc = [d for d in items if d.answer_type == "multiple_choice"]
        assert {d.question_type for d in mc} == {"shape", "color"}
        for d in mc:
            assert d.answer in LETTERS[: len(d.choices)] and len(set(d.choices)) == len(d.choices)
            assert len(d.choices) == (3 if d.question_type == "shape" else 4)
            assert set(d.choices) <= set(SHAPES if d.question_type == "shape" else COLOR_NAMES)
        assert len({d.answer for d in mc}) >= 3

    def test_yes_no_roughly_balanced(self, items: list[Draft]) -> None:
        counts = Counter(d.answer for d in items if d.answer_type == "yes_no")
        assert counts["yes"] + counts["no"] >= 80
        assert abs(counts["yes"] - counts["no"]) <= 0.2 * (counts["yes"] + counts["no"])


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

    def test_rationale_describes_the_image_and_states_the_answer(self, items: list[Draft]) -> None:
        for d in items:
            body = d.rationale.split("\nAnswer:")[0]
            assert body.startswith(f"The image shows a {d.facts['color']} {d.facts['shape']}.")
            if d.answer_type == "yes_no":
                assert body.endswith(f"the answer is {d.answer}.") == bool(
                    re.search(r"\bnot\b|\bno\b", d.question.lower())
                )
            else:
                assert f"the {d.question_type} is {_value(d)}" in body.lower(), body


class TestCorruptedRationales:
    @staticmethod
    def _flagged(d: Draft, text: str) -> bool:
        return any(not c.true for c in SUITE.check_rationale(text, d.facts))

    def test_changed_colour_is_flagged(self, items: list[Draft]) -> None:
        for d in items:
            wrong = next(c for c in COLOR_NAMES if c != d.facts["color"])
            bad = d.rationale.replace(f"a {d.facts['color']} ", f"a {wrong} ", 1)
            assert bad != d.rationale and self._flagged(d, bad), bad

    def test_changed_shape_is_flagged(self, items: list[Draft]) -> None:
        for d in items:
            wrong = next(s for s in SHAPES if s != d.facts["shape"])
            bad = d.rationale.replace(f" {d.facts['shape']}.", f" {wrong}.", 1)
            assert bad != d.rationale and self._flagged(d, bad), bad


class TestChecker:
    def test_free_text_is_checked(self) -> None:
        text = (
            "I see one teal triangle. The shape is a triangle. The shape is not a circle. The color is teal."
        )
        checks = SUITE.check_rationale(text, FACTS)
        assert {c.kind for c in checks} == {"object", "shape", "color"}
        assert len(checks) == 4 and all(c.true for c in checks), [c for c in checks if not c.true]

    @pytest.mark.parametrize(
        "claim",
        [
            "The image shows a red triangle.",
            "The image shows a teal circle.",
            "The shape is a rectangle.",
            "The shape is not a triangle.",
            "The color is gray.",
            "The shape is not teal.",
        ],
    )
    def test_false_claims_are_flagged(self, claim: str) -> None:
        checks = SUITE.check_rationale(claim, FACTS)
        assert checks and not all(c.true for c in checks)

    def test_text_without_claims(self) -> None:
        assert SUITE.check_rationale("A simple picture.\nAnswer: yes", FACTS) == []
