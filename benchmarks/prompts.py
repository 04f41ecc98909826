"""Prompt builders shared by every benchmark.

Styles:
    ``bare``       question (+ hint, + options) and nothing else: what rationale
                   fine-tuning trains on, since SRC asks for no rationale in the prompt.
    ``plain``      LLaVA-1.5's short-answer prompts ("Answer with the option's letter from
                   the given choices directly." / "Answer the question using a single word or phrase.").
    ``rationale``  asks for reasoning first and a last line ``Answer: <answer>``.
"""

from __future__ import annotations

from benchmarks.records import LETTERS

PROMPT_STYLES = ("bare", "plain", "rationale")

MC_SHORT = "Answer with the option's letter from the given choices directly."
OPEN_SHORT = "Answer the question using a single word or phrase."
RATIONALE = (
    "Explain your reasoning step by step, then give the final answer on a last line as 'Answer: <answer>'."
)
RATIONALE_MC = (
    "Explain your reasoning step by step, then give the final answer on a last line as 'Answer: <letter>'."
)


def format_choices(choices: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def build_prompt(
    question: str, choices: list[str] | None = None, hint: str | None = None, style: str = "bare"
) -> str:
    """The text part of a prompt (the image is passed separately)."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    parts = []
    if hint:
        parts.append(f"Hint: {hint.strip()}")
    parts.append(question.strip())
    if choices:
        parts.append(format_choices(choices))
    if style == "plain":
        parts.append(MC_SHORT if choices else OPEN_SHORT)
    elif style == "rationale":
        parts.append(RATIONALE_MC if choices else RATIONALE)
    return "\n".join(parts)
