"""One typed config dataclass per SRC stage, and the run config that joins them.

Fields carry their help text and the paper's defaults where the paper states one
(SRC, Wu et al., ICML 2025; see ../shared/SRC.md); ``[ours]`` marks a choice the paper
leaves open. The harness's run spec (``harness/run_spec.py``) hands this module the calibration
part of a preset; ``srcal calibrate`` writes the resolved config, every default explicit, to
``run.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from benchmarks.configuration import ConfigError, from_mapping

METHODS = ("src", "sft-only", "outcome-dpo", "csr-style")


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class ModelConfig:
    """The base model every iteration starts from."""

    base: str = _help(
        "Hub id, local directory, or a zoo name (`srcal-tiny`, `srcal-micro`: built under $SRCAL_HOME if missing).",
        default="srcal-tiny",
    )
    dtype: str = _help("auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16.", default="auto")
    device: str = _help("auto, cpu, cuda, cuda:N.", default="auto")
    trust_remote_code: bool = _help("Allow code from the model repository.", default=False)

    def load_kwargs(self) -> dict[str, Any]:
        """How every stage loads a policy of this run: ``load_model(path, **model.load_kwargs())``."""
        return {"dtype": self.dtype, "device": self.device, "trust_remote_code": self.trust_remote_code}


@dataclass
class LoRATrainingConfig:
    """What every LoRA policy-training stage (RFT, preference) shares: the adapter and the optimizer.

    Subclasses restate a field only where the paper's default differs (trl's ``DPOConfig`` over
    ``TrainingArguments`` is the model).
    """

    lora_r: int = _help("LoRA rank.", default=8)
    lora_alpha: int = _help("LoRA alpha [ours: 2 x rank].", default=16)
    lora_dropout: float = _help("LoRA dropout [ours].", default=0.05)
    learning_rate: float = _help("Learning rate.", default=1e-5)
    epochs: float = _help("Passes over the training set (ignored when max_steps > 0).", default=1.0)
    max_steps: int = _help("Optimizer steps; > 0 overrides epochs.", default=-1)
    batch_size: int = _help("Per-device batch size.", default=8)
    gradient_accumulation_steps: int = _help("Gradient accumulation.", default=1)
    gradient_checkpointing: bool = _help(
        "Recompute activations in the backward pass: less memory, slower, same result [paper presets: on].",
        default=False,
    )
    mixed_precision: str = _help(
        "`auto`: bf16 autocast on a CUDA device that supports it, none elsewhere; `bf16`: bf16 autocast on any "
        "device (CPUs with AVX-512 BF16 too: RFT and DPO steps 1.3x faster on 2 cores, DPO losses visibly "
        "different by the third step; docs/performance.md); `no`: fp32. LoRA weights and optimizer state stay fp32.",
        default="auto",
    )
    checkpoint_steps: int = _help(
        "Save the trainer's state every N steps in the stage directory (`.trainer/`, removed when the stage "
        "finishes) so that an interrupted stage resumes from its last checkpoint, not from step 0; kept "
        "only for the same settings and inputs (0: never).",
        default=0,
    )

    def __post_init__(self) -> None:
        if self.checkpoint_steps < 0:
            raise ValueError(f"checkpoint_steps must be >= 0, got {self.checkpoint_steps}")
        if self.mixed_precision not in ("auto", "bf16", "no"):
            raise ValueError(f"mixed_precision must be auto, bf16 or no, got {self.mixed_precision!r}")


@dataclass
class RFTConfig(LoRATrainingConfig):
    """Stage 1, rationale fine-tuning: LoRA SFT on rationale-then-answer responses [paper]."""

    lora_r: int = _help("LoRA rank [paper: 4 for LLaVA-1.5, 32 for LLaVA-Next].", default=4)
    lora_alpha: int = _help("LoRA alpha [paper: 2 x rank].", default=8)
    learning_rate: float = _help("Learning rate [paper: 1e-5].", default=1e-5)
    max_items: int | None = _help(
        "Train on N items of the rft split, drawn stratified by category and suite (benchmarks/pools.py; "
        "None: all).",
        default=None,
    )
    teacher_rationales: str | None = _help(
        "JSONL of teacher rationales {id, rationale} replacing the pool's gold rationales [paper: written by a "
        "strong LVLM]; a rationale is kept only if its final answer matches the gold answer [ours].",
        default=None,
    )
    prompt_style: str = _help("Prompt style: `bare` asks for no rationale, as in the paper.", default="bare")
    rationale_targets: str = _help(
        "`gold`: the pool's rationales as written; `counted` [ours]: a rationale that reads every mark of a "
        'chart opens with their count ("The chart has 7 bars.": the suite\'s `counted_rationale`), so that '
        "a greedy enumeration has a stop (issue 27: 17 of RFT's 27 unparseable dev responses were chart "
        "enumerations looping past the last label).",
        default="gold",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rationale_targets not in ("gold", "counted"):
            raise ValueError(f"rationale_targets must be gold or counted, got {self.rationale_targets!r}")


@dataclass
class CandidateConfig:
    """Stage 2, candidate search: a diverse set of responses per calibration item."""

    strategy: str = _help(
        "`sampling` (temperature/top-p) or `sentence_search` (sentence-level beams) [ours].",
        default="sampling",
    )
    num_candidates: int = _help("Candidates per item before deduplication.", default=8)
    temperature: float = _help("Sampling temperature.", default=1.0)
    top_p: float = _help("Nucleus sampling mass.", default=0.95)
    max_new_tokens: int = _help("Generation budget of one response.", default=128)
    sentence_beams: int = _help("sentence_search: continuations sampled per partial response.", default=4)
    sentence_keep: int = _help(
        "sentence_search: partial responses kept per step (best and worst halves).", default=4
    )
    max_sentences: int = _help("sentence_search: sentences before the answer is forced.", default=6)
    batch_size: int = _help("Prompts per generation batch (left-padded).", default=16)
    max_items: int | None = _help(
        "Calibration items per iteration, drawn stratified by category and suite from the calib split "
        "(benchmarks/pools.py; None: all).",
        default=None,
    )
    iteration_items: str = _help(
        "`fresh`: each iteration draws its own items, disjoint from the other iterations' (K x max_items must "
        "fit the calib split); `fixed`: every iteration calibrates on the same draw [ours: fresh; the paper "
        "draws 12K calibration samples for 3 iterations and does not say how they are split].",
        default="fresh",
    )
    prompt_style: str = _help("Prompt style (same as RFT).", default="bare")
    engine: str = _help(
        "`local`: the policy loaded here; `endpoint`: the policy served by an OpenAI-compatible server "
        "(vLLM, SGLang), `num_candidates` samples per request (`n`) with their token log-probs "
        "(strategy sampling only).",
        default="local",
    )
    endpoint: dict[str, Any] | None = _help(
        "engine endpoint: the client's settings (benchmarks.endpoint.EndpointConfig: base_url, api_key_env, "
        "concurrency, retries, timeouts, extra_body). `model` is the served name of the policy, "
        "`{policy}` standing for its checkpoint's directory in the run (`iter_0`: RFT, `iter_1`, ...); default `{policy}`.",
        default=None,
    )

    def __post_init__(self) -> None:
        if self.strategy not in ("sampling", "sentence_search"):
            raise ValueError(f"strategy must be sampling or sentence_search, got {self.strategy!r}")
        if self.engine not in ("local", "endpoint"):
            raise ValueError(f"engine must be local or endpoint, got {self.engine!r}")
        if self.engine == "endpoint":
            if self.strategy != "sampling":
                raise ValueError("engine endpoint samples whole responses: strategy must be sampling")
            if not (self.endpoint or {}).get("base_url"):
                raise ValueError("engine endpoint needs endpoint.base_url (e.g. http://localhost:8000/v1)")
        if self.num_candidates < 2:
            raise ValueError("num_candidates must be >= 2 (pairs need two candidates)")
        if self.iteration_items not in ("fresh", "fixed"):
            raise ValueError(f"iteration_items must be fresh or fixed, got {self.iteration_items!r}")


@dataclass
class ScorerConfig:
    """The R-Scorer (stage 3, verdicts, of ``src``): compares rationale quality and factual consistency."""

    backbone: str = _help(
        "Causal LM of the R-Scorer: hub id, directory, or `smollm2-135m-instruct` (the offline part) "
        "[paper names Qwen-2.5-1.5B].",
        default="smollm2-135m-instruct",
    )
    adapter: str | None = _help(
        "Trained R-Scorer LoRA (srcal scorer train); None trains one in the run.", default=None
    )
    kind: str = _help(
        "`learned`: the trained R-Scorer (the paper's); `facts`: the fact judge (scorer/labels.py) gives the "
        "verdicts, reading each item's gold answer and facts: an ORACLE upper bound no real run has, labelled "
        "'oracle' in every table (arm `src-facts`), never the paper's R-Scorer. Nothing is trained.",
        default="learned",
    )
    mode: str = _help("`pairwise` (the paper) or `pointwise` (its ablation).", default="pairwise")
    both_orders: bool = _help("Score (A,B) and (B,A) to cancel position bias [ours].", default=True)
    max_pairs_per_item: int | None = _help("Cap on compared pairs per item (None: all).", default=None)
    batch_size: int = _help("Scorer forward batch size.", default=16)
    dtype: str = _help(
        "Scorer dtype [ours: fp32; bf16 verdicts agreed with fp32 on only 98.3% of 1,716 held-out ordered "
        "pairs (docs/performance.md), below the 99% bar for using it]. auto: bf16 on CUDA, fp32 on CPU.",
        default="fp32",
    )
    train_items: int = _help(
        "Items whose candidates label the scorer's training pairs: a stratified draw from the rft items RFT "
        "did not train on (all rft items when it trained on every one).",
        default=64,
    )
    train_steps: int = _help("R-Scorer LoRA SFT steps.", default=100)
    train_lora_r: int = _help("R-Scorer LoRA rank.", default=16)
    train_learning_rate: float = _help("R-Scorer learning rate.", default=2e-4)
    train_batch_size: int = _help("R-Scorer training pairs per step.", default=8)
    train_objective: str = _help(
        "`next_token`: SFT on the verdict token, cross-entropy over the whole vocabulary (trl's loss); "
        "`verdict` [ours]: cross-entropy over the verdict tokens' logits only (A/B/Tie, or Yes/No pointwise), "
        "the distribution the scorer reads, computed from the last prompt token's hidden state.",
        default="next_token",
    )
    train_mixed_precision: str = _help(
        "`auto`: bf16 autocast when the scorer is bf16 on CUDA, none elsewhere; `bf16`: bf16 autocast on any "
        "device (CPUs with AVX-512 BF16 too); `no`: fp32. The held-out curve is read as the stage's verdicts are.",
        default="auto",
    )
    eval_every: int = _help(
        "Steps between held-out evaluations while the R-Scorer trains (its learning curve in the stage "
        "summary); 0: before and after training only.",
        default=0,
    )
    labels: str | None = _help(
        "JSONL of external judge labels {item_id, a, b, verdict}; None: fact labels (scorer/labels.py).",
        default=None,
    )
    balance_labels: bool = _help(
        "Downsample the majority verdict (usually Tie) in the scorer's training labels [ours].", default=True
    )

    def __post_init__(self) -> None:
        if self.mode not in ("pairwise", "pointwise"):
            raise ValueError(f"mode must be pairwise or pointwise, got {self.mode!r}")
        if self.kind not in ("learned", "facts"):
            raise ValueError(f"kind must be learned or facts, got {self.kind!r}")
        if self.train_objective not in ("next_token", "verdict"):
            raise ValueError(f"train_objective must be next_token or verdict, got {self.train_objective!r}")
        if self.train_mixed_precision not in ("auto", "bf16", "no"):
            raise ValueError(
                f"train_mixed_precision must be auto, bf16 or no, got {self.train_mixed_precision!r}"
            )
        if self.kind == "facts" and self.mode != "pairwise":
            raise ValueError("kind facts judges pairs: mode must be pairwise")


@dataclass
class CurationConfig:
    """Stage 4, confidence-weighted preference curation [paper; the formula is ours, see SRC.md]."""

    confidence_weighting: bool = _help(
        "Weight each comparison by 1 - tie mass (off: plain mean).", default=True
    )
    lambda_c: float = _help("Weight of the policy's self-confidence in its answer.", default=0.0)
    require_correct: bool = _help(
        "The chosen candidate's answer must be correct where gold exists.", default=True
    )
    tau: float = _help("Drop items whose chosen-rejected margin is below tau.", default=0.05)
    pairs_per_item: int = _help(
        "Pairs kept per item: 1 is the paper's (best vs worst); more adds every other (eligible, other) pair "
        "whose score margin is at least tau, largest first [ours].",
        default=1,
    )

    def __post_init__(self) -> None:
        if self.pairs_per_item < 1:
            raise ValueError("pairs_per_item must be >= 1")


@dataclass
class PreferenceConfig(LoRATrainingConfig):
    """Stage 5, preference fine-tuning: DPO plus an SFT term on the chosen response [paper]."""

    lora_r: int = _help("LoRA rank [paper: 256].", default=256)
    lora_alpha: int = _help("LoRA alpha [paper: 512].", default=512)
    learning_rate: float = _help("Learning rate [paper: 5e-7].", default=5e-7)
    batch_size: int = _help("Pairs per device batch.", default=4)
    beta: float = _help("DPO beta [paper: 0.1].", default=0.1)
    sft_weight: float = _help("Weight of the SFT (NLL) term on chosen responses [paper: 0.02].", default=0.02)


@dataclass
class RunConfig:
    """Everything one calibration run needs."""

    name: str = _help("Run name (recorded in manifests).", default="src")
    method: str = _help(f"One of {', '.join(METHODS)}.", default="src")
    seed: int = _help("Seed of every stage.", default=0)
    iterations: int = _help("Calibration iterations K [paper: 3].", default=3)
    data_preset: str = _help("Built-in data preset the pools come from.", default="default")
    data_dir: str | None = _help("A built dataset directory (None: $SRCAL_HOME/data/<preset>).", default=None)
    model: ModelConfig = field(default_factory=ModelConfig)
    rft: RFTConfig = field(default_factory=RFTConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            close = difflib.get_close_matches(self.method, METHODS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown method {self.method!r}{hint}")
        if self.iterations < 0:
            raise ValueError("iterations must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ORACLE_ARM = "src-facts"
"""The arm name of SRC with the fact judge as its scorer (an oracle upper bound)."""


def arm_name(cfg: RunConfig) -> str:
    """The name a run's checkpoints carry in results: its method, or `ORACLE_ARM` for SRC judged by facts."""
    return ORACLE_ARM if cfg.method == "src" and cfg.scorer.kind == "facts" else cfg.method


RESULT_NEUTRAL_FIELDS = ("gradient_checkpointing", "checkpoint_steps")
"""Stage fields that change speed or memory but not the result: left out of stage hashes."""


LATER_FIELDS = {"rationale_targets": "gold", "train_objective": "next_token", "train_mixed_precision": "auto"}
"""Stage fields added after results were published, with the default that reproduces those results: in a
stage hash only when set to something else (the published hashes stay those of the same computation)."""


def result_fields(part: Any) -> Any:
    """A stage's config without :data:`RESULT_NEUTRAL_FIELDS` and defaulted :data:`LATER_FIELDS`, at any depth
    (what its hash covers)."""
    if isinstance(part, dict):
        return {
            k: result_fields(v)
            for k, v in part.items()
            if k not in RESULT_NEUTRAL_FIELDS and not (k in LATER_FIELDS and v == LATER_FIELDS[k])
        }
    return part


_SECTIONS = {
    "model": ModelConfig,
    "rft": RFTConfig,
    "candidates": CandidateConfig,
    "scorer": ScorerConfig,
    "curation": CurationConfig,
    "preference": PreferenceConfig,
}


def run_config_from_dict(data: dict[str, Any], where: str = "config") -> RunConfig:
    """A RunConfig from the calibration part of a run spec (top-level fields and the stage sections).

    Only calibration's own keys are read: anything else (the harness's ``data``, ``eval`` and
    ``baselines`` sections included) is an unknown field, named with ``where`` and a did-you-mean.
    """
    data = dict(data)
    sections = {}
    for key, cls in _SECTIONS.items():
        value = data.pop(key, None) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: section {key!r} must be a mapping")
        sections[key] = from_mapping(cls, value, f"{where}: {key}")
    top = from_mapping(RunConfig, data, where)
    for key, value in sections.items():
        setattr(top, key, value)
    return top
