"""The run spec: one resolver (preset, file, --set), each layer parsing only its own section."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.build import DataConfig
from benchmarks.configuration import ConfigError
from calibrate.checkpoints import trainer_kwargs
from calibrate.config import LoRATrainingConfig, PreferenceConfig, RFTConfig, run_config_from_dict
from harness.evaluate import EvalConfig
from harness.run_spec import HARNESS_SECTIONS, PRESET_DIR, preset_names, resolve_run_spec


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_resolves_into_its_owners(preset: str) -> None:
    spec = resolve_run_spec(preset)
    assert spec.source == str(PRESET_DIR / f"{preset}.yaml")
    assert isinstance(spec.eval, EvalConfig) and spec.eval.benchmarks
    assert spec.data is None or isinstance(spec.data, DataConfig)
    assert set(spec.baselines) <= {"sft-only", "outcome-dpo", "csr-style", "src-facts"}


def test_presets_live_with_the_harness() -> None:
    assert Path(__file__).parents[1] / "harness" / "presets" == PRESET_DIR
    assert {"smoke", "tiny", "report", "llava15-7b", "llava-next-8b"} <= set(preset_names())
    assert not (Path(__file__).parents[1] / "calibrate" / "presets").exists()


@pytest.mark.parametrize("section", HARNESS_SECTIONS)
def test_calibration_parses_only_its_own_section(section: str) -> None:
    """calibrate/ knows nothing of the harness's sections: given one, it is an unknown field."""
    with pytest.raises(ConfigError, match=f"unknown field {section!r} for RunConfig"):
        run_config_from_dict({section: {}}, "spec.yaml")


def test_set_overrides_reach_the_layer_that_owns_the_field() -> None:
    spec = resolve_run_spec(
        "smoke",
        overrides=[
            "rft.lora_r=2",
            "preference.beta=0.3",
            "eval.limit=3",
            "eval.reader.name=conclusion",
            "data.seed=5",
            "baselines=[csr-style,src-facts]",
            "preference.learning_rate=3e-3",
        ],
    )
    assert spec.calibration.rft.lora_r == 2 and spec.calibration.preference.beta == 0.3
    assert spec.calibration.preference.learning_rate == 3e-3  # YAML 1.1 reads 3e-3 as a string
    assert spec.eval.limit == 3 and spec.eval.reader.name == "conclusion"
    assert spec.data is not None and spec.data.seed == 5
    assert spec.baselines == ["csr-style", "src-facts"]
    assert spec.source.endswith("smoke.yaml + --set")


def test_cli_flags_override_the_preset() -> None:
    spec = resolve_run_spec("smoke", benchmarks=["digits"], baselines=[], limit=2)
    assert spec.eval.benchmarks == ["digits"] and spec.eval.limit == 2 and spec.baselines == []


def test_config_file_lays_over_the_preset(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("rft:\n  max_steps: 9\neval:\n  limit: 1\n")
    spec = resolve_run_spec("smoke", path)
    assert spec.calibration.rft.max_steps == 9 and spec.calibration.rft.lora_r == 4  # rest from the preset
    assert spec.eval.limit == 1 and spec.eval.max_new_tokens == 24
    assert spec.source == str(path)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["baselines=[csr-styl]"], "unknown baseline 'csr-styl'; did you mean 'csr-style'"),
        (["baselines=src"], "'baselines' must be a list"),
        (["eval=3"], "section 'eval' must be a mapping"),
        (["data=3"], "section 'data' must be a mapping"),
        (["rft.lora_rank=4"], "rft: unknown field 'lora_rank' for RFTConfig; did you mean 'lora_r'"),
        (["eval.limt=4"], "unknown field 'limt' for EvalConfig; did you mean 'limit'"),
        (["data.seeed=4"], "data: unknown field 'seeed' for DataConfig; did you mean 'seed'"),
        (["evals.limit=4"], "unknown top-level field 'evals'; did you mean 'eval'"),
        (["iteration=2"], "unknown top-level field 'iteration'; did you mean 'iterations'"),
        (["rft.lora_r"], "expected KEY=VALUE"),
    ],
)
def test_bad_specs_name_the_source_and_the_field(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_run_spec("smoke", overrides=overrides)
    assert message in str(info.value)


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'smok'; did you mean 'smoke'"):
        resolve_run_spec("smok")


def test_run_and_calibrate_read_the_same_spec(tmp_path: Path) -> None:
    """`srcal calibrate --stage data` resolves the preset through the run spec (its data section too)."""
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "calibrate",
        "--preset",
        "smoke",
        "--run-dir",
        str(tmp_path / "r"),
    ]
    bad = subprocess.run([*cmd, "--set", "data.seeed=1"], capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown field 'seeed' for DataConfig" in bad.stderr
    assert not (tmp_path / "r").exists()


def test_policy_training_stages_share_one_lora_config() -> None:
    shared = {f.name for f in dataclasses.fields(LoRATrainingConfig)}
    assert len(shared) == 11  # the nine the stages repeated, mixed_precision and checkpoint_steps
    for cls in (RFTConfig, PreferenceConfig):
        assert issubclass(cls, LoRATrainingConfig) and shared <= {f.name for f in dataclasses.fields(cls)}
    # the paper's defaults where they differ (SRC.md): RFT r 4 / lr 1e-5; DPO r 256 / alpha 512 / lr 5e-7
    assert (RFTConfig().lora_r, RFTConfig().lora_alpha, RFTConfig().learning_rate) == (4, 8, 1e-5)
    pref = PreferenceConfig()
    assert (pref.lora_r, pref.lora_alpha, pref.learning_rate, pref.batch_size) == (256, 512, 5e-7, 4)
    args = trainer_kwargs("out", 3, PreferenceConfig(learning_rate=2e-4, batch_size=2, max_steps=7))
    assert (args["learning_rate"], args["per_device_train_batch_size"], args["max_steps"], args["seed"]) == (
        2e-4,
        2,
        7,
        3,
    )


def test_the_facts_judge_is_pairwise_only() -> None:
    with pytest.raises(ConfigError, match="kind facts judges pairs"):
        resolve_run_spec("smoke", overrides=["scorer.kind=facts", "scorer.mode=pointwise"])
    with pytest.raises(ConfigError, match="kind must be learned or facts"):
        resolve_run_spec("smoke", overrides=["scorer.kind=oracle"])
