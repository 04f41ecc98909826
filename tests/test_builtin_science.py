"""The science suite: food chains, thermometers and rulers with checkable rationales."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from benchmarks.builtin.base import Draft
from benchmarks.builtin.science import CHAINS, SUITE
from benchmarks.fileio import png_bytes
from benchmarks.parsing import parse_response
from benchmarks.records import ANSWER_TYPES, LETTERS, SPLITS
from benchmarks.registry import BENCHMARKS, SUITES
from benchmarks.scoring import answers_match

SEED = 7
_THRESHOLD = re.compile(r"(?:than|above|below)\s+$")
_FLIPS = [
    (r"from ([a-z ]+?) to ([a-z ]+?)([,.])", r"from \2 to \1\3"),  # reverse an arrow
    (r" does not eat ", " eats "),
    (r"(?<!does not) eats ", " does not eat "),
    (r" would not decrease", " would decrease"),
    (r" would decrease", " would not decrease"),
    (r" is not the producer", " is the producer"),
    (r"the producer is the ([a-z ]+?)\.", r"the producer is not the \1."),
    (r"the top predator is the ([a-z ]+?)\.", r"the top predator is not the \1."),
    (
        r" is (above|below) freezing",
        lambda m: f" is {'below' if m.group(1) == 'above' else 'above'} freezing",
    ),
    (r"cm is longer", "cm is not longer"),
    (r"cm is not longer", "cm is longer"),
]


@pytest.fixture(scope="module")
def drafts() -> dict[str, list[Draft]]:
    return {split: SUITE.generate(split, 300 if split == "test" else 200, SEED) for split in SPLITS}


def corruptions(rationale: str) -> list[str]:
    """One stated number (not a question's threshold) increased by one, or one relation flipped."""
    body, answer = rationale.rsplit("\nAnswer:", 1)
    out = []
    for match in re.finditer(r"-?\d+", body):
        if not _THRESHOLD.search(body[: match.start()]):
            out.append(body[: match.start()] + str(int(match.group(0)) + 1) + body[match.end() :])
    for pattern, replacement in _FLIPS:
        flipped = re.sub(pattern, replacement, body, count=1)
        if flipped != body:
            out.append(flipped)
    return [text + "\nAnswer:" + answer for text in out]


class TestGeneration:
    def test_exact_n(self) -> None:
        for n in (0, 1, 5, 33):
            assert len(SUITE.generate("rft", n, SEED)) == n

    def test_deterministic_including_pixels(self) -> None:
        a, b = SUITE.generate("calib", 40, 3), SUITE.generate("calib", 40, 3)
        assert {d.facts["diagram"] for d in a} == {"food_chain", "thermometer", "ruler"}
        for x, y in zip(a, b):
            assert (x.question, x.answer, x.rationale, x.choices, x.facts, x.image_key) == (
                y.question,
                y.answer,
                y.rationale,
                y.choices,
                y.facts,
                y.image_key,
            )
            assert png_bytes(x.image) == png_bytes(y.image)

    def test_images_and_fields(self, drafts: dict[str, list[Draft]]) -> None:
        for split, items in drafts.items():
            for d in items:
                assert d.image.size == (224, 224) and d.image.mode == "RGB"
                assert d.answer_type in ANSWER_TYPES
                assert d.image_key.startswith(f"science/{split}/")
                assert d.question_type in SUITE.info.question_types
                assert json.loads(json.dumps(d.facts)) == d.facts
                if d.facts["diagram"] == "food_chain":
                    chain = tuple(d.facts["chain"])
                    assert any(full[: len(chain)] == chain for full in CHAINS)
                else:
                    assert d.facts["min"] <= d.facts["value"] <= d.facts["max"]

    def test_no_identical_image_across_splits(self, drafts: dict[str, list[Draft]]) -> None:
        def digests(items: list[Draft]) -> set[str]:
            return {hashlib.sha256(d.image.tobytes()).hexdigest() for d in items}

        assert not digests(drafts["base"]) & digests(drafts["test"])
        assert len(digests(drafts["test"])) == len({d.image_key for d in drafts["test"]})

    def test_registered(self) -> None:
        assert SUITES.get("science") is SUITE
        assert BENCHMARKS.get("science").category == "math_science"


class TestAnswers:
    def test_multiple_choice_valid(self, drafts: dict[str, list[Draft]]) -> None:
        mc = [d for items in drafts.values() for d in items if d.answer_type == "multiple_choice"]
        assert len(mc) > 50
        for d in mc:
            assert d.choices is not None and len(d.choices) == 4 and len(set(d.choices)) == 4
            correct = d.choices[LETTERS.index(d.answer)]
            if d.facts["diagram"] == "food_chain":
                assert correct in d.facts["chain"]
            else:
                assert correct == str(d.facts["value"])

    def test_yes_no_balanced(self, drafts: dict[str, list[Draft]]) -> None:
        for items in drafts.values():
            answers = [d.answer for d in items if d.answer_type == "yes_no"]
            assert len(answers) > 50
            assert 0.45 <= answers.count("yes") / len(answers) <= 0.55

    def test_answers_spread(self, drafts: dict[str, list[Draft]]) -> None:
        answers = [d.answer for d in drafts["test"] if d.answer_type != "yes_no"]
        _, count = Counter(answers).most_common(1)[0]
        assert count / len(answers) <= 0.25

    def test_gold_answer_parsed_from_rationale(self, drafts: dict[str, list[Draft]]) -> None:
        for items in drafts.values():
            for d in items:
                parsed = parse_response(d.rationale, d.answer_type, d.choices)
                assert parsed.parse_status == "ok"
                assert answers_match(parsed.final_answer, d.answer, d.answer_type, d.choices), d.rationale

    def test_all_families_present(self, drafts: dict[str, list[Draft]]) -> None:
        assert {d.question_type for d in drafts["test"]} == set(SUITE.info.question_types)


class TestRationales:
    def test_gold_claims_true(self, drafts: dict[str, list[Draft]]) -> None:
        for items in drafts.values():
            for d in items[:60]:
                checks = SUITE.check_rationale(d.rationale, d.facts)
                assert checks, d.rationale
                assert all(c.true for c in checks), (d.rationale, checks)

    def test_corruptions_flagged(self, drafts: dict[str, list[Draft]]) -> None:
        for d in drafts["calib"][:100]:
            variants = corruptions(d.rationale)
            assert variants, d.rationale
            for text in variants:
                assert any(not c.true for c in SUITE.check_rationale(text, d.facts)), text

    def test_food_chain_model_style(self) -> None:
        facts = {"diagram": "food_chain", "chain": ["grass", "rabbit", "fox"]}
        good = (
            "Looking at the diagram, the ARROW POINTS FROM the grass TO the rabbit. Rabbits eat grass, "
            "and the rabbit is eaten by the fox. Grass is the producer; the fox is the top predator. "
            "If the rabbits disappeared, then the foxes would go down."
        )
        checks = SUITE.check_rationale(good, facts)
        assert len(checks) == 6 and all(c.true for c in checks)
        bad = SUITE.check_rationale(
            "The fox eats the grass. The producer is the rabbit. The wolf eats rabbits.", facts
        )
        assert [c.true for c in bad] == [False, False, False]

    def test_thermometer_and_ruler_model_style(self) -> None:
        facts = {"diagram": "thermometer", "value": -4, "unit": "°C", "min": -20, "max": 40}
        checks = SUITE.check_rationale(
            "The red liquid column stops at -4 °C, so it is below freezing.", facts
        )
        assert [c.true for c in checks] == [True, True]
        checks = SUITE.check_rationale("The thermometer reads 4 °C. It is above freezing.", facts)
        assert [c.true for c in checks] == [False, False]
        assert SUITE.check_rationale("The scale of the thermometer is -20 to 40.", facts) == []
        ruler = {"diagram": "ruler", "start": 2, "end": 9, "value": 7, "unit": "cm", "min": 0, "max": 10}
        checks = SUITE.check_rationale(
            "It starts at 2 cm and ends at 9 cm, so the pencil is 9 - 2 = 7 cm long.", ruler
        )
        assert [c.kind for c in checks] == ["reading", "reading", "reading", "arithmetic"]
        assert all(c.true for c in checks)
        checks = SUITE.check_rationale("The pencil measures 8 cm.", ruler)
        assert [c.true for c in checks] == [False]
