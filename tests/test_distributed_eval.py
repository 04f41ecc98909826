"""``srcal eval`` on 2 CPU processes (torchrun, gloo) equals 1 process: samples, metrics, store rows.

Each rank answers documents ``i % 2 == rank`` into its own log; rank 0 merges them in document order,
then scores. A rank's log survives a kill, so a rerun answers only what is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.fingerprints import TIMING_KEYS
from tests.test_calibrate_loop import TWO_PROCESSES

BENCHMARKS = "digits,charts"


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


def _args(micro: Path, data: Path, out: Path) -> list[str]:
    return [
        "-m",
        "harness.cli",
        "eval",
        "--model",
        str(micro),
        "--benchmarks",
        BENCHMARKS,
        "--limit",
        "7",  # odd: the ranks answer 4 and 3 documents
        "--batch-size",
        "3",
        "--data",
        str(data),
        "--reader",
        "conclusion",
        "--out",
        str(out),
    ]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _without_timing(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _outputs(out: Path) -> dict[str, object]:
    files: dict[str, object] = {}
    for bench in BENCHMARKS.split(","):
        samples = (out / bench / "samples.jsonl").read_text().splitlines()
        files[f"{bench}/samples"] = [_without_timing(json.loads(line)) for line in samples]
        metrics = json.loads((out / bench / "metrics.json").read_text())
        prov = metrics.pop("provenance")
        files[f"{bench}/metrics"] = metrics
        files[f"{bench}/fingerprint"] = prov["fingerprint"]
    return files


@pytest.fixture(scope="module")
def one_process(micro: Path, smoke_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("one") / "eval"
    _run([sys.executable, *_args(micro, smoke_dataset, out)])
    return out


def test_two_processes_equal_one(micro: Path, smoke_dataset: Path, one_process: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    _run(TWO_PROCESSES + _args(micro, smoke_dataset, out))
    two, one = _outputs(out), _outputs(one_process)
    assert two.keys() == one.keys()
    for key in one:
        assert two[key] == one[key], key
    assert not list(out.glob("*/samples.rank*.jsonl"))  # merged and removed
    for bench in BENCHMARKS.split(","):
        metrics = json.loads((out / bench / "metrics.json").read_text())
        assert metrics["n"] == 7 and metrics["provenance"]["generated_now"] == 7


def test_a_killed_rank_log_is_resumed(
    micro: Path, smoke_dataset: Path, one_process: Path, tmp_path: Path
) -> None:
    """Rank 1's log of a killed launch holds two of its three answers: the rerun generates the five others."""
    out = tmp_path / "eval"
    bench = BENCHMARKS.split(",")[0]
    rows = (one_process / bench / "samples.jsonl").read_text().splitlines()
    (out / bench).mkdir(parents=True)
    (out / bench / "samples.rank1.jsonl").write_text("".join(rows[i] + "\n" for i in (1, 3)))
    proc = _run(TWO_PROCESSES + _args(micro, smoke_dataset, out))
    said = proc.stdout + proc.stderr
    assert f"{bench}: 1 of 7 samples to generate (rank 1 of 2)" in said  # 1 and 3 kept, 5 left
    assert f"{bench}: 4 of 7 samples to generate (rank 0 of 2)" in said  # 0, 2, 4, 6
    assert _outputs(out)[f"{bench}/samples"] == _outputs(one_process)[f"{bench}/samples"]
