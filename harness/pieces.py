"""A run in pieces: each piece runs some arms and recomputes the stages they share, checked by content hash.

A report too long for one sitting runs as pieces (``srcal run --preset report --arms src-facts,outcome-dpo
--shared-record FILE``). Every piece recomputes the shared stages (data, RFT and, for the learned SRC
arm, the R-Scorer); as each one completes its config hash and output content hashes are compared with
``FILE``: the first piece to finish a stage records it there, every later piece must match it or
stops at once with :class:`SharedStageError`, before anything is trained on a different base. The
leaderboard merges pieces of one run (`leaderboards.results.merge_pieces`) and refuses pieces whose
``iter_0`` or evaluation items differ.

Record format (JSON)::

    {"format": 1, "stages": {"iter_0/rft": {"config_hash": "...", "outputs": {"model": "<sha256>"},
                                            "recorded_by": "<piece>"}, ...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.fileio import atomic_write_json

SHARED_STAGES = frozenset({"data/data", "iter_0/rft", "scorer/scorer"})
"""``<directory>/<stage>`` of the stages every arm of a run starts from (the scorer: the learned arm's)."""
FORMAT = 1


class SharedStageError(ValueError):
    """A piece's shared stage differs from the one recorded by an earlier piece."""


class SharedRecord:
    """The shared stages' hashes of a run in pieces, kept in ``path``; ``piece`` names this piece."""

    def __init__(self, path: str | Path, piece: str) -> None:
        self.path = Path(path)
        self.piece = piece

    def read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"format": FORMAT, "stages": {}}
        try:
            record = json.loads(self.path.read_text())
        except ValueError as exc:
            raise SharedStageError(f"{self.path}: not a shared-stage record (not JSON: {exc})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("stages"), dict):
            raise SharedStageError(f"{self.path}: not a shared-stage record (no `stages` mapping)")
        return record

    def check(self, directory: Path, name: str, manifest: dict[str, Any]) -> None:
        """Record stage ``directory/name`` if no piece has yet; else refuse it unless it hashes the same."""
        key = f"{directory.name}/{name}"
        if key not in SHARED_STAGES:
            return
        mine = {"config_hash": manifest.get("config_hash"), "outputs": _content(directory, name, manifest)}
        record = self.read()
        theirs = record["stages"].get(key)
        if theirs is None:
            record["stages"][key] = {**mine, "recorded_by": self.piece}
            atomic_write_json(self.path, record)
            return
        if theirs["config_hash"] != mine["config_hash"]:
            raise SharedStageError(
                f"{self.path}: stage {key} of piece {self.piece!r} has config hash {mine['config_hash']}, "
                f"piece {theirs['recorded_by']!r} recorded {theirs['config_hash']}: the pieces were run with "
                "different settings (preset or --set); run this piece with the recorded ones"
            )
        if theirs["outputs"] != mine["outputs"]:
            differ = sorted(k for k in mine["outputs"] if mine["outputs"][k] != theirs["outputs"].get(k))
            raise SharedStageError(
                f"{self.path}: stage {key} of piece {self.piece!r} produced other content than piece "
                f"{theirs['recorded_by']!r} recorded ({', '.join(differ) or 'outputs'}: "
                f"{mine['outputs']} vs {theirs['outputs']}), with the same settings: not reproduced here "
                "(another commit, library version or machine?); its arms cannot join the others"
            )


def _content(directory: Path, name: str, manifest: dict[str, Any]) -> dict[str, str]:
    """A stage's output content hashes; the data stage's are its splits' (its manifest holds paths and times)."""
    if name == "data":
        splits = json.loads((directory / "manifest.json").read_text())["splits"]
        return {split: info["sha256"] for split, info in sorted(splits.items())}
    return dict(manifest.get("outputs", {}))
