"""The ``endpoint`` reader: a served model (OpenAI-compatible) asked which answer a rationale leads to.

The `lm` reader's question (`reader_text`, `READER_SYSTEM`) sent as chat messages through srcal's one
endpoint client (`benchmarks.endpoint`: concurrency, retries, the request cache: a rationale already
read is never sent again). Configured by ``reader.endpoint`` (the `EndpointConfig` fields)::

    eval:
      reader:
        name: endpoint
        endpoint: {base_url: "http://localhost:8000/v1", model: Qwen2.5-72B-Instruct}

A request that fails is the reading ``failed`` (its error in ``raw``); it never decides ``consistent``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.endpoint import EndpointClient, EndpointConfig
from benchmarks.parsing import parse_response
from harness.implied_answer.base import (
    READER_PROMPT_VERSION,
    READER_SYSTEM,
    ImpliedAnswer,
    ReaderConfig,
    ReadQuery,
    reader_text,
)
from harness.implied_answer.lm import core_answer


class EndpointReader:
    """Implied answers from a served chat model (greedy: temperature 0, cached per request)."""

    def __init__(self, cfg: ReaderConfig) -> None:
        from benchmarks.configuration import from_mapping

        if not cfg.endpoint:
            raise ValueError(
                "reader `endpoint` needs reader.endpoint: {base_url: ..., model: ...} (EndpointConfig fields)"
            )
        fields = {"max_tokens": cfg.max_new_tokens, "cache_dir": cfg.cache_dir, **cfg.endpoint}
        self.cfg = cfg
        self.endpoint = from_mapping(EndpointConfig, fields, "eval.reader.endpoint")
        self.client = EndpointClient(self.endpoint)

    def identity(self) -> dict[str, Any]:
        return {
            "reader": "endpoint",
            "model": self.endpoint.model,
            "max_tokens": self.endpoint.max_tokens,
            "extra_body": self.endpoint.extra_body,
            "prompt_version": READER_PROMPT_VERSION,
            "system": READER_SYSTEM,
        }

    @staticmethod
    def messages(query: ReadQuery) -> list[dict[str, str]]:
        return [{"role": "system", "content": READER_SYSTEM}, {"role": "user", "content": reader_text(query)}]

    def read(self, queries: list[ReadQuery]) -> list[ImpliedAnswer]:
        asked = [i for i, q in enumerate(queries) if q.rationale.strip()]
        replies = self.client.chat_many([self.messages(queries[i]) for i in asked])
        out = [ImpliedAnswer(None, "no_rationale") for _ in queries]
        for i, reply in zip(asked, replies):
            query = queries[i]
            if reply.text is None:
                out[i] = ImpliedAnswer(None, "failed", reply.error)
                continue
            line = reply.text.strip().split("\n", 1)[0].strip()
            parsed = parse_response(
                f"Answer: {core_answer(line, query.answer_type)}", query.answer_type, query.choices
            )
            out[i] = ImpliedAnswer(parsed.final_answer, "ok" if parsed.final_answer else "invalid", line)
        return out
