"""R-Scorer throughput: `RScorer.verdicts` (shared-segment KV reuse, batched) vs a naive scorer (``tox -e bench``).

Real SmolLM2-135M-Instruct backbone, fp32, 2 items x 6 candidates (~60-token responses), all 30 ordered
pairs per item (60). The naive scorer tokenizes each ordered pair's full prompt and calls
``generate(max_new_tokens=1)`` on it alone; both read the verdict probabilities of the same tokens.
Both sides timed over the same 3 rounds, interleaved (:mod:`tests.bench.sides`), medians compared.
Reported: ordered pairs/s of each, the ratio, and argmax agreement (asserted >= 0.99, with the same
tokenization of every prompt). Target (docs/performance.md): >= 3x.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from benchmarks.parsing import parse_response
from benchmarks.records import LETTERS, BenchmarkItem, read_items
from benchmarks.scoring import answers_match
from calibrate.config import ScorerConfig
from calibrate.records import Candidate, CandidateScores, CandidateSet
from calibrate.scorer.model import RScorer
from tests.bench.sides import side_by_side

N_ITEMS, N_CANDS, CAND_TOKENS = 2, 6, 60
TARGET = 3.0
FILLER = (
    "I look at the image carefully and check each part of the question before answering. "
    "The picture is clear and every object in it can be seen. "
)


def _wrong(item: BenchmarkItem) -> str:
    if item.answer_type == "multiple_choice":
        return next(x for x in LETTERS[: len(item.choices or [])] if x != item.answer)
    if item.answer_type == "yes_no":
        return "no" if item.answer == "yes" else "yes"
    if item.answer_type in ("integer", "float"):
        return str(int(float(item.answer)) + 2)
    return "unknown"


def _candidates(item: BenchmarkItem, tokenizer) -> CandidateSet:
    """Six variations of the gold rationale, each clipped/padded to about CAND_TOKENS tokens."""
    body = item.rationale.rsplit("Answer:", 1)[0].strip()
    bumped = re.sub(r"\d+", lambda m: str(int(m.group()) + 5), body, count=2)
    variants = [
        (body, item.answer),
        (body, _wrong(item)),
        (bumped, item.answer),
        ("Looking at the image. " + body, item.answer),
        (bumped, _wrong(item)),
        ("The question is easy. " + " ".join(body.split()[: len(body.split()) // 2]), item.answer),
    ]
    cands = []
    for cid, (text, answer) in enumerate(variants[:N_CANDS]):
        ids = tokenizer(FILLER + text, add_special_tokens=False)["input_ids"][-(CAND_TOKENS - 5) :]
        full = tokenizer.decode(ids).strip() + f"\nAnswer: {answer}"
        parsed = parse_response(full, item.answer_type, item.choices)
        correct = answers_match(parsed.final_answer, item.answer, item.answer_type, item.choices)
        cands.append(
            Candidate(
                cid, full, parsed.rationale, parsed.final_answer, parsed.parse_status, correct, -1.0, 60
            )
        )
    return CandidateSet(item.id, cands)


def test_scorer_pairs_per_s(benchmark, smoke_dataset: Path, tmp_path: Path) -> None:
    from calibrate.zoo.parts import smollm2_dir

    cfg = ScorerConfig(backbone=str(smollm2_dir()), dtype="fp32", batch_size=16, both_orders=True)
    scorer = RScorer.from_config(cfg, device="cpu")
    model, tok = scorer.model, scorer.tokenizer
    pool = read_items(smoke_dataset / "calib.jsonl")
    items = [next(it for it in pool if it.suite == s) for s in dict.fromkeys(it.suite for it in pool)][
        :N_ITEMS
    ]
    items += [it for it in pool if it not in items][: N_ITEMS - len(items)]
    sets = [_candidates(it, tok) for it in items]
    by_id = {cs.item_id: {c.candidate_id: c for c in cs.candidates} for cs in sets}
    ordered = [(it, a, b) for it in items for a in range(N_CANDS) for b in range(N_CANDS) if a != b]

    vids = torch.tensor(scorer.verdict_ids)

    def naive_scorer() -> dict[tuple[str, int, int], list[float]]:
        """One generate per ordered pair on its full prompt text."""
        probs = {}
        for it, a, b in ordered:
            first, second = by_id[it.id][a], by_id[it.id][b]
            enc = tok(scorer.prompt_text(it, first, second), return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=1,
                    do_sample=False,
                    output_logits=True,
                    return_dict_in_generate=True,
                    pad_token_id=scorer.pad_id,
                )
            probs[(it.id, a, b)] = torch.softmax(out.logits[0][0, vids].float(), -1).tolist()
        return probs

    same_tokens = sum(
        tok(scorer.prompt_text(it, by_id[it.id][a], by_id[it.id][b]), add_special_tokens=False)["input_ids"]
        == scorer.pair_input_ids(it, by_id[it.id][a], by_id[it.id][b])
        for it, a, b in ordered
    )
    out_path = tmp_path / "verdicts.jsonl"

    def run() -> dict[tuple[str, int, int], list[float]]:
        out_path.unlink(missing_ok=True)
        summary = scorer.verdicts(items, sets, out_path)
        assert summary["ordered_pairs"] == len(ordered)
        probs = {}
        for line in out_path.read_text().splitlines():
            j = CandidateScores.from_dict(json.loads(line))
            for v in j.verdicts:
                probs[(j.item_id, v.a, v.b)] = v.p_ab
                probs[(j.item_id, v.b, v.a)] = v.p_ba
        return probs

    sides = side_by_side(benchmark, run, {"naive": naive_scorer})
    naive, ours = sides.outputs["naive"][-1], sides.outputs["ours"][-1]
    assert set(ours) == set(naive)
    agree = sum(
        max(range(3), key=ours[k].__getitem__) == max(range(3), key=naive[k].__getitem__) for k in naive
    )
    max_diff = max(abs(x - y) for k in naive for x, y in zip(ours[k], naive[k]))
    naive_rate = len(ordered) / sides.median("naive")
    ours_rate = len(ordered) / sides.median("ours")
    info = {
        "ordered_pairs": len(ordered),
        "naive_pairs_per_s": round(naive_rate, 3),
        "ours_pairs_per_s": round(ours_rate, 3),
        "ratio": round(ours_rate / naive_rate, 3),
        "argmax_agreement": round(agree / len(naive), 4),
        "max_abs_prob_diff": round(max_diff, 6),
        "same_tokenization": round(same_tokens / len(ordered), 4),
        "mean_prompt_tokens": round(
            sum(len(scorer.pair_input_ids(it, by_id[it.id][a], by_id[it.id][b])) for it, a, b in ordered)
            / len(ordered),
            1,
        ),
    }
    benchmark.extra_info.update(**info, **sides.info())
    print("\nR-Scorer bench (fp32, cpu):", info)
    assert info["same_tokenization"] == 1.0
    assert info["argmax_agreement"] >= 0.99
    assert info["ratio"] >= TARGET, (
        f"RScorer.verdicts scores {info['ratio']:.2f}x the naive scorer's ordered pairs/s; "
        f"docs/performance.md targets >= {TARGET}x"
    )
