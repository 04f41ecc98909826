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

The stage's entry point is :class:`CandidateStage` (loads the policy, shards across the ranks of a
distributed launch and merges their logs).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.parsing import STATUS_INVALID, STATUS_NO_MARKER, parse_response
from benchmarks.prompts import build_prompt
from benchmarks.records import BenchmarkItem
from benchmarks.scoring import answers_match
from calibrate.artifacts import Artifact, ItemLog, merge_shards, shard_path
from calibrate.config import CandidateConfig
from calibrate.generation import chat_prompt, load_rgb
from calibrate.records import Candidate, CandidateSet

Progress = Callable[[str], None]

SENTENCE_END = re.compile(r"[.!?](?:\n|(?=\s))|\n")
"""A sentence ends after ``.``, ``!`` or ``?`` followed by whitespace (a following newline is
part of it), or after a newline. Leading whitespace never ends a sentence (see `sentence_end`)."""
ANSWER_LINE = re.compile(r"(?:final\s+answer|answer)\s*\**\s*[:：][ \t*]*[^\s*]", re.IGNORECASE)
"""A partial response holding ``Answer: <something>`` is finished."""
LOGPROB_DECIMALS = 6


@dataclass
class Generated:
    """One generated continuation: its tokens, their log-probs under the policy, and why it stopped.

    ``stop`` is ``eos`` (the last token is EOS), ``sentence`` (the sentence stopping criterion fired)
    or ``length`` (the token budget ran out).
    """

    tokens: list[int]
    logprobs: list[float]
    stop: str


@dataclass
class _Partial:
    """A (partial) response of sentence search."""

    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    sentences: int = 0
    finish: str | None = None

    @property
    def score(self) -> float:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else 0.0


@dataclass
class _Response:
    tokens: list[int]
    logprobs: list[float]
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- batched generation


def _device_dtype(model: Any) -> tuple[Any, Any]:
    param = next(model.parameters())
    return param.device, param.dtype


def encode_prompt(processor: Any, image: Any, text: str) -> tuple[list[int], Any]:
    """Token ids (image placeholder expanded) and pixel values of one chat prompt for ``text``."""
    inputs = processor(images=[image], text=[chat_prompt(processor, text)], return_tensors="pt")
    return inputs["input_ids"][0].tolist(), inputs["pixel_values"][0]


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids, mask


class _SentenceStop:
    """Stopping criterion: a row stops at its first sentence end; records each row's stop length."""

    def __init__(self, tokenizer: Any, start: int, rows: int) -> None:
        self.tokenizer = tokenizer
        self.start = start
        self.stop_len = [0] * rows

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        new = input_ids.shape[1] - self.start
        texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
        done = [sentence_end(t) is not None for t in texts]
        for row, hit in enumerate(done):
            if hit and not self.stop_len[row]:
                self.stop_len[row] = new
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def generate_rows(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Sequence[int]],
    pixel_values: Sequence[Any],
    n: int,
    *,
    max_new_tokens: int,
    do_sample: bool,
    temperature: float = 1.0,
    top_p: float = 1.0,
    min_new_tokens: int = 0,
    stop_at_sentence: bool = False,
) -> tuple[list[Generated], int]:
    """``n`` continuations of each token row (one image each), in one left-padded batch.

    Each row is prefilled once: a forward pass over all but its last token fills the KV cache, the
    cache is repeated ``n`` times, and ``generate`` decodes the ``len(rows) * n`` continuations from
    it (so the prompt and its image are encoded once, not ``n`` times). Returns the continuations
    (row-major: row ``r``'s ``j``-th is at ``r * n + j``), trimmed after EOS or the sentence end, with
    the log-probs of their tokens from the raw logits; and the number of tokens generated.
    """
    import torch
    from transformers import StoppingCriteriaList

    device, dtype = _device_dtype(model)
    if not do_sample and n > 1:  # greedy continuations are identical: decode once, repeat
        once, tokens = generate_rows(
            model,
            tokenizer,
            rows,
            pixel_values,
            1,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            min_new_tokens=min_new_tokens,
            stop_at_sentence=stop_at_sentence,
        )
        return [g for g in once for _ in range(n)], tokens * n
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    ids, mask = _left_pad(rows, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    pixels = torch.stack(list(pixel_values)).to(device=device, dtype=dtype)
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    width = ids.shape[1]
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "min_new_tokens": min_new_tokens,
        "do_sample": do_sample,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "return_dict_in_generate": True,
        "output_logits": True,
        "use_cache": True,
    }
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    stop = _SentenceStop(tokenizer, width, len(rows) * n) if stop_at_sentence else None
    if stop is not None:
        kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
    with torch.inference_mode():
        prefill = model(
            input_ids=ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=position_ids[:, :-1],
            pixel_values=pixels,
            use_cache=True,
        )
        cache = getattr(prefill, "cache", None)
        if cache is None:  # older transformers name
            cache = prefill.past_key_values
        if n > 1:
            cache.batch_repeat_interleave(n)
        out = model.generate(
            input_ids=ids.repeat_interleave(n, dim=0),
            attention_mask=mask.repeat_interleave(n, dim=0),
            cache=cache,
            **kwargs,
        )
        new = out.sequences[:, width:]
        steps = min(new.shape[1], len(out.logits))
        logprobs = torch.stack(
            [
                torch.log_softmax(out.logits[t].float(), dim=-1).gather(1, new[:, t : t + 1]).squeeze(1)
                for t in range(steps)
            ],
            dim=1,
        ).cpu()
    new = new[:, :steps].cpu()
    results: list[Generated] = []
    total = 0
    for r in range(new.shape[0]):
        tokens = new[r].tolist()
        length, reason = len(tokens), "length"
        if stop is not None and stop.stop_len[r]:
            length, reason = stop.stop_len[r], "sentence"
        if eos_id in tokens[:length]:
            length, reason = tokens.index(eos_id) + 1, "eos"
        total += length
        results.append(Generated(tokens[:length], logprobs[r, :length].tolist(), reason))
    return results, total


def sample_responses(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    prompts: Sequence[str],
    n: int,
    *,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    min_new_tokens: int = 0,
) -> tuple[list[list[Generated]], int]:
    """``n`` sampled responses to each chat prompt (user text + image), ``batch_size`` prompts per batch.

    ``temperature <= 0`` decodes greedily. Returns the responses per prompt and the tokens generated.
    """
    tokenizer = processor.tokenizer
    encoded = [encode_prompt(processor, image, text) for image, text in zip(images, prompts)]
    out: list[list[Generated]] = []
    total = 0
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        generated, tokens = generate_rows(
            model,
            tokenizer,
            [ids for ids, _ in chunk],
            [pixels for _, pixels in chunk],
            n,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature,
            top_p=top_p,
        )
        total += tokens
        out.extend(generated[i * n : (i + 1) * n] for i in range(len(chunk)))
    return out, total


# ----------------------------------------------------------------------------- sentence search


def sentence_end(text: str) -> int | None:
    """End offset of the first sentence of ``text`` (after any leading whitespace), None if it has none."""
    match = SENTENCE_END.search(text, len(text) - len(text.lstrip()))
    return match.end() if match else None


def sentence_cut(tokenizer: Any, tokens: Sequence[int]) -> int | None:
    """The number of leading ``tokens`` that make up the first complete sentence (None: no sentence end)."""
    end = sentence_end(tokenizer.decode(tokens, skip_special_tokens=True))
    if end is None:
        return None
    cut = len(tokens)  # the stopping criterion fires at the sentence end: search back from the end
    while cut > 1 and len(tokenizer.decode(tokens[: cut - 1], skip_special_tokens=True)) >= end:
        cut -= 1
    return cut


def diverse_order(scores: Sequence[float]) -> list[int]:
    """Indices alternating best, worst, second best, second worst, ... (ties by index).

    The first ``k`` are the ``ceil(k/2)`` best and the ``floor(k/2)`` worst.
    """
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    order: list[int] = []
    lo, hi = 0, len(ranked) - 1
    while lo <= hi:
        order.append(ranked[lo])
        lo += 1
        if lo <= hi:
            order.append(ranked[hi])
            hi -= 1
    return order


def _normalise(text: str) -> str:
    return " ".join(text.split())


def sentence_search(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    prompts: Sequence[str],
    cfg: CandidateConfig,
) -> tuple[list[list[_Response]], int]:
    """Sentence-level search (see the module docstring) for a batch of prompts.

    Returns per prompt its finished responses in the order found (duplicates included, up to
    ``num_candidates`` distinct ones) and the number of tokens generated.
    """
    tokenizer = processor.tokenizer
    eos_id = tokenizer.eos_token_id
    budget = cfg.max_new_tokens
    encoded = [encode_prompt(processor, image, text) for image, text in zip(images, prompts)]
    active: list[list[_Partial]] = [[_Partial()] for _ in encoded]
    found: list[list[_Partial]] = [[] for _ in encoded]
    seen: list[set[str]] = [set() for _ in encoded]
    total = 0

    def text_of(p: _Partial) -> str:
        return tokenizer.decode(p.tokens, skip_special_tokens=True).strip()

    def add_found(item: int, partials: list[_Partial]) -> None:
        for p in partials:
            if len(seen[item]) >= cfg.num_candidates:
                return
            found[item].append(p)
            seen[item].add(_normalise(text_of(p)))

    def run(
        rows: list[tuple[int, _Partial]], n: int, do_sample: bool, stop_at_sentence: bool
    ) -> list[list[Generated]]:
        nonlocal total
        out: list[list[Generated]] = []
        for start in range(0, len(rows), cfg.batch_size):
            chunk = rows[start : start + cfg.batch_size]
            generated, tokens = generate_rows(
                model,
                tokenizer,
                [encoded[i][0] + p.tokens for i, p in chunk],
                [encoded[i][1] for i, _ in chunk],
                n,
                max_new_tokens=max(budget - len(p.tokens) for _, p in chunk),
                do_sample=do_sample,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                stop_at_sentence=stop_at_sentence,
            )
            total += tokens
            out.extend(generated[k * n : (k + 1) * n] for k in range(len(chunk)))
        return out

    for _step in range(cfg.max_sentences):
        rows = [(i, p) for i, partials in enumerate(active) for p in partials]
        if not rows:
            break
        extensions: list[list[_Partial]] = [[] for _ in encoded]
        for (i, parent), continuations in zip(rows, run(rows, cfg.sentence_beams, cfg.temperature > 0, True)):
            for g in continuations:
                extensions[i].append(_extend(tokenizer, parent, g, budget, eos_id))
        for i, extended in enumerate(extensions):
            if not extended:
                continue
            finished = [p for p in extended if p.finish]
            order = diverse_order([p.score for p in finished])
            add_found(i, [finished[k] for k in order])
            open_ = _unique_partials([p for p in extended if not p.finish])
            order = diverse_order([p.score for p in open_])
            full = len(seen[i]) >= cfg.num_candidates
            active[i] = [] if full else [open_[k] for k in order[: cfg.sentence_keep]]

    rows = [(i, p) for i, partials in enumerate(active) for p in partials]
    if rows:
        for (i, parent), (g,) in zip(rows, run(rows, 1, False, False)):
            tokens = g.tokens[: budget - len(parent.tokens)]
            finish = "greedy" if eos_id in tokens else "budget"
            grown = _Partial(
                parent.tokens + tokens,
                parent.logprobs + g.logprobs[: len(tokens)],
                parent.sentences + 1,
                finish,
            )
            add_found(i, [grown])
    responses = [
        [_Response(p.tokens, p.logprobs, {"sentences": p.sentences, "finish": p.finish}) for p in ps]
        for ps in found
    ]
    return responses, total


def _extend(tokenizer: Any, parent: _Partial, g: Generated, budget: int, eos_id: int) -> _Partial:
    """``parent`` grown by the first sentence of ``g`` (or all of it at EOS), marked finished if it is."""
    room = budget - len(parent.tokens)
    tokens = g.tokens[:room]
    finish: str | None = None
    if eos_id in tokens:
        tokens, finish = tokens[: tokens.index(eos_id) + 1], "eos"
    else:
        cut = sentence_cut(tokenizer, tokens)
        if cut is None:
            finish = "budget"
        else:
            tokens = tokens[:cut]
    grown = _Partial(
        parent.tokens + tokens, parent.logprobs + g.logprobs[: len(tokens)], parent.sentences + 1
    )
    if finish is None and ANSWER_LINE.search(tokenizer.decode(grown.tokens, skip_special_tokens=True)):
        finish = "answer"
    if finish is None and len(grown.tokens) >= budget:
        finish = "budget"
    grown.finish = finish
    return grown


def _unique_partials(partials: list[_Partial]) -> list[_Partial]:
    seen: set[tuple[int, ...]] = set()
    out = []
    for p in partials:
        key = tuple(p.tokens)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


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
    item: BenchmarkItem, responses: Sequence[_Response | Generated], tokenizer: Any, cfg: CandidateConfig
) -> CandidateSet:
    """Decode, parse, score and deduplicate one item's responses (at most ``num_candidates`` kept)."""
    candidates: list[Candidate] = []
    seen: set[str] = set()
    for response in responses:
        text = tokenizer.decode(response.tokens, skip_special_tokens=True).strip()
        key = _normalise(text)
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
                num_tokens=len(response.tokens),
                token_logprobs=logprobs,
                origin=origin,
            )
        )
    return CandidateSet(item_id=item.id, candidates=candidates, num_generated=len(responses))


def seed_batch(seed: int, batch: int) -> None:
    """Seed torch and python RNGs for batch ``batch`` of a run seeded with ``seed``."""
    import torch

    value = seed * 1_000_003 + batch
    torch.manual_seed(value)
    random.seed(value)


def generate_batch(
    policy: Any, items: Sequence[BenchmarkItem], data_dir: Path, cfg: CandidateConfig
) -> tuple[list[CandidateSet], int]:
    """Candidate sets of one batch of items (the caller seeds), and the tokens generated."""
    model, processor = policy.model, policy.processor
    images = [load_rgb(data_dir / item.image) for item in items]
    prompts = [build_prompt(item.question, item.choices, style=cfg.prompt_style) for item in items]
    if cfg.strategy == "sampling":
        responses: list[Sequence[Any]]
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
        policy: a :class:`calibrate.models.LoadedModel` (``.model``, ``.processor``).
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
    policy.model.eval()
    started = time.perf_counter()
    tokens = generated_items = 0
    for done, (b, batch) in enumerate(batches, start=1):
        missing = [item for item in batch if item.id not in log]
        if missing:
            seed_batch(seed, b)
            sets, batch_tokens = generate_batch(policy, batch, data_dir, cfg)
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
    }


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
    pool_hash: str
    """Hash of the pool the items come from (``calib``)."""
    data_dir: Path
    directory: Path
    """The iteration's directory (``iter_k``)."""
    seed: int
    dtype: str = "auto"
    progress: Progress | None = None

    name: ClassVar[str] = "candidates"
    output: ClassVar[str] = "candidates.jsonl"
    mode: ClassVar[str] = "all"

    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def inputs(self) -> dict[str, str]:
        return {"policy": self.policy.hash, "calib_pool": self.pool_hash}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        from calibrate.checkpoints import rank, world_size
        from calibrate.models import load_model

        out = self.directory / self.output
        policy = load_model(str(self.policy.path), dtype=self.dtype)
        if world_size() == 1:
            summary = generate_candidates(
                policy, self.items, self.data_dir, self.cfg, out, self.seed, progress=self.progress
            )
            return [self.output], summary
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
        return [self.output], {**summary, "processes": world_size()}
