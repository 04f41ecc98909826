"""The evaluation engine: ``srcal eval``.

For one checkpoint (a model id or directory, plus an optional LoRA adapter) and a list
of benchmarks, writes per benchmark::

    <out>/<benchmark>/samples.jsonl   one record per document (response, parse, score,
                                      implied answer, consistency, claim checks, timing)
    <out>/<benchmark>/metrics.json    official metrics + consistency metrics with 95% CIs
                                      + provenance (model/adapter hashes, data hash,
                                      generation config, reader, seed, versions)
    <out>/summary.json                headline numbers of every benchmark done so far

The native engine generates greedily in left-padded batches with a KV cache through the
common model loader; outputs do not depend on the batch size (tested). Each sample
record carries a cache key (model hash + adapter hash + generation config + document +
prompt), so a rerun skips a finished benchmark whose fingerprint matches, resumes an
unfinished one at the first missing sample, and recomputes samples whose key changed.
A benchmark that fails is reported and the others still run.

Under ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1) each process loads the checkpoint on
its own device and answers documents ``i % world_size == rank`` into its own log
(``samples.rank<r>.jsonl``: resumable per process); rank 0 merges the logs in document order, then
reads, scores and writes the metrics, which equal a single process's (tests/test_distributed_eval.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.fileio import atomic_write_json, sha256_file, srcal_home
from benchmarks.paths import DataPathError, resolve_data_path
from benchmarks.registry import BENCHMARKS, BUILTIN_SUITES
from benchmarks.spec import BenchmarkSpec, EvalDoc
from harness.implied_answer import ReaderConfig

METRICS_VERSION = 2  # 2: claim_coverage, no_claim_responses
ENGINES = ("native", "lmms-eval", "endpoint")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class FailedResponse:
    """A document a responder could not answer (a served policy's failed request): nothing is logged for it."""

    message: str


Responder = Callable[
    [BenchmarkSpec, list[EvalDoc], list[str], list[int], Path | None], list[str | FailedResponse]
]
"""(spec, docs, prompts, indices to answer) -> responses for those indices."""


EVAL_NEUTRAL_FIELDS = ("data_dir", "batch_size", "memory_budget_gib", "kv_cache")
"""EvalConfig fields that do not change results: where the built data lives, the batch and the KV cache's
kind (greedy outputs do not depend on them: tests/test_evaluate.py)."""


@dataclass
class EvalConfig:
    """How checkpoints are evaluated (``srcal eval`` flags, the ``eval`` section of a run preset)."""

    benchmarks: list[str] = field(
        default_factory=lambda: list(BUILTIN_SUITES),
        metadata={"help": "Benchmarks to run (`srcal benchmarks`); default: every built-in test suite."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Built dataset for the built-in suites (None: $SRCAL_HOME/data/default)."},
    )
    sources: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "Public benchmark -> local directory or hub id (default: its hub id)."},
    )
    limit: int | None = field(default=None, metadata={"help": "First N documents per benchmark (None: all)."})
    batch_size: int | str = field(
        default=8,
        metadata={
            "help": "Prompts per generation batch (results do not depend on it), or `auto`: the most "
            "sequences whose KV cache fits in the device's free memory (or `memory_budget_gib`) after the "
            "weights, less 20% headroom (calibrate/memory.py)."
        },
    )
    kv_cache: str = field(
        default="dynamic",
        metadata={
            "help": "dynamic (grows per step) or static (preallocated for prompt + max_new_tokens: on CUDA "
            "transformers then compiles the decode step with CUDA graphs; on CPU it runs eager). Greedy "
            "outputs are the same (tested)."
        },
    )
    memory_budget_gib: float | None = field(
        default=None,
        metadata={
            "help": "batch_size auto: the GiB weights + sequences may use (None: the device's free memory)."
        },
    )
    max_new_tokens: int = field(default=96, metadata={"help": "Tokens generated per response (greedy)."})
    prompt_style: str = field(
        default="bare", metadata={"help": "bare (as RFT trains: no instruction), plain or rationale."}
    )
    engine: str = field(
        default="native",
        metadata={
            "help": "native (local model), lmms-eval, or endpoint (a served policy: `endpoint` says where; "
            "the checkpoint's --model is its served name, e.g. `vllm serve RUN/iter_1/model "
            "--served-model-name iter_1`: docs/gpu.md)."
        },
    )
    endpoint: dict[str, Any] | None = field(
        default=None,
        metadata={
            "help": "engine=endpoint: the server, as `benchmarks.endpoint.EndpointConfig` fields (base_url, "
            "api_key_env, concurrency, max_retries, timeout_s, ...); model, temperature (0) and max_tokens "
            "(max_new_tokens) are the evaluation's."
        },
    )
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA, fp32 on CPU), fp32, bf16."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N."})
    bootstrap_samples: int = field(default=1000, metadata={"help": "Bootstrap resamples for 95% CIs."})
    seed: int = field(default=0, metadata={"help": "Seed of the bootstrap."})
    reader: ReaderConfig = field(default_factory=ReaderConfig)

    def __post_init__(self) -> None:
        if isinstance(self.reader, dict):
            self.reader = ReaderConfig(**self.reader)
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; expected one of {', '.join(ENGINES)}")
        size = self.batch_size
        if size != "auto" and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"batch_size must be a positive integer or 'auto', got {size!r}")
        if self.kv_cache not in ("dynamic", "static"):
            raise ValueError(f"kv_cache must be dynamic or static, got {self.kv_cache!r}")
        if self.engine == "endpoint" and not (self.endpoint or {}).get("base_url"):
            raise ValueError("engine endpoint needs endpoint.base_url (--endpoint URL)")
        if self.endpoint is not None:
            from harness.endpoint_engine import endpoint_config

            endpoint_config("(checked)", self)  # unknown or ill-typed fields fail here, not mid-run

    def results_hash(self) -> str:
        """Hash of the fields that change results (not :data:`EVAL_NEUTRAL_FIELDS`): ``eval/index.json``'s ``eval_hash``."""
        from calibrate.artifacts import config_hash

        fields = {k: v for k, v in asdict(self).items() if k not in EVAL_NEUTRAL_FIELDS}
        del fields["endpoint"]
        if self.engine == "endpoint":  # what the server is asked, not where it runs or how it is reached
            fields["endpoint"] = self.served_request()
        return config_hash({"eval": fields})

    def served_request(self) -> dict[str, Any]:
        """The endpoint settings a served response depends on: the server-specific request fields.

        The URL, key, concurrency, retries, timeouts and cache are left out: a policy served again on
        another port answers the same requests the same way (tests/test_policy_server.py).
        """
        return {"extra_body": dict((self.endpoint or {}).get("extra_body") or {})}

    def generation(self) -> dict[str, Any]:
        """The settings a response depends on (part of every cache key)."""
        return {
            "do_sample": False,
            "max_new_tokens": self.max_new_tokens,
            "prompt_style": self.prompt_style,
            "engine": self.engine,
            **({"endpoint": self.served_request()} if self.engine == "endpoint" else {}),
        }


class EvalError(RuntimeError):
    """A benchmark could not be evaluated (the message names the benchmark, document and field)."""


class EvalFailures(RuntimeError):
    """Some benchmarks failed; the others were written. ``failures`` maps benchmark -> message."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in failures.items()))
        self.failures = failures


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# ----------------------------------------------------------------------------- checkpoint


@dataclass
class Checkpoint:
    """A model to evaluate: ``model`` (zoo name, hub id or directory) + optional ``adapter`` directory."""

    model: str
    adapter: str | None = None
    name: str | None = None

    def identity(self, dtype: str) -> dict[str, Any]:
        """Hashes that identify the weights (cheap after the first time: file digests are cached)."""
        from calibrate.artifacts import path_hash
        from calibrate.models import base_hash, resolve_device, resolve_dtype
        from calibrate.zoo.names import resolve_model

        path = resolve_model(self.model)
        local = Path(path)
        return {
            "model": self.model,
            "model_hash": base_hash(local) if local.is_dir() else path,
            "adapter": self.adapter,
            "adapter_hash": path_hash(self.adapter) if self.adapter else None,
            "dtype": str(resolve_dtype(dtype, resolve_device("auto"))).replace("torch.", ""),
        }


# ----------------------------------------------------------------------------- documents


def load_docs(spec: BenchmarkSpec, cfg: EvalConfig) -> tuple[list[EvalDoc], Path | None]:
    """The benchmark's documents (first ``cfg.limit``) and the directory relative image paths live in."""
    from benchmarks.records import RecordError

    if spec.name in BUILTIN_SUITES:
        base = Path(cfg.data_dir) if cfg.data_dir else srcal_home() / "data" / "default"
        if not (base / "test.jsonl").is_file():
            raise EvalError(f"{spec.name}: no built dataset at {base} (run `srcal data build --out {base}`)")
        source: str | None = str(base)
    else:
        source, base = cfg.sources.get(spec.name), None
        if source and Path(source).exists():
            base = Path(source) if Path(source).is_dir() else Path(source).parent
    raws = spec.load(source, limit=cfg.limit)
    docs: list[EvalDoc] = []
    seen: set[str] = set()
    for index, raw in enumerate(raws):
        try:
            doc = spec.to_doc(raw)
        except RecordError as exc:
            raise EvalError(f"{spec.name}: document {index}: {exc}") from exc
        doc.id = str(doc.id)
        if doc.id in seen:
            raise EvalError(f"{spec.name}: document {index}: field 'id': duplicate id {doc.id!r}")
        seen.add(doc.id)
        docs.append(doc)
    return docs, base


def image_ref(doc: EvalDoc) -> str:
    """A stable reference to a document's image for cache keys (path, or a digest of the pixels)."""
    image = doc.image
    if image is None:
        return ""
    if isinstance(image, str | Path):
        return str(image)
    return hashlib.sha256(image.tobytes()).hexdigest()[:24]


def open_image(spec: BenchmarkSpec, doc: EvalDoc, base: Path | None) -> Any:
    from PIL import Image, UnidentifiedImageError

    from calibrate.generation import load_rgb

    if doc.image is None:
        raise EvalError(
            f"{spec.name}: document {doc.id}: field {spec.image_field!r}: missing (generation needs the image)"
        )
    if isinstance(doc.image, str | Path):
        # A path from the data: read only inside the data directory (benchmarks.paths), never
        # absolute, never relative to the working directory when the data came from the hub.
        if base is None:
            raise DataPathError(
                spec.name,
                None,
                spec.image_field,
                str(doc.image),
                f"document {doc.id}: image path {str(doc.image)!r} but no local data directory to read "
                "it in (give --source NAME=DIR)",
            )
        file = base / "test.jsonl" if spec.name in BUILTIN_SUITES else base
        path = resolve_data_path(
            base, doc.image, file=f"{file} (document {doc.id})", line=None, field=spec.image_field
        )
        try:
            return load_rgb(path)
        except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
            raise EvalError(
                f"{spec.name}: document {doc.id}: field {spec.image_field!r}: {path}: {exc}"
            ) from exc
    if isinstance(doc.image, Image.Image):
        return doc.image.convert("RGB")
    raise EvalError(
        f"{spec.name}: document {doc.id}: field {spec.image_field!r}: unsupported {type(doc.image).__name__}"
    )


# ----------------------------------------------------------------------------- the engine


class Evaluation:
    """Evaluate one checkpoint on benchmarks into ``out`` (see the module docstring)."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        cfg: EvalConfig,
        out: str | Path,
        progress: Progress | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.cfg = cfg
        self.out = Path(out)
        self.say = progress or (lambda _m: None)
        self._identity: dict[str, Any] | None = None
        self._loaded: Any = None
        self._reader: Any = None
        self._responder = responder
        self._batch = 1
        """The batch of the benchmark being answered (``cfg.batch_size``, or what ``auto`` chose)."""
        self.generated = 0

    # lazily built pieces: a skipped benchmark loads no model
    @property
    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = self.checkpoint.identity(self.cfg.dtype)
        return self._identity

    @property
    def reader(self) -> Any:
        if self._reader is None:
            from harness.implied_answer import make_reader

            self._reader = make_reader(self.cfg.reader)
        return self._reader

    def model(self) -> Any:
        if self._loaded is None:
            from calibrate.models import load_model
            from calibrate.zoo.names import resolve_model

            self.say(
                f"loading {self.checkpoint.model}"
                + (f" + {self.checkpoint.adapter}" if self.checkpoint.adapter else "")
            )
            self._loaded = load_model(
                resolve_model(self.checkpoint.model),
                adapter=self.checkpoint.adapter,
                merge=self.checkpoint.adapter is not None,
                dtype=self.cfg.dtype,
                device=self.cfg.device,
            )
        return self._loaded

    def run(self) -> dict[str, Any]:
        """Every benchmark in turn; raises :class:`EvalFailures` at the end if any failed.

        A checkpoint that cannot load (``ModelLoadError``: no such model, not an adapter, an
        adapter of another base; ``PartsMissingError``) stops the evaluation at once.
        """
        from calibrate.models import ModelLoadError
        from calibrate.zoo.parts import PartsMissingError

        results: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for name in self.cfg.benchmarks:
            try:
                results[name] = self.benchmark(name)
            except (ModelLoadError, PartsMissingError):
                raise  # the checkpoint itself cannot load: every benchmark would fail alike
            except Exception as exc:  # one benchmark's failure must not lose the others
                failures[name] = f"{type(exc).__name__}: {exc}"
                self.say(f"{name}: FAILED ({failures[name]})")
            self._write_summary(results, failures)
        if failures:
            raise EvalFailures(failures)
        return results

    def _write_summary(self, results: dict[str, Any], failures: dict[str, str]) -> None:
        from calibrate.checkpoints import is_main_process

        if not is_main_process():
            return
        keys = (
            "n",
            "accuracy",
            "consistency_rate",
            "consistency_coverage",
            "claim_accuracy",
            "claim_coverage",
            "parse_failure_rate",
        )
        summary = {
            "checkpoint": self.checkpoint.name or self.checkpoint.model,
            "benchmarks": {n: {k: m.get(k) for k in keys} for n, m in results.items()},
            "failures": failures,
        }
        atomic_write_json(self.out / "summary.json", summary)

    # ------------------------------------------------------------------ one benchmark

    def benchmark(self, name: str) -> dict[str, Any]:
        from calibrate.artifacts import reset_cuda_peak

        spec = BENCHMARKS.get(name)
        started = time.time()
        reset_cuda_peak()
        docs, base = load_docs(spec, self.cfg)
        if not docs:
            raise EvalError(f"{name}: no documents")
        prompts = [spec.prompt(d, self.cfg.prompt_style) for d in docs]
        generation = self.cfg.generation()
        weights = {k: self.identity[k] for k in ("model_hash", "adapter_hash", "dtype")}
        keys = [_digest([weights, generation, d.id, p, image_ref(d)]) for d, p in zip(docs, prompts)]
        directory = self.out / name
        fingerprint = {
            "metrics_version": METRICS_VERSION,
            "benchmark": name,
            "samples": _digest(keys),
            "reader": self.reader.identity(),
            "bootstrap_samples": self.cfg.bootstrap_samples,
            "seed": self.cfg.seed,
        }
        done = self._finished(directory, fingerprint)
        if done is not None:
            self.say(f"{name}: up to date ({done['n']} samples), skipped")
            return done

        from calibrate.artifacts import ItemLog, merge_shards, shard_path
        from calibrate.checkpoints import is_main_process, own_indices, rank, wait_for_everyone, world_size

        samples, ids, world = directory / "samples.jsonl", [d.id for d in docs], world_size()
        log = ItemLog(samples, key="id")

        def missing(i: int, *logs: ItemLog) -> bool:
            return all(lg.records.get(docs[i].id, {}).get("cache_key") != keys[i] for lg in logs)

        generated = sum(missing(i, log) for i in range(len(docs)))
        # Under a distributed launch rank r answers documents i % world == r into its own log;
        # rank 0 merges the logs in document order, then reads, scores and writes the metrics.
        mine = log if world == 1 else ItemLog(shard_path(samples, rank()), key="id")
        todo = [i for i in own_indices(len(docs)) if missing(i, log, mine)]
        if todo:
            shard = f" (rank {rank()} of {world})" if world > 1 else ""
            self.say(f"{name}: {len(todo)} of {len(docs)} samples to generate{shard}")
            self._answer(spec, docs, prompts, keys, todo, base, mine)
        if world > 1:
            merge_shards(samples, ids, key="id")
            if not is_main_process():
                wait_for_everyone()  # rank 0 writes the metrics
                return json.loads((directory / "metrics.json").read_text())
            log = ItemLog(samples, key="id")
        stale = [i for i, d in enumerate(docs) if log.records[d.id].get("reader_key") != self.reader_key]
        if stale:  # responses are cached; another reader (or scorer) only re-reads them
            self.say(f"{name}: re-reading {len(stale)} cached responses with {self.reader_key}")
            self._reread(spec, docs, stale, log)
        log.rewrite_ordered(ids)
        rows = log.ordered(ids)
        metrics = self._metrics(spec, rows, fingerprint, started, generated)
        atomic_write_json(directory / "metrics.json", metrics)
        if world > 1:
            wait_for_everyone()
        brief = ", ".join(
            f"{k.replace('_rate', '').replace('_', ' ')} {metrics[k]:.3f}"
            for k in ("accuracy", "consistency_rate", "consistency_coverage", "parse_failure_rate")
            if metrics.get(k) is not None
        )
        self.say(f"{name}: {brief}")
        return metrics

    def _finished(self, directory: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        path, samples = directory / "metrics.json", directory / "samples.jsonl"
        if not path.is_file() or not samples.is_file():
            return None
        try:
            metrics = json.loads(path.read_text())
        except ValueError:
            return None
        prov = metrics.get("provenance", {})
        if prov.get("fingerprint") != fingerprint or prov.get("samples_sha256") != sha256_file(samples):
            return None
        return metrics

    def _answer(
        self,
        spec: BenchmarkSpec,
        docs: list[EvalDoc],
        prompts: list[str],
        keys: list[str],
        todo: list[int],
        base: Path | None,
        log: Any,
    ) -> None:
        """Generate, score and read the ``todo`` documents, appending each chunk as it finishes."""
        from harness.consistency import consistency_fields, read_query

        batch_size = self._batch = self._batch_size(spec, docs, prompts, todo, base)
        chunk_size = max(batch_size * 4, 4)
        total, finished, t0 = len(todo), 0, time.perf_counter()
        failed: list[tuple[str, str]] = []
        for start in range(0, total, chunk_size):
            began = time.perf_counter()
            answers = self._respond(spec, docs, prompts, todo[start : start + chunk_size], base)
            per_sample = (time.perf_counter() - began) / len(answers)
            failed += [
                (docs[i].id, a.message)
                for i, a in zip(todo[start : start + chunk_size], answers)
                if isinstance(a, FailedResponse)
            ]
            kept = [(i, a) for i, a in zip(todo[start : start + chunk_size], answers) if isinstance(a, str)]
            if not kept:
                continue
            chunk, responses = [i for i, _ in kept], [a for _, a in kept]
            scored = [spec.score(r, docs[i]) for r, i in zip(responses, chunk)]
            implied = self.reader.read([read_query(docs[i], s) for s, i in zip(scored, chunk)])
            records = []
            for i, response, row, imp in zip(chunk, responses, scored, implied):
                doc = docs[i]
                records.append(
                    {
                        "id": doc.id,
                        "prompt_hash": hashlib.sha256(prompts[i].encode()).hexdigest()[:16],
                        "question": doc.question,
                        "gold": doc.answer,
                        "response": response,
                        **row,
                        **consistency_fields(spec, doc, row, imp),
                        "reader_key": self.reader_key,
                        "timing": {"generate_s": round(per_sample, 4), "batch_size": batch_size},
                        "cache_key": keys[i],
                    }
                )
            log.append(records)
            finished += len(chunk)
            rate = finished / max(time.perf_counter() - t0, 1e-9)
            self.say(f"{spec.name}: {finished}/{total} samples ({rate:.2f} samples/s)")
        if failed:  # the answered ones are logged: a rerun asks only for these
            doc_id, message = failed[0]
            raise EvalError(
                f"{spec.name}: {len(failed)} of {total} documents got no response (first: document "
                f"{doc_id}: {message}); the {finished} answered are kept, a rerun asks only for the rest"
            )

    def _batch_size(
        self, spec: BenchmarkSpec, docs: list[EvalDoc], prompts: list[str], todo: list[int], base: Path | None
    ) -> int:
        """``cfg.batch_size``, or for ``auto`` the most sequences of the longest prompt + new tokens that fit."""
        if self.cfg.batch_size != "auto":
            return int(self.cfg.batch_size)
        if self._responder is not None:
            return 8  # a served policy batches on its server: this is only how many requests go per chunk
        from calibrate.generation import chat_prompt
        from calibrate.memory import auto_batch_size

        loaded = self.model()
        longest = max(todo, key=lambda i: len(prompts[i]))
        text = chat_prompt(loaded.processor, prompts[longest])
        inputs = loaded.processor(
            images=[open_image(spec, docs[longest], base)], text=[text], return_tensors="pt"
        )
        tokens = int(inputs["input_ids"].shape[1]) + self.cfg.max_new_tokens
        size = auto_batch_size(loaded.model, tokens, self.cfg.memory_budget_gib)
        self.say(f"{spec.name}: batch_size auto = {size} (sequences of up to {tokens} tokens)")
        return size

    @property
    def reader_key(self) -> str:
        return _digest(self.reader.identity())[:16]

    def _reread(self, spec: BenchmarkSpec, docs: list[EvalDoc], indices: list[int], log: Any) -> None:
        """Score and read cached responses again (the reader changed); generation is not redone."""
        from harness.consistency import consistency_fields, read_query

        old = [log.records[docs[i].id] for i in indices]
        scored = [spec.score(r["response"], docs[i]) for r, i in zip(old, indices)]
        implied = self.reader.read([read_query(docs[i], s) for s, i in zip(scored, indices)])
        log.append(
            {**r, **row, **consistency_fields(spec, docs[i], row, imp), "reader_key": self.reader_key}
            for r, row, imp, i in zip(old, scored, implied, indices)
        )

    def _respond(
        self,
        spec: BenchmarkSpec,
        docs: list[EvalDoc],
        prompts: list[str],
        chunk: list[int],
        base: Path | None,
    ) -> list[str | FailedResponse]:
        if self._responder is not None:
            return self._responder(spec, docs, prompts, chunk, base)
        from calibrate.generation import generate_texts

        loaded = self.model()
        images = [open_image(spec, docs[i], base) for i in chunk]
        # Longest prompts first: less padding per batch; outputs do not depend on batching.
        order = sorted(range(len(chunk)), key=lambda j: -len(prompts[chunk[j]]))
        texts = generate_texts(
            loaded.model,
            loaded.processor,
            [images[j] for j in order],
            [prompts[chunk[j]] for j in order],
            max_new_tokens=self.cfg.max_new_tokens,
            batch_size=self._batch,
            **({"cache_implementation": "static"} if self.cfg.kv_cache == "static" else {}),
        )
        out = [""] * len(chunk)
        for j, text in zip(order, texts):
            out[j] = text
        self.generated += len(chunk)
        return out

    def _metrics(
        self,
        spec: BenchmarkSpec,
        rows: list[dict[str, Any]],
        fingerprint: dict[str, Any],
        started: float,
        generated: int,
    ) -> dict[str, Any]:
        from benchmarks.metrics import consistency_metrics
        from calibrate.artifacts import cuda_peak_gib, versions
        from harness.implied_answer.validity import measured_validity

        metrics = consistency_metrics(rows, self.cfg.bootstrap_samples, self.cfg.seed)
        official = json_safe(spec.aggregate(rows))
        return {
            "benchmark": spec.name,
            "category": spec.category,
            "checkpoint": self.checkpoint.name or self.checkpoint.model,
            **metrics,
            "reader": self.reader.identity(),
            "reader_validity": measured_validity(self.reader.identity()),
            "official": official,
            "provenance": {
                "fingerprint": fingerprint,
                "checkpoint": self.identity,
                "generation": self.cfg.generation(),
                "config": {k: v for k, v in asdict(self.cfg).items() if k != "benchmarks"},
                "data": {"n": len(rows), "limit": self.cfg.limit, "source": self._source(spec)},
                "samples_sha256": sha256_file(self.out / spec.name / "samples.jsonl"),
                "generated_now": generated,
                "seconds": round(time.time() - started, 2),
                "peak_cuda_gib": cuda_peak_gib(),
                "versions": versions(),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        }

    def _source(self, spec: BenchmarkSpec) -> dict[str, Any]:
        if spec.name in BUILTIN_SUITES:
            base = Path(self.cfg.data_dir) if self.cfg.data_dir else srcal_home() / "data" / "default"
            return {"data_dir": str(base), "test_sha256": sha256_file(base / "test.jsonl")}
        return {"source": self.cfg.sources.get(spec.name) or spec.dataset, "split": spec.split}


def evaluate(
    model: str,
    adapter: str | None,
    cfg: EvalConfig,
    out: str | Path,
    progress: Progress | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (+ ``adapter``) on ``cfg.benchmarks`` into ``out``; returns metrics per benchmark."""
    responder: Responder | None = None
    if cfg.engine == "lmms-eval":
        from harness.lmms_engine import LmmsResponder

        responder = LmmsResponder(model, adapter, cfg, Path(out) / ".lmms", progress)
    elif cfg.engine == "endpoint":
        from harness.endpoint_engine import EndpointResponder

        if adapter is not None:
            raise EvalError(
                "engine endpoint: serve the adapter as its own model (vLLM --lora-modules NAME=DIR)"
            )
        responder = EndpointResponder(model, cfg, progress)
    return Evaluation(Checkpoint(model, adapter, name), cfg, out, progress, responder).run()


def eval_config_from(
    overrides: Sequence[str] = (),
    base: dict[str, Any] | None = None,
    benchmarks: Sequence[str] | None = None,
    sources: Sequence[str] = (),
    reader: str | None = None,
    reader_model: str | None = None,
    **flags: Any,
) -> EvalConfig:
    """An EvalConfig from a mapping (a preset's ``eval`` section), CLI flags and ``--set`` overrides.

    Unknown fields name the field (with a did-you-mean); benchmarks are checked against the registry.
    """
    from benchmarks.configuration import ConfigError, apply_overrides, from_mapping

    data = apply_overrides(dict(base or {}), list(overrides))
    data.update({k: v for k, v in flags.items() if v is not None})
    if benchmarks:
        data["benchmarks"] = list(benchmarks)
    for pair in sources:
        if "=" not in pair:
            raise ConfigError(f"--source {pair!r}: expected NAME=DIR_OR_HUB_ID")
        name, value = pair.split("=", 1)
        data.setdefault("sources", {})[name] = value
    reader_data = dict(data.pop("reader", None) or {})
    if reader:
        reader_data["name"] = reader
    if reader_model:
        reader_data["backbone"] = reader_model
    reader_cfg = from_mapping(ReaderConfig, reader_data, "eval: reader")
    cfg = from_mapping(EvalConfig, data, "eval")
    cfg.reader = reader_cfg
    from harness.implied_answer import READERS

    READERS.get(cfg.reader.name)
    for name in cfg.benchmarks:
        BENCHMARKS.get(name)
    return cfg


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN/inf floats replaced by ``None`` (strict JSON)."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def _cell(metrics: dict[str, Any], key: str) -> str:
    """``value [lo,hi]`` of one metric, ``-`` where it is undefined."""
    value = metrics.get(key)
    if value is None:
        return "-"
    lo, hi = metrics.get("ci95", {}).get(key, (None, None))
    return f"{value:.3f}" + (f" [{lo:.2f},{hi:.2f}]" if lo is not None else "")


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of accuracy, consistency, coverage and parse failures per benchmark."""
    lines = [
        f"{'benchmark':14s} {'n':>5s} {'accuracy':>18s} {'consistency':>18s} {'coverage':>8s} {'parse fail':>10s}"
    ]
    for name, m in results.items():
        lines.append(
            f"{name:14s} {m['n']:5d} {_cell(m, 'accuracy'):>18s} {_cell(m, 'consistency_rate'):>18s} "
            f"{_cell(m, 'consistency_coverage'):>8s} {_cell(m, 'parse_failure_rate'):>10s}"
        )
    return "\n".join(lines)
