"""A run in pieces (``srcal run --arms ... --shared-record FILE``) on the smoke preset (srcal-micro).

Two pieces (the method's arm; the baselines) give the leaderboard one run directory holding every arm
gives, byte for byte; a piece trained from another ``iter_0``, or evaluated on other items, is refused;
the shared-stage record stops a piece whose data, RFT or R-Scorer differ.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.configuration import RunDirError
from harness.pieces import SharedRecord, SharedStageError
from tests.conftest import run_smoke


def _leaderboard(out: Path, *run_dirs: Path) -> str:
    cmd = [sys.executable, "-m", "harness.cli", "leaderboard", *map(str, run_dirs), "--format", "csv"]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return (out / "leaderboard.csv").read_text()


@pytest.fixture(scope="module")
def pieces(smoke_run: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The smoke run's arms in two pieces sharing one record (stages copied from the whole run: fast)."""
    whole, _ = smoke_run
    work = tmp_path_factory.mktemp("pieces")
    record = work / "shared_stages.json"
    made = {"whole": whole, "record": record}
    for name, arms in (("piece-src", "src"), ("piece-baselines", "outcome-dpo,csr-style")):
        run_dir = work / name
        proc = run_smoke(run_dir, "--arms", arms, "--shared-record", str(record), "--reuse-from", str(whole))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        made[name] = run_dir
    return made


def test_pieces_make_the_leaderboard_of_one_run(pieces: dict[str, Path], tmp_path: Path) -> None:
    whole = _leaderboard(tmp_path / "whole", pieces["whole"])
    merged = _leaderboard(tmp_path / "merged", pieces["piece-src"], pieces["piece-baselines"])
    assert merged == whole
    index = json.loads((pieces["piece-baselines"] / "eval" / "index.json").read_text())
    assert index["arms"] == ["outcome-dpo", "csr-style"]
    assert index["order"] == ["base", "iter_0", "outcome-dpo", "csr-style"]
    assert not (pieces["piece-baselines"] / "iter_1").exists()  # the method's iterations: the other piece's


def test_the_first_piece_records_the_shared_stages(pieces: dict[str, Path]) -> None:
    record = json.loads(pieces["record"].read_text())
    assert set(record["stages"]) == {"data/data", "iter_0/rft", "scorer/scorer"}
    assert {s["recorded_by"] for s in record["stages"].values()} == {"piece-src"}
    assert set(record["stages"]["data/data"]["outputs"]) == {"base", "calib", "rft", "test"}


def _copy(src: Path, dst: Path) -> Path:
    """A piece's results without its weights, its store rebuilt from them as ``srcal leaderboard`` does."""
    from harness.store import ensure_store

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors", "results.sqlite*"))
    ensure_store(dst)
    return dst


def test_a_piece_from_another_iter_0_is_refused(pieces: dict[str, Path], tmp_path: Path) -> None:
    from leaderboards.build import build_leaderboard

    other = _copy(pieces["piece-baselines"], tmp_path / "other")
    index_path = other / "eval" / "index.json"
    index = json.loads(index_path.read_text())
    index["checkpoints"]["iter_0"]["model_hash"] = "0" * 64
    index_path.write_text(json.dumps(index))
    with pytest.raises(RunDirError, match="iter_0 differs"):
        build_leaderboard([pieces["piece-src"], other], tmp_path / "out", ("csv",))


def test_a_piece_on_other_items_is_refused(pieces: dict[str, Path], tmp_path: Path) -> None:
    from leaderboards.build import build_leaderboard

    other = _copy(pieces["piece-baselines"], tmp_path / "other")
    samples = next(iter(sorted((other / "eval" / "iter_0").glob("*/samples.jsonl"))))
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[1:]))
    with pytest.raises(RunDirError, match=f"evaluated items of {samples.parent.name} differ"):
        build_leaderboard([pieces["piece-src"], other], tmp_path / "out", ("csv",))


def test_a_piece_with_other_shared_settings_stops_early(pieces: dict[str, Path], tmp_path: Path) -> None:
    run_dir = tmp_path / "piece-lr"
    proc = run_smoke(
        run_dir,
        "--arms",
        "outcome-dpo",
        "--shared-record",
        str(pieces["record"]),
        "--set",
        "rft.learning_rate=2e-3",
    )
    assert proc.returncode == 1
    assert "stage iter_0/rft of piece 'piece-lr' has config hash" in proc.stderr
    assert not (run_dir / "baselines").exists()  # stopped before any arm trained


def test_shared_record_refuses_other_content(tmp_path: Path) -> None:
    record = tmp_path / "shared.json"
    manifest = {"config_hash": "c1", "outputs": {"model": "aaa"}}
    SharedRecord(record, "first").check(tmp_path / "iter_0", "rft", manifest)
    SharedRecord(record, "second").check(tmp_path / "iter_0", "rft", manifest)  # the same: accepted
    SharedRecord(record, "second").check(tmp_path / "iter_1", "preference", manifest)  # not shared: ignored
    with pytest.raises(SharedStageError, match="produced other content than piece 'first' recorded"):
        SharedRecord(record, "third").check(
            tmp_path / "iter_0", "rft", {**manifest, "outputs": {"model": "bbb"}}
        )
    assert json.loads(record.read_text())["stages"]["iter_0/rft"]["recorded_by"] == "first"


def test_unknown_arm_is_refused(smoke_dataset: Path, tmp_path: Path) -> None:
    proc = run_smoke(tmp_path / "run", "--arms", "src,dpo")
    assert proc.returncode == 1
    assert "--arms: dpo not an arm of this run (its arms: src, outcome-dpo, csr-style)" in proc.stderr


def test_published_pieces_make_the_same_leaderboard(pieces: dict[str, Path], tmp_path: Path) -> None:
    """``tools.golden --publish --piece``: no weights, and the leaderboard over the published pieces is the run's."""
    from tools.golden import publish_piece

    report = tmp_path / "report"
    for name in ("piece-src", "piece-baselines"):
        publish_piece(pieces[name], "smoke", name, report / name)
    assert not list(report.glob("**/*.safetensors")) and not list(report.glob("**/*.bin"))
    info = json.loads((report / "piece-baselines" / "piece.json").read_text())
    assert info["arms"] == ["outcome-dpo", "csr-style"] and info["commit"] != "unknown"
    assert info["stage_seconds"] > 0 and "baselines/outcome-dpo/iter_1/preference" in info["stages"]
    whole = _leaderboard(tmp_path / "whole", pieces["whole"])
    assert _leaderboard(tmp_path / "board", report / "piece-src", report / "piece-baselines") == whole


def test_publishing_refuses_a_piece_of_another_preset(pieces: dict[str, Path], tmp_path: Path) -> None:
    from tools.golden import publish_piece

    with pytest.raises(SystemExit, match="not a piece of preset 'tiny'"):
        publish_piece(pieces["piece-src"], "tiny", "piece-src", tmp_path / "out")
    assert not (tmp_path / "out").exists()
