"""The served-policy engine (``srcal eval --engine endpoint``): responses from an OpenAI-compatible server.

The path users take for speed at scale: the policy served by vLLM (or SGLang, TGI, llama.cpp's server,
``transformers serve``), one served model name per checkpoint, and ``srcal eval --model iter_1 --engine
endpoint --endpoint URL``. SRC's checkpoints are a chain of merged models (iteration k's adapter is
trained on ``iter_{k-1}/model``), so each is served as its own model (``vllm serve RUN/iter_1/model
--served-model-name iter_1``); adapters of one base can share a server (``--lora-modules NAME=DIR``).
Each document is one chat request (the image inline as a PNG data URL, then the same prompt text the
native engine renders), greedy (temperature 0), ``max_new_tokens`` as ``max_tokens``, through the
project's one client (`benchmarks.endpoint.EndpointClient`: bounded concurrency, retries, per-request
cache, per-request errors). Scoring, consistency, metrics and the store are the native engine's: only
where the text comes from differs. A request that fails is a `FailedResponse`: nothing is logged for
it, the benchmark reports it, and a rerun sends only what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.configuration import from_mapping
from benchmarks.endpoint import EndpointClient, EndpointConfig, image_chat_turn
from benchmarks.spec import BenchmarkSpec, EvalDoc
from harness.evaluate import EvalConfig, FailedResponse, open_image


def endpoint_config(model: str, cfg: EvalConfig) -> EndpointConfig:
    """The client config of ``cfg.endpoint`` serving ``model``, greedy, ``cfg.max_new_tokens`` tokens."""
    data = {**(cfg.endpoint or {}), "model": model, "temperature": 0.0, "max_tokens": cfg.max_new_tokens}
    return from_mapping(EndpointConfig, data, "eval: endpoint")


class EndpointResponder:
    """Responses of one served checkpoint (``model``: its served name) for the evaluation engine."""

    def __init__(self, model: str, cfg: EvalConfig, progress: Any = None) -> None:
        self.client = EndpointClient(endpoint_config(model, cfg))
        self.say = progress or (lambda _m: None)

    def __call__(
        self,
        spec: BenchmarkSpec,
        docs: list[EvalDoc],
        prompts: list[str],
        indices: list[int],
        base: Path | None = None,
    ) -> list[str | FailedResponse]:
        requests = [image_chat_turn(prompts[i], open_image(spec, docs[i], base)) for i in indices]
        replies = self.client.chat_many(requests)
        sent = sum(not r.cached for r in replies)
        self.say(f"{spec.name}: {len(replies)} requests ({len(replies) - sent} cached, {sent} sent)")
        # stripped as the native engine strips its decoded text (responses equal byte for byte)
        return [
            r.text.strip() if r.text is not None else FailedResponse(r.error or "no reply") for r in replies
        ]
