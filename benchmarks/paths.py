"""The one rule for paths that come from data files: they stay inside their data directory.

Every read of a path taken from a data record (an item's ``image``, a public benchmark's
image field) goes through :func:`resolve_data_path`, and so does ``srcal data validate``.
A path is refused when it is empty, absolute (``/x``, ``\\x``, ``C:x``), climbs with ``..``,
or resolves (symlinks followed) outside the data directory. A refusal is a
:class:`DataPathError` naming the data file, the line and the field; nothing is opened::

    path = resolve_data_path(data_dir, item.image, file="data/rft.jsonl", line=12, field="image")
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from benchmarks.records import RecordError

__all__ = ["DataPathError", "item_image_path", "resolve_data_path"]


class DataPathError(RecordError):
    """A path in a data record that would leave its data directory (nothing was opened).

    Attributes:
        file: the data file the path was read from.
        line: its line in that file (``None`` when unknown).
        field: the record's field that holds the path.
        path: the path as written in the data.
        reason: why it is refused (without the location).
    """

    def __init__(self, file: str, line: int | None, field: str, path: str, reason: str) -> None:
        self.file, self.line, self.field, self.path, self.reason = file, line, field, path, reason
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: field {field!r}: {reason} (not opened)")


def _refusal(root: Path, rel: str) -> str | None:
    """Why ``rel`` may not be read under ``root``, or ``None`` if it may."""
    if not rel:
        return "empty path"
    posix = rel.replace("\\", "/")
    if posix.startswith("/") or ":" in posix.split("/")[0]:
        how = "absolute path"
    elif ".." in PurePosixPath(posix).parts:
        how = "'..'"
    else:
        try:
            (root / posix).resolve().relative_to(root.resolve())
            return None
        except ValueError:
            how = "resolves outside it"
        except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before 3.13), a long name
            how = f"cannot be resolved: {exc}"
    return f"path {rel!r} escapes the dataset directory ({how})"


def resolve_data_path(
    root: str | Path, rel: str | Path, *, file: str | Path, line: int | None, field: str
) -> Path:
    """``rel`` (a path read from ``file`` at ``line``, field ``field``) resolved inside ``root``.

    Raises :class:`DataPathError` if the path is empty, absolute, climbs with ``..`` or resolves
    outside ``root`` (symlinks followed). Only the file system's names are looked at: nothing
    is opened, and a path that passes need not exist.
    """
    root = Path(root)
    text = str(rel)
    reason = _refusal(root, text)
    if reason is not None:
        raise DataPathError(str(file), line, field, text, reason)
    return (root / text.replace("\\", "/")).resolve()


def item_image_path(data_dir: str | Path, item: Any) -> Path:
    """The image file of a :class:`~benchmarks.records.BenchmarkItem` inside ``data_dir``.

    The refusal names the item's origin (file and line, recorded by ``read_items``), or the
    item's id when it was not read from a file.
    """
    origin = getattr(item, "origin", None)
    file, line = origin if origin else (f"item {item.id!r}", None)
    return resolve_data_path(data_dir, item.image, file=file, line=line, field="image")
