"""The ``charts`` built-in suite: generation, gold rationales and the rationale checker."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from benchmarks.builtin.charts import GENERATED_LICENSE, GENERATED_SOURCE, SUITE, VEGA_LICENSE
from benchmarks.fileio import png_bytes
from benchmarks.parsing import parse_response
from benchmarks.records import ANSWER_TYPES, LETTERS
from benchmarks.scoring import answers_match

SIZES = {"base": 120, "rft": 40, "calib": 40, "test": 150}
VALUE_SENTENCE = re.compile(r"The (?:bar|point|slice) for (.+?) is (\d+)(%?)\.")


@pytest.fixture(scope="module")
def by_split():
    return {split: SUITE.generate(split, n, seed=0) for split, n in SIZES.items()}


@pytest.fixture(scope="module")
def items(by_split):
    return [d for drafts in by_split.values() for d in drafts]


def _hashes(drafts):
    return {hashlib.sha256(png_bytes(d.image)).hexdigest() for d in drafts}


def _false(d, text):
    return any(not c.true for c in SUITE.check_rationale(text, d.facts))


def _answer_text(d):
    return d.choices[LETTERS.index(d.answer)] if d.answer_type == "multiple_choice" else d.answer


class TestGenerate:
    @pytest.mark.parametrize("n", [0, 1, 5])
    def test_exact_count(self, n):
        assert len(SUITE.generate("calib", n, seed=4)) == n

    def test_negative_n_raises(self):
        with pytest.raises(ValueError):
            SUITE.generate("base", -1, seed=0)

    def test_deterministic_including_pixels(self):
        a, b = SUITE.generate("rft", 20, seed=1), SUITE.generate("rft", 20, seed=1)
        fields = (
            "question",
            "answer",
            "answer_type",
            "choices",
            "rationale",
            "facts",
            "question_type",
            "image_key",
        )
        for x, y in zip(a, b):
            assert all(getattr(x, f) == getattr(y, f) for f in fields)
            assert png_bytes(x.image) == png_bytes(y.image)

    def test_split_changes_the_stream(self, by_split):
        assert [d.question for d in by_split["rft"][:20]] != [d.question for d in by_split["calib"][:20]]

    def test_suite_metadata(self):
        assert SUITE.name == "charts" and SUITE.category == "chart"


class TestItems:
    def test_images_are_224_rgb(self, items):
        assert all(d.image.size == (224, 224) and d.image.mode == "RGB" for d in items)

    def test_image_keys_name_the_chart(self, by_split):
        for split, drafts in by_split.items():
            assert all(re.fullmatch(rf"charts/{split}/\d+", d.image_key) for d in drafts)
            per_key = Counter(d.image_key for d in drafts)
            assert max(per_key.values()) <= 4
            assert len(per_key) <= len(drafts) / 2 + 1  # charts are reused for several questions

    def test_facts_are_json_and_well_formed(self, items):
        for d in items:
            f = d.facts
            assert json.loads(json.dumps(f)) == f
            assert f["chart_type"] in ("bar", "line", "pie") and f["title"]
            values = f["values"]
            assert len(values) >= (4 if f["chart_type"] == "line" else 3)
            assert all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in values.items())
            if f["chart_type"] == "pie":
                assert sum(values.values()) == 100 and f["unit"] == "%"
            if f["source"] == GENERATED_SOURCE:
                assert f["license"] == GENERATED_LICENSE
            else:
                assert f["source"].startswith("vega_datasets:") and f["license"] == VEGA_LICENSE

    def test_drafts_of_one_chart_share_facts(self, items):
        first = {}
        for d in items:
            assert first.setdefault(d.image_key, d.facts) == d.facts

    def test_sources_and_types_are_mixed(self, items):
        sources = {d.facts["source"] for d in items}
        assert GENERATED_SOURCE in sources and len(sources) >= 6
        assert {d.facts["chart_type"] for d in items} == {"bar", "line", "pie"}
        assert {d.question_type for d in items} == set(SUITE.info.question_types)

    def test_answer_types(self, items):
        assert {d.answer_type for d in items} <= set(ANSWER_TYPES)
        assert {d.answer_type for d in items} == {"multiple_choice", "yes_no", "integer", "text"}

    def test_multiple_choice_is_valid(self, items):
        mc = [d for d in items if d.answer_type == "multiple_choice"]
        assert mc
        for d in mc:
            assert d.answer in LETTERS[: len(d.choices)]
            assert len(set(d.choices)) == len(d.choices) >= 3
        assert len({d.answer for d in mc}) >= 3

    def test_label_answers_are_chart_labels(self, items):
        for d in items:
            if d.question_type in ("max", "min"):
                assert _answer_text(d) in d.facts["values"]

    def test_yes_no_balanced(self, by_split):
        counts = Counter(d.answer for d in by_split["test"] if d.answer_type == "yes_no")
        assert counts["yes"] + counts["no"] >= 20
        assert abs(counts["yes"] - counts["no"]) <= 2

    def test_answers_spread(self, by_split):
        other = [d.answer for d in by_split["test"] if d.answer_type != "yes_no"]
        assert Counter(other).most_common(1)[0][1] / len(other) <= 0.25
        assert len({d.answer for d in by_split["test"] if d.answer_type == "integer"}) >= 20

    def test_no_image_shared_between_splits(self, by_split):
        hashes = {split: _hashes(drafts) for split, drafts in by_split.items()}
        assert not hashes["base"] & hashes["test"]
        assert not hashes["rft"] & (hashes["base"] | hashes["calib"] | hashes["test"])


class TestGoldRationales:
    def test_every_claim_true_and_nonempty(self, items):
        for d in items:
            checks = SUITE.check_rationale(d.rationale, d.facts)
            assert checks, d.rationale
            assert all(c.true for c in checks), (d.rationale, [c for c in checks if not c.true])

    def test_answer_recovered_by_parser(self, items):
        for d in items:
            assert d.rationale.splitlines()[-1] == f"Answer: {d.answer}"
            parsed = parse_response(d.rationale, d.answer_type, d.choices)
            assert parsed.parse_status == "ok"
            assert answers_match(parsed.final_answer, d.answer, d.answer_type, d.choices)

    def test_stated_values_are_the_facts(self, items):
        for d in items:
            stated = VALUE_SENTENCE.findall(d.rationale)
            assert stated
            for label, value, _ in stated:
                assert d.facts["values"][label] == int(value)


class TestCorruptedRationales:
    def test_changed_value_is_flagged(self, items):
        for d in items:
            m = VALUE_SENTENCE.search(d.rationale)
            bad = d.rationale[: m.start(2)] + str(int(m.group(2)) + 1) + d.rationale[m.end(2) :]
            assert _false(d, bad), bad

    def test_wrong_extreme_label_is_flagged(self, items):
        extremes = [d for d in items if d.question_type in ("max", "min")]
        assert extremes
        for d in extremes:
            gold = _answer_text(d)
            other = next(k for k in d.facts["values"] if k != gold)
            bad = d.rationale.replace(f", for {gold}.", f", for {other}.")
            assert bad != d.rationale and _false(d, bad), bad

    def test_wrong_arithmetic_is_flagged(self, items):
        arithmetic = [d for d in items if d.question_type in ("difference", "sum")]
        assert arithmetic
        for d in arithmetic:
            bad = re.sub(r"= (\d+)\.", lambda m: f"= {int(m.group(1)) + 1}.", d.rationale)
            assert bad != d.rationale and _false(d, bad), bad

    def test_flipped_comparison_is_flagged(self, items):
        compared = [d for d in items if d.question_type in ("compare", "trend")]
        assert compared
        swap = {"greater": "less", "less": "greater", "increase": "decrease", "decrease": "increase"}
        for d in compared:
            bad = re.sub(r"\b(greater|less|increase|decrease)", lambda m: swap[m.group(1)], d.rationale)
            assert _false(d, bad), bad


FACTS = {"chart_type": "bar", "values": {"Europe": 81, "Japan": 79, "USA": 120, "No. 457": 5}}


class TestChecker:
    def test_free_text_is_checked_case_insensitively(self):
        text = (
            "Looking at the chart, the bar for EUROPE is 81 while the value of Japan is about 79. "
            "USA has the highest value; the maximum is 120. The lowest value is 5 for No. 457. "
            "The difference between Europe and Japan is 81 - 79 = 2, so Europe is greater than Japan."
        )
        checks = SUITE.check_rationale(text, FACTS)
        assert {c.kind for c in checks} >= {"value", "extreme", "arithmetic", "compare"}
        assert len(checks) >= 7
        assert all(c.true for c in checks), [c for c in checks if not c.true]

    @pytest.mark.parametrize(
        "claim",
        [
            "The bar for Japan is 80.",
            "Japan: 78",
            "The highest value is 120, for Europe.",
            "Japan has the lowest value.",
            "The total is 81 + 79 = 150.",
            "79 is greater than 81.",
            "Japan is greater than Europe.",
            "The value increases from USA to Japan.",
        ],
    )
    def test_false_claims_are_flagged(self, claim):
        checks = SUITE.check_rationale(claim, FACTS)
        assert checks and not all(c.true for c in checks)

    def test_difference_phrase_is_not_a_value_claim(self):
        checks = SUITE.check_rationale("The difference between Europe and Japan is 2.", FACTS)
        assert all(c.kind != "value" for c in checks)

    def test_unknown_labels_and_answer_line_are_ignored(self):
        assert SUITE.check_rationale("The bar for Mars is 3.\nAnswer: the bar for Japan is 1", FACTS) == []


def test_counted_rationale_opens_an_enumeration_with_its_count() -> None:
    """RFT's `counted` targets: a rationale reading every mark gets "The chart has N <marks>." first."""
    drafts = SUITE.generate("rft", 120, seed=0)
    counted = 0
    for item in drafts:
        facts, rationale = item.facts, item.rationale
        labels = list(facts["values"])
        new = SUITE.counted_rationale(rationale, facts)
        reads_all = all(f" for {label} is " in rationale for label in labels)
        if item.question_type in ("max", "min") and reads_all:
            mark = {"bar": "bars", "line": "points", "pie": "slices"}[facts["chart_type"]]
            assert new == f"The chart has {len(labels)} {mark}. {rationale}"
            counted += 1
        elif item.question_type == "value":
            assert new == rationale  # one mark read: nothing to count
        assert new.endswith(rationale) and parse_response(new, item.answer_type, item.choices).final_answer
    assert counted > 10
