"""This CPU's limits, and how close srcal's hot loops get to them.

    python -m tools.roofline [--model DIR] [--loops a,b,...] [--json OUT] [--markdown OUT]

Limits: the matmul peak in fp32 and bf16 (``torch.nn.functional.linear``, 2048^3, best of 5)
and the memory bandwidth (copying 512 MB: bytes read + written per second).

Loops, at the ``tiny`` preset's batch shapes (64 new tokens) on the srcal-tiny architecture (SmolLM2-135M +
EfficientNet-Lite0; ``--model`` gives a trained one, else it is assembled with an untrained
projector: FLOPs and time do not depend on training, nucleus sizes do a little) and the smoke
dataset's prompts:

- ``candidates``: candidate search, 16 prompts x 4 samples x 64 tokens (T 0.9, top-p 0.95),
  through :func:`calibrate.decoding.sample_responses` (the decode loop), and ``candidates_generate``:
  the same work through ``generate`` (:func:`generate_baseline`, the path before the decode loop);
- ``evaluation``: greedy decoding, batch 32, 64 tokens (:func:`calibrate.generation.generate_texts`);
- ``verdicts``: R-Scorer forwards (SmolLM2-135M fp32), 8 items x 4 candidates, 4 pairs per item
  in both orders, batch 16 (:meth:`RScorer.score_pairs`);
- ``rft_step``, ``dpo_step``, ``scorer_step``: one optimizer step of rationale fine-tuning
  (batch 8, LoRA r16), DPO + SFT (batch 4 pairs, LoRA r32) and R-Scorer training (batch 8,
  LoRA r16), through the real trainers (``Trainer.training_step`` timed, first step dropped).

FLOPs are counted from the shapes each forward sees (hooks on the decoder and the LM head):
``2 x weights x tokens`` for the decoder's linear layers and the head, plus ``4 x layers x
width x query x context`` for attention; a forward under autograd adds the same again for
its backward (activation gradients; the frozen weights get none, LoRA's are negligible). The
vision tower (~0.1 GFLOP per image) is left out. Each loop's limit is the roofline's:
``min(peak of its dtype, arithmetic intensity x bandwidth)`` with intensity = FLOPs per byte of
weights read (decoding reads every weight once a step).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

CANDIDATE_SHAPE = {"prompts": 16, "samples": 4, "new_tokens": 64, "temperature": 0.9, "top_p": 0.95}
EVAL_SHAPE = {"batch": 32, "new_tokens": 64}
LOOPS = ("candidates", "candidates_generate", "evaluation", "verdicts", "rft_step", "dpo_step", "scorer_step")


# ------------------------------------------------------------------------------ machine limits


@dataclass
class Limits:
    fp32_gflops: float
    bf16_gflops: float
    bandwidth_gbs: float
    threads: int

    def peak(self, dtype: str) -> float:
        return self.bf16_gflops if dtype == "bf16" else self.fp32_gflops


def _best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure_limits(size: int = 2048, copy_mb: int = 512, repeats: int = 5) -> Limits:
    """Matmul peak (fp32, bf16) and copy bandwidth of this machine, best of ``repeats``."""
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, w = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        seconds = _best_seconds(lambda a=a, w=w: torch.nn.functional.linear(a, w), repeats)
        peaks[dtype] = 2 * size**3 / seconds / 1e9
    src = torch.ones(copy_mb * 2**20 // 4)
    dst = torch.empty_like(src)
    seconds = _best_seconds(lambda: dst.copy_(src), repeats)
    bandwidth = 2 * src.numel() * 4 / seconds / 1e9
    return Limits(peaks[torch.float32], peaks[torch.bfloat16], bandwidth, torch.get_num_threads())


# ------------------------------------------------------------------------------ FLOP counting


class FlopCounter:
    """Counts the FLOPs and weight bytes of a causal LM's forwards (and implied backwards) from their shapes."""

    def __init__(self, model: Any) -> None:
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        linears = [m for m in self.decoder.layers.modules() if isinstance(m, torch.nn.Linear)]
        self.layer_params = sum(m.weight.numel() for m in linears)
        self.layer_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
        config = self.decoder.config
        self.layers = config.num_hidden_layers
        self.width = config.num_attention_heads * getattr(
            config, "head_dim", config.hidden_size // config.num_attention_heads
        )
        self.forward = 0.0
        self.backward = 0.0
        self.weight_bytes = 0.0
        self.tokens = 0
        self.active = True
        self._handles: list[Any] = []

    def __enter__(self) -> FlopCounter:
        self._handles = [
            self.decoder.register_forward_hook(self._on_decoder, with_kwargs=True),
            self.head.register_forward_hook(self._on_head),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()

    def _add(self, flops: float, weight_bytes: float) -> None:
        if not self.active:
            return
        self.forward += flops
        self.weight_bytes += weight_bytes
        if torch.is_grad_enabled():
            self.backward += flops

    def _on_decoder(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        batch, query = hidden.shape[0], hidden.shape[1]
        mask = kwargs.get("attention_mask")
        context = mask.shape[-1] if isinstance(mask, torch.Tensor) and mask.dim() == 2 else query
        tokens = batch * query
        attention = 4 * self.layers * self.width * query * context * batch
        if self.active:
            self.tokens += tokens
        self._add(2 * self.layer_params * tokens + attention, self.layer_bytes)

    def _on_head(self, module: Any, args: Any, output: Any) -> None:
        rows = args[0].numel() // module.in_features
        weight = module.weight
        self._add(2 * weight.numel() * rows, weight.numel() * weight.element_size())

    @property
    def total(self) -> float:
        return self.forward + self.backward


# ------------------------------------------------------------------------------ results


@dataclass
class LoopResult:
    name: str
    shape: str
    dtype: str
    seconds: float
    """Wall seconds of the measured work (per step for training loops)."""
    gflop: float
    """FLOPs counted in that time, in GFLOP."""
    weight_gb: float
    """Weight bytes read in that time (GB; each forward reads every weight once)."""
    extra: dict[str, Any] = field(default_factory=dict)
    gflops: float = 0.0
    limit_gflops: float = 0.0
    bound: str = ""
    fraction: float = 0.0

    def place(self, limits: Limits) -> LoopResult:
        self.gflops = self.gflop / self.seconds
        intensity = self.gflop / max(self.weight_gb, 1e-12)
        bandwidth_limit = intensity * limits.bandwidth_gbs
        peak = limits.peak(self.dtype)
        self.bound = "compute" if peak <= bandwidth_limit else "bandwidth"
        self.limit_gflops = min(peak, bandwidth_limit)
        self.fraction = self.gflops / self.limit_gflops
        return self


def markdown(limits: Limits, results: Sequence[LoopResult]) -> str:
    lines = [
        f"Machine: matmul peak fp32 {limits.fp32_gflops:.0f} GFLOP/s, bf16 {limits.bf16_gflops:.0f} GFLOP/s, "
        f"copy bandwidth {limits.bandwidth_gbs:.1f} GB/s, {limits.threads} threads.",
        "",
        "| loop | shape | dtype | time | GFLOP | achieved GFLOP/s | binding limit | GFLOP/s at limit | fraction |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.shape} | {r.dtype} | {r.seconds:.2f} s | {r.gflop:.1f} | {r.gflops:.0f} | "
            f"{r.bound} | {r.limit_gflops:.0f} | **{100 * r.fraction:.0f}%** |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the loops


def generate_baseline(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Sequence[int]],
    pixel_values: Sequence[Any],
    n: int,
    **sampling: Any,
) -> tuple[Any, Any]:
    """The candidate-decoding path before the decode loop: shared prefill, then ``model.generate``.

    Prefills all but the last token of each left-padded row, repeats the KV cache ``n`` times and
    lets ``generate`` sample (``top_k=0``; temperature, top-p, min/max new tokens from ``sampling``;
    ``do_sample=False`` decodes greedily),
    with the raw logits' log-probs of the sampled tokens. Returns (new tokens, log-probs).
    """
    from calibrate.decoding import _left_pad

    ids, mask = _left_pad(rows, tokenizer.pad_token_id)
    pixels = torch.stack(list(pixel_values)).to(next(model.parameters()).dtype)
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    width = ids.shape[1]
    with torch.inference_mode():
        prefill = model(
            input_ids=ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=position_ids[:, :-1],
            pixel_values=pixels,
            use_cache=True,
        )
        cache = getattr(prefill, "cache", None) or prefill.past_key_values
        cache.batch_repeat_interleave(n)
        out = model.generate(
            input_ids=ids.repeat_interleave(n, dim=0),
            attention_mask=mask.repeat_interleave(n, dim=0),
            cache=cache,
            **({"do_sample": True, "top_k": 0} if sampling.get("do_sample", True) else {}),
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_logits=True,
            use_cache=True,
            **sampling,
        )
        new = out.sequences[:, width:]
        logprobs = torch.stack(
            [
                torch.log_softmax(out.logits[t].float(), -1).gather(1, new[:, t : t + 1]).squeeze(1)
                for t in range(new.shape[1])
            ],
            dim=1,
        )
    return new, logprobs


class Workbench:
    """The models, data and prompts the loops run on."""

    def __init__(
        self, model_dir: Path, data_dir: Path, training_precision: str = "no", dtype: str = "fp32"
    ) -> None:
        from PIL import Image

        from benchmarks.paths import item_image_path
        from benchmarks.prompts import build_prompt
        from benchmarks.records import read_items
        from calibrate.models import load_model

        self.model_dir, self.data_dir = model_dir, data_dir
        self.training_precision = training_precision
        self.policy = load_model(model_dir, device="cpu", dtype=dtype)
        self.policy.model.eval()
        self.items = read_items(data_dir / "calib.jsonl") + read_items(data_dir / "rft.jsonl")
        self.images = [Image.open(item_image_path(data_dir, i)).convert("RGB") for i in self.items[:32]]
        self.prompts = [build_prompt(i.question, i.choices) for i in self.items[:32]]

    def candidates(self) -> LoopResult:
        from calibrate.decoding import sample_responses

        s = CANDIDATE_SHAPE
        model, processor = self.policy.model, self.policy.processor

        def run() -> int:
            torch.manual_seed(0)
            _, tokens = sample_responses(
                model,
                processor,
                self.images[: s["prompts"]],
                self.prompts[: s["prompts"]],
                s["samples"],
                temperature=s["temperature"],
                top_p=s["top_p"],
                max_new_tokens=s["new_tokens"],
                min_new_tokens=s["new_tokens"],
                batch_size=s["prompts"],
            )
            return tokens

        return self._decoding("candidates", run, "16 prompts x 4 x 64 tok", batch=s["prompts"] * s["samples"])

    def candidates_generate(self) -> LoopResult:
        from calibrate.decoding import encode_prompt

        s = CANDIDATE_SHAPE
        model, processor = self.policy.model, self.policy.processor
        encoded = [encode_prompt(processor, im, p) for im, p in zip(self.images, self.prompts)][
            : s["prompts"]
        ]

        def run() -> int:
            torch.manual_seed(0)
            new, _ = generate_baseline(
                model,
                processor.tokenizer,
                [ids for ids, _ in encoded],
                [px for _, px in encoded],
                s["samples"],
                temperature=s["temperature"],
                top_p=s["top_p"],
                max_new_tokens=s["new_tokens"],
                min_new_tokens=s["new_tokens"],
            )
            return new.numel()

        return self._decoding(
            "candidates_generate", run, "same, via generate", batch=s["prompts"] * s["samples"]
        )

    def evaluation(self) -> LoopResult:
        from calibrate.generation import generate_texts

        s = EVAL_SHAPE
        model, processor = self.policy.model, self.policy.processor

        def run() -> int:
            generate_texts(
                model,
                processor,
                self.images[: s["batch"]],
                self.prompts[: s["batch"]],
                max_new_tokens=s["new_tokens"],
                min_new_tokens=s["new_tokens"],
                batch_size=s["batch"],
            )
            return s["batch"] * s["new_tokens"]

        return self._decoding("evaluation", run, "greedy, batch 32 x 64 tok", batch=s["batch"])

    def _decoding(self, name: str, run: Callable[[], int], shape: str, batch: int) -> LoopResult:
        model = self.policy.model
        with FlopCounter(model) as counter:
            counter.active = False
            run()  # warm-up
            counter.active = True
            started = time.perf_counter()
            tokens = run()
            seconds = time.perf_counter() - started
        steps = tokens / batch
        return LoopResult(
            name,
            shape,
            _dtype(model),
            seconds,
            counter.total / 1e9,
            counter.weight_bytes / 1e9,
            {
                "tokens": tokens,
                "tokens_per_s": round(tokens / seconds, 1),
                "ms_per_step": round(1000 * seconds / steps, 1),
            },
        )

    def verdicts(self) -> LoopResult:
        from calibrate.config import ScorerConfig
        from calibrate.scorer.model import RScorer, select_pairs

        scorer = RScorer.from_config(
            ScorerConfig(backbone="smollm2-135m-instruct", batch_size=16), device="cpu"
        )
        tasks = [
            (item, cands[a], cands[b])
            for item in self.items[:8]
            for cands in [_candidates(item)]
            for a, b in select_pairs(range(len(cands)), 4)
        ]
        tasks += [(item, b, a) for item, a, b in tasks]
        with FlopCounter(scorer.model) as counter:
            counter.active = False
            scorer.score_pairs(tasks[:4])
            counter.active = True
            started = time.perf_counter()
            scorer.score_pairs(tasks)
            seconds = time.perf_counter() - started
        return LoopResult(
            "verdicts",
            f"{len(tasks)} ordered pairs, batch 16",
            _dtype(scorer.model),
            seconds,
            counter.total / 1e9,
            counter.weight_bytes / 1e9,
            {"ordered_pairs_per_s": round(len(tasks) / seconds, 2), "tokens": counter.tokens},
        )

    def rft_step(self) -> LoopResult:
        from calibrate.config import RFTConfig
        from calibrate.rationale_sft import train_rft

        cfg = RFTConfig(
            lora_r=16,
            lora_alpha=32,
            learning_rate=2e-4,
            max_steps=3,
            batch_size=8,
            max_items=24,
            mixed_precision=self.training_precision,
        )
        return _training_step(
            "rft_step",
            "batch 8, LoRA r16",
            self.training_precision,
            lambda out: train_rft(str(self.model_dir), self.items[:24], self.data_dir, cfg, out, 0),
        )

    def dpo_step(self) -> LoopResult:
        from calibrate.config import PreferenceConfig
        from calibrate.preference import train_preference
        from calibrate.records import PreferencePair

        cfg = PreferenceConfig(
            lora_r=32,
            lora_alpha=64,
            learning_rate=5e-5,
            max_steps=3,
            batch_size=4,
            mixed_precision=self.training_precision,
        )
        items = self.items[:12]
        pairs = [
            PreferencePair(
                i.id, 0, 1, f"{i.rationale}\nAnswer: {i.answer}", f"{i.rationale[::-1]}\nAnswer: no", 1.0, {}
            )
            for i in items
        ]
        return _training_step(
            "dpo_step",
            "batch 4 pairs, LoRA r32",
            self.training_precision,
            lambda out: train_preference(
                str(self.model_dir), pairs, {i.id: i for i in items}, self.data_dir, cfg, out, 0
            ),
        )

    def scorer_step(self) -> LoopResult:
        from calibrate.config import ScorerConfig
        from calibrate.scorer.labels import LabelledPair
        from calibrate.scorer.train import train_scorer

        cfg = ScorerConfig(backbone="smollm2-135m-instruct", train_steps=3, train_lora_r=16)
        examples = []
        for item in self.items[:16]:
            c = _candidates(item)
            examples += [LabelledPair(item, c[0], c[1], "A"), LabelledPair(item, c[1], c[0], "B")]
        return _training_step(
            "scorer_step",
            "batch 8, LoRA r16, SmolLM2-135M",
            "no",
            lambda out: train_scorer(cfg, examples, out, 0, device="cpu"),
        )


def _candidates(item: Any) -> list[Any]:
    """Four responses to ``item`` of realistic length (its rationale, variants, a wrong answer)."""
    from calibrate.records import Candidate

    texts = [
        f"{item.rationale}\nAnswer: {item.answer}",
        f"Let me look at the image. {item.rationale}\nAnswer: {item.answer}",
        f"{item.rationale} So the answer is not obvious.\nAnswer: unknown",
        f"I think the picture shows something else. {item.rationale[: len(item.rationale) // 2]}\nAnswer: 0",
    ]
    return [Candidate(k, t, t, None, "ok", None, 0.0, 0) for k, t in enumerate(texts)]


def _dtype(model: Any) -> str:
    return "bf16" if next(model.parameters()).dtype == torch.bfloat16 else "fp32"


def _training_step(name: str, shape: str, precision: str, train: Callable[[Path], Any]) -> LoopResult:
    """Runs ``train`` with ``Trainer.training_step`` timed and FLOPs counted per step; the mean after the first.

    ``precision`` ``bf16`` (bf16 autocast) places the loop against the bf16 peak.
    """
    import transformers

    original = transformers.Trainer.training_step
    steps: list[tuple[float, float, float]] = []

    def timed(self: Any, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        with FlopCounter(_causal_lm(model)) as counter:
            started = time.perf_counter()
            loss = original(self, model, inputs, *args, **kwargs)
            steps.append((time.perf_counter() - started, counter.total, counter.weight_bytes))
        return loss

    transformers.Trainer.training_step = timed
    try:
        with tempfile.TemporaryDirectory(prefix="srcal-roofline-") as tmp:
            train(Path(tmp) / "out")
    finally:
        transformers.Trainer.training_step = original
    kept = steps[1:] or steps
    seconds = statistics.mean(s for s, _, _ in kept)
    return LoopResult(
        name if precision != "bf16" else f"{name} (bf16 autocast)",
        shape,
        "bf16" if precision == "bf16" else "fp32",
        seconds,
        statistics.mean(f for _, f, _ in kept) / 1e9,
        statistics.mean(b for _, _, b in kept) / 1e9,
        {"steps_timed": len(kept)},
    )


def _causal_lm(model: Any) -> Any:
    """The module with ``get_decoder`` inside a (peft-wrapped) trainer model."""
    for module in model.modules():
        if hasattr(module, "get_decoder") and hasattr(module, "get_output_embeddings"):
            try:
                if module.get_output_embeddings() is not None:
                    return module
            except (AttributeError, NotImplementedError):
                continue
    raise ValueError("no causal LM with an output head inside the trainer's model")


# ------------------------------------------------------------------------------ CLI


def _model_dir(given: str | None, tmp: Path) -> Path:
    if given:
        from calibrate.zoo.names import resolve_model

        return Path(resolve_model(given))
    from calibrate.zoo.parts import smollm2_dir
    from calibrate.zoo.srcal_tiny import TinyRecipe, assemble_tiny

    model, processor = assemble_tiny(smollm2_dir(), TinyRecipe())
    model.save_pretrained(tmp / "srcal-tiny-arch")
    processor.save_pretrained(tmp / "srcal-tiny-arch")
    return tmp / "srcal-tiny-arch"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Policy (zoo name, directory); default: srcal-tiny's architecture.")
    parser.add_argument("--loops", default=",".join(LOOPS), help=f"Comma-separated, of {', '.join(LOOPS)}.")
    parser.add_argument(
        "--training-precision",
        default="no",
        choices=("no", "bf16"),
        help="mixed_precision of the RFT and DPO steps (bf16: autocast, placed against the bf16 peak).",
    )
    parser.add_argument(
        "--dtype", default="fp32", choices=("fp32", "bf16"), help="Policy dtype for decoding."
    )
    parser.add_argument("--json", help="Write the results here.")
    parser.add_argument("--markdown", help="Write the table here.")
    args = parser.parse_args(argv)
    loops = [name.strip() for name in args.loops.split(",") if name.strip()]
    unknown = [name for name in loops if name not in LOOPS]
    if unknown:
        parser.error(f"unknown loop {unknown[0]!r}; expected some of {', '.join(LOOPS)}")
    limits = measure_limits()
    print(f"limits: {limits}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="srcal-roofline-") as tmp:
        from benchmarks.build import build_dataset, load_data_config

        data_dir = Path(tmp) / "smoke"
        build_dataset(load_data_config("smoke"), data_dir)
        bench = Workbench(_model_dir(args.model, Path(tmp)), data_dir, args.training_precision, args.dtype)
        for name in loops:
            result = getattr(bench, name)().place(limits)
            print(f"{name}: {json.dumps(asdict(result))}", flush=True)
            results.append(result)
    table = markdown(limits, results)
    print(table)
    report = {"limits": asdict(limits), "loops": [asdict(r) for r in results], "torch": torch.__version__}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return report


if __name__ == "__main__":
    main()
