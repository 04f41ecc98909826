"""Stage 2, candidate search: a diverse set of responses per calibration item, with their log-probs.

Usage::

    from calibrate.candidates import generate_candidates

    summary = generate_candidates(policy, items, data_dir, cfg.candidates, run / "iter_1/candidates.jsonl", seed=0)

Strategies (``CandidateConfig.strategy``):

- ``sampling``: ``num_candidates`` temperature/top-p samples per prompt (``temperature <= 0``: greedy).
  Prompts go in left-padded batches of ``batch_size``; each prompt is prefilled ONCE (a forward
  pass over the prompt fills the KV cache, which is then repeated ``num_candidates`` times in the
  batch dimension) and its samples decode from that shared cache.
- ``sentence_search`` [ours]: partial responses grow one sentence at a time. Each kept partial gets
  ``sentence_beams`` sampled continuations that stop at the first sentence end (``.``, ``!`` or ``?``
  followed by whitespace, or a newline). A continuation ending in EOS, containing a complete
  ``Answer: ...`` line, or exhausting ``max_new_tokens`` is finished; of the others, ``sentence_keep``
  partials per item survive, scored by mean token log-prob, taking both the best and the worst
  halves (diversity, as CSR does). After ``max_sentences`` steps the survivors are finished greedily
  to EOS. An item stops once it holds ``num_candidates`` distinct finished responses. All rows of all
  items of a batch are generated together.

Records (:class:`calibrate.records.CandidateSet`, one JSONL line per item): each candidate's text,
its parse (``benchmarks.parsing.parse_response``), whether its answer is correct, and the policy's
log-probability of every generated token (EOS included when generated), computed from the RAW
logits (``output_logits``), not from the temperature/top-p warped scores, so they are the
policy's own probabilities. Identical texts (whitespace-normalised) are deduplicated keeping the
first; ``num_generated`` counts the responses before deduplication.

Resume and determinism: items are processed in fixed batches (batch ``b`` = ``items[b*B:(b+1)*B]``)
and each batch reseeds the RNG from ``(seed, b)``, so a batch's records depend only on the seed,
the config and that batch. Records are appended per batch to an :class:`ItemLog`; a rerun skips
fully logged batches, regenerates partially logged ones (appending only the missing items), and
finally rewrites the file in item order, so an interrupted-and-resumed run's file is byte-identical
to an uninterrupted one. With ``world_size > 1`` a rank handles the batches ``b % world_size == rank``
and writes its own file (the caller merges the shards).

Engines (``CandidateConfig.engine``): ``local`` generates with the policy loaded here; ``endpoint`` asks
an OpenAI-compatible server that serves the policy (vLLM, SGLang: the path for speed at scale) for
``num_candidates`` samples per prompt in one request (``n``, ``temperature``, ``top_p``,
``max_tokens``, ``logprobs``; the image inline as a PNG data URL, as ``srcal eval --engine endpoint``
sends it), prompt i of batch b seeded ``batch_seed(seed, b) * 1000 + i``. Each choice's per-token
log-probs are the server's; a server that sends none, or fewer choices than asked, is refused with a
message that says so. A failed request stops the stage: the batches logged before it are kept and a
rerun asks only for the items not logged. The served name of a policy is ``endpoint.model`` with
``{policy}`` replaced by the checkpoint's directory in the run (``iter_0``: RFT, ``iter_1``, ...):
SRC's checkpoints are merged models, one server (or served name) each (docs/gpu.md).

The stage's entry point is :class:`CandidateStage` (loads the policy, shards across the ranks of a
distributed launch and merges their logs).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.parsing import STATUS_INVALID, STATUS_NO_MARKER, parse_response
from benchmarks.paths import item_image_path
from benchmarks.pools import composition, pool_hash
from benchmarks.prompts import build_prompt
from benchmarks.records import BenchmarkItem
from benchmarks.scoring import answers_match
from calibrate.artifacts import Artifact, ItemLog, merge_shards, shard_path
from calibrate.config import CandidateConfig, ModelConfig
from calibrate.decoding import Generated, _Response, normalise_text, sample_responses, sentence_search
from calibrate.generation import load_rgb
from calibrate.records import Candidate, CandidateSet

Progress = Callable[[str], None]

LOGPROB_DECIMALS = 6

# ----------------------------------------------------------------------------- records


def _origin(cfg: CandidateConfig) -> dict[str, Any]:
    origin: dict[str, Any] = {
        "strategy": cfg.strategy,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_new_tokens": cfg.max_new_tokens,
        "prompt_style": cfg.prompt_style,
    }
    if cfg.strategy == "sentence_search":
        origin.update(
            sentence_beams=cfg.sentence_beams,
            sentence_keep=cfg.sentence_keep,
            max_sentences=cfg.max_sentences,
        )
    return origin


def build_candidate_set(
    item: BenchmarkItem,
    responses: Sequence[_Response | Generated | ServedResponse],
    tokenizer: Any,
    cfg: CandidateConfig,
) -> CandidateSet:
    """Decode, parse, score and deduplicate one item's responses (at most ``num_candidates`` kept)."""
    candidates: list[Candidate] = []
    seen: set[str] = set()
    for response in responses:
        if isinstance(response, ServedResponse):
            text = response.text.strip()
        else:
            text = tokenizer.decode(response.tokens, skip_special_tokens=True).strip()
        key = normalise_text(text)
        if key in seen or len(candidates) >= cfg.num_candidates:
            continue
        seen.add(key)
        parsed = parse_response(text, item.answer_type, item.choices)
        correct = (
            answers_match(parsed.final_answer, item.answer, item.answer_type, item.choices)
            if item.answer
            else None
        )
        logprobs = [round(float(x), LOGPROB_DECIMALS) for x in response.logprobs]
        origin = _origin(cfg)
        origin.update(getattr(response, "extra", {}))
        candidates.append(
            Candidate(
                candidate_id=len(candidates),
                text=text,
                rationale=parsed.rationale,
                final_answer=parsed.final_answer,
                parse_status=parsed.parse_status,
                correct=correct,
                logprob_sum=round(sum(logprobs), LOGPROB_DECIMALS),
                num_tokens=len(logprobs) if isinstance(response, ServedResponse) else len(response.tokens),
                token_logprobs=logprobs,
                origin=origin,
            )
        )
    return CandidateSet(item_id=item.id, candidates=candidates, num_generated=len(responses))


def batch_seed(seed: int, batch: int) -> int:
    """The RNG seed of batch ``batch`` of a run seeded with ``seed``."""
    return seed * 1_000_003 + batch


def seed_batch(seed: int, batch: int) -> None:
    """Seed torch and python RNGs for batch ``batch`` of a run seeded with ``seed``."""
    import torch

    value = batch_seed(seed, batch)
    torch.manual_seed(value)
    random.seed(value)


# ----------------------------------------------------------------------------- served policy


@dataclass(frozen=True)
class ServedResponse:
    """One sampled response of a served policy: its text and its tokens' log-probs (the server's)."""

    text: str
    logprobs: tuple[float, ...]


class ServedCandidatesError(RuntimeError):
    """The server cannot give candidates (no such model, no log-probs, failed requests)."""


@dataclass
class ServedPolicy:
    """A policy behind an OpenAI-compatible endpoint (``candidates.engine: endpoint``)."""

    client: Any
    """A :class:`benchmarks.endpoint.EndpointClient` whose ``model`` is the policy's served name."""

    @classmethod
    def for_checkpoint(cls, cfg: CandidateConfig, checkpoint: str) -> ServedPolicy:
        """The served policy of ``checkpoint`` (``iter_0``, ``iter_1``, ...) under ``cfg.endpoint``."""
        from benchmarks.configuration import from_mapping
        from benchmarks.endpoint import EndpointClient, EndpointConfig

        section = dict(cfg.endpoint or {})
        name = str(section.pop("model", "{policy}")).replace("{policy}", checkpoint)
        data = {**section, "model": name, "temperature": cfg.temperature, "max_tokens": cfg.max_new_tokens}
        return cls(EndpointClient(from_mapping(EndpointConfig, data, "candidates: endpoint")))

    def check_served(self, directory: Path) -> None:
        """Refuse, with the command that fixes it, an endpoint that does not serve this policy's name."""
        from benchmarks.endpoint import EndpointError

        cfg = self.client.cfg
        try:
            served = self.client.served_models()
        except EndpointError as exc:
            raise ServedCandidatesError(f"candidates: cannot list the served models: {exc}") from exc
        if cfg.model not in served:
            raise ServedCandidatesError(
                f"candidates: {cfg.base_url} does not serve {cfg.model!r} (it serves {served}); serve the "
                f"policy under that name, e.g. `vllm serve {directory} --served-model-name {cfg.model}`, "
                "and rerun (finished stages are kept)"
            )

    def sample(
        self, prompts: Sequence[str], images: Sequence[Any], cfg: CandidateConfig, seed: int
    ) -> list[list[ServedResponse]]:
        """``cfg.num_candidates`` responses per prompt (prompt i seeded ``seed + i``); raises on any failure."""
        from benchmarks.endpoint import image_chat_turn

        client = self.client
        replies = client.chat_many(
            [image_chat_turn(prompt, image) for prompt, image in zip(prompts, images)],
            each=[{"seed": seed + i} for i in range(len(prompts))],
            n=cfg.num_candidates,
            top_p=cfg.top_p,
            logprobs=True,
        )
        where = f"{client.cfg.url} (model {client.cfg.model!r})"
        out: list[list[ServedResponse]] = []
        for reply in replies:
            if reply.error is not None:
                raise ServedCandidatesError(f"candidates: {reply.error}")
            if len(reply.choices) < cfg.num_candidates:
                raise ServedCandidatesError(
                    f"candidates: {where} sent {len(reply.choices)} choices for n={cfg.num_candidates}; "
                    "serve the policy with a server that samples n per request (vLLM, SGLang)"
                )
            if any(c.logprobs is None for c in reply.choices):
                raise ServedCandidatesError(
                    f"candidates: {where} sent no token log-probs (logprobs=true); candidate records need "
                    "them (vLLM, SGLang and llama.cpp's server send them)"
                )
            out.append([ServedResponse(c.text, tuple(c.logprobs or ())) for c in reply.choices])
        return out


def generate_batch(
    policy: Any, items: Sequence[BenchmarkItem], data_dir: Path, cfg: CandidateConfig, seed: int = 0
) -> tuple[list[CandidateSet], int]:
    """Candidate sets of one batch of items, and the tokens generated.

    A local policy draws from the RNG the caller seeded; a `ServedPolicy` seeds prompt i of the batch
    with ``seed + i``.
    """
    paths = [item_image_path(data_dir, item) for item in items]  # refused before any read
    images = [load_rgb(path) for path in paths]
    prompts = [build_prompt(item.question, item.choices, style=cfg.prompt_style) for item in items]
    responses: list[Sequence[Any]]
    if isinstance(policy, ServedPolicy):
        responses = policy.sample(prompts, images, cfg, seed)
        tokens = sum(len(r.logprobs) for rs in responses for r in rs)
        return [build_candidate_set(item, r, None, cfg) for item, r in zip(items, responses)], tokens
    model, processor = policy.model, policy.processor
    if cfg.strategy == "sampling":
        responses, tokens = sample_responses(
            model,
            processor,
            images,
            prompts,
            cfg.num_candidates,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.batch_size,
        )
    else:
        responses, tokens = sentence_search(model, processor, images, prompts, cfg)
    sets = [build_candidate_set(item, r, processor.tokenizer, cfg) for item, r in zip(items, responses)]
    return sets, tokens


def generate_candidates(
    policy: Any,
    items: Sequence[BenchmarkItem],
    data_dir: str | Path,
    cfg: CandidateConfig,
    out_path: str | Path,
    seed: int,
    progress: Progress | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, Any]:
    """Generate (or resume) the candidate sets of ``items`` into ``out_path``; returns a summary.

    Args:
        policy: a :class:`calibrate.models.LoadedModel` (``.model``, ``.processor``) or a `ServedPolicy`.
        items: calibration items, in their fixed order (it defines the batches).
        data_dir: dataset directory holding the images.
        cfg: the stage config.
        out_path: this rank's JSONL (:class:`CandidateSet` per item).
        seed: run seed; batch ``b`` is seeded from ``(seed, b)``.
        progress: called with a line per batch.
        rank / world_size: process only batches ``b % world_size == rank``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world_size {world_size}")
    say = progress or (lambda _m: None)
    data_dir = Path(data_dir)
    size = cfg.batch_size
    batches = [
        (b, items[start : start + size])
        for b, start in enumerate(range(0, len(items), size))
        if b % world_size == rank
    ]
    log = ItemLog(out_path)
    if not isinstance(policy, ServedPolicy):
        policy.model.eval()
    started = time.perf_counter()
    tokens = generated_items = 0
    for done, (b, batch) in enumerate(batches, start=1):
        missing = [item for item in batch if item.id not in log]
        if missing:
            seed_batch(seed, b)
            sets, batch_tokens = generate_batch(policy, batch, data_dir, cfg, batch_seed(seed, b) * 1_000)
            tokens += batch_tokens
            generated_items += len(missing)
            log.append(s.to_dict() for s in sets if s.item_id not in log)
        say(f"candidates: batch {done}/{len(batches)} ({'generated' if missing else 'already logged'})")
    shard_ids = [item.id for _, batch in batches for item in batch]
    log.rewrite_ordered(shard_ids)
    seconds = time.perf_counter() - started
    records = [CandidateSet.from_dict(r) for r in log.ordered(shard_ids)]
    summary = summarize(records)
    summary.update(
        items_generated=generated_items,
        tokens=tokens,
        seconds=round(seconds, 3),
        tokens_per_s=round(tokens / seconds, 2) if seconds > 0 else 0.0,
    )
    return summary


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


def summarize(records: Sequence[CandidateSet]) -> dict[str, Any]:
    """Counts and rates over candidate sets (failure rates next to accuracy, never one without the other)."""
    candidates = [c for r in records for c in r.candidates]
    gold = [c.correct for c in candidates if c.correct is not None]
    failed = sum(c.parse_status in (STATUS_INVALID, STATUS_NO_MARKER) for c in candidates)
    return {
        "items": len(records),
        "candidates": len(candidates),
        "candidates_per_item": round(len(candidates) / len(records), 4) if records else 0.0,
        "duplicates_removed": sum(r.num_generated - len(r.candidates) for r in records),
        "parse_failure_rate": round(failed / len(candidates), 4) if candidates else 0.0,
        "correct_rate": round(sum(gold) / len(gold), 4) if gold else 0.0,
        # diversity: what preference pairs can be made of
        "distinct_answers_per_item": _mean(len({c.final_answer for c in r.candidates}) for r in records),
        "mixed_items_rate": _mean(len({c.correct for c in r.candidates} - {None}) == 2 for r in records),
    }


def candidate_settings(cfg: CandidateConfig) -> dict[str, Any]:
    """What a candidate search's results depend on (its stage hash): the engine only where it is `endpoint`.

    Where the policy is served (URL, concurrency, timeouts) is left out; the served name's template is in.
    """
    settings = asdict(cfg)
    section = settings.pop("endpoint") or {}
    if settings["engine"] == "local":
        del settings["engine"]
    else:
        settings["served_model"] = section.get("model", "{policy}")
    return settings


def candidate_policy(cfg: CandidateConfig, policy: Artifact, model: ModelConfig) -> Any:
    """The policy that answers: loaded here, or (engine endpoint) its checkpoint's served name, checked."""
    if cfg.engine == "endpoint":
        served = ServedPolicy.for_checkpoint(cfg, policy.path.parent.name)
        served.check_served(policy.path)
        return served
    from calibrate.models import load_model

    return load_model(str(policy.path), **model.load_kwargs())


@dataclass
class CandidateStage:
    """Stage 2's entry point: ``policy``'s candidate sets of ``items`` into ``directory/candidates.jsonl``.

    Under a distributed launch batch ``b`` goes to rank ``b % world_size`` and is seeded from
    ``(seed, b)``; each rank logs to its `shard_path` and the merged file equals a single process's.
    """

    cfg: CandidateConfig
    policy: Artifact
    """The checkpoint that answers (``iter_{k-1}/model``)."""
    items: list[BenchmarkItem]
    """The iteration's calibration items (a stratified draw from ``calib``)."""
    pool_hash: str
    """Hash of the split the items come from (``calib``)."""
    data_dir: Path
    directory: Path
    """The iteration's directory (``iter_k``)."""
    seed: int
    model: ModelConfig = field(default_factory=ModelConfig)
    """How the policy is loaded (dtype, device, remote code)."""
    progress: Progress | None = None

    name: ClassVar[str] = "candidates"
    output: ClassVar[str] = "candidates.jsonl"
    mode: ClassVar[str] = "all"

    def config(self) -> dict[str, Any]:
        return candidate_settings(self.cfg)

    def inputs(self) -> dict[str, str]:
        return {"policy": self.policy.hash, "calib_pool": self.pool_hash, "items": pool_hash(self.items)}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        from calibrate.checkpoints import rank, world_size

        out = self.directory / self.output
        policy = candidate_policy(self.cfg, self.policy, self.model)
        if world_size() == 1:
            summary = generate_candidates(
                policy, self.items, self.data_dir, self.cfg, out, self.seed, progress=self.progress
            )
            return [self.output], {**summary, "pool": composition(self.items)}
        generate_candidates(
            policy,
            self.items,
            self.data_dir,
            self.cfg,
            shard_path(out, rank()),
            self.seed,
            progress=self.progress,
            rank=rank(),
            world_size=world_size(),
        )
        merged = merge_shards(out, [item.id for item in self.items])
        summary = summarize([CandidateSet.from_dict(r) for r in merged])
        return [self.output], {**summary, "pool": composition(self.items), "processes": world_size()}
