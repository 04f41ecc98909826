"""DPO memory: the disabled-adapter reference vs an explicit reference copy (``tox -e bench``).

Each variant runs in a fresh process on the untrained srcal-tiny assembly (same size as
srcal-tiny); peak RSS of both is reported side by side, with the model's own size, since
the claim is "lower by at least one model copy".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dataclasses import replace

    from calibrate.zoo.parts import smollm2_dir
    from calibrate.zoo.srcal_tiny import TinyRecipe, assemble_tiny

    out = tmp_path_factory.mktemp("tiny") / "assembled"
    model, processor = assemble_tiny(smollm2_dir(), replace(TinyRecipe()))
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_disabled_adapter_reference_saves_a_model_copy(
    benchmark, tiny_dir: Path, smoke_dataset: Path
) -> None:
    results = {}

    def run(mode: str) -> dict:
        cmd = [sys.executable, "-m", "tests.bench.dpo_memory_probe", str(tiny_dir), str(smoke_dataset), mode]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    results["disabled_adapter"] = benchmark.pedantic(run, args=("disabled_adapter",), rounds=1, iterations=1)
    results["explicit_copy"] = run("explicit_copy")
    saved = results["explicit_copy"]["peak_rss_mb"] - results["disabled_adapter"]["peak_rss_mb"]
    benchmark.extra_info.update({**results, "saved_mb": round(saved, 1)})
    print(json.dumps(benchmark.extra_info, indent=2))
    assert saved > 0.5 * results["disabled_adapter"]["model_mb"]
