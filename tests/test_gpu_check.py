"""The device check script end to end on CPU at small sizes (``tox -e slow``), so it cannot rot.

``tools/gpu_check.sh tiny`` runs every step the lent H200 runs (a LLaVA-1.5-shaped model, one iteration
of the llava15-7b preset on the smoke pools, an evaluation at the preset's settings, the smoke run),
with the model's widths and depths cut down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_cpu(tmp_path: Path) -> None:
    from benchmarks.build import build_dataset, load_data_config
    from calibrate.zoo.srcal_micro import build_srcal_micro

    home = Path(os.environ["SRCAL_HOME"])
    build_dataset(load_data_config("smoke"), home / "data" / "smoke")
    build_srcal_micro(home / "zoo" / "srcal-micro")
    out = tmp_path / "out"
    out.mkdir()
    # the script calls python3: this interpreter's
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "OUT": str(out), "PYTHONPATH": str(ROOT), "PATH": path}
    proc = subprocess.run(
        ["bash", "tools/gpu_check.sh", "tiny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== " in proc.stdout and "done" in proc.stdout.splitlines()[-1]
    stages = json.loads((out / "stages.json").read_text())
    assert {"iter_0/rft", "iter_1/candidates", "iter_1/verdicts", "iter_1/preference"} <= set(stages)
    assert "leaderboard ok" in proc.stdout
    evals = (out / "eval.txt").read_text().splitlines()
    assert len(evals) == 6 and all("peak_cuda_gib None" in line for line in evals)  # CPU: no CUDA
    assert all(line.endswith("same responses True") for line in evals[3:])
