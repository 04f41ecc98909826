"""``srcal run --preset smoke``: calibration with every checkpoint evaluated, and the results store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.registry import BUILTIN_SUITES
from harness.store import ResultsStore
from tests.conftest import run_smoke as _run

CHECKPOINTS = ("base", "iter_0", "iter_1", "iter_2", "iter_3", "outcome-dpo", "csr-style")


def test_every_checkpoint_is_evaluated(smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, proc = smoke_run
    for checkpoint in CHECKPOINTS:
        for bench in BUILTIN_SUITES:
            metrics = json.loads((run_dir / "eval" / checkpoint / bench / "metrics.json").read_text())
            assert metrics["n"] == 6
            for key in (
                "consistency_rate",
                "consistency_coverage",
                "lucky_answer_rate",
                "faithful_error_rate",
            ):
                assert key in metrics
            assert set(metrics["table"]) == {
                "correct_consistent",
                "correct_inconsistent",
                "wrong_consistent",
                "wrong_inconsistent",
            }
            assert "accuracy" in metrics["ci95"]
    index = json.loads((run_dir / "eval" / "index.json").read_text())
    assert index["order"] == list(CHECKPOINTS)
    assert index["checkpoints"]["iter_0"]["method"] == "sft-only"
    assert index["checkpoints"]["outcome-dpo"]["iteration"] == 3
    # Baselines start from this run's iter_0 instead of training it again.
    rft = (run_dir / "baselines" / "outcome-dpo" / "iter_0" / "adapter" / "adapter_model.safetensors").stat()
    assert rft.st_ino == (run_dir / "iter_0" / "adapter" / "adapter_model.safetensors").stat().st_ino
    # ... and copy its iteration-1 candidate search (same policy, items, seed); iteration 2
    # starts from the baseline's own policy and searches again.
    for method in ("outcome-dpo", "csr-style"):
        mine = run_dir / "baselines" / method
        manifest = json.loads((mine / "iter_1" / "candidates.manifest.json").read_text())
        assert manifest["reused_from"] == str(run_dir / "iter_1")
        src_candidates = (run_dir / "iter_1" / "candidates.jsonl").read_bytes()
        assert (mine / "iter_1" / "candidates.jsonl").read_bytes() == src_candidates
        assert "reused_from" not in json.loads((mine / "iter_2" / "candidates.manifest.json").read_text())
    assert proc.stdout.count("iter_1/candidates: same config and inputs as") == 2  # copied
    # The checkpoints differ: evaluation saw different weights.
    hashes = {index["checkpoints"][c]["model_hash"] for c in CHECKPOINTS}
    assert len(hashes) == len(CHECKPOINTS)


def test_store_matches_the_metrics_files(smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, _ = smoke_run
    with ResultsStore(run_dir / "results.sqlite") as store:
        assert store.journal_mode() == "wal"
        frame = store.frame()
        assert set(frame["checkpoint"]) == set(CHECKPOINTS)
        assert set(frame["benchmark"]) == set(BUILTIN_SUITES)
        for checkpoint in ("base", "iter_3", "csr-style"):
            metrics = json.loads((run_dir / "eval" / checkpoint / "digits" / "metrics.json").read_text())
            for name in ("accuracy", "parse_failure_rate", "consistency_coverage"):
                assert store.value("smoke", checkpoint, "digits", name) == pytest.approx(metrics[name])
            lo, hi = metrics["ci95"]["accuracy"]
            row = frame[
                (frame.checkpoint == checkpoint)
                & (frame.benchmark == "digits")
                & (frame.metric == "accuracy")
            ]
            assert (row.ci_low.item(), row.ci_high.item()) == pytest.approx((lo, hi))
        ckpts = store.frame("SELECT * FROM checkpoints ORDER BY checkpoint")
        assert set(ckpts["checkpoint"]) == set(CHECKPOINTS)
        # The store is an index: rebuilt from the files it gives the same rows.
        before = store.frame("SELECT checkpoint, benchmark, metric, value FROM results ORDER BY 1, 2, 3")
        store.refresh(run_dir, "smoke")
        after = store.frame("SELECT checkpoint, benchmark, metric, value FROM results ORDER BY 1, 2, 3")
        assert before.equals(after)


def test_resume_recomputes_nothing(smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, _ = smoke_run
    refused = _run(run_dir)
    assert refused.returncode == 1 and "--resume" in refused.stderr
    stamp = (run_dir / "eval" / "iter_2" / "scenes" / "metrics.json").stat().st_mtime_ns
    again = _run(run_dir, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "samples to generate" not in again.stdout
    assert "running" not in again.stdout  # every calibration stage skipped
    assert (run_dir / "eval" / "iter_2" / "scenes" / "metrics.json").stat().st_mtime_ns == stamp


def test_leaderboard_from_the_smoke_run(
    smoke_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> None:
    import io

    import pandas as pd

    run_dir, _ = smoke_run
    out = tmp_path / "board"
    cmd = [sys.executable, "-m", "harness.cli", "leaderboard", str(run_dir), "--format", "all"]
    cmd += ["--with-reference", "--out", str(out), "--bootstrap", "200"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for fmt in ("md", "csv", "tex", "html"):
        assert (out / f"leaderboard.{fmt}").stat().st_size > 0
    for stem in ("smoke_trajectory", "smoke_consistency_2x2", "smoke_categories"):
        assert (out / "plots" / f"{stem}.png").is_file() and (out / "plots" / f"{stem}.svg").is_file()

    # Numbers: every per-benchmark cell equals the store, pooled cells equal the samples.
    frame = pd.read_csv(io.StringIO((out / "leaderboard.csv").read_text()))
    ours = frame[frame.source == "reproduced"]
    with ResultsStore(run_dir / "results.sqlite") as store:
        for _, row in ours[ours.benchmark != "*"].iterrows():
            assert row["value"] == pytest.approx(
                store.value("smoke", row["checkpoint"], row["benchmark"], "accuracy")
            )
        stored = store.frame("SELECT checkpoint, benchmark, ci_low FROM results WHERE metric='accuracy'")
    merged = ours[ours.benchmark != "*"].merge(
        stored, on=["checkpoint", "benchmark"], suffixes=("", "_store")
    )
    assert len(merged) == len(CHECKPOINTS) * len(BUILTIN_SUITES)
    assert (merged["ci_low"] - merged["ci_low_store"]).abs().max() < 1e-9
    rows = [
        json.loads(line)
        for bench in BUILTIN_SUITES
        for line in (run_dir / "eval" / "iter_2" / bench / "samples.jsonl").read_text().splitlines()
    ]
    pooled = ours[(ours.checkpoint == "iter_2") & (ours.column == "parse failures")].iloc[0]
    expected = sum(r["parse_status"] in ("invalid", "no_answer_marker") for r in rows) / len(rows)
    assert pooled["value"] == pytest.approx(expected)
    coverage = ours[(ours.checkpoint == "iter_2") & (ours.column == "claim coverage")].iloc[0]
    assert coverage["value"] == pytest.approx(sum(r["claims_checked"] > 0 for r in rows) / len(rows))
    # Paired deltas on the same items equal the difference of the values.
    cell = ours[(ours.checkpoint == "iter_3") & (ours.column == "parse failures")].iloc[0]
    base = ours[(ours.checkpoint == "base") & (ours.column == "parse failures")].iloc[0]
    assert cell["delta_base"] == pytest.approx(cell["value"] - base["value"])
    # Reference rows are marked as published and carry no deltas.
    reference = frame[frame.source == "paper"]
    assert set(reference["checkpoint"]) == {
        "LLaVA-1.5-7B",
        "LLaVA-1.6-Vicuna-7B",
        "LLaVA-1.5-7B (HA-DPO's evaluation)",
        "LLaVA-1.5-7B + HA-DPO",
    }
    assert reference["delta_base"].isna().all()
    pope = reference[(reference.checkpoint == "LLaVA-1.5-7B") & (reference.benchmark == "pope")]
    assert pope["value"].item() == pytest.approx(0.859)
    assert pope["metric"].item() == "f1"
    hadpo = reference[(reference.checkpoint == "LLaVA-1.5-7B + HA-DPO")]
    assert hadpo["value"].item() == pytest.approx((0.9025 + 0.8781 + 0.8254) / 3, abs=1e-4)
    assert "| pope (f1) |" in (out / "leaderboard.md").read_text()

    tex = (out / "leaderboard.tex").read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule"):
        assert rule in tex
    assert tex.count("{") == tex.count("}")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == len(CHECKPOINTS)
    assert {line.count(" & ") for line in body} == {len(BUILTIN_SUITES) + 8}  # + pooled columns
    page = (out / "leaderboard.html").read_text()
    assert 'class="sortable"' in page and "data:image/png;base64," in page
    assert "<script src" not in page and "http://" not in page
    md = (out / "leaderboard.md").read_text()
    assert "| SRC iter 3 |" in md and "source: paper" in md
    assert "**consistency (reader: " in md  # every checkpoint was read by the same reader
    # Paired comparisons: the last iteration vs sft-only and each baseline, pooled.
    paired = frame[frame.source == "paired"]
    assert set(paired["vs"]) == {"iter_0", "outcome-dpo", "csr-style"} and set(paired["checkpoint"]) == {
        "iter_3"
    }
    assert "## Paired comparisons" in md and "| smoke | SRC iter 3 vs sft-only (iter_0) |" in md
    bad = subprocess.run(
        cmd[:5] + ["--compare", "iter_9:iter_0", "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 1 and "no checkpoint 'iter_9'" in bad.stderr and not (tmp_path / "bad").exists()


def test_calibration_figures_read_verdicts_and_former_judge_manifests(tmp_path: Path) -> None:
    """R-Scorer figures come from ``verdicts.manifest.json``; run directories from before the rename
    (``judge.manifest.json``) still render."""
    from leaderboards.results import _calibration

    summary = {"summary": {"fact_agreement": 0.5, "mean_tie_mass": 0.25, "items": 12}}
    for name, manifest in (("iter_1", "verdicts"), ("iter_2", "judge")):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{manifest}.manifest.json").write_text(json.dumps(summary))
    figures = _calibration(tmp_path, ["base", "iter_1", "iter_2"])
    assert figures["iter_1"] == figures["iter_2"] == {"R-Scorer agreement (facts)": 0.5, "tie mass": 0.25}


def test_a_checkpoint_with_the_weights_of_an_evaluated_one_reuses_its_responses(
    smoke_dataset: Path, tmp_path: Path
) -> None:
    """Same weight bytes at another path (a DPO stage that kept no pairs copies its policy): nothing regenerated."""
    import shutil

    from calibrate.zoo.srcal_micro import build_srcal_micro
    from harness.run import Run
    from harness.run_spec import resolve_run_spec

    micro = build_srcal_micro(tmp_path / "srcal-micro")
    twin = tmp_path / "twin"
    shutil.copytree(micro, twin)
    spec = resolve_run_spec("smoke", overrides=["eval.limit=3", "eval.benchmarks=[digits,easyvqa]"])
    spec.eval.data_dir = str(smoke_dataset)
    said: list[str] = []
    run = Run(spec, tmp_path / "run", progress=said.append)
    run._evaluate("iter_1", str(micro), "src", 1)
    generated = [m for m in said if "samples to generate" in m]
    said.clear()
    run._evaluate("iter_2", str(twin), "src", 2)
    assert any("same weights as iter_1" in m for m in said)
    assert not [m for m in said if "samples to generate" in m] and len(generated) == 2
    assert run.checkpoints["iter_2"]["reused_from"] == "iter_1"
    for bench in ("digits", "easyvqa"):
        a = (tmp_path / "run/eval/iter_1" / bench / "metrics.json").read_text()
        b = (tmp_path / "run/eval/iter_2" / bench / "metrics.json").read_text()
        assert json.loads(a)["accuracy"] == json.loads(b)["accuracy"]
    index = json.loads((tmp_path / "run/eval/index.json").read_text())
    assert index["checkpoints"]["iter_2"]["reused_from"] == "iter_1"


def test_a_piece_reuses_the_responses_of_the_run_it_reuses_stages_from(
    smoke_dataset: Path, tmp_path: Path
) -> None:
    """``--reuse-from``: base and sft-only evaluated by an earlier piece are not generated again;
    a checkpoint with other weights is."""
    import shutil

    from calibrate.zoo.srcal_micro import build_srcal_micro
    from harness.run import Run
    from harness.run_spec import resolve_run_spec

    micro = build_srcal_micro(tmp_path / "srcal-micro")
    twin = tmp_path / "twin"
    shutil.copytree(micro, twin)
    spec = resolve_run_spec("smoke", overrides=["eval.limit=3", "eval.benchmarks=[digits,easyvqa]"])
    spec.eval.data_dir = str(smoke_dataset)
    first = Run(spec, tmp_path / "piece-1")
    first._evaluate("iter_0", str(micro), "sft-only", 0)
    said: list[str] = []
    second = Run(spec, tmp_path / "piece-2", progress=said.append, reuse_from=tmp_path / "piece-1")
    second._evaluate("iter_0", str(twin), "sft-only", 0)
    donor = str((tmp_path / "piece-1" / "eval" / "iter_0").resolve())
    assert any(f"same weights as {donor}" in m for m in said)
    assert not [m for m in said if "samples to generate" in m]
    assert second.checkpoints["iter_0"]["reused_from"] == donor
    for bench in ("digits", "easyvqa"):
        a = (tmp_path / "piece-1/eval/iter_0" / bench / "samples.jsonl").read_bytes()
        assert (tmp_path / "piece-2/eval/iter_0" / bench / "samples.jsonl").read_bytes() == a
    # Other evaluation settings (fewer items): the earlier run's evaluations are not offered.
    fewer = resolve_run_spec("smoke", overrides=["eval.limit=2", "eval.benchmarks=[digits,easyvqa]"])
    fewer.eval.data_dir = str(smoke_dataset)
    said.clear()
    third = Run(fewer, tmp_path / "piece-3", progress=said.append, reuse_from=tmp_path / "piece-1")
    third._evaluate("iter_0", str(twin), "sft-only", 0)
    assert not any("same weights as" in m for m in said) and "reused_from" not in third.checkpoints["iter_0"]
    # Other weights (one parameter moved): nothing to reuse, generated anew.
    import torch
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    shutil.copytree(micro, other)
    weights = next(other.glob("*.safetensors"))
    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + torch.ones_like(tensors[name])
    save_file(tensors, weights, metadata={"format": "pt"})
    said.clear()
    second._evaluate("iter_1", str(other), "src", 1)
    assert not any("same weights as" in m for m in said)
    assert [m for m in said if "samples to generate" in m]
