"""Stage 3, the R-Scorer: a causal LM that compares two candidate responses and emits A, B or Tie.

Prompt. A chat-templated system message (the instruction: judge rationale quality and factual
consistency with the reference) and a user message holding the question (+ choices), the reference
(gold answer and the item's facts as compact JSON cut to a budget), ``Response A: ...`` and
``Response B: ...``, then the assistant turn prefix and ``Verdict:``.

Verdict reading. The verdict is one token: the first token ids of " A", " B", " Tie" (or of "A", "B",
"Tie" when the spaced forms share a first token). One forward per ordered pair gives
``p = softmax(logits[verdict ids])`` at the last prompt token: no sampling, no ``generate``.

Both orders. With ``cfg.both_orders`` each unordered pair (a < b) is scored as (a, b) and (b, a)
(``PairVerdict.p_ab`` / ``p_ba``) so that curation can cancel position bias; the summary reports
the bias as the mean P(first shown wins).

KV reuse. A prompt is three token segments: the item prefix (instruction, question, reference), the
first response (``Response A: ...\\n``) and the second response plus the assistant prefix. The
prefix is run once per item and the first-response segment once per (item, first candidate); each
ordered pair then runs only its last segment on top of the cached keys/values. Cached segments of a
batch's rows are padded to a common length per level (masked out), new tokens are right-padded, and
the position ids count real tokens only, so results equal a plain forward of the concatenated ids.
Rows of different items share a batch. Only the verdict rows of the LM head are computed.

Fact judge. On data with structured facts, `fact_score` (answer correctness dominant, plus the share of
the suite's checked rationale claims that are true) and `fact_label` make a programmatic teacher whose
labels are symmetric by construction; `read_labels` reads an external judge's labels.

Training. `train_scorer` keeps only labels consistent under both orders, splits held-out items
deterministically, runs LoRA SFT (trl ``SFTTrainer``, pre-tokenised prompt + one verdict token, loss on
the verdict only) and reports held-out agreement before and after training.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.records import LETTERS, BenchmarkItem
from calibrate.artifacts import ItemLog
from calibrate.config import ScorerConfig
from calibrate.records import Candidate, CandidateSet, Judgement, PairVerdict

if TYPE_CHECKING:
    import torch

    from calibrate.models import LoadedModel

VERDICTS = ("A", "B", "Tie")
POINTWISE_WORDS = ("Yes", "No")
SMOLLM2_NAME = "smollm2-135m-instruct"
FACTS_BUDGET = 400
"""Characters of compact facts JSON shown as reference."""
RESPONSE_BUDGET = 800
"""Characters of a candidate response shown to the scorer."""
ANSWER_WEIGHT = 1.0
CLAIM_WEIGHT = 0.5
FACT_MARGIN = 0.05
_SPLIT = "<<<SRC-SPLIT>>>"
_DROP_FACT_KEYS = ("source", "license")

PAIRWISE_SYSTEM = (
    "You compare two responses to a question about an image. Judge the quality of each rationale and its "
    "factual consistency with the reference. Reply A if Response A is better, B if Response B is better, "
    "Tie if they are equally good."
)
POINTWISE_SYSTEM = (
    "You check a response to a question about an image against the reference. "
    "Is this response correct and well reasoned? Answer Yes or No."
)

Example = tuple[BenchmarkItem, Candidate, Candidate, str]
"""(item, candidate shown first, candidate shown second, label in VERDICTS)."""


class LabelError(ValueError):
    """A malformed label file line (the message names file and line)."""


# --------------------------------------------------------------------------- prompt pieces


def render_facts(facts: dict[str, Any], budget: int = FACTS_BUDGET) -> str:
    """Compact JSON of ``facts`` (provenance keys dropped), cut to ``budget`` characters."""
    shown = {k: v for k, v in facts.items() if k not in _DROP_FACT_KEYS}
    text = json.dumps(shown, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return text if len(text) <= budget else text[: budget - 3] + "..."


def reference_text(item: BenchmarkItem) -> str:
    """The user-message head: question, choices, gold answer and facts (ends with a newline)."""
    lines = [f"Question: {item.question.strip()}"]
    if item.choices:
        lines.append("Choices: " + "; ".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices)))
    answer = item.answer
    if item.answer_type == "multiple_choice" and item.choices and item.answer in LETTERS[: len(item.choices)]:
        answer = f"{item.answer} ({item.answer_text})"
    if answer:
        lines.append(f"Reference answer: {answer}")
    if item.facts:
        lines.append(f"Reference facts: {render_facts(item.facts)}")
    return "\n".join(lines) + "\n"


def _response(candidate: Candidate) -> str:
    text = candidate.text.strip()
    return text if len(text) <= RESPONSE_BUDGET else text[: RESPONSE_BUDGET - 3] + "..."


def select_pairs(candidate_ids: Sequence[int], cap: int | None = None) -> list[tuple[int, int]]:
    """Unordered pairs (a < b) of ``candidate_ids``; under a cap, nearest neighbours in id order first.

    Pairs are ordered by (distance in the sorted id list, position), so the first n - 1 pairs chain every
    candidate together before any longer-range pair is taken: deterministic and covering.
    """
    ids = sorted(candidate_ids)
    pairs = [(ids[i], ids[i + d]) for d in range(1, len(ids)) for i in range(len(ids) - d)]
    return pairs if cap is None else pairs[: max(0, cap)]


def _verdict_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """First token ids of " w" for each word (else of "w"); they must differ."""
    for space in (" ", ""):
        ids = [tokenizer.encode(space + w, add_special_tokens=False)[0] for w in words]
        if len(set(ids)) == len(ids):
            return ids
    raise ValueError(f"the scorer tokenizer gives no distinct first tokens for verdicts {list(words)}")


@dataclass
class _Node:
    """Cached keys/values of one token segment for one row: per layer [kv_heads, length, head_dim]."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int


# --------------------------------------------------------------------------- the scorer


class RScorer:
    """The R-Scorer over a loaded causal LM (`calibrate.models.LoadedModel` with a tokenizer)."""

    def __init__(self, loaded: LoadedModel, cfg: ScorerConfig) -> None:
        self.loaded = loaded
        self.cfg = cfg
        self.tokenizer = loaded.processor
        self.device = loaded.device
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id or 0
        self.verdict_ids = _verdict_ids(self.tokenizer, VERDICTS)
        self.pointwise_ids = _verdict_ids(self.tokenizer, POINTWISE_WORDS)
        self.forwards = 0
        self._post = self._assistant_suffix()
        self._token_memo: dict[str, list[int]] = {}
        self.set_model(loaded.model)

    @classmethod
    def from_config(cls, cfg: ScorerConfig, adapter: str | None = None, device: str = "auto") -> RScorer:
        """Load ``cfg.backbone`` (+ ``adapter`` or else ``cfg.adapter``, merged) through `load_model`."""
        from calibrate.models import load_model

        adapter = adapter if adapter is not None else cfg.adapter
        loaded = load_model(
            resolve_backbone(cfg.backbone),
            adapter=adapter,
            merge=adapter is not None,
            dtype=cfg.dtype,
            device=device,
        )
        return cls(loaded, cfg)

    def set_model(self, model: Any) -> None:
        """Use ``model`` (e.g. the PeftModel after training); picks the decoder + LM head fast path."""
        import torch

        self.model = model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = base.config.get_text_config() if hasattr(base.config, "get_text_config") else base.config
        head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
        plain_head = getattr(config, "final_logit_softcapping", None) is None and not hasattr(
            config, "logit_scale"
        )
        try:
            decoder = base.get_decoder()
        except (AttributeError, NotImplementedError):
            decoder = None
        fast = decoder is not None and isinstance(head, torch.nn.Linear) and plain_head
        self._decoder, self._head = (decoder, head) if fast else (None, None)
        self._cache_config = base.config
        forward = (self._decoder or model).forward
        params = inspect.signature(forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"

    # ------------------------------------------------------------------ prompt tokens

    def _assistant_suffix(self) -> str:
        """Rendered text between the end of the user content and the assistant's first token."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U" + _SPLIT}]
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return text.split(_SPLIT, 1)[1]
        return "\nAssistant: "

    def _prefix_text(self, item: BenchmarkItem, system: str) -> str:
        head = reference_text(item)
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": head + _SPLIT}]
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return text.split(_SPLIT, 1)[0]
        return f"{system}\n\nUser: {head}"

    def _segments(self, item: BenchmarkItem, first: Candidate, second: Candidate) -> tuple[str, str, str]:
        return (
            self._prefix_text(item, PAIRWISE_SYSTEM),
            f"Response A: {_response(first)}\n",
            f"Response B: {_response(second)}{self._post}Verdict:",
        )

    def _pointwise_segments(self, item: BenchmarkItem, cand: Candidate) -> tuple[str, str]:
        return self._prefix_text(item, POINTWISE_SYSTEM), f"Response: {_response(cand)}{self._post}Verdict:"

    def _ids(self, text: str) -> list[int]:
        ids = self._token_memo.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._token_memo) > 4096:
                self._token_memo.clear()
            self._token_memo[text] = ids
        return ids

    def prompt_text(self, item: BenchmarkItem, first: Candidate, second: Candidate) -> str:
        """The full pairwise prompt as one string (what a naive judge would tokenize)."""
        return "".join(self._segments(item, first, second))

    def pair_input_ids(self, item: BenchmarkItem, first: Candidate, second: Candidate) -> list[int]:
        """The token ids the scorer reads for (first, second): its segments tokenized and concatenated."""
        return [t for seg in self._segments(item, first, second) for t in self._ids(seg)]

    # ------------------------------------------------------------------ batched forward with cached segments

    def _run(
        self, chains: Sequence[tuple[_Node, ...]], new_ids: Sequence[list[int]], keep: bool
    ) -> tuple[torch.Tensor, list[_Node]]:
        """One forward of ``new_ids`` (right-padded) on top of each row's cached segment chain.

        Returns the last real token's hidden state (or full logits without the fast path) per row, and the
        new segments' keys/values per row when ``keep``.
        """
        import torch
        import torch.nn.functional as F
        from transformers import DynamicCache

        dev, rows, depth = self.device, len(new_ids), len(chains[0])
        cache: Any = None
        past_mask = torch.zeros(rows, 0, dtype=torch.long)
        offsets = torch.zeros(rows, dtype=torch.long)
        if depth:
            widths = [max(chain[level].length for chain in chains) for level in range(depth)]
            data = []
            for layer in range(len(chains[0][0].keys)):
                ks, vs = [], []
                for chain in chains:
                    pads = [w - node.length for node, w in zip(chain, widths)]
                    ks.append(torch.cat([F.pad(n.keys[layer], (0, 0, 0, p)) for n, p in zip(chain, pads)], 1))
                    vs.append(
                        torch.cat([F.pad(n.values[layer], (0, 0, 0, p)) for n, p in zip(chain, pads)], 1)
                    )
                data.append((torch.stack(ks), torch.stack(vs)))
            cache = DynamicCache(ddp_cache_data=data, config=self._cache_config)
            past_mask = torch.tensor(
                [
                    sum(([1] * n.length + [0] * (w - n.length) for n, w in zip(chain, widths)), [])
                    for chain in chains
                ]
            )
            offsets = torch.tensor([sum(n.length for n in chain) for chain in chains])
        elif keep:
            cache = DynamicCache(config=self._cache_config)
        lengths = torch.tensor([len(ids) for ids in new_ids])
        width = int(lengths.max())
        input_ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        for row, ids in enumerate(new_ids):
            input_ids[row, : len(ids)] = torch.tensor(ids)
        new_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        kwargs = {
            "input_ids": input_ids.to(dev),
            "attention_mask": torch.cat([past_mask, new_mask], 1).to(dev),
            "position_ids": (offsets[:, None] + torch.arange(width)[None, :]).to(dev),
            self._cache_kwarg: cache,
            "use_cache": cache is not None,
        }
        with torch.inference_mode():
            if self._decoder is not None:
                out = self._decoder(**kwargs)
                states = out.last_hidden_state
            else:
                out = self.model(**kwargs)
                states = out.logits
            self.forwards += 1
            last = states[torch.arange(rows, device=dev), (lengths - 1).to(dev)]
            nodes: list[_Node] = []
            if keep:
                past = past_mask.shape[1]
                layers = cache.layers  # updated in place by the forward
                for row, n in enumerate(lengths.tolist()):
                    nodes.append(
                        _Node(
                            [layer.keys[row, :, past : past + n].clone() for layer in layers],
                            [layer.values[row, :, past : past + n].clone() for layer in layers],
                            n,
                        )
                    )
        return last, nodes

    def _batched(
        self, chains: Sequence[tuple[_Node, ...]], new_ids: Sequence[list[int]], keep: bool
    ) -> tuple[list[torch.Tensor], list[_Node]]:
        """`_run` in batches of ``cfg.batch_size`` rows, grouped by similar length; results in input order."""
        order = sorted(range(len(new_ids)), key=lambda i: (len(new_ids[i]), sum(n.length for n in chains[i])))
        lasts: list[Any] = [None] * len(new_ids)
        nodes: list[Any] = [None] * len(new_ids)
        size = max(1, self.cfg.batch_size)
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            last, new = self._run([chains[i] for i in idx], [new_ids[i] for i in idx], keep)
            for j, i in enumerate(idx):
                lasts[i] = last[j]
                if keep:
                    nodes[i] = new[j]
        return lasts, nodes

    def _probs(self, lasts: Sequence[torch.Tensor], token_ids: Sequence[int]) -> list[list[float]]:
        import torch

        states = torch.stack(list(lasts))
        ids = torch.tensor(token_ids, device=states.device)
        if self._head is not None:
            weight = self._head.weight[ids]
            logits = states.to(weight.dtype) @ weight.T
            if self._head.bias is not None:
                logits = logits + self._head.bias[ids]
        else:
            logits = states[:, ids]
        return torch.softmax(logits.float(), dim=-1).cpu().tolist()

    def _prefix_nodes(self, prefixes: dict[str, str]) -> dict[str, _Node]:
        keys = list(prefixes)
        _, nodes = self._batched([()] * len(keys), [self._ids(prefixes[k]) for k in keys], keep=True)
        return dict(zip(keys, nodes))

    def score_pairs(self, tasks: Sequence[tuple[BenchmarkItem, Candidate, Candidate]]) -> list[list[float]]:
        """[P(A), P(B), P(Tie)] for each (item, first shown, second shown), with shared-segment KV reuse."""
        if not tasks:
            return []
        segments = [self._segments(item, first, second) for item, first, second in tasks]
        prefixes = {item.id: seg[0] for (item, _, _), seg in zip(tasks, segments)}
        prefix_nodes = self._prefix_nodes(prefixes)
        first_keys = list(dict.fromkeys((item.id, seg[1]) for (item, _, _), seg in zip(tasks, segments)))
        _, first_list = self._batched(
            [(prefix_nodes[iid],) for iid, _ in first_keys], [self._ids(text) for _, text in first_keys], True
        )
        first_nodes = dict(zip(first_keys, first_list))
        chains = [
            (prefix_nodes[item.id], first_nodes[(item.id, seg[1])])
            for (item, _, _), seg in zip(tasks, segments)
        ]
        lasts, _ = self._batched(chains, [self._ids(seg[2]) for seg in segments], keep=False)
        return self._probs(lasts, self.verdict_ids)

    def score_pointwise(self, tasks: Sequence[tuple[BenchmarkItem, Candidate]]) -> list[float]:
        """P(Yes) (vs No) that each (item, candidate) response is correct and well reasoned."""
        if not tasks:
            return []
        segments = [self._pointwise_segments(item, cand) for item, cand in tasks]
        prefix_nodes = self._prefix_nodes({item.id: seg[0] for (item, _), seg in zip(tasks, segments)})
        chains = [(prefix_nodes[item.id],) for item, _ in tasks]
        lasts, _ = self._batched(chains, [self._ids(seg[1]) for seg in segments], keep=False)
        return [p[0] for p in self._probs(lasts, self.pointwise_ids)]

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float | None]:
        """Agreement (argmax verdict, first shown = A, equals the label) and mean -log P(label)."""
        if not examples:
            return {"agreement": None, "nll": None}
        probs = self.score_pairs([(item, a, b) for item, a, b, _ in examples])
        hits, nll = 0, 0.0
        for p, (*_, label) in zip(probs, examples):
            k = VERDICTS.index(label)
            hits += max(range(3), key=p.__getitem__) == k
            nll -= math.log(max(p[k], 1e-12))
        return {"agreement": hits / len(examples), "nll": nll / len(examples)}

    # ------------------------------------------------------------------ judging a pool

    def _judge_group(self, group: Sequence[tuple[BenchmarkItem, list[Candidate]]]) -> list[Judgement]:
        pairs = {
            item.id: select_pairs([c.candidate_id for c in cands], self.cfg.max_pairs_per_item)
            for item, cands in group
        }
        if self.cfg.mode == "pointwise":
            tasks = [(item, c) for item, cands in group for c in cands]
            scores = self.score_pointwise(tasks)
            out, pos = [], 0
            for item, cands in group:
                point = {str(c.candidate_id): round(scores[pos + i], 6) for i, c in enumerate(cands)}
                pos += len(cands)
                verdicts = []
                for a, b in pairs[item.id]:
                    sa, sb = point[str(a)], point[str(b)]
                    total = sa + sb
                    p_ab = [round(sa / total, 6), round(sb / total, 6), 0.0] if total > 0 else [0.5, 0.5, 0.0]
                    verdicts.append(PairVerdict(a, b, p_ab))
                out.append(Judgement(item.id, "pointwise", verdicts, pointwise=point))
            return out
        tasks = []
        for item, cands in group:
            by_id = {c.candidate_id: c for c in cands}
            for a, b in pairs[item.id]:
                tasks.append((item, by_id[a], by_id[b]))
                if self.cfg.both_orders:
                    tasks.append((item, by_id[b], by_id[a]))
        probs = iter([[round(x, 6) for x in p] for p in self.score_pairs(tasks)])
        out = []
        for item, _ in group:
            verdicts = []
            for a, b in pairs[item.id]:
                p_ab = next(probs)
                p_ba = next(probs) if self.cfg.both_orders else []
                verdicts.append(PairVerdict(a, b, p_ab, p_ba))
            out.append(Judgement(item.id, "pairwise", verdicts))
        return out

    def judge(
        self,
        items: Sequence[BenchmarkItem],
        candidate_sets: Iterable[CandidateSet],
        out_path: str | Path,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Judge every item with >= 2 candidates into ``out_path`` (JSONL of `Judgement`; resumable).

        Items already in the log are skipped; the file is rewritten in item order at the end. Summary:
        items, new_items, pairs (unordered, this run), ordered_pairs, forwards, seconds, pairs_per_s (scored
        orderings per second: ordered pairs, or candidates in pointwise mode), mean_tie_mass and
        position_bias (mean P(first shown wins)) over all logged judgements.
        """
        started = time.perf_counter()
        sets = {cs.item_id: cs for cs in candidate_sets}
        todo = [it for it in items if it.id in sets and len(sets[it.id].candidates) >= 2]
        log = ItemLog(out_path)
        pending = [it for it in todo if it.id not in log]
        forwards0 = self.forwards
        pairs = ordered = scored = 0
        group: list[tuple[BenchmarkItem, list[Candidate]]] = []
        weight, target = 0, 4 * max(1, self.cfg.batch_size)
        done = len(todo) - len(pending)

        def flush() -> None:
            nonlocal pairs, ordered, scored, done
            judgements = self._judge_group(group)
            log.append(j.to_dict() for j in judgements)
            for (_, cands), j in zip(group, judgements):
                pairs += len(j.verdicts)
                ordered += sum(1 + bool(v.p_ba) for v in j.verdicts)
                scored += len(cands) if j.mode == "pointwise" else sum(1 + bool(v.p_ba) for v in j.verdicts)
            done += len(group)
            group.clear()
            if progress is not None:
                progress(f"judge: {done}/{len(todo)} items")

        for item in pending:
            cands = sorted(sets[item.id].candidates, key=lambda c: c.candidate_id)
            group.append((item, cands))
            weight += len(cands) * (len(cands) - 1)
            if weight >= target:
                flush()
                weight = 0
        if group:
            flush()
        log.rewrite_ordered([it.id for it in todo])
        seconds = time.perf_counter() - started
        firsts, ties = [], []
        for record in log.ordered([it.id for it in todo]):
            for v in record["verdicts"]:
                for p in (v["p_ab"], v["p_ba"]):
                    if p and record["mode"] == "pairwise":
                        firsts.append(p[0])
                        ties.append(p[2])
        return {
            "mode": self.cfg.mode,
            "items": len(todo),
            "new_items": len(pending),
            "pairs": pairs,
            "ordered_pairs": ordered,
            "forwards": self.forwards - forwards0,
            "seconds": round(seconds, 3),
            "pairs_per_s": round(scored / seconds, 3) if scored and seconds > 0 else 0.0,
            "mean_tie_mass": round(sum(ties) / len(ties), 6) if ties else 0.0,
            "position_bias": round(sum(firsts) / len(firsts), 6) if firsts else None,
        }


def resolve_backbone(backbone: str) -> str:
    """Zoo names (``smollm2-135m-instruct``, ``srcal-micro-lm``, ...) -> their directories; ids unchanged."""
    from calibrate.zoo.names import resolve_model

    return resolve_model(backbone)


# --------------------------------------------------------------------------- the fact judge


def _is_correct(item: BenchmarkItem, candidate: Candidate) -> bool:
    if candidate.correct is not None:
        return bool(candidate.correct)
    if not item.answer:
        return False
    from benchmarks.scoring import answers_match

    try:
        return answers_match(candidate.final_answer, item.answer, item.answer_type, item.choices)
    except ValueError:
        return False


def claim_share(item: BenchmarkItem, candidate: Candidate) -> float:
    """Share of the suite's checked claims in the rationale that the facts support (0 without claims)."""
    from benchmarks.registry import SUITES

    if not item.facts or item.suite not in SUITES:
        return 0.0
    checks = SUITES.get(item.suite).check_rationale(candidate.rationale or candidate.text, item.facts)
    return sum(c.true for c in checks) / len(checks) if checks else 0.0


def fact_score(item: BenchmarkItem, candidate: Candidate) -> float:
    """ANSWER_WEIGHT x correct + CLAIM_WEIGHT x share of true checked claims (correctness dominates)."""
    return ANSWER_WEIGHT * _is_correct(item, candidate) + CLAIM_WEIGHT * claim_share(item, candidate)


def fact_label(item: BenchmarkItem, a: Candidate, b: Candidate, margin: float = FACT_MARGIN) -> str:
    """ "A" if ``a`` (shown first) scores more than ``margin`` above ``b``, "B" if below, else "Tie"."""
    diff = fact_score(item, a) - fact_score(item, b)
    return "A" if diff > margin else "B" if diff < -margin else "Tie"


def _mirror(label: str) -> str:
    return {"A": "B", "B": "A"}.get(label, label)


def fact_examples(
    items: Sequence[BenchmarkItem],
    candidate_sets: Iterable[CandidateSet],
    max_pairs_per_item: int | None = None,
    margin: float = FACT_MARGIN,
) -> list[Example]:
    """Both orders of each selected pair, labelled by `fact_label`."""
    sets = {cs.item_id: cs for cs in candidate_sets}
    out: list[Example] = []
    for item in items:
        cands = {c.candidate_id: c for c in sets[item.id].candidates} if item.id in sets else {}
        for a, b in select_pairs(list(cands), max_pairs_per_item):
            out.append((item, cands[a], cands[b], fact_label(item, cands[a], cands[b], margin)))
            out.append((item, cands[b], cands[a], fact_label(item, cands[b], cands[a], margin)))
    return out


# --------------------------------------------------------------------------- external labels


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL of ``{item_id, a, b, verdict}`` (verdict A/B/Tie, ``a`` shown first); errors name file:line."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise LabelError(f"{where}: invalid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise LabelError(f"{where}: expected a JSON object")
            for key in ("item_id", "a", "b", "verdict"):
                if key not in record:
                    raise LabelError(f"{where}: missing field {key!r}")
            if not isinstance(record["item_id"], str) or not record["item_id"]:
                raise LabelError(f"{where}: item_id must be a non-empty string")
            for key in ("a", "b"):
                if not isinstance(record[key], int) or isinstance(record[key], bool) or record[key] < 0:
                    raise LabelError(f"{where}: {key} must be a candidate id (int >= 0), got {record[key]!r}")
            if record["a"] == record["b"]:
                raise LabelError(f"{where}: a and b are the same candidate ({record['a']})")
            verdict = {v.lower(): v for v in VERDICTS}.get(str(record["verdict"]).strip().lower())
            if verdict is None:
                raise LabelError(f"{where}: verdict must be one of A, B, Tie, got {record['verdict']!r}")
            out.append({"item_id": record["item_id"], "a": record["a"], "b": record["b"], "verdict": verdict})
    return out


def label_examples(
    items: Sequence[BenchmarkItem], candidate_sets: Iterable[CandidateSet], labels: Sequence[dict[str, Any]]
) -> list[Example]:
    """Examples from `read_labels` records; unknown items or candidate ids raise `LabelError`."""
    by_item = {it.id: it for it in items}
    sets = {cs.item_id: {c.candidate_id: c for c in cs.candidates} for cs in candidate_sets}
    out: list[Example] = []
    for label in labels:
        iid = label["item_id"]
        if iid not in by_item or iid not in sets:
            raise LabelError(f"label for unknown item {iid!r} (no item or candidate set)")
        cands = sets[iid]
        for key in ("a", "b"):
            if label[key] not in cands:
                raise LabelError(f"label for item {iid!r}: unknown candidate id {label[key]}")
        out.append((by_item[iid], cands[label["a"]], cands[label["b"]], label["verdict"]))
    return out


def consistent_examples(examples: Sequence[Example]) -> tuple[list[Example], int]:
    """Keep labels that agree under both orders; returns (kept, dropped).

    A pair labelled in both orders is kept only when label(b, a) mirrors label(a, b) (every copy agreeing);
    a pair labelled in one order only is kept and its mirror added, so training always sees both orders.
    """
    groups: dict[tuple[str, int, int], list[Example]] = {}
    for ex in examples:
        item, a, b, _ = ex
        key = (item.id, min(a.candidate_id, b.candidate_id), max(a.candidate_id, b.candidate_id))
        groups.setdefault(key, []).append(ex)
    kept: list[Example] = []
    dropped = 0
    for (_, lo, _), group in groups.items():
        canon = {ex[3] if ex[1].candidate_id == lo else _mirror(ex[3]) for ex in group}
        orders = {ex[1].candidate_id == lo for ex in group}
        if len(canon) != 1:
            dropped += len(group)
            continue
        kept.extend(group)
        if len(orders) == 1:
            item, a, b, label = group[0]
            kept.append((item, b, a, _mirror(label)))
    return kept, dropped


def split_heldout(
    examples: Sequence[Example], seed: int, fraction: float = 0.2
) -> tuple[list[Example], list[Example]]:
    """Deterministic split by item: the ceil(fraction x items) items with the smallest seeded hash are held out."""
    ids = sorted(
        {ex[0].id for ex in examples}, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
    )
    n_held = min(len(ids) - 1, math.ceil(fraction * len(ids))) if fraction > 0 and len(ids) > 1 else 0
    held = set(ids[:n_held])
    return [ex for ex in examples if ex[0].id not in held], [ex for ex in examples if ex[0].id in held]


# --------------------------------------------------------------------------- training


def balance_labels(examples: Sequence[Example], seed: int) -> list[Example]:
    """Downsample every verdict class to the size of the largest minority class (deterministic).

    Fact labels on similar candidates are mostly "Tie"; trained on them as they come, a small
    scorer learns to answer "Tie" everywhere and never separates candidates.
    """
    import random

    by_label: dict[str, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example[3], []).append(example)
    if len(by_label) < 2:
        return list(examples)
    sizes = sorted(len(v) for v in by_label.values())
    cap = sizes[-2]  # the second-largest class: only the majority is cut
    rng = random.Random(f"balance/{seed}")
    keep: set[int] = set()
    for group in by_label.values():
        chosen = group if len(group) <= cap else rng.sample(group, cap)
        keep.update(id(e) for e in chosen)
    return [e for e in examples if id(e) in keep]


def train_scorer(
    cfg: ScorerConfig,
    examples: Sequence[Example],
    out_dir: str | Path,
    seed: int,
    heldout_fraction: float = 0.2,
    device: str = "auto",
    batch_size: int = 8,
    loaded: LoadedModel | None = None,
) -> dict[str, Any]:
    """LoRA SFT of the R-Scorer on pairwise labels; saves the adapter to ``out_dir`` and returns a summary.

    Starts from ``cfg.backbone`` (``cfg.adapter`` is not applied: a fresh adapter is trained). The summary
    holds the label counts, the split sizes, the training loss, and held-out agreement and NLL of the label
    before/after. ``loaded`` reuses an already loaded fp32/bf16 backbone (LoRA is injected into it in place).
    """
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from calibrate.models import ModelLoadError, default_lora_targets, load_model, save_adapter

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kept, dropped = consistent_examples(examples)
    if not kept:
        raise ValueError("no training labels left after the both-orders consistency filter")
    train, held = split_heldout(kept, seed, heldout_fraction)
    if cfg.balance_labels:
        train = balance_labels(train, seed)
    set_seed(seed)
    if loaded is None:
        loaded = load_model(resolve_backbone(cfg.backbone), dtype=cfg.dtype, device=device)
    scorer = RScorer(loaded, cfg)
    before = scorer.evaluate(held)
    rows = []
    for item, a, b, label in train:
        ids = scorer.pair_input_ids(item, a, b)
        verdict = scorer.verdict_ids[VERDICTS.index(label)]
        rows.append({"input_ids": [*ids, verdict], "labels": [-100] * len(ids) + [verdict]})
    args = SFTConfig(
        output_dir=str(out / "trainer"),
        max_steps=cfg.train_steps,
        per_device_train_batch_size=min(batch_size, len(rows)),
        learning_rate=cfg.train_learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        save_strategy="no",
        report_to=[],
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        use_cpu=loaded.device.type == "cpu",
        bf16=loaded.dtype == torch.bfloat16 and loaded.device.type == "cuda",
        max_length=None,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
    )
    peft_cfg = LoraConfig(
        r=cfg.train_lora_r,
        lora_alpha=2 * cfg.train_lora_r,
        lora_dropout=0.0,
        target_modules=default_lora_targets(loaded.model),
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=loaded.model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=scorer.tokenizer,
        peft_config=peft_cfg,
    )
    result = trainer.train()
    model = trainer.model.eval()
    scorer.set_model(model)
    after = scorer.evaluate(held)
    try:
        save_adapter(model, out, loaded)
    except ModelLoadError:  # base without local weight files: no srcal_adapter.json
        model.save_pretrained(str(out), safe_serialization=True)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    counts = {v: sum(ex[3] == v for ex in kept) for v in VERDICTS}
    summary = {
        "examples": len(examples),
        "kept": len(kept),
        "dropped_inconsistent": dropped,
        "label_counts": counts,
        "train": len(train),
        "heldout": len(held),
        "heldout_items": len({ex[0].id for ex in held}),
        "steps": cfg.train_steps,
        "train_loss": round(float(result.training_loss), 6),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "agreement_before": before["agreement"],
        "agreement_after": after["agreement"],
        "heldout_nll_before": before["nll"],
        "heldout_nll_after": after["nll"],
        "seconds": round(time.perf_counter() - started, 2),
        "adapter": str(out),
    }
    (out / "scorer_train.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def agreement_with_facts(
    items: Sequence[BenchmarkItem], candidate_sets: Iterable[CandidateSet], judgements: Iterable[Judgement]
) -> dict[str, Any]:
    """How often the R-Scorer's order-debiased verdict matches the fact judge on the same pairs.

    The verdict of pair (a, b) is the argmax of (w_ab, w_ba, tie) with both orders averaged;
    agreement counts exact matches of A / B / Tie; ``decisive_agreement`` only pairs where
    the fact judge is not a tie.
    """
    by_item = {i.id: i for i in items}
    cands = {cs.item_id: {c.candidate_id: c for c in cs.candidates} for cs in candidate_sets}
    total = agree = decisive = decisive_agree = 0
    for judgement in judgements:
        item = by_item.get(judgement.item_id)
        if item is None:
            continue
        for v in judgement.verdicts:
            a, b = cands[judgement.item_id][v.a], cands[judgement.item_id][v.b]
            if v.p_ba:
                probs = [
                    (v.p_ab[0] + v.p_ba[1]) / 2,
                    (v.p_ab[1] + v.p_ba[0]) / 2,
                    (v.p_ab[2] + v.p_ba[2]) / 2,
                ]
            else:
                probs = list(v.p_ab)
            predicted = "ABT"[max(range(3), key=lambda k: probs[k])]
            truth = fact_label(item, a, b)[0]
            total += 1
            agree += predicted == truth
            if truth != "T":
                decisive += 1
                decisive_agree += predicted == truth
    return {
        "fact_agreement": round(agree / total, 4) if total else None,
        "fact_decisive_agreement": round(decisive_agree / decisive, 4) if decisive else None,
        "fact_pairs": total,
    }
