"""``srcal eval`` on srcal-micro: samples/metrics, batch-size invariance, cache, resume, failure isolation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.records import read_items
from harness.evaluate import Checkpoint, EvalFailures, Evaluation, eval_config_from

READER = {"name": "conclusion"}


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


def _cfg(data: Path, **kw):
    base = {"data_dir": str(data), "max_new_tokens": 16, "bootstrap_samples": 100, "reader": READER}
    return eval_config_from((), {**base, **kw})


def _eval_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "harness.cli", "eval", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


def _samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class TestEval:
    def test_writes_samples_and_metrics(self, micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        cfg = _cfg(smoke_dataset, benchmarks=["digits", "scenes"], limit=6)
        results = Evaluation(Checkpoint(str(micro)), cfg, tmp_path / "out").run()
        assert set(results) == {"digits", "scenes"}
        rows = _samples(tmp_path / "out" / "digits" / "samples.jsonl")
        items = [i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == "digits"][:6]
        assert [r["id"] for r in rows] == [i.id for i in items]
        for key in (
            "prompt_hash",
            "response",
            "rationale",
            "final_answer",
            "parse_status",
            "correct",
            "implied_answer",
            "implied_status",
            "consistent",
            "claims_checked",
            "timing",
        ):
            assert key in rows[0], key
        metrics = json.loads((tmp_path / "out" / "digits" / "metrics.json").read_text())
        assert metrics["n"] == 6
        assert metrics["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 6)
        assert sum(metrics["table"].values()) == metrics["decided"]
        lo, hi = metrics["ci95"]["accuracy"]
        assert lo <= metrics["accuracy"] <= hi
        prov = metrics["provenance"]
        assert prov["checkpoint"]["model_hash"] and len(prov["checkpoint"]["model_hash"]) == 64
        assert prov["data"]["source"]["test_sha256"]
        assert prov["generation"]["max_new_tokens"] == 16
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert set(summary["benchmarks"]) == {"digits", "scenes"} and not summary["failures"]

    def test_batch_size_does_not_change_outputs(
        self, micro: Path, smoke_dataset: Path, tmp_path: Path
    ) -> None:
        responses = {}
        for batch in (1, 8):
            cfg = _cfg(smoke_dataset, benchmarks=["easyvqa", "charts"], limit=10, batch_size=batch)
            Evaluation(Checkpoint(str(micro)), cfg, tmp_path / f"b{batch}").run()
            responses[batch] = [
                r["response"]
                for b in ("easyvqa", "charts")
                for r in _samples(tmp_path / f"b{batch}" / b / "samples.jsonl")
            ]
        assert len(responses[1]) == 20
        assert responses[1] == responses[8]

    def test_static_kv_cache_gives_the_same_greedy_tokens(
        self, micro: Path, smoke_dataset: Path, tmp_path: Path
    ) -> None:
        responses = {}
        for cache in ("dynamic", "static"):
            cfg = _cfg(smoke_dataset, benchmarks=["charts"], limit=10, batch_size=4, kv_cache=cache)
            Evaluation(Checkpoint(str(micro)), cfg, tmp_path / cache).run()
            responses[cache] = [
                r["response"] for r in _samples(tmp_path / cache / "charts" / "samples.jsonl")
            ]
        assert len(responses["static"]) == 10 and responses["static"] == responses["dynamic"]

    def test_rerun_is_served_from_cache(self, micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        cfg = _cfg(smoke_dataset, benchmarks=["digits"], limit=6)
        Evaluation(Checkpoint(str(micro)), cfg, tmp_path / "out").run()
        before = (tmp_path / "out" / "digits" / "metrics.json").read_bytes()
        again = Evaluation(Checkpoint(str(micro)), cfg, tmp_path / "out")
        again.run()
        assert again.generated == 0 and again._loaded is None  # no model loaded, nothing generated
        assert (tmp_path / "out" / "digits" / "metrics.json").read_bytes() == before
        # Another generation config invalidates the cached samples.
        changed = Evaluation(
            Checkpoint(str(micro)),
            _cfg(smoke_dataset, benchmarks=["digits"], limit=6, max_new_tokens=8),
            tmp_path / "out",
        )
        changed.run()
        assert changed.generated == 6

    def test_another_reader_rereads_cached_responses(
        self, micro: Path, smoke_dataset: Path, tmp_path: Path
    ) -> None:
        first = Evaluation(
            Checkpoint(str(micro)), _cfg(smoke_dataset, benchmarks=["digits"], limit=6), tmp_path / "o"
        )
        first.run()
        cfg = _cfg(smoke_dataset, benchmarks=["digits"], limit=6, reader={"backbone": "srcal-micro-lm"})
        second = Evaluation(Checkpoint(str(micro)), cfg, tmp_path / "o")
        second.run()
        assert second.generated == 0  # responses came from the cache
        rows = _samples(tmp_path / "o" / "digits" / "samples.jsonl")
        assert {r["reader_key"] for r in rows} == {second.reader_key} != {first.reader_key}
        metrics = json.loads((tmp_path / "o" / "digits" / "metrics.json").read_text())
        assert metrics["provenance"]["fingerprint"]["reader"]["reader"] == "choice"  # the default
        assert metrics["reader"]["backbone"] == "srcal-micro-lm"
        assert metrics["reader_validity"] == {"measured": False}  # nobody measured this backbone

    def test_killed_mid_benchmark_resumes(self, micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        args = ["--model", str(micro), "--benchmarks", "easyvqa,digits", "--limit", "12", "--batch-size", "2"]
        args += ["--data", str(smoke_dataset), "--reader", "conclusion", "--set", "max_new_tokens=12"]
        whole = _eval_cli(*args, "--out", str(tmp_path / "whole"))
        assert whole.returncode == 0, whole.stderr[-2000:]
        # chunks are 8 samples (4 x batch 2): the crash comes after the first chunk of digits
        killed = _eval_cli(
            *args, "--out", str(tmp_path / "run"), env={"SRCAL_CRASH_AFTER": "digits/samples.jsonl:8"}
        )
        assert killed.returncode == 137
        assert (tmp_path / "run" / "easyvqa" / "metrics.json").is_file()
        assert not (tmp_path / "run" / "digits" / "metrics.json").exists()
        assert len(_samples(tmp_path / "run" / "digits" / "samples.jsonl")) == 8
        resumed = _eval_cli(*args, "--out", str(tmp_path / "run"))
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "easyvqa: up to date" in resumed.stdout
        assert "digits: 4 of 12 samples to generate" in resumed.stdout
        for bench in ("easyvqa", "digits"):
            a = _samples(tmp_path / "whole" / bench / "samples.jsonl")
            b = _samples(tmp_path / "run" / bench / "samples.jsonl")
            strip = lambda rows: [{k: v for k, v in r.items() if k != "timing"} for r in rows]  # noqa: E731
            assert strip(a) == strip(b)
        metrics = json.loads((tmp_path / "run" / "digits" / "metrics.json").read_text())
        assert metrics["provenance"]["generated_now"] == 4

    def test_failing_benchmark_does_not_lose_the_others(
        self, micro: Path, smoke_dataset: Path, tmp_path: Path
    ) -> None:
        data = tmp_path / "data"
        shutil.copytree(smoke_dataset, data)
        item = next(i for i in read_items(data / "test.jsonl") if i.suite == "scenes")
        (data / item.image).unlink()
        cfg = _cfg(data, benchmarks=["scenes", "digits"], limit=4)
        with pytest.raises(EvalFailures) as info:
            Evaluation(Checkpoint(str(micro)), cfg, tmp_path / "out").run()
        assert "scenes" in info.value.failures and "field 'image'" in info.value.failures["scenes"]
        assert item.id in info.value.failures["scenes"]
        assert (tmp_path / "out" / "digits" / "metrics.json").is_file()
        assert not (tmp_path / "out" / "scenes" / "metrics.json").exists()
        proc = _eval_cli(
            "--model", str(micro), "--benchmarks", "scenes,digits", "--limit", "4", "--data", str(data),
            "--reader", "conclusion", "--out", str(tmp_path / "cli"),
        )  # fmt: skip
        assert proc.returncode == 1
        assert "1 benchmark(s) failed" in proc.stderr

    def test_bad_benchmark_and_field_names(self, micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        proc = _eval_cli("--model", str(micro), "--benchmarks", "digts", "--out", str(tmp_path / "o"))
        assert proc.returncode == 1 and "did you mean" in proc.stderr and "digits" in proc.stderr
        proc = _eval_cli("--model", str(micro), "--set", "max_new_token=3", "--out", str(tmp_path / "o"))
        assert proc.returncode == 1 and "max_new_tokens" in proc.stderr
        assert not (tmp_path / "o").exists()


def test_lmms_eval_failure_is_read_from_its_files(
    micro: Path, smoke_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lmms-eval's CLI exits 0 when it failed: the engine checks for a complete samples log instead."""
    from harness import lmms_engine
    from harness.lmms_engine import LmmsEvalError, LmmsResponder

    def exits_zero_writes_nothing(cmd, **_kw):
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="Traceback: task failed")

    monkeypatch.setattr(lmms_engine.subprocess, "run", exits_zero_writes_nothing)
    cfg = _cfg(smoke_dataset, benchmarks=["digits"], limit=4, engine="lmms-eval")
    responder = LmmsResponder(str(micro), None, cfg, tmp_path / "lmms")
    with pytest.raises(EvalFailures) as info:
        Evaluation(Checkpoint(str(micro)), cfg, tmp_path / "out", responder=responder).run()
    assert "lmms-eval wrote no samples log" in info.value.failures["digits"]
    assert "task failed" in info.value.failures["digits"]
    assert not (tmp_path / "out" / "digits" / "metrics.json").exists()
    assert LmmsEvalError.__name__ in info.value.failures["digits"]
