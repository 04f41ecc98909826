"""The llava15-7b preset's code paths at the real LLaVA-1.5-7B shape on a CPU, in bf16: seconds and peak RSS.

Random weights (`tools/llava_shape.py`: LLaVA-1.5-7B's architecture, srcal-micro's tokenizer) and a
random-weight R-Scorer of Qwen2.5-1.5B-Instruct's architecture (the preset's ``scorer.backbone``, in its
``scorer.dtype`` fp32), built once into ``--work``. Each stage then runs in its own process through the
function the loop (`srcal calibrate`) or the harness (`srcal eval`) calls, with the preset's settings
except where ``--set``/the CPU defaults below reduce them:

    python -m tools.cpu_7b_check build --work DIR     # ~14 GB + ~6 GB on disk, once (--shape tiny: MBs)
    python -m tools.cpu_7b_check all --work DIR       # every stage below, one process each
    python -m tools.cpu_7b_check candidates|verdicts|preference|eval --work DIR
    python -m tools.cpu_7b_check report --work DIR    # figures.json + figures.md from the stages run

- ``candidates``: one candidate-search batch (`calibrate.candidates.generate_candidates`, the function
  `CandidateStage` runs), N 8, temperature 1, top-p 0.95; CPU: 1 prompt (preset 8), 64 new tokens (256).
- ``verdicts``: one R-Scorer forward batch of the preset's 16 rows (`calibrate.verdicts.VerdictStage`):
  one item's 8 candidates of 800 characters (the scorer's response budget), 8 pairs in both orders,
  the scorer backbone loaded with a LoRA r 16 adapter merged, as after the scorer stage.
- ``preference``: one DPO + SFT step (`calibrate.preference.PreferenceStage`: trl DPOTrainer, LoRA
  r 256 / alpha 512, gradient checkpointing, the adapter-disabled reference), then its final evaluation
  pass and the checkpoint save (adapter + merged model); CPU: 1 pair per batch (preset 8), responses of
  ~800 characters (256 LLaVA tokens).
- ``eval``: one evaluation batch (`harness.evaluate.evaluate`, `srcal eval`'s function) of the
  preference stage's adapter (merged) on easyvqa; CPU: 4 prompts (preset 16), 32 new tokens (512).

Each stage writes ``DIR/figures/<stage>.json``: wall seconds, peak RSS (``VmHWM``, reset per phase
through ``/proc/self/clear_refs``) per phase (load, work, save), and the forward passes' timings
(prefill and per-step decoding); ``all`` also writes ``DIR/figures.json`` and a Markdown table. The
answers are noise: these runs measure memory and time only. HF_HUB_OFFLINE=1 and SRCAL_HOME should be set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

STAGES = ("candidates", "verdicts", "preference", "eval")
PRESET = "llava15-7b"
POLICY = "llava-7b-shape"
SCORER = "qwen2.5-1.5b-shape"
SCORER_ADAPTER = "scorer-adapter"
SCORER_SHAPES = {
    "7b": {  # the preset's R-Scorer backbone: Qwen/Qwen2.5-1.5B-Instruct's config.json
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
    },
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 1024,
    },
}
QWEN_COMMON = {
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
CPU_DEFAULTS = {
    "candidates": ["candidates.batch_size=1", "candidates.max_new_tokens=64"],
    "verdicts": ["scorer.max_pairs_per_item=8"],
    "preference": ["preference.batch_size=1", "preference.max_steps=1"],
    "eval": ["eval.batch_size=4", "eval.max_new_tokens=32"],
}
"""What each stage reduces from the preset on 2 CPU cores (``--set`` adds to these)."""
RESPONSE_CHARS = 800
"""Length of the synthetic responses the scorer and DPO read (the scorer's response budget)."""


# --------------------------------------------------------------------------- memory and time


def proc_status() -> dict[str, float]:
    """This process's VmHWM, VmRSS, RssAnon and RssFile in GiB (Linux ``/proc/self/status``)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 2**20, 3)
    return out


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (writing 5 to ``/proc/self/clear_refs``)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class Recorder:
    """Phases (seconds and peak RSS each) and top-level forward passes of one stage process."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.phases: dict[str, dict[str, float]] = {}
        self.forwards: list[dict[str, Any]] = []
        self.peak = 0.0

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        reset_peak()
        began = time.perf_counter()
        try:
            yield
        finally:
            status = proc_status()
            self.peak = max(self.peak, status["VmHWM"])
            self.phases[name] = {
                "seconds": round(time.perf_counter() - began, 2),
                "peak_rss_gib": status["VmHWM"],
            }
            self.phases[name].update({k: status[k] for k in ("RssAnon", "RssFile")})

    def hook(self, module: Any) -> None:
        """Time every forward of ``module`` with the shape of its ``input_ids``."""
        marks: dict[str, float] = {}

        def pre(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
            marks["t"] = time.perf_counter()

        def post(_module: Any, _args: Any, kwargs: dict[str, Any], _out: Any) -> None:
            ids = kwargs.get("input_ids")
            shape = list(ids.shape) if ids is not None else None
            self.forwards.append({"shape": shape, "seconds": time.perf_counter() - marks["t"]})

        module.register_forward_pre_hook(pre, with_kwargs=True)
        module.register_forward_hook(post, with_kwargs=True)

    def forward_summary(self) -> dict[str, Any]:
        """Prefill (input length > 1) and decoding (length 1) forwards: count, tokens, seconds."""
        out: dict[str, Any] = {}
        for kind, test in (("prefill", lambda n: n > 1), ("decode", lambda n: n == 1)):
            rows = [f for f in self.forwards if f["shape"] and test(f["shape"][1])]
            if not rows:
                continue
            seconds = sum(f["seconds"] for f in rows)
            tokens = sum(f["shape"][0] * f["shape"][1] for f in rows)
            out[kind] = {
                "forwards": len(rows),
                "rows": sorted({f["shape"][0] for f in rows}),
                "tokens": tokens,
                "seconds": round(seconds, 2),
                "s_per_forward": round(seconds / len(rows), 3),
                "ms_per_token": round(1000 * seconds / tokens, 2),
            }
            if kind == "prefill":
                out[kind]["lengths"] = sorted({f["shape"][1] for f in rows})
        return out


@contextmanager
def timed_loads(recorder: Recorder) -> Iterator[None]:
    """Hook the forwards of every model `calibrate.models.load_model` returns (the stages import it late)."""
    import calibrate.models as models

    original = models.load_model

    def load_model(*args: Any, **kwargs: Any) -> Any:
        with recorder.phase(f"load {Path(str(args[0])).name}"):
            loaded = original(*args, **kwargs)
        base = (
            loaded.model
        )  # a LLaVA's own forward (it takes input_ids), a causal LM's decoder (the scorer's)
        recorder.hook(base if base.config.model_type == "llava" else base.get_decoder())
        return loaded

    models.load_model = load_model
    try:
        yield
    finally:
        models.load_model = original


@contextmanager
def timed_call(recorder: Recorder, owner: Any, name: str, label: str) -> Iterator[None]:
    """Record ``owner.name(...)`` calls as phase ``label`` (a method or module function)."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with recorder.phase(label):
            return original(*args, **kwargs)

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def versions() -> dict[str, str | None]:
    """The run's package versions (`calibrate.artifacts.versions`) and this machine: CPU, threads, memory."""
    import torch

    from calibrate.artifacts import versions as package_versions

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        **package_versions(),
        "cpu": cpu,
        "threads": str(torch.get_num_threads()),
        "mem_total_gib": str(round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)),
    }


# --------------------------------------------------------------------------- building


def build(work: Path, shape: str = "7b") -> None:
    """The 7B-shaped policy (bf16), the Qwen2.5-1.5B-shaped scorer (fp32) and its LoRA r 16 adapter.

    ``tiny``: the same architectures at small sizes (checks this script in seconds).
    """
    import torch
    from peft import get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from calibrate.models import load_model, save_adapter
    from calibrate.scorer.train import scorer_lora_config
    from calibrate.zoo.tokenizer import build_micro_tokenizer
    from tools.llava_shape import build as build_llava

    work.mkdir(parents=True, exist_ok=True)
    if not (work / POLICY / "config.json").is_file():
        build_llava(work / POLICY, shape)
    scorer_dir = work / SCORER
    if not (scorer_dir / "config.json").is_file():
        tokenizer = build_micro_tokenizer()
        config = Qwen2Config(
            **SCORER_SHAPES[shape],
            **QWEN_COMMON,
            bos_token_id=None,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(config).eval()  # fp32, as scorer.dtype
        model.save_pretrained(scorer_dir)
        tokenizer.save_pretrained(scorer_dir)
        del model
        print(f"{scorer_dir}: Qwen2.5-1.5B-Instruct's architecture, random fp32 weights")
    if not (work / SCORER_ADAPTER / "adapter_config.json").is_file():
        cfg = spec_for("verdicts", []).calibration.scorer
        loaded = load_model(str(scorer_dir), dtype="fp32", device="cpu")
        peft_model = get_peft_model(loaded.model, scorer_lora_config(cfg, loaded.model))
        for name, param in peft_model.named_parameters():  # a non-zero B: the merge changes the weights
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=1e-3)
        save_adapter(peft_model, work / SCORER_ADAPTER, loaded)
        print(f"{work / SCORER_ADAPTER}: LoRA r {cfg.train_lora_r} on the scorer")


# --------------------------------------------------------------------------- the stages


def spec_for(stage: str, extra: list[str], work: Path | None = None) -> Any:
    """The llava15-7b run spec on the built model, bf16, smoke pools, with the stage's CPU reductions."""
    from harness.run_spec import resolve_run_spec

    overrides = ["model.dtype=bf16", "model.device=cpu", "data_preset=smoke"]
    if work is not None:
        overrides.append(f"model.base={work / POLICY}")
    overrides += CPU_DEFAULTS.get(stage, []) + list(extra)
    return resolve_run_spec(PRESET, overrides=overrides)


def data_dir() -> Path:
    from benchmarks.fileio import srcal_home

    return srcal_home() / "data" / "smoke"


def _calib_items(n: int) -> list[Any]:
    from benchmarks.records import read_items

    items = read_items(data_dir() / "calib.jsonl")
    if len(items) < n:
        raise SystemExit(f"{data_dir()} holds {len(items)} calib items, {n} needed")
    return items[:n]


def _response_text(item: Any, k: int) -> str:
    """A response of about `RESPONSE_CHARS` characters ending in the item's answer line (varies with k)."""
    words = (item.rationale or item.question).split() or ["noise"]
    body, i = [], k
    while len(" ".join(body)) < RESPONSE_CHARS - 30:
        body.append(words[i % len(words)])
        i += k + 1
    return " ".join(body) + f"\nAnswer: {item.answer}"


def _artifact(path: Path) -> Any:
    from calibrate.artifacts import Artifact

    return Artifact(path, "cpu-7b-check")


def run_candidates(work: Path, extra: list[str], rec: Recorder) -> dict[str, Any]:
    import calibrate.models as models
    from calibrate.candidates import generate_candidates

    cfg = spec_for("candidates", extra, work).calibration
    items = _calib_items(cfg.candidates.batch_size)
    out = work / "run" / "candidates.jsonl"
    out.unlink(missing_ok=True)
    with timed_loads(rec):
        policy = models.load_model(cfg.model.base, **cfg.model.load_kwargs())
    with rec.phase("candidate batch"):
        summary = generate_candidates(policy, items, data_dir(), cfg.candidates, out, seed=1)
    keys = ("items", "candidates", "tokens", "seconds", "tokens_per_s")
    return {
        "settings": _settings(cfg.candidates, ("batch_size", "num_candidates", "max_new_tokens")),
        "summary": {k: summary[k] for k in keys},
    }


def run_verdicts(work: Path, extra: list[str], rec: Recorder) -> dict[str, Any]:
    from calibrate.records import Candidate, CandidateSet
    from calibrate.verdicts import VerdictJob, VerdictStage

    spec = spec_for("verdicts", extra, work)
    cfg = spec.calibration
    cfg.scorer = replace(cfg.scorer, backbone=str(work / SCORER))
    (item,) = _calib_items(1)
    n = cfg.candidates.num_candidates
    texts = [_response_text(item, k) for k in range(n)]
    cands = [
        Candidate(k, t, t.rsplit("\n", 1)[0], item.answer, "ok", True, -1.0, len(t) // 3)
        for k, t in enumerate(texts)
    ]
    directory = work / "run"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "verdict-candidates.jsonl"
    path.write_text(json.dumps(CandidateSet(item.id, cands, n).to_dict()) + "\n")
    (directory / "verdicts.jsonl").unlink(missing_ok=True)
    job = VerdictJob(
        cfg, [item], _artifact(path), data_dir(), _artifact(work / POLICY), _artifact(work / SCORER_ADAPTER)
    )
    with timed_loads(rec):
        _, summary = VerdictStage(job, directory).run()
    keys = ("items", "pairs", "ordered_pairs", "forwards", "seconds", "pairs_per_s")
    settings = _settings(
        cfg.scorer, ("dtype", "batch_size", "max_pairs_per_item", "both_orders", "train_lora_r")
    )
    return {
        "settings": {**settings, "candidates": n, "response_chars": RESPONSE_CHARS},
        "summary": {k: summary.get(k) for k in keys},
    }


def run_preference(work: Path, extra: list[str], rec: Recorder) -> dict[str, Any]:
    import trl

    import calibrate.checkpoints as checkpoints
    from calibrate.preference import PreferenceStage
    from calibrate.records import PreferencePair

    cfg = spec_for("preference", extra, work).calibration
    items = _calib_items(cfg.preference.batch_size)
    directory = work / "run" / "iter_1"
    directory.mkdir(parents=True, exist_ok=True)
    pairs = [
        PreferencePair(
            item.id, 0, 1, _response_text(item, 0), _response_text(item, 1), 0.5, {"0": 1.0, "1": 0.5}
        )
        for item in items
    ]
    path = directory / "pairs.jsonl"
    path.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pairs))
    stage = PreferenceStage(
        cfg.preference,
        _artifact(work / POLICY),
        _artifact(path),
        items,
        data_dir(),
        directory,
        1,
        cfg.candidates.prompt_style,
        cfg.model,
    )
    with (
        timed_loads(rec),
        timed_call(rec, trl.DPOTrainer, "train", "DPO+SFT step"),
        timed_call(rec, trl.DPOTrainer, "evaluate", "final reward pass"),
        timed_call(rec, checkpoints, "save_checkpoint", "save adapter + merged model"),
    ):
        _, summary = stage.run()
    keys = ("pairs", "steps", "train_loss", "reward_accuracy_final")
    fields = ("batch_size", "max_steps", "lora_r", "lora_alpha", "gradient_checkpointing", "mixed_precision")
    return {
        "settings": {**_settings(cfg.preference, fields), "response_chars": RESPONSE_CHARS},
        "summary": {k: summary.get(k) for k in keys},
    }


def run_eval(work: Path, extra: list[str], rec: Recorder) -> dict[str, Any]:
    import calibrate.generation as generation
    from harness.evaluate import evaluate

    spec = spec_for("eval", extra, work)
    adapter = work / "run" / "iter_1" / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise SystemExit(f"no adapter at {adapter}: run the preference stage first")
    cfg = replace(
        spec.eval,
        benchmarks=["easyvqa"],
        data_dir=str(data_dir()),
        limit=spec.eval.batch_size,
        dtype="bf16",
        device="cpu",
        bootstrap_samples=100,
    )
    cfg.reader = replace(cfg.reader, name="conclusion")
    out = work / "run" / "eval"
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    with timed_loads(rec), timed_call(rec, generation, "generate_texts", "evaluation batch"):
        results = evaluate(str(work / POLICY), str(adapter), cfg, out)
    metrics = results["easyvqa"]
    return {
        "settings": {"batch_size": cfg.batch_size, "max_new_tokens": cfg.max_new_tokens, "adapter": "merged"},
        "summary": {"n": metrics["n"], "seconds": metrics["provenance"]["seconds"]},
    }


def _settings(cfg: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in names}


RUNNERS: dict[str, Callable[[Path, list[str], Recorder], dict[str, Any]]] = {
    "candidates": run_candidates,
    "verdicts": run_verdicts,
    "preference": run_preference,
    "eval": run_eval,
}


def run_stage(stage: str, work: Path, extra: list[str]) -> dict[str, Any]:
    """One stage in this process; writes and returns its figures."""
    rec = Recorder()
    result = RUNNERS[stage](work, extra, rec)
    status = proc_status()
    figures = {
        "stage": stage,
        "wall_s": round(time.perf_counter() - rec.started, 1),
        # VmHWM is reset per phase: the stage's peak is the largest phase peak
        "peak_rss_gib": round(max(rec.peak, status["VmHWM"]), 2),
        **result,
        "phases": rec.phases,
        "forwards": rec.forward_summary(),
        "reductions": CPU_DEFAULTS.get(stage, []) + list(extra),
        "command": f"python -m tools.cpu_7b_check {stage} --work {work}",
        "versions": versions(),
    }
    out = work / "figures" / f"{stage}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
    return figures


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of stage, settings, wall seconds and peak RSS."""
    lines = ["| stage | CPU settings (preset's otherwise) | wall s | peak RSS GiB |", "|---|---|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['stage']} | {row['error']} | - | - |")
            continue
        settings = ", ".join(f"{k} {v}" for k, v in row["settings"].items())
        lines.append(f"| {row['stage']} | {settings} | {row['wall_s']:.0f} | {row['peak_rss_gib']:.2f} |")
    return "\n".join(lines)


def run_all(work: Path, extra: list[str], stages: tuple[str, ...] = STAGES) -> None:
    """Every stage in its own process (an OOM kill loses only its own figures), then `report`."""
    for stage in stages:
        cmd = [sys.executable, "-m", "tools.cpu_7b_check", stage, "--work", str(work)]
        for item in extra:
            cmd += ["--set", item]
        print(f"== {stage}: {' '.join(cmd)}", flush=True)
        (work / "figures" / f"{stage}.json").unlink(missing_ok=True)
        code = subprocess.call(cmd)
        if code != 0:
            print(f"== {stage}: exit code {code}", flush=True)
    report(work, stages)


def report(work: Path, stages: tuple[str, ...] = STAGES) -> None:
    """``DIR/figures.json`` and ``DIR/figures.md`` from the stages' figures (a missing one: an error row)."""
    rows = []
    for stage in stages:
        path = work / "figures" / f"{stage}.json"
        rows.append(
            json.loads(path.read_text()) if path.is_file() else {"stage": stage, "error": "no figures"}
        )
    (work / "figures.json").write_text(json.dumps(rows, indent=1) + "\n")
    (work / "figures.md").write_text(table(rows) + "\n")
    print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("build", "all", "report", *STAGES))
    parser.add_argument("--work", type=Path, required=True, help="models, run files and figures")
    parser.add_argument("--set", action="append", default=[], help="a further preset override, KEY=VALUE")
    parser.add_argument("--shape", choices=("7b", "tiny"), default="7b", help="build: the sizes")
    args = parser.parse_args()
    if args.stage == "build":
        build(args.work, args.shape)
    elif args.stage == "all":
        run_all(args.work, args.set)
    elif args.stage == "report":
        report(args.work)
    else:
        run_stage(args.stage, args.work, args.set)


if __name__ == "__main__":
    main()
