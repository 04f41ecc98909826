"""Stage artifacts: append-only per-item logs, hashes and manifests that make stages resumable.

A stage's manifest (``<dir>/<stage>.manifest.json``) records its config hash, the hashes
of its inputs and outputs, versions, seed and timings. ``is_complete`` trusts a stage
only when its manifest matches the current config and inputs *and* its outputs still
hash to what the manifest says; anything else is recomputed. Per-item stages append
one JSON line per finished item to an :class:`ItemLog` (flushed and fsynced), so an
interrupted stage resumes at the first missing item; a torn last line is discarded.

A stage's entry point (a :class:`Stage`: one class per stage, in the stage's module) names its
manifest, its config and inputs, and runs it; later stages see its main output as an
:class:`Artifact`. Per-item stages shard items across the ranks of a distributed launch into
``<stem>.rank<r>.jsonl`` logs that :func:`merge_shards` joins.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from benchmarks.fileio import (  # noqa: F401  (ItemLog, jsonl_line, CRASH_ENV: re-exported)
    CRASH_ENV,
    ItemLog,
    atomic_write_json,
    atomic_write_text,
    jsonl_line,
    sha256_file,
)

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    """A finished stage's output as later stages see it: where it lives and the hash its manifest recorded."""

    path: Path
    hash: str


class Stage(Protocol):
    """One stage's entry point, run under its manifest by the driver (`calibrate.loop.Calibration`).

    It is built from typed inputs (its config section, paths, items, upstream artifacts) and owns
    reading its inputs, writing its outputs (atomically; per-item files through `ItemLog`) and, under
    a distributed launch, its sharding across ranks.
    """

    name: ClassVar[str]
    """The manifest name: ``<dir>/<name>.manifest.json`` (one of `calibrate.loop.STAGES`)."""
    output: ClassVar[str]
    """The output later stages read, relative to the stage directory."""
    mode: ClassVar[str]
    """Who runs `run` under a distributed launch: ``main`` (rank 0; the others wait) or ``all``."""

    def config(self) -> Any:
        """The config the stage hash covers (less `calibrate.config.RESULT_NEUTRAL_FIELDS`)."""
        ...

    def inputs(self) -> dict[str, str]:
        """Hashes of the inputs (upstream outputs, pools) the manifest must match."""
        ...

    def run(self) -> tuple[list[str], dict[str, Any]]:
        """Compute the outputs; returns their names (relative to the stage directory) and a summary."""
        ...


def config_hash(config: Any) -> str:
    """sha256 of a JSON-able config (dataclasses via ``to_dict``/``asdict``)."""
    import dataclasses

    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def path_hash(path: str | Path) -> str:
    """sha256 of a file, or of a directory's files (relative names + contents, sorted)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise FileNotFoundError(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{child.relative_to(path).as_posix()}\0{sha256_file(child)}\n".encode())
    return digest.hexdigest()


def reset_cuda_peak() -> None:
    """Start a new peak-memory window on every visible CUDA device (no-op without CUDA).

    Only where CUDA is initialised in this process: before that nothing is allocated, so the window
    is empty already, and torch's reset raises there (``RuntimeError: Invalid device argument``, as
    every stage of `srcal calibrate` did on a fresh H200 process at f017e41).
    """
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for device in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_gib() -> float | None:
    """Peak CUDA memory torch's allocator reserved in this process since the last reset, in GiB.

    Reserved, not allocated: it is what counts against the card's memory (cache included). None where
    CUDA is absent or was never initialised in this process (nothing ran on it).
    """
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return None
    peak = max(torch.cuda.max_memory_reserved(d) for d in range(torch.cuda.device_count()))
    return round(peak / 2**30, 2)


def versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("srcal", "torch", "transformers", "peft", "trl", "accelerate"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def manifest_path(directory: Path, stage: str) -> Path:
    return directory / f"{stage}.manifest.json"


def read_manifest(directory: Path, stage: str) -> dict[str, Any] | None:
    path = manifest_path(directory, stage)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a torn manifest is treated as absent: the stage reruns


def is_complete(directory: Path, stage: str, cfg_hash: str, inputs: dict[str, str]) -> bool:
    """Whether ``stage`` finished with this config and these inputs, and its outputs are intact."""
    manifest = read_manifest(directory, stage)
    if not manifest or manifest.get("config_hash") != cfg_hash or manifest.get("inputs") != inputs:
        return False
    for rel, digest in manifest.get("outputs", {}).items():
        target = directory / rel
        if not target.exists() or path_hash(target) != digest:
            return False
    return True


def write_manifest(
    directory: Path,
    stage: str,
    cfg_hash: str,
    inputs: dict[str, str],
    outputs: Iterable[str],
    seed: int,
    started: float,
    summary: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a finished stage (written last, atomically: its presence means the stage is done)."""
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "stage": stage,
        "config_hash": cfg_hash,
        "config": config,
        "inputs": inputs,
        "outputs": {rel: path_hash(directory / rel) for rel in outputs},
        "seed": seed,
        "versions": versions(),
        "seconds": round(time.time() - started, 2),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "summary": summary,
    }
    atomic_write_json(manifest_path(directory, stage), manifest)
    return manifest


def reuse_stage(donor: Path, directory: Path, stage: str) -> None:
    """Copy a complete stage's outputs from ``donor`` into ``directory`` atomically, manifest last.

    Copies, not hard links: per-item logs are appended to in place when a stage resumes.
    """
    manifest = read_manifest(donor, stage)
    if manifest is None:
        raise FileNotFoundError(f"{manifest_path(donor, stage)}: no manifest to reuse")
    directory.mkdir(parents=True, exist_ok=True)
    for rel in manifest.get("outputs", {}):
        src, dst = donor / rel, directory / rel
        partial = dst.with_name(f".{dst.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        if src.is_dir():
            shutil.copytree(src, partial)
        else:
            shutil.copy2(src, partial)
        if dst.is_dir():
            shutil.rmtree(dst)
        os.replace(partial, dst)
    atomic_write_json(manifest_path(directory, stage), {**manifest, "reused_from": str(donor)})


def shard_path(path: str | Path, rank: int) -> Path:
    """Rank ``rank``'s log of the per-item file ``path`` under a distributed launch: ``<stem>.rank<r>.jsonl``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def merge_shards(path: str | Path, item_ids: list[str], key: str = "item_id") -> list[dict[str, Any]]:
    """Join the ranks' `shard_path` logs into ``path`` (item order; rank 0 writes, every rank waits).

    Records ``path`` already holds (an earlier, resumed run's) are kept unless a shard has the item
    again. Returns the merged records of ``item_ids`` in that order, on every rank.
    """
    from calibrate.checkpoints import is_main_process, wait_for_everyone

    path = Path(path)
    wait_for_everyone()
    if is_main_process():
        records: dict[str, dict[str, Any]] = dict(ItemLog(path, key=key).records) if path.is_file() else {}
        shards = sorted(path.parent.glob(f"{path.stem}.rank*{path.suffix}"))
        for shard in shards:
            records.update(ItemLog(shard, key=key).records)
        atomic_write_text(path, "".join(jsonl_line(records[i]) for i in item_ids if i in records))
        for shard in shards:
            shard.unlink()
    wait_for_everyone()
    return ItemLog(path, key=key).ordered(item_ids)
