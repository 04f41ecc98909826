"""Test isolation: offline, and every cache in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Set before any test module imports transformers/datasets/huggingface_hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _isolated_caches(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("caches")
    for name in ("HF_HOME", "HF_DATASETS_CACHE", "SRCAL_HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        os.environ[name] = str(root / name.lower())


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `smoke` preset built once per test session."""
    from benchmarks.build import build_dataset, load_data_config

    out = tmp_path_factory.mktemp("data") / "smoke"
    build_dataset(load_data_config("smoke"), out)
    return out


def run_smoke(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """``srcal run --preset smoke --run-dir RUN_DIR [extra]`` in a subprocess (this session's caches)."""
    cmd = [sys.executable, "-m", "harness.cli", "run", "--preset", "smoke", "--run-dir", str(run_dir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=1200)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One ``srcal run --preset smoke`` per test session (tests/test_run.py, tests/test_golden.py)."""
    run_dir = tmp_path_factory.mktemp("run") / "smoke"
    proc = run_smoke(run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir, proc
