from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.validate import validate
from harness.cli import main


@pytest.fixture
def dataset(tmp_path: Path, smoke_dataset: Path) -> Path:
    """A private copy of the smoke dataset (without the hf/ copy) to break."""
    out = tmp_path / "ds"
    shutil.copytree(smoke_dataset, out, ignore=shutil.ignore_patterns("hf"))
    (out / "manifest.json").unlink()  # the tests edit the split files on purpose
    return out


def _edit(path: Path, line: int, **changes: object) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[line - 1])
    record.update(changes)
    lines[line - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")


def _record(path: Path, line: int) -> dict:
    return json.loads(path.read_text().splitlines()[line - 1])


def _messages(root: Path) -> list[str]:
    return [str(p) for p in validate(root)]


class TestValidate:
    def test_clean(self, dataset: Path) -> None:
        assert validate(dataset) == []

    def test_empty_question(self, dataset: Path) -> None:
        _edit(dataset / "rft.jsonl", 3, question="  ")
        assert any("rft.jsonl:3: question: empty question" in m for m in _messages(dataset))

    def test_answer_not_among_choices(self, dataset: Path) -> None:
        path = dataset / "test.jsonl"
        line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if json.loads(row)["choices"])
        _edit(path, line, answer="H")
        assert any(f"test.jsonl:{line}: answer:" in m and "not among" in m for m in _messages(dataset))

    def test_duplicate_id_across_files(self, dataset: Path) -> None:
        first = _record(dataset / "base.jsonl", 1)
        _edit(dataset / "test.jsonl", 2, id=first["id"])
        assert any("test.jsonl:2: id: duplicate id" in m for m in _messages(dataset))

    def test_image_shared_between_splits(self, dataset: Path) -> None:
        first = _record(dataset / "base.jsonl", 1)
        _edit(dataset / "calib.jsonl", 1, image=first["image"], image_sha256=first["image_sha256"])
        assert any(
            "calib.jsonl:1: image_sha256: image shared with split 'base'" in m for m in _messages(dataset)
        )

    def test_missing_image(self, dataset: Path) -> None:
        rec = _record(dataset / "test.jsonl", 1)
        (dataset / rec["image"]).unlink()
        assert any("test.jsonl:1: image: missing image file" in m for m in _messages(dataset))

    def test_corrupt_image(self, dataset: Path) -> None:
        rec = _record(dataset / "rft.jsonl", 1)
        path = dataset / rec["image"]
        path.write_bytes(path.read_bytes()[:40])
        assert any("rft.jsonl:1: image: unreadable or corrupt image" in m for m in _messages(dataset))

    def test_hash_mismatch(self, dataset: Path) -> None:
        _edit(dataset / "rft.jsonl", 2, image_sha256="0" * 64)
        assert any("rft.jsonl:2: image_sha256: does not match" in m for m in _messages(dataset))

    @pytest.mark.parametrize("bad", ["../outside.png", "/etc/passwd", "images/../../outside.png"])
    def test_escaping_path_rejected_never_opened(self, dataset: Path, bad: str) -> None:
        outside = dataset.parent / "outside.png"
        outside.write_bytes(b"not read")
        _edit(dataset / "base.jsonl", 4, image=bad)
        msgs = _messages(dataset)
        assert any("base.jsonl:4: image: path" in m and "escapes the dataset directory" in m for m in msgs)

    def test_symlink_escape_rejected(self, dataset: Path) -> None:
        outside = dataset.parent / "secret.png"
        shutil.copy(dataset / _record(dataset / "base.jsonl", 1)["image"], outside)
        os.symlink(outside, dataset / "images" / "link.png")
        _edit(dataset / "base.jsonl", 5, image="images/link.png")
        assert any("base.jsonl:5: image: path" in m and "escapes" in m for m in _messages(dataset))

    def test_malformed_json_and_schema(self, dataset: Path) -> None:
        path = dataset / "calib.jsonl"
        lines = path.read_text().splitlines()
        lines[1] = "{not json"
        record = json.loads(lines[2])
        del record["answer"]
        lines[2] = json.dumps(record)
        record = json.loads(lines[3])
        record["colour"] = "red"
        lines[3] = json.dumps(record)
        path.write_text("\n".join(lines) + "\n")
        msgs = _messages(dataset)
        assert any("calib.jsonl:2: invalid JSON" in m for m in msgs)
        assert any("calib.jsonl:3: answer: missing" in m for m in msgs)
        assert any("calib.jsonl:4: colour: unknown field" in m for m in msgs)

    def test_rationale_disagreeing_with_answer(self, dataset: Path) -> None:
        rec = _record(dataset / "rft.jsonl", 6)
        _edit(
            dataset / "rft.jsonl",
            6,
            rationale=rec["rationale"].rsplit("Answer:", 1)[0] + "Answer: nonsense-xyz",
        )
        assert any("rft.jsonl:6: rationale:" in m for m in _messages(dataset))

    def test_manifest_hash_mismatch(self, smoke_dataset: Path, tmp_path: Path) -> None:
        out = tmp_path / "ds2"
        shutil.copytree(smoke_dataset, out, ignore=shutil.ignore_patterns("hf"))
        _edit(out / "test.jsonl", 1, question="What changed?")
        assert any("splits.test.sha256" in m for m in _messages(out))


class TestValidateCli:
    def test_exit_codes(self, dataset: Path) -> None:
        runner = CliRunner()
        ok = runner.invoke(main, ["data", "validate", str(dataset)])
        assert ok.exit_code == 0, ok.output
        assert "no problems found" in ok.output
        _edit(dataset / "rft.jsonl", 1, question="")
        bad = runner.invoke(main, ["data", "validate", str(dataset)])
        assert bad.exit_code == 1
        assert "rft.jsonl:1: question: empty question" in bad.output

    def test_single_file_and_missing_target(self, dataset: Path, tmp_path: Path) -> None:
        runner = CliRunner()
        assert runner.invoke(main, ["data", "validate", str(dataset / "test.jsonl")]).exit_code == 0
        missing = runner.invoke(main, ["data", "validate", str(tmp_path / "nope")])
        assert missing.exit_code == 1 and "no such file" in missing.output
