from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.build import DataConfig, allocate, build_dataset, load_data_config
from benchmarks.configuration import ConfigError
from benchmarks.parsing import normalize_answer, parse_response
from benchmarks.records import CATEGORIES, SPLITS, read_items
from benchmarks.registry import BUILTIN_SUITES, SUITES
from benchmarks.validate import validate


def _items(root: Path) -> dict[str, list]:
    return {split: read_items(root / f"{split}.jsonl") for split in SPLITS}


class TestAllocation:
    def test_ratio_and_total(self) -> None:
        plan = allocate(2000, list(BUILTIN_SUITES), [2, 1, 1])
        assert sum(plan.values()) == 2000
        per_cat = {c: sum(n for s, n in plan.items() if SUITES.get(s).category == c) for c in CATEGORIES}
        assert per_cat == {"perception": 1000, "chart": 500, "math_science": 500}

    def test_zero_weight_everywhere_is_an_error(self) -> None:
        with pytest.raises(ConfigError):
            allocate(10, ["easyvqa"], [0, 1, 1])


class TestSmokeBuild:
    def test_validates_clean(self, smoke_dataset: Path) -> None:
        assert validate(smoke_dataset) == []

    def test_manifest_counts(self, smoke_dataset: Path) -> None:
        manifest = json.loads((smoke_dataset / "manifest.json").read_text())
        config = load_data_config("smoke")
        assert manifest["splits"]["rft"]["count"] == config.rft_size
        assert manifest["splits"]["calib"]["count"] == config.calib_size
        assert manifest["splits"]["test"]["count"] == config.test_per_suite * len(config.suites)
        for name in config.suites:
            assert manifest["suites"][name]["test_majority_baseline"] is not None
            assert manifest["suites"][name]["license"]

    @pytest.mark.parametrize("split", ["rft", "calib"])
    def test_category_ratio_2_1_1(self, smoke_dataset: Path, split: str) -> None:
        items = _items(smoke_dataset)[split]
        shares = {c: sum(i.category == c for i in items) / len(items) for c in CATEGORIES}
        assert abs(shares["perception"] - 0.5) <= 0.02
        assert abs(shares["chart"] - 0.25) <= 0.02
        assert abs(shares["math_science"] - 0.25) <= 0.02

    def test_splits_disjoint_in_items_and_images(self, smoke_dataset: Path) -> None:
        items = _items(smoke_dataset)
        for a in SPLITS:
            for b in SPLITS:
                if a < b:
                    assert not {i.id for i in items[a]} & {i.id for i in items[b]}
                    assert not {i.image_sha256 for i in items[a]} & {i.image_sha256 for i in items[b]}

    def test_every_gold_rationale_ends_with_the_gold_answer_and_is_true(self, smoke_dataset: Path) -> None:
        for split_items in _items(smoke_dataset).values():
            for item in split_items:
                parsed = parse_response(item.rationale, item.answer_type, item.choices)
                assert parsed.parse_status == "ok", item.id
                assert parsed.final_answer == normalize_answer(item.answer, item.answer_type, item.choices), (
                    item.id
                )
                checks = SUITES.get(item.suite).check_rationale(item.rationale, item.facts)
                assert checks, f"{item.id}: no checkable statement in the gold rationale"
                assert all(c.true for c in checks), (item.id, [c.claim for c in checks if not c.true])

    def test_formats_are_mixed(self, smoke_dataset: Path) -> None:
        kinds = {i.answer_type for items in _items(smoke_dataset).values() for i in items}
        assert {"multiple_choice", "yes_no", "integer"} <= kinds

    def test_hf_copy_loads_from_disk(self, smoke_dataset: Path) -> None:
        import datasets

        dd = datasets.load_from_disk(str(smoke_dataset / "hf"))
        assert set(dd) == set(SPLITS)
        row = dd["test"][0]
        first = read_items(smoke_dataset / "test.jsonl")[0]
        assert row["id"] == first.id and row["question"] == first.question
        from PIL import Image

        with Image.open(smoke_dataset / first.image) as image:
            assert row["image"].size == image.size
            assert row["image"].convert("RGB").tobytes() == image.convert("RGB").tobytes()
        assert json.loads(row["facts_json"]) == first.facts


class TestRebuild:
    def test_deterministic_and_cached(self, tmp_path: Path, smoke_dataset: Path) -> None:
        config = load_data_config("smoke")
        config.export_hf = False
        out = tmp_path / "again"
        build_dataset(config, out)
        for split in SPLITS:
            assert (out / f"{split}.jsonl").read_bytes() == (smoke_dataset / f"{split}.jsonl").read_bytes()
        before = (out / "manifest.json").stat().st_mtime_ns
        build_dataset(config, out)  # same config: a no-op
        assert (out / "manifest.json").stat().st_mtime_ns == before

    def test_other_config_refuses_to_overwrite(self, tmp_path: Path) -> None:
        config = DataConfig(
            suites=["easyvqa"], base_size=4, rft_size=4, calib_size=4, test_per_suite=4, export_hf=False
        )
        out = tmp_path / "d"
        build_dataset(config, out)
        other = DataConfig(
            suites=["easyvqa"], base_size=6, rft_size=4, calib_size=4, test_per_suite=4, export_hf=False
        )
        with pytest.raises(ConfigError, match="--force"):
            build_dataset(other, out)
        build_dataset(other, out, force=True)
        assert len(read_items(out / "base.jsonl")) == 6
        assert not list(tmp_path.glob(".d.partial-*"))

    def test_failed_build_leaves_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import benchmarks.build as build

        def boom(*_args, **_kwargs):
            raise RuntimeError("generator crashed")

        monkeypatch.setattr(build, "export_hf", boom)
        config = DataConfig(suites=["easyvqa"], base_size=2, rft_size=2, calib_size=2, test_per_suite=2)
        with pytest.raises(RuntimeError, match="crashed"):
            build_dataset(config, tmp_path / "d")
        assert list(tmp_path.iterdir()) == []


class TestConfig:
    def test_unknown_field_did_you_mean(self, tmp_path: Path) -> None:
        path = tmp_path / "c.yaml"
        path.write_text("data:\n  rft_sise: 10\n")
        with pytest.raises(ConfigError, match=r"unknown field 'rft_sise'.*did you mean 'rft_size'"):
            load_data_config(None, path)

    def test_wrong_type(self, tmp_path: Path) -> None:
        path = tmp_path / "c.yaml"
        path.write_text("data:\n  rft_size: many\n")
        with pytest.raises(ConfigError, match="rft_size"):
            load_data_config(None, path)

    def test_unknown_preset(self) -> None:
        with pytest.raises(ConfigError, match="did you mean 'smoke'"):
            load_data_config("smok")

    def test_unknown_suite(self) -> None:
        with pytest.raises(KeyError, match="did you mean 'charts'"):
            DataConfig(suites=["chart"])

    def test_yaml_syntax_error_names_line(self, tmp_path: Path) -> None:
        path = tmp_path / "c.yaml"
        path.write_text("data:\n  seed: [1,\n")
        with pytest.raises(ConfigError, match=r"c\.yaml:\d+"):
            load_data_config(None, path)
