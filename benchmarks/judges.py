"""Judges for open-ended benchmarks (LLaVA-Bench in-the-wild).

A judge compares a model's answer with a reference answer, given the question and a textual
context describing the image, and returns ``(reference_score, model_score)``: the LLaVA-Bench
protocol, where a strong LLM rates both answers from 1 to 10 and the benchmark reports
``100 * sum(model) / sum(reference)``.

Judges (registered in ``benchmarks.registry.JUDGES``; chosen with ``SRCAL_JUDGE``):

``file``    verdicts prepared elsewhere, one JSON object per line keyed by ``question_id``:
            ``{"question_id": 3, "scores": [8, 6]}`` (or ``reference_score`` / ``model_score``,
            or a ``review`` text whose first line holds the two scores). An optional ``answer``
            field is checked against the answer being judged, so stale verdicts are caught.
            Path: constructor argument or ``SRCAL_JUDGE_FILE``.
``openai``  any OpenAI-compatible chat-completions endpoint, called with ``urllib``:
            ``SRCAL_JUDGE_BASE_URL`` (e.g. ``http://localhost:8000/v1``), ``SRCAL_JUDGE_MODEL``,
            ``SRCAL_JUDGE_API_KEY`` (optional for local servers), ``SRCAL_JUDGE_TIMEOUT``
            (seconds, default 60). The prompt follows LLaVA-Bench's review rule: two scores
            from 1 to 10 on the first line, then an explanation.

Per-item failures raise :class:`JudgeError` (the benchmark records them and goes on); missing
configuration raises :class:`JudgeNotConfiguredError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from benchmarks.endpoint import EndpointClient, EndpointConfig, EndpointError
from benchmarks.registry import JUDGES, UnknownNameError

__all__ = [
    "FileJudge",
    "Judge",
    "JudgeError",
    "JudgeNotConfiguredError",
    "OpenAIJudge",
    "build_review_prompt",
    "judge_from_env",
    "parse_score_pair",
]

HOW_TO_CONFIGURE = (
    "set SRCAL_JUDGE=file (with SRCAL_JUDGE_FILE=<verdicts.jsonl>, one "
    '{"question_id": ..., "scores": [reference, model]} per line) or SRCAL_JUDGE=openai (with '
    "SRCAL_JUDGE_BASE_URL, SRCAL_JUDGE_MODEL and, if the endpoint needs one, SRCAL_JUDGE_API_KEY), "
    "or pass a judge object to the benchmark spec"
)


class JudgeError(RuntimeError):
    """A judge could not produce scores for one item (bad reply, missing verdict, network error)."""


class JudgeNotConfiguredError(RuntimeError):
    """No usable judge is configured; the message says how to configure one."""


@runtime_checkable
class Judge(Protocol):
    """Scores an answer against a reference: returns ``(reference_score, model_score)``."""

    def judge(
        self,
        question: str,
        context: str,
        reference_answer: str,
        answer: str,
        *,
        question_id: str | None = None,
    ) -> tuple[float, float]: ...


# ------------------------------------------------------------------ prompt and reply

REVIEW_SYSTEM = "You are a careful and impartial assistant who rates the quality of answers."

REVIEW_RULE = (
    "Please give feedback on how well the two AI assistants above answered the user's question. The user "
    "asked the question while looking at an image; the image content is described for you in the context "
    "above.\nRate each response for helpfulness, relevance, accuracy and level of detail, giving each "
    "assistant one overall score from 1 to 10 (higher is better).\nOn the first line, write only the two "
    "scores, for Assistant 1 and Assistant 2 in that order, separated by a space.\nFrom the second line on, "
    "explain your evaluation; stay unbiased and do not let the order of the responses affect your judgment."
)


def build_review_prompt(question: str, context: str, reference_answer: str, answer: str) -> str:
    """The judge's user message: context, question, reference (Assistant 1), answer (Assistant 2), rule."""
    return (
        f"[Context]\n{context}\n\n[Question]\n{question}\n\n"
        f"[Assistant 1]\n{reference_answer}\n\n[End of Assistant 1]\n\n"
        f"[Assistant 2]\n{answer}\n\n[End of Assistant 2]\n\n"
        f"[System]\n{REVIEW_RULE}\n\n"
    )


def parse_score_pair(review: str) -> tuple[float, float]:
    """The two scores on the first line of a review (``"8 6"``, ``"8, 6"``, ``"8/10 6/10"`` ...)."""
    lines = review.strip().splitlines()
    first = lines[0] if lines else ""
    tokens = first.replace(",", " ").replace("/10", " ").split()
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        values = []
    if len(values) != 2:
        raise JudgeError(f"judge reply does not start with two scores: {first[:120]!r}")
    return values[0], values[1]


# ------------------------------------------------------------------ file judge


class FileJudge:
    """Verdicts read from a JSONL file keyed by ``question_id``."""

    name = "file"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        value = path if path is not None else os.environ.get("SRCAL_JUDGE_FILE")
        if not value:
            raise JudgeNotConfiguredError(f"the file judge needs a verdict file: {HOW_TO_CONFIGURE}")
        self.path = Path(value)
        if not self.path.is_file():
            raise JudgeNotConfiguredError(f"judge verdict file {str(self.path)!r} does not exist")
        self.verdicts = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        verdicts: dict[str, dict[str, Any]] = {}
        with open(self.path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key = str(record["question_id"])
                    scores = self._scores(record)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError, JudgeError) as exc:
                    raise JudgeError(f"{self.path}:{lineno}: bad verdict ({exc})") from exc
                verdicts[key] = {"scores": scores, "answer": record.get("answer")}
        return verdicts

    @staticmethod
    def _scores(record: dict[str, Any]) -> tuple[float, float]:
        if "scores" in record:
            ref, model = record["scores"]
            return float(ref), float(model)
        if "reference_score" in record and "model_score" in record:
            return float(record["reference_score"]), float(record["model_score"])
        if "review" in record:
            return parse_score_pair(str(record["review"]))
        raise KeyError("scores")

    def judge(
        self,
        question: str,
        context: str,
        reference_answer: str,
        answer: str,
        *,
        question_id: str | None = None,
    ) -> tuple[float, float]:
        if question_id is None:
            raise JudgeError("the file judge needs a question_id")
        verdict = self.verdicts.get(str(question_id))
        if verdict is None:
            raise JudgeError(f"no verdict for question_id {question_id!r} in {self.path}")
        if verdict["answer"] is not None and str(verdict["answer"]).strip() != answer.strip():
            raise JudgeError(
                f"verdict for question_id {question_id!r} in {self.path} judged a different answer"
            )
        return verdict["scores"]


# ------------------------------------------------------------------ OpenAI-compatible judge


class OpenAIJudge:
    """A chat-completions endpoint (OpenAI-compatible) rating answers with the LLaVA-Bench rule."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int = 2,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        backoff: float = 1.0,
    ) -> None:
        self.base_url = (base_url or os.environ.get("SRCAL_JUDGE_BASE_URL") or "").strip()
        self.model = (model or os.environ.get("SRCAL_JUDGE_MODEL") or "").strip()
        self.api_key = api_key if api_key is not None else os.environ.get("SRCAL_JUDGE_API_KEY")
        missing = [
            n
            for n, v in (("SRCAL_JUDGE_BASE_URL", self.base_url), ("SRCAL_JUDGE_MODEL", self.model))
            if not v
        ]
        if missing:
            raise JudgeNotConfiguredError(
                f"the openai judge needs {' and '.join(missing)}: {HOW_TO_CONFIGURE}"
            )
        self.timeout = float(timeout if timeout is not None else os.environ.get("SRCAL_JUDGE_TIMEOUT", 60))
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backoff = backoff

    @property
    def endpoint(self) -> str:
        return self._config().url

    def _config(self) -> EndpointConfig:
        return EndpointConfig(
            base_url=self.base_url,
            model=self.model,
            api_key_env=None,
            concurrency=1,
            max_retries=self.max_retries,
            timeout_s=self.timeout,
            backoff_s=self.backoff,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The assistant message content of one chat completion (srcal's one endpoint client:
        `benchmarks.endpoint`; transient failures retried, temperature > 0 so nothing is cached)."""
        client = EndpointClient(self._config(), api_key=self.api_key or "")
        try:
            return client.chat(messages)
        except EndpointError as exc:
            if exc.kind == "malformed":
                raise JudgeError(f"malformed reply from {self.endpoint}: {exc}") from exc
            raise JudgeError(f"judge request to {self.endpoint} failed: {exc}") from exc

    def judge(
        self,
        question: str,
        context: str,
        reference_answer: str,
        answer: str,
        *,
        question_id: str | None = None,
    ) -> tuple[float, float]:
        messages = [
            {"role": "system", "content": REVIEW_SYSTEM},
            {"role": "user", "content": build_review_prompt(question, context, reference_answer, answer)},
        ]
        return parse_score_pair(self.complete(messages))


# ------------------------------------------------------------------ selection


def judge_from_env() -> Judge:
    """The judge named by ``SRCAL_JUDGE``, built from its environment variables."""
    name = os.environ.get("SRCAL_JUDGE", "").strip()
    if not name:
        raise JudgeNotConfiguredError(f"no judge configured: {HOW_TO_CONFIGURE}")
    try:
        factory = JUDGES.get(name)
    except UnknownNameError as exc:
        raise JudgeNotConfiguredError(f"SRCAL_JUDGE={name!r}: {exc}") from exc
    return factory()
