from __future__ import annotations

import pytest

from benchmarks.parsing import letter_of, normalize_answer, parse_number, parse_response
from benchmarks.scoring import accuracy_summary, answers_match, majority_baseline

CHOICES = ["circle", "square", "42", "triangle"]


class TestMarker:
    def test_letter_in_parentheses(self) -> None:
        p = parse_response("The shape has four equal sides.\nAnswer: (B)", "multiple_choice", CHOICES)
        assert (p.final_answer, p.parse_status) == ("B", "ok")
        assert p.rationale == "The shape has four equal sides."

    def test_trailing_punctuation_and_bold(self) -> None:
        assert parse_response("Answer: yes.", "yes_no").final_answer == "yes"
        assert parse_response("**Answer:** 12.", "integer").final_answer == "12"
        assert parse_response("Final answer: B.", "multiple_choice", CHOICES).final_answer == "B"

    def test_last_committed_answer_wins(self) -> None:
        text = "Answer: A\nWait, the sides are equal.\nAnswer: D"
        p = parse_response(text, "multiple_choice", CHOICES)
        assert (p.final_answer, p.parse_status) == ("D", "ok")

    def test_option_text_instead_of_letter(self) -> None:
        p = parse_response("It has four corners.\nAnswer: square", "multiple_choice", CHOICES)
        assert (p.final_answer, p.parse_status) == ("B", "ok")
        p = parse_response("Answer: The Triangle.", "multiple_choice", CHOICES)
        assert p.final_answer == "D"

    def test_letter_outside_choices_is_invalid_not_guessed(self) -> None:
        p = parse_response("Answer: (E)", "multiple_choice", CHOICES)
        assert (p.final_answer, p.parse_status) == (None, "invalid")

    def test_unparseable_marker_content_is_invalid(self) -> None:
        p = parse_response("Answer: I am not sure", "integer")
        assert (p.final_answer, p.parse_status) == (None, "invalid")
        assert p.raw_answer == "I am not sure"


class TestNumbers:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Answer: 12 cm", "12"),
            ("Answer: 1,234", "1234"),
            ("Answer: $1,200.50", "1200.5"),
            ("Answer: 45%", "45"),
            ("Answer: -3", "-3"),
            ("Answer: 3/4", "0.75"),
            ("Answer: seven", "7"),
            ("Answer: 2.50", "2.5"),
            ("Answer: 5 + 7 = 12", "12"),
        ],
    )
    def test_number_forms(self, text: str, expected: str) -> None:
        assert parse_response(text, "float").final_answer == expected

    def test_percent_kept_in_raw_answer(self) -> None:
        p = parse_response("Answer: 45%", "float")
        assert p.raw_answer == "45%"

    def test_parse_number_none(self) -> None:
        assert parse_number("no digits here") is None


class TestFallbacks:
    def test_the_answer_is(self) -> None:
        p = parse_response("The bars differ by two. The answer is B.", "multiple_choice", CHOICES)
        assert (p.final_answer, p.parse_status) == ("B", "fallback_answer_is")

    def test_the_answer_is_last_one_wins(self) -> None:
        p = parse_response("First I thought the answer is 3. Then I recounted: the answer is 5.", "integer")
        assert (p.final_answer, p.parse_status) == ("5", "fallback_answer_is")

    def test_option_line(self) -> None:
        p = parse_response("Counting the sides gives four.\nC) 42", "multiple_choice", CHOICES)
        assert (p.final_answer, p.parse_status) == ("C", "fallback_option_letter")

    def test_boxed(self) -> None:
        p = parse_response("We add 5 and 7 to get \\boxed{12}", "integer")
        assert (p.final_answer, p.parse_status) == ("12", "fallback_boxed")

    def test_short_response(self) -> None:
        assert parse_response("Yes", "yes_no").parse_status == "fallback_short"
        assert parse_response("B", "multiple_choice", CHOICES).final_answer == "B"
        assert parse_response("(b)", "multiple_choice", CHOICES).final_answer == "B"

    def test_option_text_named_in_prose(self) -> None:
        p = parse_response(
            "Looking at it closely, I see it is a triangle with three corners.", "multiple_choice", CHOICES
        )
        assert (p.final_answer, p.parse_status) == ("D", "fallback_option_text")

    def test_two_option_texts_named_is_not_guessed(self) -> None:
        p = parse_response(
            "It could be a circle or maybe a square, hard to tell here.", "multiple_choice", CHOICES
        )
        assert (p.final_answer, p.parse_status) == (None, "no_answer_marker")


class TestFailures:
    def test_rationale_only(self) -> None:
        p = parse_response("The shape has four sides.\nIt is blue and large.", "text")
        assert (p.final_answer, p.parse_status) == (None, "no_answer_marker")
        assert p.rationale.startswith("The shape")

    def test_empty(self) -> None:
        for text in ("", "   ", None):
            p = parse_response(text, "integer")
            assert (p.final_answer, p.parse_status) == (None, "invalid")

    def test_failures_never_match(self) -> None:
        assert not answers_match(None, "B", "multiple_choice", CHOICES)


class TestNormalizeAndMatch:
    def test_letter_of(self) -> None:
        assert letter_of("Option C", CHOICES) == "C"
        assert letter_of("(a)", CHOICES) == "A"
        assert letter_of("A circle", CHOICES) == "A"
        assert letter_of("Z", CHOICES) is None

    def test_yes_no(self) -> None:
        assert normalize_answer("Yes, it is.", "yes_no") == "yes"
        assert normalize_answer("maybe", "yes_no") is None

    def test_text(self) -> None:
        assert normalize_answer("The Circle.", "text") == "circle"

    def test_numeric_match_uses_tolerance(self) -> None:
        assert answers_match("1234", "1,234", "integer")
        assert not answers_match("12", "13", "integer")
        assert answers_match("10.4", "10", "float", rel_tol=0.05)

    def test_bad_gold_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="does not parse"):
            answers_match("1", "many", "integer")


class TestSummaries:
    def test_accuracy_summary_counts_failures(self) -> None:
        rows = [
            {"correct": True, "parse_status": "ok"},
            {"correct": False, "parse_status": "invalid"},
            {"correct": False, "parse_status": "no_answer_marker"},
            {"correct": True, "parse_status": "fallback_short"},
        ]
        s = accuracy_summary(rows)
        assert s["accuracy"] == 0.5 and s["parse_failures"] == 2 and s["parse_fallbacks"] == 1

    def test_majority_baseline(self) -> None:
        assert majority_baseline(["yes", "no", "yes"]) == ("yes", 2 / 3)
