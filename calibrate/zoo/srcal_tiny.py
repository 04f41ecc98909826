"""``srcal-tiny``: the embedded base model, a real LLaVA built offline from real parts.

It plays LLaVA-1.5's role in the paper: a base vision-language model that answers
questions briefly, before SRC. Recipe (``TinyRecipe``), like LLaVA's two stages:

1. **Assemble** the standard transformers LLaVA architecture: the ImageNet-pretrained
   EfficientNet-Lite0 as the vision tower (128 px -> 4x4 = 16 tokens of 1280 channels), a
   new 2-layer GELU projector, SmolLM2-135M-Instruct as the language model with its own
   tokenizer plus an ``<image>`` token and a ChatML template.
2. **Align**: train the projector alone (tower and language model frozen) on short
   answers of the built-in ``base`` split.
3. **Instruction-tune**: LoRA on the attention of the language model's top layers (so that
   backward stops below them: 2x faster on CPU), on short answers of the ``base`` split in LLaVA-1.5's short-answer prompt format and the
   bare question format (so the model answers briefly either way); then merge.
4. **Evaluate** greedy short answers on every built-in ``test`` suite next to its
   majority-answer baseline; write the numbers into the model card.

Only the ``base`` split is used for training (disjoint from ``rft``, ``calib``, ``test``).
Everything is seeded; the output directory is written atomically and a rebuild with
the same recipe, data and parts is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.fileio import atomic_write_json, srcal_home

RECIPE_FILE = "srcal_recipe.json"
NAME = "srcal-tiny"


@dataclass
class TinyRecipe:
    """How srcal-tiny is built. Every field is part of the cache key."""

    seed: int = field(default=0, metadata={"help": "Seed of assembly, sampling and training."})
    data_preset: str = field(
        default="default", metadata={"help": "Built-in data preset whose `base` split trains it."}
    )
    image_size: int = field(default=128, metadata={"help": "Input resolution of the vision tower (px)."})
    patch_size: int = field(
        default=32, metadata={"help": "Output stride of EfficientNet-Lite0: (128/32)^2 = 16 tokens."}
    )
    batch_size: int = field(default=8, metadata={"help": "Training batch size of both stages."})
    align_steps: int = field(default=150, metadata={"help": "Projector-alignment steps (stage 1)."})
    align_lr: float = field(default=1e-3, metadata={"help": "Learning rate of stage 1."})
    tune_steps: int = field(default=150, metadata={"help": "Instruction-tuning steps (stage 2)."})
    tune_lr: float = field(default=3e-4, metadata={"help": "Learning rate of stage 2 (LoRA and projector)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank of stage 2 (language-model attention)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha of stage 2."})
    lora_top_layers: int = field(
        default=15,
        metadata={"help": "Stage 2 adapts only the top N language-model layers (backward stops below them)."},
    )
    short_prompt_share: float = field(
        default=0.5, metadata={"help": "Share of training prompts with LLaVA-1.5's short-answer instruction."}
    )
    eval_per_suite: int = field(
        default=100, metadata={"help": "Test items per suite evaluated for the card (the first N)."}
    )
    eval_batch_size: int = field(default=32, metadata={"help": "Batch size of the evaluation's generation."})
    max_new_tokens: int = field(default=8, metadata={"help": "Generation budget of a short answer."})

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


Progress = Callable[[str], None]


def default_dir() -> Path:
    return srcal_home() / "zoo" / NAME


def build_srcal_tiny(
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    recipe: TinyRecipe | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> Path:
    """Build srcal-tiny into ``out`` (default ``$SRCAL_HOME/zoo/srcal-tiny``); returns the directory."""
    from benchmarks.build import build_dataset, load_data_config
    from calibrate.zoo.parts import smollm2_gguf

    smollm2_gguf()  # a missing part (PartsMissingError: how to install it) is said before the data build
    recipe = recipe or TinyRecipe()
    say = progress or (lambda _m: None)
    out = Path(out) if out else default_dir()
    data_dir = Path(data_dir) if data_dir else srcal_home() / "data" / recipe.data_preset
    started = time.perf_counter()

    manifest = build_dataset(load_data_config(recipe.data_preset), data_dir, progress=say)
    cache_key = _cache_key(recipe, manifest)
    record_path = out / RECIPE_FILE
    if (
        not force
        and record_path.is_file()
        and json.loads(record_path.read_text()).get("cache_key") == cache_key
    ):
        say(f"{out}: up to date (recipe {cache_key['recipe'][:12]}), nothing to do")
        return out

    import torch

    torch.manual_seed(recipe.seed)
    random.seed(recipe.seed)
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        record = _train(stage, recipe, data_dir, manifest, cache_key, say, started)
        atomic_write_json(stage / RECIPE_FILE, record)
        (stage / "README.md").write_text(model_card(record))
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    say(f"built {out} in {time.perf_counter() - started:.0f} s")
    return out


def _cache_key(recipe: TinyRecipe, manifest: dict[str, Any]) -> dict[str, Any]:
    """What a cached build must match: recipe, data splits, the parts' file names."""
    from calibrate.zoo.parts import smollm2_gguf
    from calibrate.zoo.vision_tower import lite0_weights_path

    return {
        "recipe": recipe.key(),
        "base_split_sha256": manifest["splits"]["base"]["sha256"],
        "test_split_sha256": manifest["splits"]["test"]["sha256"],
        "smollm2_gguf": smollm2_gguf().name,
        "lite0_weights": lite0_weights_path().name,
    }


def _train(
    stage: Path,
    recipe: TinyRecipe,
    data_dir: Path,
    manifest: dict[str, Any],
    cache_key: dict[str, Any],
    say: Progress,
    started: float,
) -> dict[str, Any]:
    """Assemble, align, tune and evaluate; save model and processor to ``stage``; the build record."""
    from calibrate.zoo.parts import smollm2_dir

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say("assembling EfficientNet-Lite0 + projector + SmolLM2-135M-Instruct")
    model, processor = assemble_tiny(smollm2_dir(), recipe)
    timings["assemble_s"] = round(time.perf_counter() - t0, 1)

    base_items = _read_split(data_dir, "base")
    t0 = time.perf_counter()
    say(f"stage 1: projector alignment, {recipe.align_steps} steps")
    align = _train_stage(model, processor, base_items, data_dir, recipe, stage="align")
    timings["align_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    say(
        f"stage 2: short-answer instruction tune (LoRA r={recipe.lora_r}, top {recipe.lora_top_layers} layers), "
        f"{recipe.tune_steps} steps"
    )
    model, tune = _train_stage(model, processor, base_items, data_dir, recipe, stage="tune")
    timings["tune_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    say(f"evaluating on the built-in test suites ({recipe.eval_per_suite} items each)")
    evaluation = evaluate_short_answers(model, processor, data_dir, recipe, manifest, say)
    timings["eval_s"] = round(time.perf_counter() - t0, 1)
    timings["total_s"] = round(time.perf_counter() - started, 1)

    model.save_pretrained(stage)
    processor.save_pretrained(stage)
    record = {
        "name": NAME,
        "cache_key": cache_key,
        "recipe": asdict(recipe),
        "data": {"dir": str(data_dir), "base_sha256": cache_key["base_split_sha256"]},
        "training": {"align": align, "tune": tune},
        "evaluation": evaluation,
        "timings": timings,
    }
    return record


# ----------------------------------------------------------------------------- assembly


def assemble_tiny(smollm2: Path, recipe: TinyRecipe) -> tuple[Any, Any]:
    """The untrained srcal-tiny: pretrained tower and language model, a fresh projector."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM, LlavaForConditionalGeneration

    from calibrate.zoo.assemble import generation_config, llava_config, llava_processor
    from calibrate.zoo.tokenizer import IMAGE_TOKEN
    from calibrate.zoo.vision_tower import load_pretrained_efficientnet_lite0

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    language_model = LlamaForCausalLM.from_pretrained(smollm2, dtype=torch.float32)
    tower = load_pretrained_efficientnet_lite0(recipe.image_size)

    text_config = language_model.config
    old_vocab = text_config.vocab_size
    text_config.vocab_size = len(tokenizer)
    config = llava_config(tower.config, text_config, tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    torch.manual_seed(recipe.seed)
    model = LlavaForConditionalGeneration(config)
    model.model.vision_tower.load_state_dict(tower.state_dict())
    weights = language_model.model.state_dict()
    embed = weights.pop("embed_tokens.weight")
    new_embed = model.model.language_model.embed_tokens.weight
    with torch.no_grad():
        new_embed[:old_vocab] = embed
        new_embed[old_vocab:] = embed.mean(dim=0, keepdim=True)  # the <image> row is never predicted
    missing, unexpected = model.model.language_model.load_state_dict(weights, strict=False)
    if unexpected or [k for k in missing if k != "embed_tokens.weight"]:
        raise RuntimeError(f"SmolLM2 weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model.generation_config = generation_config(tokenizer, recipe.max_new_tokens)
    processor = llava_processor(tokenizer, recipe.image_size, recipe.patch_size)
    return model, processor


# ----------------------------------------------------------------------------- training


def _read_split(data_dir: Path, split: str) -> list[Any]:
    from benchmarks.records import read_items

    return read_items(data_dir / f"{split}.jsonl")


def short_answer_rows(
    items: list[Any], data_dir: Path, recipe: TinyRecipe, salt: str
) -> list[dict[str, Any]]:
    """trl conversational prompt/completion rows: image + question -> the gold short answer."""

    from benchmarks.paths import item_image_path
    from calibrate.generation import assistant_turn, item_turn, load_rgb

    rng = random.Random(f"{recipe.seed}/{salt}")
    paths = [item_image_path(data_dir, item) for item in items]  # refused before any read
    rows = []
    for item, path in zip(items, paths):
        style = "plain" if rng.random() < recipe.short_prompt_share else "bare"
        rows.append(
            {
                "images": [load_rgb(path)],
                "prompt": item_turn(item, style),
                "completion": assistant_turn(item.answer),
            }
        )
    return rows


def _train_stage(
    model: Any, processor: Any, items: list[Any], data_dir: Path, recipe: TinyRecipe, stage: str
) -> Any:
    """Run one SFT stage with trl; ``align`` trains the projector, ``tune`` a LoRA (merged after)."""
    import datasets
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    steps = recipe.align_steps if stage == "align" else recipe.tune_steps
    rng = random.Random(f"{recipe.seed}/{stage}/order")
    needed = steps * recipe.batch_size
    chosen = (
        [items[rng.randrange(len(items))] for _ in range(needed)]
        if needed > len(items)
        else rng.sample(items, needed)
    )
    rows = short_answer_rows(chosen, data_dir, recipe, salt=stage)
    dataset = datasets.Dataset.from_list(rows)

    peft_config = None
    if stage == "align":
        for name, param in model.named_parameters():
            param.requires_grad = "multi_modal_projector" in name
    else:
        n_layers = model.config.text_config.num_hidden_layers
        top = "|".join(str(i) for i in range(max(0, n_layers - recipe.lora_top_layers), n_layers))
        peft_config = LoraConfig(
            r=recipe.lora_r,
            lora_alpha=recipe.lora_alpha,
            lora_dropout=0.0,
            target_modules=rf".*language_model.*\.layers\.({top})\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
            task_type="CAUSAL_LM",
        )
    with tempfile.TemporaryDirectory(prefix=f"srcal-tiny-{stage}-") as tmp:
        args = SFTConfig(
            output_dir=tmp,
            max_steps=steps,
            per_device_train_batch_size=recipe.batch_size,
            learning_rate=recipe.align_lr if stage == "align" else recipe.tune_lr,
            lr_scheduler_type="cosine",
            warmup_steps=max(1, steps // 20),
            logging_steps=max(1, steps // 10),
            save_strategy="no",
            report_to=[],
            seed=recipe.seed,
            data_seed=recipe.seed,
            gradient_checkpointing=False,
            max_length=None,
            dataloader_num_workers=0,
            use_cpu=not _cuda(),
            disable_tqdm=False,
        )
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=dataset, processing_class=processor, peft_config=peft_config
        )
        result = trainer.train()
        losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    summary = {
        "steps": steps,
        "examples": len(rows),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "train_loss": result.training_loss,
        "seconds": round(result.metrics.get("train_runtime", 0.0), 1),
    }
    if stage == "align":
        for param in model.parameters():
            param.requires_grad = True
        return summary
    merged = trainer.model.merge_and_unload()
    merged.eval()
    return merged, summary


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# ----------------------------------------------------------------------------- evaluation


def evaluate_short_answers(
    model: Any, processor: Any, data_dir: Path, recipe: TinyRecipe, manifest: dict[str, Any], say: Progress
) -> dict[str, Any]:
    """Greedy short answers on each built-in test suite: accuracy vs the majority-answer baseline."""
    from PIL import Image

    from benchmarks.paths import item_image_path
    from benchmarks.registry import BENCHMARKS
    from calibrate.generation import generate_texts

    model.eval()
    test = _read_split(data_dir, "test")
    chosen = {
        suite: [i for i in test if i.suite == suite][: recipe.eval_per_suite]
        for suite in manifest["config"]["suites"]
    }
    paths = {i.id: item_image_path(data_dir, i) for items in chosen.values() for i in items}  # refused first
    results: dict[str, Any] = {}
    for suite, items in chosen.items():
        spec = BENCHMARKS.get(suite)
        docs = [spec.to_doc(i.to_dict()) for i in items]
        images = []
        for item in items:
            with Image.open(paths[item.id]) as image:
                images.append(image.convert("RGB"))
        prompts = [spec.prompt(d, style="plain") for d in docs]
        responses = generate_texts(
            model,
            processor,
            images,
            prompts,
            max_new_tokens=recipe.max_new_tokens,
            batch_size=recipe.eval_batch_size,
        )
        rows = [spec.score(r, d) for r, d in zip(responses, docs)]
        summary = spec.aggregate(rows)
        results[suite] = {
            "n": summary["n"],
            "accuracy": round(summary["accuracy"], 4),
            "majority_baseline": manifest["suites"][suite]["test_majority_baseline"],
            "parse_failure_rate": round(summary["parse_failure_rate"], 4),
            "category": manifest["suites"][suite]["category"],
            "examples": [
                {"question": d.question, "answer": d.answer, "response": r}
                for d, r in list(zip(docs, responses))[:3]
            ],
        }
        say(
            f"  {suite:10s} accuracy {summary['accuracy']:.3f}  (majority {results[suite]['majority_baseline']:.3f})"
        )
    return results


def model_card(record: dict[str, Any]) -> str:
    recipe = record["recipe"]
    lines = [
        "---",
        "license: apache-2.0",
        "library_name: transformers",
        "pipeline_tag: image-text-to-text",
        "tags: [srcal, llava, efficientnet-lite0, smollm2]",
        "---",
        f"# {NAME}",
        "",
        "A LLaVA-architecture vision-language model built offline by `srcal zoo build srcal-tiny` from real",
        "pretrained parts: EfficientNet-Lite0 (ImageNet, Apache-2.0) as the vision tower, a 2-layer GELU projector,",
        "SmolLM2-135M-Instruct (Apache-2.0) as the language model. It answers briefly: the base model of SRC.",
        "Import `calibrate.zoo.vision_tower` before `LlavaForConditionalGeneration.from_pretrained(dir)`.",
        "",
        "## Recipe",
        "",
        "| field | value |",
        "|---|---|",
        *[f"| `{k}` | {v} |" for k, v in recipe.items()],
        "",
        "Stage 1 trains the projector alone; stage 2 trains LoRA on the attention of the language model's top",
        "layers (merged afterwards). Both on short answers of the built-in `base` split only.",
        "",
        "## Data",
        "",
        f"- `base` split sha256: `{record['data']['base_sha256']}`",
        "",
        "## Training",
        "",
        "| stage | steps | first logged loss | last logged loss | seconds |",
        "|---|---|---|---|---|",
    ]
    for stage, info in record["training"].items():
        lines.append(
            f"| {stage} | {info['steps']} | {info['first_logged_loss']:.3f} | {info['last_logged_loss']:.3f} | {info['seconds']} |"
        )
    lines += ["", accuracy_table(record["evaluation"])]
    lines += ["", "## Timings (s)", "", *[f"- {k}: {v}" for k, v in record["timings"].items()], ""]
    return "\n".join(lines)


def accuracy_table(evaluation: dict[str, Any]) -> str:
    """The card's accuracy section (markdown) from a build record's ``evaluation``."""
    lines = [
        "## Accuracy on the built-in test suites (greedy, short-answer prompt)",
        "",
        "| suite | category | n | accuracy | majority-answer baseline | parse failures |",
        "|---|---|---|---|---|---|",
    ]
    for suite, info in evaluation.items():
        lines.append(
            f"| {suite} | {info['category']} | {info['n']} | {info['accuracy']:.3f} | "
            f"{info['majority_baseline']:.3f} | {info['parse_failure_rate']:.3f} |"
        )
    return "\n".join(lines)
