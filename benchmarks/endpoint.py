"""One client for served models behind OpenAI-compatible chat-completions endpoints.

vLLM, llama.cpp's server, TGI and SGLang serve ``POST {base_url}/chat/completions``. Every place srcal
calls a served model goes through :class:`EndpointClient`: teacher rationales and teacher labels
(``srcal teacher ...``), the ``endpoint`` implied-answer reader and the LLaVA-Bench ``openai`` judge.

- **Key**: read from the environment variable *named* in the config (``api_key_env``), sent as a
  bearer token, never stored in a config, cache, manifest, log or error message.
- **Concurrency**: up to ``concurrency`` requests in flight (threads); results keep request order.
- **Retries**: 408/409/429/5xx, timeouts, refused or dropped connections are retried with exponential
  backoff (``Retry-After`` honoured, capped); other 4xx are refusals and are not retried.
- **Cache**: deterministic requests (``temperature == 0``) are cached per request, keyed by the
  sha256 of the request body (which holds the endpoint's model name and the whole request content),
  in an append-only, fsynced JSONL under ``$SRCAL_HOME/cache/endpoint``. A rerun, or a run resumed
  after a kill, sends only what is not answered yet; failures are never cached.
- **Errors**: one request's failure is a :class:`Reply` with ``error`` set (refused, malformed, failed
  after retries); `EndpointClient.chat_many` never raises for one bad answer.

Usage::

    client = EndpointClient(EndpointConfig(base_url="http://localhost:8000/v1", model="Qwen2-VL-72B"))
    [reply] = client.chat_many([[{"role": "user", "content": "Say hi."}]])
    reply.text, reply.error, reply.cached
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EndpointClient",
    "EndpointConfig",
    "EndpointError",
    "EndpointProgress",
    "Choice",
    "Reply",
    "image_chat_turn",
    "image_data_url",
]

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
CACHE_VERSION = 1


def _help(default: Any, text: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": text}, **kw)


@dataclass
class EndpointConfig:
    """Where a served model lives and how srcal talks to it (every field has its default)."""

    base_url: str = _help("", "OpenAI-compatible base URL, e.g. `http://localhost:8000/v1`.")
    model: str = _help("", "The served model's name, as the endpoint's /v1/models lists it.")
    api_key_env: str | None = _help(
        "OPENAI_API_KEY",
        "Name of the environment variable holding the API key (unset or empty: no key is sent). "
        "The key itself is never written anywhere.",
    )
    concurrency: int = _help(4, "Requests in flight at once.")
    max_retries: int = _help(5, "Retries of a transient failure (429, 5xx, timeout, dropped connection).")
    timeout_s: float = _help(120.0, "Seconds to wait for one reply.")
    backoff_s: float = _help(1.0, "First wait before a retry, in seconds; doubles each retry (<= 30 s).")
    temperature: float = _help(0.0, "Sampling temperature; only temperature 0 requests are cached.")
    max_tokens: int = _help(512, "Tokens the model may write per reply.")
    extra_body: dict[str, Any] | None = _help(
        None,
        "Server-specific fields merged into every request (part of the cache key), e.g. constrained "
        'output: vLLM `{"guided_choice": ["A", "B", "Tie"]}`, llama.cpp `{"grammar": "root ::= ..."}`.',
    )
    cache_dir: str | None = _help(None, "Request cache directory (None: $SRCAL_HOME/cache/endpoint).")

    def __post_init__(self) -> None:
        self.base_url = self.base_url.strip()
        self.extra_body = dict(self.extra_body or {})
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.model.strip():
            raise ValueError("endpoint model must name the served model (e.g. --model NAME)")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0 or self.max_tokens < 1:
            raise ValueError("endpoint: concurrency >= 1, max_retries >= 0, timeout_s > 0, max_tokens >= 1")

    @property
    def url(self) -> str:
        """The chat-completions URL (``base_url`` may already end in ``/chat/completions``)."""
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

    def public(self) -> dict[str, Any]:
        """What may be recorded about the endpoint (manifests): no key, only the variable's name."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }


class EndpointError(RuntimeError):
    """One request failed: refused (4xx), malformed reply, or failed after its retries."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        """``refused``, ``malformed`` or ``failed``."""


@dataclass(frozen=True)
class Choice:
    """One of a reply's choices: its text and, when the request asked for them, its tokens' log-probs."""

    text: str
    logprobs: tuple[float, ...] | None = None


@dataclass
class Reply:
    """The answer to one request: ``text`` on success, else ``error`` (kind: message).

    ``text`` is the first choice's; ``choices`` holds every choice of a fresh reply (``n`` > 1, with
    ``logprobs`` when asked). A cached reply holds its text only.
    """

    key: str
    text: str | None = None
    error: str | None = None
    cached: bool = False
    attempts: int = 0
    choices: tuple[Choice, ...] = ()

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass
class EndpointProgress:
    """Counts of a `chat_many` call so far (handed to its progress callback)."""

    total: int
    done: int = 0
    cached: int = 0
    sent: int = 0
    failed: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        rate = self.sent / max(time.monotonic() - self.started, 1e-9)
        return (
            f"{self.done}/{self.total} answered ({self.cached} cached, {self.sent} sent, "
            f"{self.failed} failed, {self.retries} retries, {rate:.2f} req/s)"
        )


def image_data_url(png: bytes) -> str:
    """An inline ``data:image/png;base64,...`` URL (the OpenAI image-part form every server accepts)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_chat_turn(prompt: str, image: Any | None) -> list[dict[str, Any]]:
    """One user turn: the image (a PIL image, as a PNG data URL) then the prompt text.

    How a served policy sees what the native engine renders as its chat turn (evaluation and
    candidate search send the same messages).
    """
    import io

    parts: list[dict[str, Any]] = []
    if image is not None:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        parts.append({"type": "image_url", "image_url": {"url": image_data_url(buffer.getvalue())}})
    parts.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": parts}]


class EndpointClient:
    """Chat completions from one endpoint, with bounded concurrency, retries and a request cache."""

    def __init__(self, cfg: EndpointConfig, *, api_key: str | None = None) -> None:
        self.cfg = cfg
        env_key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        self._api_key = api_key if api_key is not None else (env_key or None)
        self._cache: Any = None
        self.sleep: Callable[[float], None] = time.sleep

    # ---------------------------------------------------------------- requests

    def body(self, messages: Sequence[dict[str, Any]], **params: Any) -> dict[str, Any]:
        """The request body: model, messages, temperature, max_tokens and any extra ``params``."""
        body = {
            "model": self.cfg.model,
            "messages": list(messages),
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
        }
        body.update(self.cfg.extra_body)
        body.update(params)
        return body

    @staticmethod
    def key(body: dict[str, Any]) -> str:
        """The cache key of a request: sha256 of its canonical JSON (model + full request content)."""
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def chat(self, messages: Sequence[dict[str, Any]], **params: Any) -> str:
        """One reply's text; raises `EndpointError` when the request fails."""
        [reply] = self.chat_many([messages], **params)
        if reply.error is not None:
            kind, _, message = reply.error.partition(": ")
            raise EndpointError(kind, message)
        return reply.text or ""

    def chat_many(
        self,
        requests: Sequence[Sequence[dict[str, Any]]],
        *,
        progress: Callable[[EndpointProgress], None] | None = None,
        each: Sequence[dict[str, Any]] | None = None,
        **params: Any,
    ) -> list[Reply]:
        """Replies to many message lists, in order; cached ones are not sent, failures are per reply.

        ``params`` go into every request; ``each[i]`` (e.g. a per-request ``seed``) into request i only.
        """
        extra = list(each) if each is not None else [{}] * len(requests)
        if len(extra) != len(requests):
            raise ValueError(
                f"chat_many: {len(extra)} per-request parameter sets for {len(requests)} requests"
            )
        bodies = [self.body(m, **params, **e) for m, e in zip(requests, extra)]
        replies = [Reply(self.key(b)) for b in bodies]
        state = EndpointProgress(total=len(bodies))
        cache = self._cache_log() if self._cacheable(params) else None
        todo: dict[str, list[int]] = {}
        for i, reply in enumerate(replies):
            hit = cache.records.get(reply.key) if cache is not None else None
            if hit is not None:
                reply.text, reply.cached = hit["reply"], True
                state.done += 1
                state.cached += 1
            else:
                todo.setdefault(reply.key, []).append(i)
        if progress:
            progress(state)
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            futures = [pool.submit(self._send, bodies[idx[0]], k) for k, idx in todo.items()]
            for future in as_completed(futures):
                result = future.result()
                state.sent += 1
                state.retries += max(result.attempts - 1, 0)
                if result.ok and cache is not None:
                    cache.append([{"key": result.key, "reply": result.text, "v": CACHE_VERSION}])
                for i in todo[result.key]:
                    replies[i].text, replies[i].error = result.text, result.error
                    replies[i].attempts, replies[i].choices = result.attempts, result.choices
                    state.done += 1
                    state.failed += result.error is not None
                if progress:
                    progress(state)
        return replies

    def served_models(self) -> list[str]:
        """The model names ``GET {base_url}/models`` lists; raises `EndpointError` when it cannot be read."""
        base = self.cfg.base_url.rstrip("/").removesuffix("/chat/completions")
        request = urllib.request.Request(base + "/models", headers=self._headers(), method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                data = json.loads(response.read().decode("utf-8"))["data"]
            return [str(entry["id"]) for entry in data]
        except urllib.error.HTTPError as exc:
            raise EndpointError(
                "refused", f"HTTP {exc.code} from {base}/models: {_error_detail(exc)}"
            ) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise EndpointError("failed", f"{base}/models: {getattr(exc, 'reason', exc)}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise EndpointError(
                "malformed", f"{base}/models is not a model list ({type(exc).__name__})"
            ) from exc

    # ---------------------------------------------------------------- internals

    def _cacheable(self, params: dict[str, Any]) -> bool:
        return float(params.get("temperature", self.cfg.temperature)) == 0.0

    def _cache_log(self) -> Any:
        if self._cache is None:
            from benchmarks.fileio import ItemLog, srcal_home

            root = Path(self.cfg.cache_dir) if self.cfg.cache_dir else srcal_home() / "cache" / "endpoint"
            name = hashlib.sha256(self.cfg.model.encode()).hexdigest()[:16]
            self._cache = ItemLog(root / f"{name}.jsonl", key="key")
        return self._cache

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _send(self, body: dict[str, Any], key: str) -> Reply:
        data = json.dumps(body).encode("utf-8")
        last = "no attempt"
        for attempt in range(self.cfg.max_retries + 1):
            request = urllib.request.Request(self.cfg.url, data=data, headers=self._headers(), method="POST")
            wait = self.cfg.backoff_s * 2**attempt
            try:
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                    raw = response.read()
                return self._parse(raw, key, attempt + 1)
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                if exc.code not in RETRY_STATUS:
                    return Reply(
                        key,
                        error=f"refused: HTTP {exc.code} from {self.cfg.url}: {detail}",
                        attempts=attempt + 1,
                    )
                last = f"HTTP {exc.code}: {detail}"
                wait = max(wait, _retry_after(exc))
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.cfg.max_retries:
                self.sleep(min(wait, MAX_BACKOFF_S))
        return Reply(
            key,
            error=f"failed: {self.cfg.url} after {self.cfg.max_retries + 1} attempts: {last}",
            attempts=self.cfg.max_retries + 1,
        )

    def _parse(self, raw: bytes, key: str, attempts: int) -> Reply:
        try:
            choices = json.loads(raw.decode("utf-8"))["choices"]
            texts = [c["message"]["content"] for c in choices]
            first = texts[0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return Reply(
                key,
                error=f"malformed: reply from {self.cfg.url} is not a chat completion "
                f"({type(exc).__name__}: {raw[:120]!r})",
                attempts=attempts,
            )
        if not all(isinstance(t, str) for t in texts):
            return Reply(
                key, error=f"malformed: reply from {self.cfg.url} has no text content", attempts=attempts
            )
        parsed = tuple(Choice(t, _token_logprobs(c)) for t, c in zip(texts, choices))
        return Reply(key, text=first, attempts=attempts, choices=parsed)


def _token_logprobs(choice: dict[str, Any]) -> tuple[float, ...] | None:
    """A choice's per-token log-probs (``logprobs.content[*].logprob``), None when the server sent none."""
    try:
        content = (choice.get("logprobs") or {}).get("content")
        return tuple(float(t["logprob"]) for t in content) if content is not None else None
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 (a broken error body must not hide the status)
        text = ""
    return " ".join(text.split())[:200] or str(exc.reason)


def _retry_after(exc: urllib.error.HTTPError) -> float:
    try:
        return float(exc.headers.get("Retry-After", 0) or 0)
    except (TypeError, ValueError):
        return 0.0
