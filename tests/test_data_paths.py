"""Paths from data files are read only inside their data directory (benchmarks.paths).

A data file whose image path climbs out with ``..`` or is absolute is refused at every read
site (candidates, rationale SFT rows, preference rows, the CSR baseline, evaluation, the
srcal-tiny card) with a message naming file, line and field, and nothing is opened.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.paths import DataPathError, resolve_data_path
from benchmarks.pools import pool_hash
from benchmarks.records import BenchmarkItem, read_items, write_jsonl


@pytest.fixture
def data(tmp_path: Path, smoke_dataset: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(smoke_dataset, out, ignore=shutil.ignore_patterns("hf"))
    (tmp_path / "outside.png").write_bytes((out / read_items(out / "test.jsonl")[0].image).read_bytes())
    return out


@pytest.fixture
def no_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any image is opened."""
    import PIL.Image

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an image was opened: {args[:1]}")

    monkeypatch.setattr(PIL.Image, "open", refuse)


BAD = ["../outside.png", "ABSOLUTE"]


def _break(path: Path, line: int, bad: str) -> str:
    """Set the image of ``path``'s item at ``line`` to ``bad``; returns the expected message prefix."""
    if bad == "ABSOLUTE":
        bad = str(path.parent.parent / "outside.png")
    lines = path.read_text().splitlines()
    record = json.loads(lines[line - 1])
    record["image"] = bad
    lines[line - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    return f"{path}:{line}: field 'image': path {bad!r} escapes the dataset directory"


def _refused(call, expected: str) -> None:
    with pytest.raises(DataPathError) as info:
        call()
    assert str(info.value).startswith(expected), str(info.value)
    assert str(info.value).endswith("(not opened)")


# ----------------------------------------------------------------------------- the rule


class TestResolver:
    @pytest.mark.parametrize(
        "bad",
        ["", "../x.png", "images/../../x.png", "/etc/passwd", "\\\\host\\x.png", "C:x.png", "a/..\\..\\x"],
    )
    def test_refused(self, tmp_path: Path, bad: str) -> None:
        with pytest.raises(DataPathError) as info:
            resolve_data_path(tmp_path, bad, file="d.jsonl", line=7, field="image")
        assert str(info.value).startswith("d.jsonl:7: field 'image': ")
        assert (info.value.file, info.value.line, info.value.field) == ("d.jsonl", 7, "image")

    def test_symlinks(self, tmp_path: Path) -> None:
        root = tmp_path / "root"
        (root / "images").mkdir(parents=True)
        (root / "images" / "a.png").write_bytes(b"x")
        (tmp_path / "secret.png").write_bytes(b"x")
        os.symlink(tmp_path / "secret.png", root / "images" / "out.png")
        os.symlink(root / "images" / "a.png", root / "images" / "in.png")
        with pytest.raises(DataPathError, match="resolves outside"):
            resolve_data_path(root, "images/out.png", file="d.jsonl", line=1, field="image")
        inside = resolve_data_path(root, "images/in.png", file="d.jsonl", line=1, field="image")
        assert inside == (root / "images" / "a.png").resolve()
        assert resolve_data_path(root, "images/new.png", file="f", line=None, field="image").parent.is_dir()

    def test_validate_applies_the_same_rule(self, data: Path) -> None:
        from benchmarks.validate import validate

        expected = _break(data / "rft.jsonl", 2, "../outside.png")
        file_line = expected.split(": field")[0]
        assert any(
            str(p).startswith(f"{file_line}: image: path '../outside.png' escapes") for p in validate(data)
        )


class TestItemsKeepTheirSchema:
    def test_origin_is_recorded_but_not_serialised_compared_or_hashed(self, data: Path) -> None:
        path = data / "calib.jsonl"
        items = read_items(path)
        assert items[2].origin == (str(path), 3)
        assert all("origin" not in i.to_dict() for i in items)
        fresh = [BenchmarkItem.from_dict(i.to_dict()) for i in items]
        assert fresh == items and fresh[0].origin is None
        assert pool_hash(fresh) == pool_hash(items)
        copy = data / "copy.jsonl"
        write_jsonl(copy, items)
        assert copy.read_bytes() == path.read_bytes()
        with pytest.raises(ValueError, match="unknown field"):
            BenchmarkItem.from_dict({**items[0].to_dict(), "origin": [str(path), 1]})


# ----------------------------------------------------------------------------- read sites


@pytest.mark.parametrize("bad", BAD)
class TestEveryReadSiteRefuses:
    def test_candidates(self, data: Path, bad: str, no_open: None) -> None:
        from calibrate.candidates import generate_batch
        from calibrate.config import CandidateConfig

        expected = _break(data / "calib.jsonl", 3, bad)
        items = read_items(data / "calib.jsonl")[:4]
        policy = SimpleNamespace(model=None, processor=None)
        _refused(lambda: generate_batch(policy, items, data, CandidateConfig()), expected)

    def test_rationale_sft_rows(self, data: Path, bad: str, no_open: None) -> None:
        from dataclasses import replace

        from calibrate.rationale_sft import sft_rows

        expected = _break(data / "rft.jsonl", 2, bad)
        items = [replace(i, rationale=i.rationale + " ") for i in read_items(data / "rft.jsonl")[:3]]
        _refused(lambda: sft_rows(items, data, "bare"), expected)

    def test_preference_rows(self, data: Path, bad: str, no_open: None) -> None:
        from calibrate.preference import dpo_rows

        expected = _break(data / "calib.jsonl", 2, bad)
        items = {i.id: i for i in read_items(data / "calib.jsonl")}
        pairs = [SimpleNamespace(item_id=i, chosen="a", rejected="b") for i in list(items)[:3]]
        _refused(lambda: dpo_rows(pairs, items, data, "bare"), expected)

    def test_csr_baseline(self, data: Path, bad: str, no_open: None) -> None:
        from calibrate.baselines import self_rewards

        expected = _break(data / "calib.jsonl", 1, bad)
        item = read_items(data / "calib.jsonl")[0]
        _refused(lambda: self_rewards(None, item, None, data), expected)

    def test_evaluation(self, data: Path, tmp_path: Path, bad: str, no_open: None) -> None:
        from benchmarks.registry import BENCHMARKS
        from harness.evaluate import Checkpoint, EvalFailures, Evaluation, eval_config_from, load_docs

        items = read_items(data / "test.jsonl")
        suite = items[0].suite
        line = next(k for k, i in enumerate(items, start=1) if i.suite == suite and k > 1)
        expected = _break(data / "test.jsonl", line, bad)
        cfg = eval_config_from(
            (), {"data_dir": str(data), "benchmarks": [suite], "reader": {"name": "conclusion"}}
        )
        _refused(lambda: load_docs(BENCHMARKS.get(suite), cfg), expected)

        def responder(*_args: object) -> list[str]:
            raise AssertionError("nothing may be generated")

        with pytest.raises(EvalFailures) as info:
            Evaluation(Checkpoint("no-model"), cfg, tmp_path / "out", responder=responder).run()
        assert expected in info.value.failures[suite]

    def test_evaluation_image_paths_of_public_data(self, data: Path, bad: str, no_open: None) -> None:
        from benchmarks.registry import BENCHMARKS
        from benchmarks.spec import EvalDoc
        from harness.evaluate import open_image

        if bad == "ABSOLUTE":
            bad = str(data.parent / "outside.png")
        spec = BENCHMARKS.get("mmstar")
        doc = EvalDoc(id="7", question="q", answer="A", answer_type="multiple_choice", image=bad)
        with pytest.raises(DataPathError, match=r"\(document 7\): field 'image': path .* escapes"):
            open_image(spec, doc, data)
        with pytest.raises(DataPathError, match="no local data directory"):
            open_image(spec, doc, None)

    def test_srcal_tiny_card(self, data: Path, bad: str, no_open: None) -> None:
        from calibrate.zoo.srcal_tiny import TinyRecipe, evaluate_short_answers, short_answer_rows

        items = read_items(data / "test.jsonl")
        suite = items[0].suite
        expected = _break(data / "test.jsonl", 2 if items[1].suite == suite else 1, bad)
        model = SimpleNamespace(eval=lambda: None)
        manifest = {"config": {"suites": [suite]}}
        _refused(lambda: evaluate_short_answers(model, None, data, TinyRecipe(), manifest, print), expected)
        _refused(
            lambda: short_answer_rows(read_items(data / "test.jsonl"), data, TinyRecipe(), "s"), expected
        )
