"""Stage 3 for ``src``, the R-Scorer (inference): a causal LM that compares two candidate responses and emits
A, B or Tie.

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

On a pool. `RScorer.verdicts` scores every item's pairs into a resumable JSONL of
`calibrate.records.CandidateScores`; `RScorerVerdicts` is ``src``'s entry in `calibrate.verdicts.SCORERS`
(the verdicts stage of the loop).

Labels (fact labels, external label files) live in `calibrate.scorer.labels`, training in
`calibrate.scorer.train`.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.records import LETTERS, BenchmarkItem
from calibrate.artifacts import ItemLog
from calibrate.config import ScorerConfig
from calibrate.records import Candidate, CandidateScores, CandidateSet, PairVerdict
from calibrate.verdicts import CandidateScorer

if TYPE_CHECKING:
    import torch

    from calibrate.models import LoadedModel
    from calibrate.scorer.labels import LabelledPair

METHOD = "src"
"""The method whose candidate scorer the R-Scorer is (`CandidateScores.method`)."""
VERDICTS = ("A", "B", "Tie")
"""The pairwise verdict words, in the order of the probability vectors: Response A wins, B wins, tie."""
POINTWISE_WORDS = ("Yes", "No")
FACT_JUDGE_FIELDS = ("kind", "mode", "both_orders", "max_pairs_per_item")
"""The `ScorerConfig` fields the fact judge (``kind: facts``) reads: all its verdicts stage's hash covers."""
SMOLLM2_NAME = "smollm2-135m-instruct"
FACTS_BUDGET = 400
"""Characters of compact facts JSON shown as reference."""
RESPONSE_BUDGET = 800
"""Characters of a candidate response shown to the scorer."""
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

# --------------------------------------------------------------------------- prompt pieces


def _compact(value: Any) -> str:
    """A fact value in few characters: mappings as ``key: value``, records of a list by their values."""
    if isinstance(value, dict):
        return ", ".join(
            f"{k}: {_compact(v) if not isinstance(v, dict) else f'({_compact(v)})'}" for k, v in value.items()
        )
    if isinstance(value, list):
        if value and all(
            isinstance(x, dict) for x in value
        ):  # e.g. scene objects: "square yellow small x=95 y=33"
            return "; ".join(
                " ".join(str(v) if isinstance(v, str) else f"{k}={_compact(v)}" for k, v in x.items())
                for x in value
            )
        return ", ".join(_compact(x) for x in value)
    return str(value)


def render_facts(facts: dict[str, Any], budget: int = FACTS_BUDGET) -> str:
    """``facts`` in compact text (provenance keys dropped), cut to ``budget`` characters.

    Compact: a built-in scene's five objects take ~170 characters where JSON took ~340, so no item of
    the built-in suites is cut at the budget (JSON cut 19% of scenes items).
    """
    shown = {k: v for k, v in facts.items() if k not in _DROP_FACT_KEYS}
    text = _compact(shown)
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


def response_a(candidate: Candidate) -> str:
    """The first shown response's line of the pairwise prompt."""
    return f"Response A: {_response(candidate)}\n"


def response_b(candidate: Candidate) -> str:
    """The second shown response of the pairwise prompt (the assistant turn follows it)."""
    return f"Response B: {_response(candidate)}"


def pairwise_messages(item: BenchmarkItem, first: Candidate, second: Candidate) -> list[dict[str, str]]:
    """The R-Scorer's pairwise prompt as chat messages: what a served judge is asked (`calibrate.teacher`).

    The same system message and user content the scorer's chat template renders (`RScorer.prompt_text`);
    the scorer then reads its verdict after ``Verdict:``, a served judge replies with it.
    """
    user = reference_text(item) + response_a(first) + response_b(second)
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]


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
            response_a(first),
            f"{response_b(second)}{self._post}Verdict:",
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
        """The full pairwise prompt as one string (what a naive scorer would tokenize)."""
        return "".join(self._segments(item, first, second))

    def pair_input_ids(self, item: BenchmarkItem, first: Candidate, second: Candidate) -> list[int]:
        """The token ids the scorer reads for (first, second): its segments tokenized and concatenated."""
        return [t for seg in self._segments(item, first, second) for t in self._ids(seg)]

    def pointwise_input_ids(self, item: BenchmarkItem, cand: Candidate) -> list[int]:
        """The token ids the pointwise scorer reads for one candidate (what `score_pointwise` reads)."""
        return [t for seg in self._pointwise_segments(item, cand) for t in self._ids(seg)]

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

    def evaluate(self, examples: Sequence[LabelledPair]) -> dict[str, float | None]:
        """Agreement (argmax verdict, first shown = A, equals the label), the same over decisive (not Tie)
        labels only, and mean -log P(label).

        Pointwise mode reads the verdict as the stage does: [P(a good), P(b good)] normalised, no Tie.
        """
        if not examples:
            return {"agreement": None, "decisive_agreement": None, "nll": None}
        if self.cfg.mode == "pointwise":
            good = self.score_pointwise([(ex.item, c) for ex in examples for c in (ex.a, ex.b)])
            probs = []
            for k in range(len(examples)):
                sa, sb = good[2 * k], good[2 * k + 1]
                probs.append([sa / (sa + sb), sb / (sa + sb), 0.0] if sa + sb > 0 else [0.5, 0.5, 0.0])
        else:
            probs = self.score_pairs([ex.shown for ex in examples])
        hits, decisive, decisive_hits, nll = 0, 0, 0, 0.0
        for p, ex in zip(probs, examples):
            k = VERDICTS.index(ex.verdict)
            hit = max(range(3), key=p.__getitem__) == k
            hits += hit
            if ex.verdict != "Tie":
                decisive += 1
                decisive_hits += hit
            nll -= math.log(max(p[k], 1e-12))
        return {
            "agreement": hits / len(examples),
            "decisive_agreement": decisive_hits / decisive if decisive else None,
            "nll": nll / len(examples),
        }

    # ------------------------------------------------------------------ verdicts on a pool

    def _score_group(self, group: Sequence[tuple[BenchmarkItem, list[Candidate]]]) -> list[CandidateScores]:
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
                out.append(CandidateScores(item.id, METHOD, "pointwise", verdicts, pointwise=point))
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
            out.append(CandidateScores(item.id, METHOD, "pairwise", verdicts))
        return out

    def verdicts(
        self,
        items: Sequence[BenchmarkItem],
        candidate_sets: Iterable[CandidateSet],
        out_path: str | Path,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Verdicts on every item with >= 2 candidates into ``out_path`` (JSONL of `CandidateScores`; resumable).

        Items already in the log are skipped; the file is rewritten in item order at the end. Summary:
        items, new_items, pairs (unordered, this run), ordered_pairs, forwards, seconds, pairs_per_s (scored
        orderings per second: ordered pairs, or candidates in pointwise mode), mean_tie_mass and
        position_bias (mean P(first shown wins)) over all logged records.
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
            records = self._score_group(group)
            log.append(r.to_dict() for r in records)
            for (_, cands), rec in zip(group, records):
                pairs += len(rec.verdicts)
                ordered += sum(1 + bool(v.p_ba) for v in rec.verdicts)
                scored += (
                    len(cands) if rec.mode == "pointwise" else sum(1 + bool(v.p_ba) for v in rec.verdicts)
                )
            done += len(group)
            group.clear()
            if progress is not None:
                progress(f"verdicts: {done}/{len(todo)} items")

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


class RScorerVerdicts(CandidateScorer):
    """``src``'s candidate scorer (`calibrate.verdicts.SCORERS`): the trained R-Scorer's verdicts on pairs.

    With ``scorer.kind: facts`` the fact judge gives the verdicts instead (an oracle upper bound;
    `calibrate.scorer.labels.fact_verdicts`).

    Its summary adds how often the order-debiased verdicts agree with fact labels on the same pairs.
    """

    method = METHOD

    def config(self) -> dict[str, Any]:
        scorer = asdict(self.job.cfg.scorer)
        if self.job.cfg.scorer.kind == "facts":  # the fact judge reads these only, never the learned scorer's
            return {name: scorer[name] for name in FACT_JUDGE_FIELDS}
        return scorer

    def inputs(self) -> dict[str, str]:
        if self.job.cfg.scorer.kind == "facts":
            return {"scorer": "facts"}
        return {"scorer": self.job.scorer.hash if self.job.scorer else ""}

    def score(self, items: Sequence[BenchmarkItem], out: Path) -> dict[str, Any]:
        if self.job.cfg.scorer.kind == "facts":
            from calibrate.scorer.labels import fact_verdicts

            return fact_verdicts(items, self.job.candidate_sets, self.job.cfg.scorer, out)
        adapter = str(self.job.scorer.path) if self.job.scorer else None
        rscorer = RScorer.from_config(self.job.cfg.scorer, adapter=adapter)
        return rscorer.verdicts(items, self.job.candidate_sets, out, progress=self.job.progress)

    def summarize(self, records: list[CandidateScores]) -> dict[str, Any]:
        from calibrate.scorer.labels import agreement_with_facts

        return agreement_with_facts(self.job.items, self.job.candidate_sets, records)


def resolve_backbone(backbone: str) -> str:
    """Zoo names (``smollm2-135m-instruct``, ``srcal-micro-lm``, ...) -> their directories; ids unchanged."""
    from calibrate.zoo.names import resolve_model

    return resolve_model(backbone)
