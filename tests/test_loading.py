"""benchmarks.loading: save_to_disk dirs, data-file dirs (hub snapshot layouts), offline hub ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.loading import BenchmarkLoadError, load_rows, offline_mode
from benchmarks.registry import BENCHMARKS
from tests.test_public_benchmarks import fixture_dataset, fixture_rows, offline_hf, save_fixture  # noqa: F401


def _parquet(name: str, path: Path, rows: list[dict] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fixture_dataset(name, rows).to_parquet(str(path))
    return path


def test_offline_mode_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert offline_mode()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "false")
    assert not offline_mode()
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "TRUE")
    assert offline_mode()


def test_save_to_disk_dataset_dict_and_dataset(tmp_path: Path) -> None:
    from PIL import Image

    spec = BENCHMARKS.get("pope")
    rows = spec.load(str(save_fixture("pope", tmp_path)))
    assert len(rows) == 6 and isinstance(rows[0]["image"], Image.Image)
    assert rows[0]["question"] == fixture_rows("pope")[0]["question"]
    plain = tmp_path / "plain"
    plain.mkdir()
    assert len(load_rows(spec, str(save_fixture("pope", plain, as_dict=False)), limit=2)) == 2
    assert load_rows(spec, str(save_fixture("pope", tmp_path / "zero")), limit=0) == []


def test_save_to_disk_missing_split_lists_available(tmp_path: Path) -> None:
    import datasets

    path = tmp_path / "dd"
    datasets.DatasetDict({"train": fixture_dataset("pope"), "val": fixture_dataset("pope")}).save_to_disk(
        str(path)
    )
    with pytest.raises(BenchmarkLoadError, match=r"split 'test'.*available splits: train, val"):
        BENCHMARKS.get("pope").load(str(path))


def test_parquet_snapshot_layout_picks_the_split(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "snapshot"
    rows = fixture_rows("pope")
    _parquet("pope", root / "data" / "test-00000-of-00001.parquet", rows[:4])
    _parquet("pope", root / "data" / "train-00000-of-00001.parquet", rows[4:])
    (root / "README.md").write_text("---\nlicense: mit\n---\n")
    loaded = BENCHMARKS.get("pope").load(str(root))
    assert [r["question"] for r in loaded] == [r["question"] for r in rows[:4]]
    assert isinstance(loaded[0]["image"], Image.Image)
    docs = [BENCHMARKS.get("pope").to_doc(r) for r in loaded]
    assert docs[0].answer == "yes"


def test_parquet_config_dirs_and_named_splits(tmp_path: Path) -> None:
    rows = fixture_rows("mmbench_en_dev")
    root = tmp_path / "mmbench"
    _parquet("mmbench_en_dev", root / "en" / "dev-00000-of-00001.parquet", rows[:3])
    _parquet("mmbench_en_dev", root / "cn" / "dev-00000-of-00001.parquet", rows[3:])
    loaded = BENCHMARKS.get("mmbench_en_dev").load(str(root))
    assert [r["index"] for r in loaded] == [r["index"] for r in rows[:3]]
    hb = tmp_path / "hb"
    hb_rows = fixture_rows("hallusionbench")
    _parquet("hallusionbench", hb / "data" / "image-00000-of-00001.parquet", hb_rows[:5])
    _parquet("hallusionbench", hb / "data" / "non_image-00000-of-00001.parquet", hb_rows[5:])
    assert len(BENCHMARKS.get("hallusionbench").load(str(hb))) == 5


def test_single_unnamed_split_file_and_single_file(tmp_path: Path) -> None:
    path = _parquet("mmstar", tmp_path / "MMStar" / "mmstar.parquet")
    (tmp_path / "MMStar" / "MMStar.tsv").write_text("index\tquestion\n")
    spec = BENCHMARKS.get("mmstar")
    assert len(spec.load(str(path.parent))) == 5
    assert len(spec.load(str(path), limit=3)) == 3


def test_data_dir_without_the_split_lists_available(tmp_path: Path) -> None:
    _parquet("pope", tmp_path / "d" / "train.parquet")
    with pytest.raises(BenchmarkLoadError, match=r"split 'test'.*available splits: train"):
        BENCHMARKS.get("pope").load(str(tmp_path / "d"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkLoadError, match="no data files"):
        BENCHMARKS.get("pope").load(str(tmp_path / "empty"))


def test_jsonl_directory(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "image"} for r in fixture_rows("chartqa")]
    root = tmp_path / "jsonl"
    root.mkdir()
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = BENCHMARKS.get("chartqa").load(str(root))
    assert [r["answer"] for r in loaded] == [r["answer"] for r in rows]


def test_row_filter_runs_before_limit(tmp_path: Path) -> None:
    spec = BENCHMARKS.get("seedbench_img")
    path = save_fixture("seedbench_img", tmp_path)
    assert {r["data_type"] for r in spec.load(str(path))} == {"image"}
    assert len(spec.load(str(path), limit=10)) == 4


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(BenchmarkLoadError, match="nowhere.*does not exist"):
        BENCHMARKS.get("pope").load(str(missing))
    with pytest.raises(ValueError, match="limit"):
        BENCHMARKS.get("pope").load(str(missing), limit=-1)


def test_offline_hub_id_without_cache_raises_clear_error() -> None:
    spec = BENCHMARKS.get("mmbench_en_dev")
    with pytest.raises(BenchmarkLoadError) as info:
        spec.load()
    message = str(info.value)
    assert "lmms-lab/MMBench" in message and "'dev'" in message and "'en'" in message
    assert "local directory" in message and "offline" in message
    with pytest.raises(BenchmarkLoadError, match="someone/elsewhere"):
        spec.load("someone/elsewhere")


def test_offline_hub_id_only_datasets_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(BenchmarkLoadError, match="lmms-lab/POPE"):
        BENCHMARKS.get("pope").load()


def test_offline_hub_id_from_cached_snapshot(tmp_path: Path) -> None:
    import os

    hub = Path(os.environ["HF_HUB_CACHE"])
    repo = hub / "datasets--lmms-lab--POPE"
    _parquet("pope", repo / "snapshots" / "abc123" / "data" / "test-00000-of-00001.parquet")
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    rows = BENCHMARKS.get("pope").load(limit=2)
    assert [r["question"] for r in rows] == [r["question"] for r in fixture_rows("pope")[:2]]


def test_offline_hub_id_from_datasets_arrow_cache(tmp_path: Path) -> None:
    import os

    saved = save_fixture("hallusionbench", tmp_path, as_dict=False)
    leaf = Path(os.environ["HF_DATASETS_CACHE"]) / "lmms-lab___hallusion_bench" / "default" / "0.0.0" / "f00d"
    leaf.mkdir(parents=True)
    arrow = next(saved.glob("*.arrow"))
    shutil.copy(arrow, leaf / "hallusion_bench-image.arrow")
    shutil.copy(arrow, leaf / "hallusion_bench-non_image.arrow")
    rows = BENCHMARKS.get("hallusionbench").load()
    assert len(rows) == 6 and rows[0]["gt_answer"] == "1"
