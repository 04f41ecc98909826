"""Evaluation throughput and cache (``tox -e bench``), measured side by side in one run.

- native vs stock: the same srcal-tiny checkpoint on the same exported built-in task
  (easyvqa, 200 test items, short-answer prompts, 16 new tokens, greedy), through
  ``srcal eval`` (native engine, batch 16) and through lmms-eval's stock ``llava_hf`` model
  (batch 1: it refuses larger batches). Both timed as whole CLI runs (start-up and model load
  included), accuracy compared. Target: >= 2x samples/s with identical accuracy.
- cache: re-evaluating an unchanged checkpoint vs its first evaluation. Target: <= 5% of the time.

The checkpoint is ``$SRCAL_BENCH_MODEL`` if set (e.g. a built srcal-tiny), else srcal-tiny's
architecture assembled from the real parts with an untrained projector (speed does not depend on
training; accuracy then is near chance on both sides).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ITEMS = 200
NEW_TOKENS = 16


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("SRCAL_BENCH_MODEL"):
        return Path(os.environ["SRCAL_BENCH_MODEL"])
    from calibrate.zoo.parts import smollm2_dir
    from calibrate.zoo.srcal_tiny import TinyRecipe, assemble_tiny

    model, processor = assemble_tiny(smollm2_dir(), TinyRecipe())
    out = tmp_path_factory.mktemp("tiny") / "srcal-tiny-untrained"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks.build import build_dataset, load_data_config

    out = tmp_path_factory.mktemp("data") / "default"
    build_dataset(load_data_config("default"), out)
    return out


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=3600)
    return time.perf_counter() - started, proc


def test_native_engine_vs_lmms_eval_llava_hf(
    benchmark, model_dir: Path, default_dataset: Path, tmp_path: Path
) -> None:
    pytest.importorskip("lmms_eval")
    from benchmarks.lmms_tasks import export_lmms_tasks

    [task] = export_lmms_tasks(
        default_dataset,
        tmp_path / "tasks",
        ["easyvqa"],
        limit=ITEMS,
        prompt_style="plain",
        max_new_tokens=NEW_TOKENS,
    )
    # lmms-eval's stock class loads through AutoConfig: register srcal-tiny's vision tower first
    # (the one import srcal's own loader does), then run lmms-eval's CLI unchanged.
    run_cli = "import runpy, calibrate.zoo.vision_tower; runpy.run_module('lmms_eval', run_name='__main__', alter_sys=True)"
    stock_cmd = [sys.executable, "-c", run_cli, "eval", "--model", "llava_hf"]
    stock_cmd += [
        "--model_args",
        f"pretrained={model_dir},device=cpu,device_map=cpu,dtype=float32",
        "--batch_size",
        "1",
    ]
    stock_cmd += [
        "--tasks",
        task,
        "--include_path",
        str(tmp_path / "tasks"),
        "--output_path",
        str(tmp_path / "lmms"),
    ]
    stock_s, proc = _timed(stock_cmd + ["--log_samples"])
    results = glob.glob(str(tmp_path / "lmms" / "*" / "*_results.json"))
    assert results, proc.stderr[-3000:]
    stock_accuracy = json.loads(Path(results[0]).read_text())["results"][task]["accuracy,none"]

    native_cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "eval",
        "--model",
        str(model_dir),
        "--benchmarks",
        "easyvqa",
    ]
    native_cmd += [
        "--limit",
        str(ITEMS),
        "--data",
        str(default_dataset),
        "--batch-size",
        "16",
        "--reader",
        "conclusion",
    ]
    native_cmd += ["--set", f"max_new_tokens={NEW_TOKENS}", "--set", "prompt_style=plain"]
    runs: list[float] = []

    def native() -> None:
        out = tmp_path / f"native{len(runs)}"
        seconds, proc = _timed(native_cmd + ["--out", str(out)])
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(seconds)

    benchmark.pedantic(native, rounds=1, iterations=1)
    native_accuracy = json.loads((tmp_path / "native0" / "easyvqa" / "metrics.json").read_text())["accuracy"]
    ratio = stock_s / runs[0]
    benchmark.extra_info.update(
        {
            "items": ITEMS,
            "native_s": round(runs[0], 2),
            "llava_hf_s": round(stock_s, 2),
            "native_samples_per_s": round(ITEMS / runs[0], 2),
            "llava_hf_samples_per_s": round(ITEMS / stock_s, 2),
            "speedup": round(ratio, 2),
            "native_accuracy": native_accuracy,
            "llava_hf_accuracy": stock_accuracy,
        }
    )
    print(json.dumps(benchmark.extra_info, indent=2))


def test_rerun_of_unchanged_checkpoint_is_served_from_cache(
    benchmark, model_dir: Path, default_dataset: Path, tmp_path: Path
) -> None:
    from harness.evaluate import Checkpoint, Evaluation, eval_config_from

    cfg = eval_config_from(
        (),
        {
            "benchmarks": ["easyvqa", "digits"],
            "data_dir": str(default_dataset),
            "limit": 48,
            "max_new_tokens": NEW_TOKENS,
            "reader": {"name": "conclusion"},
        },
    )
    started = time.perf_counter()
    Evaluation(Checkpoint(str(model_dir)), cfg, tmp_path / "out").run()
    first = time.perf_counter() - started
    seconds: list[float] = []

    def rerun() -> None:
        began = time.perf_counter()
        evaluation = Evaluation(Checkpoint(str(model_dir)), cfg, tmp_path / "out")
        evaluation.run()
        seconds.append(time.perf_counter() - began)
        assert evaluation.generated == 0

    benchmark.pedantic(rerun, rounds=3, iterations=1)
    share = min(seconds) / first
    benchmark.extra_info.update(
        {"first_s": round(first, 2), "rerun_s": round(min(seconds), 3), "share": round(share, 4)}
    )
    print(json.dumps(benchmark.extra_info, indent=2))
