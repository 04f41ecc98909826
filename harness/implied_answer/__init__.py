"""Implied-answer readers: the answer a rationale *alone* implies, for rationale-answer consistency.

A reader sees the question (and options) and a response's rationale with its final
answer removed, and says which answer that rationale supports. It never sees the
image. The closed-set ``choice`` reader also weighs the final and gold answers as
*candidates* among the numbers the rationale states (unlabelled: it is not told which is
which), as lm-evaluation-harness scores multiple-choice continuations. Readers are pinned and
cached: the same (reader, question, rationale) is read once, and the reader's identity
(backbone hash, prompt version, settings) is recorded in every metrics file.

Registered readers (``READERS``):
    ``lm``          a causal LM (default: SmolLM2-135M-Instruct, the R-Scorer's backbone)
                    prompted with question + rationale, greedy; its reply is parsed with
                    the benchmark's own parser. Works on any benchmark.
    ``conclusion``  programmatic, no model: the conclusion the rationale states itself
                    ("the answer is X", "that is option B", the number its last sentence
                    ends on, the value after its last "is"). When the rationale states no
                    conclusion of the question's type it says so (``no_conclusion``);
                    it never guesses.
    ``endpoint``    the ``lm`` reader's question sent to a served model (OpenAI-compatible endpoint,
                    ``reader.endpoint``) through `benchmarks.endpoint`; a failed request reads ``failed``.
    ``choice``      the rationale's explicit conclusion (as ``conclusion``) when it states
                    one; else, where the answer set is closed (options, yes/no, numbers:
                    the numbers the rationale states plus the final and gold answers), the
                    candidate a causal LM finds most likely after question + rationale +
                    "So the answer is" (one forward of the shared prefix, one batched
                    forward of the candidates, no sampling); open answers go to ``lm``.
                    ``tie`` / ``unsure`` when the best candidates tie or the winner's
                    probability is under ``min_confidence``.

Statuses of an :class:`ImpliedAnswer`: ``ok``; ``no_rationale`` (the response has no
rationale: a bare answer); ``no_conclusion`` / ``invalid`` (the reader could not name an
answer); ``tie`` / ``unsure`` / ``no_candidates`` (``choice``: no clear candidate); ``failed`` (``endpoint``: the
request failed). Only
``ok`` readings decide ``consistent``.

Modules: ``base`` (config, query, result, the ``READERS`` registry), ``conclusion``, ``lm``,
``choice`` (the readers), ``validity`` (measuring them: ``srcal readers validate``), and
``cases/`` (the hand-written validity cases and the measured figures).
"""

from __future__ import annotations

from harness.implied_answer.base import (
    READERS,
    ImpliedAnswer,
    Reader,
    ReaderConfig,
    ReadQuery,
    make_reader,
)

__all__ = ["READERS", "ImpliedAnswer", "Reader", "ReaderConfig", "ReadQuery", "make_reader"]
