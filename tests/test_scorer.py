"""R-Scorer: verdict probabilities, KV reuse equals a plain forward, pointwise mode, fact labels, training,
resume and label files. Uses a tiny random Llama with the micro tokenizer (no SmolLM2)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from benchmarks.parsing import parse_response
from benchmarks.records import LETTERS, BenchmarkItem, read_items
from benchmarks.scoring import answers_match
from calibrate.config import ScorerConfig
from calibrate.records import Candidate, CandidateScores, CandidateSet
from calibrate.scorer.labels import (
    LabelError,
    LabelledPair,
    claim_share,
    consistent_examples,
    fact_examples,
    fact_label,
    fact_score,
    read_labels,
)
from calibrate.scorer.model import RScorer, select_pairs
from calibrate.scorer.train import train_scorer


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tiny model's ops are too small for two threads (and another process may hold the second core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from calibrate.zoo.tokenizer import build_micro_tokenizer

    out = tmp_path_factory.mktemp("tiny-scorer")
    tok = build_micro_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _scorer(tiny_dir: Path, **kw) -> RScorer:
    from calibrate.models import load_model

    cfg = ScorerConfig(backbone=str(tiny_dir), dtype="fp32", **kw)
    return RScorer(load_model(tiny_dir, dtype="fp32", device="cpu"), cfg)


def _cand(item: BenchmarkItem, cid: int, text: str) -> Candidate:
    parsed = parse_response(text, item.answer_type, item.choices)
    correct = answers_match(parsed.final_answer, item.answer, item.answer_type, item.choices)
    return Candidate(cid, text, parsed.rationale, parsed.final_answer, parsed.parse_status, correct, -1.0, 10)


def _wrong_answer(item: BenchmarkItem) -> str:
    if item.answer_type == "multiple_choice":
        return next(letter for letter in LETTERS[: len(item.choices or [])] if letter != item.answer)
    if item.answer_type == "yes_no":
        return "no" if item.answer == "yes" else "yes"
    if item.answer_type in ("integer", "float"):
        return str(int(float(item.answer)) + 3)
    return "purple elephant"


def _with_answer(item: BenchmarkItem, answer: str) -> str:
    body = item.rationale.rsplit("Answer:", 1)[0].rstrip()
    return f"{body}\nAnswer: {answer}"


def _candidate_set(item: BenchmarkItem, n: int = 3) -> CandidateSet:
    texts = [item.rationale, _with_answer(item, _wrong_answer(item)), f"Answer: {item.answer}"]
    texts += [f"I think so.\nAnswer: {_wrong_answer(item)}"] * max(0, n - 3)
    return CandidateSet(item.id, [_cand(item, i, t) for i, t in enumerate(texts[:n])])


@pytest.fixture(scope="module")
def items(smoke_dataset: Path) -> list[BenchmarkItem]:
    return read_items(smoke_dataset / "calib.jsonl")


def _plain_probs(scorer: RScorer, item, a, b) -> torch.Tensor:
    ids = torch.tensor([scorer.pair_input_ids(item, a, b)])
    with torch.no_grad():
        logits = scorer.model(input_ids=ids).logits[0, -1]
    return torch.softmax(logits[scorer.verdict_ids], -1)


def test_verdicts_kv_reuse_and_batching(tiny_dir: Path, items: list[BenchmarkItem]) -> None:
    chosen = items[:3]
    sets = [_candidate_set(it, 3) for it in chosen]
    tasks = [
        (it, cs.candidates[a], cs.candidates[b])
        for it, cs in zip(chosen, sets)
        for a in range(3)
        for b in range(3)
        if a != b
    ]
    batched = _scorer(tiny_dir, batch_size=16)
    probs = torch.tensor(batched.score_pairs(tasks))
    assert probs.shape == (len(tasks), 3)
    assert torch.allclose(probs.sum(-1), torch.ones(len(tasks)), atol=1e-5)
    single = torch.tensor(_scorer(tiny_dir, batch_size=1).score_pairs(tasks))
    assert torch.allclose(probs, single, atol=1e-4), (probs - single).abs().max()
    plain = torch.stack([_plain_probs(batched, *t) for t in tasks])
    assert torch.allclose(probs, plain, atol=1e-4), (probs - plain).abs().max()
    # prefixes (1 batch) + first responses (1) + 18 ordered pairs (2): far fewer forwards than pairs
    assert batched.forwards == 4


def test_verdicts_both_orders_and_summary(tiny_dir: Path, items: list[BenchmarkItem], tmp_path: Path) -> None:
    chosen = items[:2]
    sets = [_candidate_set(it, 4) for it in chosen] + [CandidateSet("lonely", [])]
    scorer = _scorer(tiny_dir, max_pairs_per_item=4)
    summary = scorer.verdicts(chosen, sets, tmp_path / "verdicts.jsonl")
    lines = (tmp_path / "verdicts.jsonl").read_text().splitlines()
    records = [CandidateScores.from_dict(json.loads(line)) for line in lines]
    assert [j.item_id for j in records] == [it.id for it in chosen]
    assert {(j.method, j.mode) for j in records} == {("src", "pairwise")}
    for j in records:
        assert (
            [(v.a, v.b) for v in j.verdicts] == select_pairs(range(4), 4) == [(0, 1), (1, 2), (2, 3), (0, 2)]
        )
        for v in j.verdicts:
            assert len(v.p_ab) == len(v.p_ba) == 3
            assert abs(sum(v.p_ab) - 1) < 1e-5 and abs(sum(v.p_ba) - 1) < 1e-5
    assert summary["items"] == 2 and summary["pairs"] == 8 and summary["ordered_pairs"] == 16
    assert 0 <= summary["mean_tie_mass"] <= 1 and 0 <= summary["position_bias"] <= 1
    assert summary["pairs_per_s"] > 0 and summary["forwards"] >= 3


def test_pointwise_mode(tiny_dir: Path, items: list[BenchmarkItem], tmp_path: Path) -> None:
    item = items[0]
    scorer = _scorer(tiny_dir, mode="pointwise")
    scorer.verdicts([item], [_candidate_set(item, 3)], tmp_path / "j.jsonl")
    j = CandidateScores.from_dict(json.loads((tmp_path / "j.jsonl").read_text()))
    assert j.mode == "pointwise" and sorted(j.pointwise) == ["0", "1", "2"]
    for v in j.verdicts:
        sa, sb = j.pointwise[str(v.a)], j.pointwise[str(v.b)]
        assert 0 < sa < 1 and v.p_ba == []
        assert v.p_ab == pytest.approx([sa / (sa + sb), sb / (sa + sb), 0.0], abs=1e-5)


def _false_claim(item: BenchmarkItem) -> str | None:
    """The gold rationale with one number changed (same final answer), if that makes a claim false."""
    body, answer = item.rationale.rsplit("Answer:", 1)
    for match in re.finditer(r"\d+", body):
        changed = body[: match.start()] + str(int(match.group()) + 7) + body[match.end() :]
        if "Answer:" not in changed:
            return f"{changed}Answer:{answer}"
    return None


def test_fact_labels(items: list[BenchmarkItem]) -> None:
    checked = 0
    for item in items:
        gold = _cand(item, 0, item.rationale)
        wrong = _cand(item, 1, _with_answer(item, _wrong_answer(item)))
        assert gold.correct and not wrong.correct
        assert fact_score(item, gold) > fact_score(item, wrong)
        assert fact_label(item, gold, wrong) == "A" and fact_label(item, wrong, gold) == "B"
        assert fact_label(item, gold, gold) == "Tie"
        text = _false_claim(item)
        if text is None:
            continue
        false = _cand(item, 2, text)
        if false.correct and claim_share(item, false) < claim_share(item, gold):
            assert fact_label(item, gold, false) == "A" and fact_label(item, false, gold) == "B"
            checked += 1
    assert checked >= 3, "no item exercised the false-claim case"
    examples = fact_examples(items[:4], [_candidate_set(it, 3) for it in items[:4]])
    kept, dropped = consistent_examples(examples)
    assert dropped == 0 and len(kept) == len(examples) == 4 * 3 * 2


def test_consistency_filter(items: list[BenchmarkItem]) -> None:
    item = items[0]
    a, b = _candidate_set(item, 2).candidates
    disagreeing = [LabelledPair(item, a, b, "A"), LabelledPair(item, b, a, "A")]
    kept, dropped = consistent_examples(disagreeing)  # disagrees under order
    assert kept == [] and dropped == 2
    kept, dropped = consistent_examples([LabelledPair(item, a, b, "A")])  # one order: kept and mirrored
    assert dropped == 0 and [(x.a.candidate_id, x.verdict) for x in kept] == [(0, "A"), (1, "B")]


def test_training_changes_lora_only(tiny_dir: Path, items: list[BenchmarkItem], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from calibrate.models import load_model

    chosen = items[:10]
    sets = [_candidate_set(it, 3) for it in chosen]
    # easy synthetic labels: the response with the gold answer wins (both orders)
    examples = []
    for it, cs in zip(chosen, sets):
        gold, wrong = cs.candidates[0], cs.candidates[1]
        examples += [LabelledPair(it, gold, wrong, "A"), LabelledPair(it, wrong, gold, "B")]
    loaded = load_model(tiny_dir, dtype="fp32", device="cpu")
    before = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    cfg = ScorerConfig(
        backbone=str(tiny_dir),
        dtype="fp32",
        train_steps=12,
        train_lora_r=4,
        train_learning_rate=1e-2,
        eval_every=5,
    )
    summary = train_scorer(
        cfg, examples, tmp_path / "adapter", seed=0, heldout_fraction=0.2, device="cpu", loaded=loaded
    )
    assert summary["heldout"] == 4 and summary["train"] == 16
    # the learning curve: before, every 5 steps, after (held-out decisive agreement at each point)
    curve = summary["learning_curve"]
    assert [p["step"] for p in curve] == [0, 5, 10, 12]
    assert curve[0]["nll"] == pytest.approx(summary["heldout_nll_before"], abs=1e-4)
    assert curve[-1]["nll"] == pytest.approx(summary["heldout_nll_after"], abs=1e-4)
    assert all(p["decisive_agreement"] is not None for p in curve)
    assert summary["last_loss"] < summary["first_loss"]
    assert summary["heldout_nll_after"] < summary["heldout_nll_before"]
    assert summary["agreement_before"] is not None and summary["agreement_after"] is not None
    after = {n.replace(".base_layer", ""): p for n, p in loaded.model.named_parameters() if "lora_" not in n}
    assert set(after) == set(before)
    moved = [n for n in before if not torch.equal(before[n], after[n].detach())]
    assert not moved, f"frozen weights moved: {moved[:3]}"
    weights = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    lora_b = [t for n, t in weights.items() if "lora_B" in n]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # lora_B starts at zero
    assert (tmp_path / "adapter" / "srcal_adapter.json").is_file()
    # the trained adapter loads back through the scorer config
    scorer = RScorer.from_config(
        ScorerConfig(backbone=str(tiny_dir), adapter=str(tmp_path / "adapter"), dtype="fp32"), device="cpu"
    )
    assert len(scorer.score_pairs([examples[0].shown])[0]) == 3


def test_resume_gives_identical_file(tiny_dir: Path, items: list[BenchmarkItem], tmp_path: Path) -> None:
    chosen = items[:4]
    sets = [_candidate_set(it, 3) for it in chosen]
    scorer = _scorer(tiny_dir, batch_size=1)
    full = tmp_path / "full.jsonl"
    scorer.verdicts(chosen, sets, full)
    part = tmp_path / "part.jsonl"
    scorer.verdicts(chosen[2:3], sets, part)  # an earlier run that finished one item out of order
    with open(part, "a") as handle:
        handle.write('{"item_id": "torn')  # and was killed mid-write
    summary = scorer.verdicts(chosen, sets, part)
    assert summary["new_items"] == 3
    assert part.read_bytes() == full.read_bytes()


def test_read_labels(tmp_path: Path) -> None:
    good = tmp_path / "labels.jsonl"
    good.write_text(
        '{"item_id": "x", "a": 0, "b": 1, "verdict": "A"}\n\n{"item_id": "x", "a": 1, "b": 0, "verdict": "tie"}\n'
    )
    assert [r["verdict"] for r in read_labels(good)] == ["A", "Tie"]
    cases = {
        '{"item_id": "x", "a": 0, "b": 1, "verdict": "C"}': "verdict",
        '{"item_id": "x", "a": 0, "verdict": "A"}': "'b'",
        '{"item_id": "x", "a": 0, "b": 0, "verdict": "A"}': "same candidate",
        '{"item_id": "x", "a": "0", "b": 1, "verdict": "A"}': "candidate id",
        "{not json": "invalid JSON",
    }
    for line, words in cases.items():
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"item_id": "x", "a": 0, "b": 1, "verdict": "B"}\n' + line + "\n")
        with pytest.raises(LabelError, match=rf"bad\.jsonl:2: .*{re.escape(words)}"):
            read_labels(bad)


def test_balance_labels_cuts_only_the_majority() -> None:
    from calibrate.scorer.labels import balance_labels

    verdicts = ["Tie"] * 10 + ["A"] * 3 + ["B"] * 4
    examples = [LabelledPair(i, None, None, label) for i, label in enumerate(verdicts)]  # type: ignore[arg-type]
    balanced = balance_labels(examples, seed=0)
    counts = {label: sum(1 for e in balanced if e.verdict == label) for label in ("Tie", "A", "B")}
    assert counts == {"Tie": 4, "A": 3, "B": 4}
    assert balance_labels(examples, seed=0) == balanced


def test_facts_render_compactly_and_no_built_in_item_is_cut(smoke_dataset: Path) -> None:
    from benchmarks.records import SPLITS, read_items
    from calibrate.scorer.model import FACTS_BUDGET, render_facts

    items = [i for split in SPLITS for i in read_items(smoke_dataset / f"{split}.jsonl")]
    assert len({i.suite for i in items}) == 7
    for item in items:
        text = render_facts(item.facts, budget=10**6)
        assert len(text) <= FACTS_BUDGET and "source" not in text.split(":")[0], (item.suite, len(text))
        for obj in item.facts.get("objects", []):  # every scene object is there, whole
            assert f"{obj['shape']} {obj['color']} {obj['size']} x={obj['x']} y={obj['y']}" in text


def _learnable_pairs(chosen: list[BenchmarkItem], sets: list[CandidateSet]) -> list[LabelledPair]:
    """A signal a 2-layer toy model can learn: the bare gold answer beats a rationale with a wrong answer
    (both orders)."""
    examples = []
    for it, cs in zip(chosen, sets):
        gold, wrong = cs.candidates[2], cs.candidates[1]
        examples += [LabelledPair(it, gold, wrong, "A"), LabelledPair(it, wrong, gold, "B")]
    return examples


def test_pointwise_mode_trains_the_head_it_uses(
    tiny_dir: Path, items: list[BenchmarkItem], tmp_path: Path
) -> None:
    """Pointwise training targets Yes/No on each candidate's own prompt, and that head learns the labels."""
    from calibrate.models import load_model
    from calibrate.scorer.train import _sft_rows, pointwise_labels

    chosen = items[:10]
    sets = [_candidate_set(it, 3) for it in chosen]
    examples = _learnable_pairs(chosen, sets)
    targets = pointwise_labels(examples)
    assert sorted({(c.candidate_id, word) for _, c, word in targets}) == [(1, "No"), (2, "Yes")]
    assert len(targets) == 20
    loaded = load_model(tiny_dir, dtype="fp32", device="cpu")
    cfg = ScorerConfig(
        backbone=str(tiny_dir),
        dtype="fp32",
        mode="pointwise",
        train_steps=40,
        train_lora_r=4,
        train_learning_rate=3e-2,
    )
    scorer = RScorer(loaded, cfg)
    rows = _sft_rows(scorer, examples)
    assert {r["labels"][-1] for r in rows} == set(scorer.pointwise_ids)  # the Yes/No head, not A/B/Tie
    golds = [(it, cs.candidates[2]) for it, cs in zip(chosen, sets)]
    wrongs = [(it, cs.candidates[1]) for it, cs in zip(chosen, sets)]

    def gap(s: RScorer) -> float:  # mean P(Yes | gold) - mean P(Yes | wrong answer)
        return (sum(s.score_pointwise(golds)) - sum(s.score_pointwise(wrongs))) / len(golds)

    before = gap(scorer)
    summary = train_scorer(
        cfg, examples, tmp_path / "adapter", seed=0, heldout_fraction=0.2, device="cpu", loaded=loaded
    )
    assert summary["last_loss"] < summary["first_loss"]
    trained = RScorer.from_config(
        ScorerConfig(
            backbone=str(tiny_dir), adapter=str(tmp_path / "adapter"), dtype="fp32", mode="pointwise"
        ),
        device="cpu",
    )
    assert gap(trained) > before + 0.05  # the Yes/No head learned to tell them apart


def test_verdict_loss_is_the_cross_entropy_of_the_verdicts_the_scorer_reads(
    tiny_dir: Path, items: list[BenchmarkItem]
) -> None:
    """`verdict_loss` on a padded batch = -log of the A/B/Tie softmax a plain forward gives each row's label."""
    from calibrate.scorer.model import VERDICTS
    from calibrate.scorer.train import _sft_rows, verdict_loss

    scorer = _scorer(tiny_dir)
    sets = [_candidate_set(it, 3) for it in items[:3]]
    examples = [
        LabelledPair(it, cs.candidates[a], cs.candidates[b], verdict)
        for it, cs, (a, b, verdict) in zip(items, sets, [(0, 1, "A"), (1, 2, "Tie"), (2, 0, "B")])
    ]
    rows = _sft_rows(scorer, examples)
    width = max(len(r["input_ids"]) for r in rows)
    pad = [width - len(r["input_ids"]) for r in rows]  # right padding, as trl's collator pads
    batch = {
        "input_ids": torch.tensor([r["input_ids"] + [scorer.pad_id] * n for r, n in zip(rows, pad)]),
        "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * n for r, n in zip(rows, pad)]),
        "labels": torch.tensor([r["labels"] + [-100] * n for r, n in zip(rows, pad)]),
    }
    with torch.no_grad():
        loss = verdict_loss(scorer.model, batch, scorer.verdict_ids)
    expected = [
        -torch.log(_plain_probs(scorer, ex.item, ex.a, ex.b)[VERDICTS.index(ex.verdict)]) for ex in examples
    ]
    assert float(loss) == pytest.approx(float(sum(expected) / len(expected)), rel=1e-4)
    batch["labels"][0] = -100  # a row without a target is refused, not skipped
    with pytest.raises(ValueError, match="exactly one target"):
        verdict_loss(scorer.model, batch, scorer.verdict_ids)


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_verdict_objective_trains_the_verdicts(
    tiny_dir: Path, items: list[BenchmarkItem], tmp_path: Path, precision: str
) -> None:
    """`train_objective: verdict` (bf16 autocast or not) moves only LoRA weights and lowers the held-out NLL."""
    from calibrate.models import load_model

    examples = _learnable_pairs(items[:10], [_candidate_set(it, 3) for it in items[:10]])
    loaded = load_model(tiny_dir, dtype="fp32", device="cpu")
    frozen = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    cfg = ScorerConfig(
        backbone=str(tiny_dir),
        dtype="fp32",
        train_steps=20,
        train_lora_r=4,
        train_learning_rate=1e-2,
        train_objective="verdict",
        train_mixed_precision=precision,
    )
    summary = train_scorer(
        cfg, examples, tmp_path / "adapter", seed=0, heldout_fraction=0.2, device="cpu", loaded=loaded
    )
    assert summary["last_loss"] < summary["first_loss"]
    assert summary["heldout_nll_after"] < summary["heldout_nll_before"]
    after = {n.replace(".base_layer", ""): p for n, p in loaded.model.named_parameters() if "lora_" not in n}
    assert not [n for n in frozen if not torch.equal(frozen[n], after[n].detach())]
    # the first logged loss is the verdict cross-entropy (3 classes: about ln 3 at the start), not the
    # next-token loss over the vocabulary (about ln |V| for an untrained model)
    assert summary["first_loss"] < 0.5 * math.log(len(loaded.processor))


def test_scorer_training_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="train_objective"):
        ScorerConfig(train_objective="softmax")
    with pytest.raises(ValueError, match="train_mixed_precision"):
        ScorerConfig(train_mixed_precision="fp16")
