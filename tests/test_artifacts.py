from __future__ import annotations

import json
import time
from pathlib import Path

from calibrate.artifacts import ItemLog, config_hash, is_complete, path_hash, write_manifest


class TestItemLog:
    def test_append_and_reload(self, tmp_path: Path) -> None:
        log = ItemLog(tmp_path / "c.jsonl")
        log.append([{"item_id": "a", "v": 1}, {"item_id": "b", "v": 2}])
        again = ItemLog(tmp_path / "c.jsonl")
        assert "a" in again and "b" in again and len(again) == 2

    def test_torn_last_line_is_dropped_and_truncated(self, tmp_path: Path) -> None:
        path = tmp_path / "c.jsonl"
        path.write_text(json.dumps({"item_id": "a"}) + "\n" + '{"item_id": "b", "v"')
        log = ItemLog(path)
        assert list(log.records) == ["a"]
        assert path.read_text() == json.dumps({"item_id": "a"}) + "\n"
        log.append([{"item_id": "b"}])
        assert [json.loads(line)["item_id"] for line in path.read_text().splitlines()] == ["a", "b"]

    def test_rewrite_ordered(self, tmp_path: Path) -> None:
        log = ItemLog(tmp_path / "c.jsonl")
        log.append([{"item_id": "b"}])
        log.append([{"item_id": "a"}])
        log.rewrite_ordered(["a", "b"])
        assert [json.loads(line)["item_id"] for line in (tmp_path / "c.jsonl").read_text().splitlines()] == [
            "a",
            "b",
        ]


class TestManifests:
    def test_complete_only_when_config_inputs_and_outputs_match(self, tmp_path: Path) -> None:
        (tmp_path / "out.txt").write_text("result")
        digest = config_hash({"x": 1})
        write_manifest(tmp_path, "stage", digest, {"in": "h1"}, ["out.txt"], 0, time.time(), {"n": 1})
        assert is_complete(tmp_path, "stage", digest, {"in": "h1"})
        assert not is_complete(tmp_path, "stage", config_hash({"x": 2}), {"in": "h1"})
        assert not is_complete(tmp_path, "stage", digest, {"in": "h2"})
        (tmp_path / "out.txt").write_text("tampered")
        assert not is_complete(tmp_path, "stage", digest, {"in": "h1"})

    def test_torn_manifest_means_not_done(self, tmp_path: Path) -> None:
        (tmp_path / "stage.manifest.json").write_text('{"config_hash": ')
        assert not is_complete(tmp_path, "stage", "x", {})

    def test_directory_hash_changes_with_content(self, tmp_path: Path) -> None:
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "w.bin").write_bytes(b"1")
        before = path_hash(tmp_path / "d")
        (tmp_path / "d" / "w.bin").write_bytes(b"2")
        assert path_hash(tmp_path / "d") != before
