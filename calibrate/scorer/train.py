"""Training the R-Scorer: LoRA SFT on pairwise labels (`LabelledPair`).

`train_scorer` keeps only labels consistent under both orders, splits held-out items deterministically,
balances the training verdicts, runs LoRA SFT (trl ``SFTTrainer``, pre-tokenised prompt + one verdict
token, loss on the verdict only: over the whole vocabulary, or with ``train_objective: verdict`` over the
verdict tokens' logits, `verdict_loss`) and reports held-out agreement before and after training.

`ScorerStage` is the loop's scorer stage: candidates of the RFT policy on held-back ``rft`` items, their
labels (`training_examples`) and `train_scorer`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from benchmarks.pools import composition, pool_hash
from benchmarks.records import BenchmarkItem
from calibrate.artifacts import Artifact
from calibrate.candidates import candidate_settings
from calibrate.config import CandidateConfig, ModelConfig, ScorerConfig
from calibrate.scorer.labels import (
    LabelledPair,
    balance_labels,
    consistent_examples,
    split_heldout,
    training_examples,
)
from calibrate.scorer.model import POINTWISE_WORDS, VERDICTS, RScorer, resolve_backbone

if TYPE_CHECKING:
    from calibrate.models import LoadedModel


@dataclass
class _Split:
    """The labels of one training run after the consistency filter, the held-out split and balancing."""

    kept: list[LabelledPair]
    dropped: int
    train: list[LabelledPair]
    held: list[LabelledPair]


def _split_labels(cfg: ScorerConfig, examples: Sequence[LabelledPair], seed: int, fraction: float) -> _Split:
    kept, dropped = consistent_examples(examples)
    if not kept:
        raise ValueError("no training labels left after the both-orders consistency filter")
    train, held = split_heldout(kept, seed, fraction)
    if cfg.balance_labels:
        train = balance_labels(train, seed)
    return _Split(kept, dropped, train, held)


def pointwise_labels(train: Sequence[LabelledPair]) -> list[tuple[BenchmarkItem, Any, str]]:
    """Pointwise targets from pairwise labels: a pair's winner "Yes", its loser "No" (ties teach nothing).

    One target per (item, candidate): the majority of its wins and losses, ties of those dropped.
    """
    votes: dict[tuple[str, int], int] = {}
    shown: dict[tuple[str, int], tuple[BenchmarkItem, Any]] = {}
    for ex in train:
        if ex.verdict == "Tie":
            continue
        winner, loser = (ex.a, ex.b) if ex.verdict == "A" else (ex.b, ex.a)
        for cand, vote in ((winner, 1), (loser, -1)):
            key = (ex.item.id, cand.candidate_id)
            votes[key] = votes.get(key, 0) + vote
            shown[key] = (ex.item, cand)
    yes, no = POINTWISE_WORDS
    return [(*shown[key], yes if total > 0 else no) for key, total in votes.items() if total]


def _sft_rows(scorer: RScorer, train: Sequence[LabelledPair]) -> list[dict[str, list[int]]]:
    """Pre-tokenised rows: the prompt + its target token, the loss on that token only.

    Pairwise mode: the pair prompt and its verdict (A/B/Tie). Pointwise mode: each candidate's own
    prompt and Yes/No (`pointwise_labels`): the head `score_pointwise` reads is the one trained.
    """
    rows = []
    if scorer.cfg.mode == "pointwise":
        for item, cand, word in pointwise_labels(train):
            ids = scorer.pointwise_input_ids(item, cand)
            target = scorer.pointwise_ids[POINTWISE_WORDS.index(word)]
            rows.append({"input_ids": [*ids, target], "labels": [-100] * len(ids) + [target]})
        if not rows:
            raise ValueError("pointwise mode: no decisive pairwise label to turn into Yes/No targets")
        return rows
    for ex in train:
        ids = scorer.pair_input_ids(ex.item, ex.a, ex.b)
        verdict = scorer.verdict_ids[VERDICTS.index(ex.verdict)]
        rows.append({"input_ids": [*ids, verdict], "labels": [-100] * len(ids) + [verdict]})
    return rows


def scorer_lora_config(cfg: ScorerConfig, model: Any) -> Any:
    """The R-Scorer's LoRA adapter: rank ``cfg.train_lora_r``, alpha twice the rank, the model's default targets."""
    from peft import LoraConfig

    from calibrate.models import default_lora_targets

    return LoraConfig(
        r=cfg.train_lora_r,
        lora_alpha=2 * cfg.train_lora_r,
        lora_dropout=0.0,
        target_modules=default_lora_targets(model),
        task_type="CAUSAL_LM",
    )


def verdict_loss(model: Any, inputs: dict[str, Any], word_ids: Sequence[int]) -> Any:
    """Mean cross-entropy of each row's target over the logits of ``word_ids`` only (``train_objective: verdict``).

    Each row holds one target token (``labels`` != -100, the last one: `_sft_rows`); the logits are those of
    the hidden state before it, through the LM head's rows of ``word_ids`` (as `RScorer` reads them), so no
    full-vocabulary head is computed.
    """
    import torch
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    labels = inputs["labels"]
    targets_per_row = (labels != -100).sum(dim=1)
    rows, cols = (labels != -100).nonzero(as_tuple=True)
    if bool((targets_per_row != 1).any()) or int(cols.min()) < 1:
        raise ValueError("verdict loss: every row needs exactly one target token after its prompt")
    hidden = base.get_decoder()(
        input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False
    ).last_hidden_state
    ids = torch.tensor(list(word_ids), device=labels.device)
    weight = head.weight[ids]
    logits = hidden[rows, cols - 1].to(weight.dtype) @ weight.T
    if head.bias is not None:
        logits = logits + head.bias[ids]
    targets = (labels[rows, cols].unsqueeze(1) == ids.unsqueeze(0)).float().argmax(dim=1)
    return F.cross_entropy(logits.float(), targets)


def _trainer_class(cfg: ScorerConfig, word_ids: Sequence[int]) -> Any:
    """trl's ``SFTTrainer``, or with ``train_objective: verdict`` a subclass whose loss is `verdict_loss`."""
    from trl import SFTTrainer

    if cfg.train_objective == "next_token":
        return SFTTrainer

    class VerdictTrainer(SFTTrainer):
        """SFT whose loss is the cross-entropy over the verdict tokens' logits (`verdict_loss`)."""

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            loss = verdict_loss(model, inputs, word_ids)
            return (loss, None) if return_outputs else loss

    return VerdictTrainer


def _use_bf16(cfg: ScorerConfig, loaded: LoadedModel) -> bool:
    """Whether training autocasts to bf16 (``train_mixed_precision``)."""
    import torch

    if cfg.train_mixed_precision == "auto":
        return loaded.dtype == torch.bfloat16 and loaded.device.type == "cuda"
    return cfg.train_mixed_precision == "bf16"


def _trainer(
    cfg: ScorerConfig,
    loaded: LoadedModel,
    scorer: RScorer,
    rows: list[dict[str, list[int]]],
    out: Path,
    seed: int,
    callbacks: list[Any],
) -> Any:
    """A trl ``SFTTrainer`` injecting a fresh LoRA adapter into ``loaded.model``."""
    import datasets
    from trl import SFTConfig

    args = SFTConfig(
        output_dir=str(out / "trainer"),
        max_steps=cfg.train_steps,
        per_device_train_batch_size=min(cfg.train_batch_size, len(rows)),
        learning_rate=cfg.train_learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        save_strategy="no",
        report_to=[],
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        use_cpu=loaded.device.type == "cpu",
        bf16=_use_bf16(cfg, loaded),
        max_length=None,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        # batches of similar prompt lengths: less padding per step (prompts run from ~100 to ~400 tokens)
        train_sampling_strategy="group_by_length",
    )
    peft_cfg = scorer_lora_config(cfg, loaded.model)
    words = scorer.pointwise_ids if cfg.mode == "pointwise" else scorer.verdict_ids
    return _trainer_class(cfg, words)(
        model=loaded.model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=scorer.tokenizer,
        peft_config=peft_cfg,
        callbacks=callbacks,
    )


def _curve_callback(scorer: RScorer, held: Sequence[LabelledPair], every: int, curve: list[dict]) -> Any:
    """Held-out agreement every ``every`` steps into ``curve`` (the R-Scorer's learning curve)."""
    from transformers import TrainerCallback

    class HeldOutCurve(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if every <= 0 or state.global_step % every or state.global_step == state.max_steps:
                return
            model.eval()
            scorer.set_model(model)
            curve.append(_point(state.global_step, args.per_device_train_batch_size, scorer.evaluate(held)))
            model.train()

    return HeldOutCurve()


def _point(step: int, batch_size: int, metrics: dict[str, float | None]) -> dict[str, Any]:
    rounded = {k: round(v, 4) if v is not None else None for k, v in metrics.items()}
    return {"step": step, "pairs_seen": step * batch_size, **rounded}


def _save(model: Any, out: Path, loaded: LoadedModel) -> None:
    from calibrate.models import ModelLoadError, save_adapter

    try:
        save_adapter(model, out, loaded)
    except ModelLoadError:  # base without local weight files: no srcal_adapter.json
        model.save_pretrained(str(out), safe_serialization=True)


def _summary(
    cfg: ScorerConfig,
    n_examples: int,
    split: _Split,
    result: Any,
    losses: list[float],
    before: dict[str, float | None],
    after: dict[str, float | None],
    curve: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "examples": n_examples,
        "kept": len(split.kept),
        "dropped_inconsistent": split.dropped,
        "label_counts": {v: sum(ex.verdict == v for ex in split.kept) for v in VERDICTS},
        "train": len(split.train),
        "heldout": len(split.held),
        "heldout_items": len({ex.item.id for ex in split.held}),
        "steps": cfg.train_steps,
        "train_loss": round(float(result.training_loss), 6),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "agreement_before": before["agreement"],
        "agreement_after": after["agreement"],
        "decisive_agreement_before": before["decisive_agreement"],
        "decisive_agreement_after": after["decisive_agreement"],
        "heldout_nll_before": before["nll"],
        "heldout_nll_after": after["nll"],
        "learning_curve": curve,
    }


def train_scorer(
    cfg: ScorerConfig,
    examples: Sequence[LabelledPair],
    out_dir: str | Path,
    seed: int,
    heldout_fraction: float = 0.2,
    device: str = "auto",
    loaded: LoadedModel | None = None,
) -> dict[str, Any]:
    """LoRA SFT of the R-Scorer on pairwise labels; saves the adapter to ``out_dir`` and returns a summary.

    Starts from ``cfg.backbone`` (``cfg.adapter`` is not applied: a fresh adapter is trained). The summary
    holds the label counts, the split sizes, the training loss, held-out agreement (all labels and
    decisive ones) and NLL of the label before/after, and with ``cfg.eval_every`` the learning curve
    between (held-out figures every so many steps). ``loaded`` reuses an already loaded fp32/bf16 backbone (LoRA is injected into it in place).
    """
    from transformers import set_seed

    from calibrate.models import load_model

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = _split_labels(cfg, examples, seed, heldout_fraction)
    set_seed(seed)
    if loaded is None:
        loaded = load_model(resolve_backbone(cfg.backbone), dtype=cfg.dtype, device=device)
    scorer = RScorer(loaded, cfg)
    before = scorer.evaluate(split.held)
    curve = [_point(0, cfg.train_batch_size, before)]
    callbacks = [_curve_callback(scorer, split.held, cfg.eval_every, curve)] if split.held else []
    trainer = _trainer(cfg, loaded, scorer, _sft_rows(scorer, split.train), out, seed, callbacks)
    result = trainer.train()
    model = trainer.model.eval()
    scorer.set_model(model)
    after = scorer.evaluate(split.held)
    curve.append(_point(trainer.state.global_step, trainer.args.per_device_train_batch_size, after))
    _save(model, out, loaded)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    summary = _summary(cfg, len(examples), split, result, losses, before, after, curve)
    summary |= {"seconds": round(time.perf_counter() - started, 2), "adapter": str(out)}
    (out / "scorer_train.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


@dataclass
class ScorerStage:
    """The loop's scorer stage: the R-Scorer trained on labelled pairs of ``policy``'s candidates on ``pool``.

    Writes ``directory``/train_candidates.jsonl (stage 2 on the pool, one process) and ``directory``/adapter.
    """

    cfg: ScorerConfig
    candidates: CandidateConfig
    policy: Artifact
    """The RFT checkpoint (``iter_0/model``) whose candidates are labelled."""
    pool: list[BenchmarkItem]
    """The ``rft`` items to label: a stratified draw from those RFT did not train on."""
    pool_hash: str
    """Hash of the ``rft`` split."""
    data_dir: Path
    directory: Path
    """``scorer/``."""
    seed: int
    model: ModelConfig = field(default_factory=ModelConfig)
    """How the policy is loaded (the scorer's own dtype is ``cfg.dtype``)."""

    name: ClassVar[str] = "scorer"
    output: ClassVar[str] = "adapter"
    mode: ClassVar[str] = "main"

    def config(self) -> dict[str, Any]:
        return {"scorer": asdict(self.cfg), "candidates": candidate_settings(self.candidates)}

    def inputs(self) -> dict[str, str]:
        inputs = {"policy": self.policy.hash, "rft_pool": self.pool_hash, "items": pool_hash(self.pool)}
        if self.cfg.labels:  # the label file's content, not only its path (config)
            from benchmarks.fileio import sha256_file

            inputs["labels"] = sha256_file(self.cfg.labels)
        return inputs

    def run(self) -> tuple[list[str], dict[str, Any]]:
        from calibrate.candidates import candidate_policy, generate_candidates
        from calibrate.records import CandidateSet, read_records

        policy = candidate_policy(self.candidates, self.policy, self.model)
        cand_path = self.directory / "train_candidates.jsonl"
        generate_candidates(policy, self.pool, self.data_dir, self.candidates, cand_path, self.seed)
        del policy
        sets = read_records(CandidateSet, cand_path, [item.id for item in self.pool])
        examples = training_examples(self.pool, sets, self.cfg, self.cfg.labels)
        summary = train_scorer(self.cfg, examples, self.directory / self.output, self.seed)
        return ["train_candidates.jsonl", self.output], {**summary, "pool": composition(self.pool)}
