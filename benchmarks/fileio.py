"""Atomic file writes, content hashes and append-only JSONL logs: nothing half-written is ever trusted."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def png_bytes(image: Any) -> bytes:
    """Encode a PIL image as PNG deterministically (no timestamps, fixed compression)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def srcal_home() -> Path:
    """Where srcal caches what it builds (converted weights, zoo models, datasets).

    ``$SRCAL_HOME`` if set, else ``~/.cache/srcal``.
    """
    root = os.environ.get("SRCAL_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "srcal"


CRASH_ENV = "SRCAL_CRASH_AFTER"
"""Crash injection for resume tests: ``SRCAL_CRASH_AFTER=<path suffix>:<n>`` (e.g.
``iter_2/candidates.jsonl:5``) kills the process (exit 137, no cleanup, like SIGKILL) once
that log holds n records."""


def _maybe_crash(path: Path, count: int) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    name, _, limit = spec.rpartition(":")
    if path.as_posix().endswith(name) and count >= int(limit):
        os._exit(137)


def jsonl_line(record: dict[str, Any]) -> str:
    """One record as a line of a per-item JSONL file (the one encoding of every stage file)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


class ItemLog:
    """An append-only JSONL file of per-item records keyed by ``item_id``.

    Opening it reads the records already there (dropping a torn last line, which is
    truncated away), so a stage can skip finished items and append the rest.
    """

    def __init__(self, path: str | Path, key: str = "item_id") -> None:
        self.path = Path(path)
        self.key = key
        self.records: dict[str, dict[str, Any]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn write of the last record
            try:
                record = json.loads(line)
            except ValueError:
                break
            self.records[str(record[self.key])] = record
            good_end += len(line)
        if good_end != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records durably (one write, flush, fsync)."""
        lines = []
        for record in records:
            self.records[str(record[self.key])] = record
            lines.append(jsonl_line(record))
        if not lines:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        _maybe_crash(self.path, len(self.records))

    def ordered(self, item_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The records of ``item_ids`` in that order (those present)."""
        return [self.records[i] for i in item_ids if i in self.records]

    @classmethod
    def replace(cls, path: str | Path, records: Iterable[dict[str, Any]], key: str = "item_id") -> ItemLog:
        """Write ``records`` as the whole file, atomically (a stage that writes its output in one go)."""
        atomic_write_text(path, "".join(jsonl_line(r) for r in records))
        return cls(path, key)

    def rewrite_ordered(self, item_ids: Iterable[str]) -> None:
        """Rewrite the file in ``item_ids`` order (makes resumed and uninterrupted files byte-identical)."""
        atomic_write_text(self.path, "".join(jsonl_line(r) for r in self.ordered(item_ids)))


def source_commit() -> str:
    """The srcal checkout's commit (short hash, ``+dirty`` when it has uncommitted changes), or ``unknown``."""
    import subprocess

    here = Path(__file__).parent

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=here, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"
