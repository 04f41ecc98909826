"""Load a public benchmark's raw rows from the Hugging Face Hub or from local files.

``load_rows(spec, source)`` accepts:

* ``None``: the spec's hub id (``spec.dataset``, ``spec.dataset_config``, ``spec.split``);
* a hub id (``owner/name``) that is not an existing path: that id instead of the spec's;
* a ``datasets`` ``save_to_disk`` directory (a ``Dataset`` or a ``DatasetDict``, from which
  ``spec.split`` is taken);
* a directory of data files (parquet, arrow, jsonl or json), e.g. a hub snapshot laid out as
  ``data/test-00000-of-00001.parquet``, ``<config>/test-*.parquet``, ``test/0000.parquet`` or a
  single-split ``mmstar.parquet``; the files of ``spec.split`` are picked by name;
* a single data file.

Offline mode (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` truthy) never touches the network:
a hub id is looked up only in the local caches (a hub snapshot under ``HF_HUB_CACHE`` /
``HF_HOME/hub``, then the ``datasets`` Arrow cache under ``HF_DATASETS_CACHE`` /
``HF_HOME/datasets``), and a :class:`BenchmarkLoadError` says to pass a local directory when
nothing is cached.

Rows come back as plain dicts in the benchmark's own schema, images decoded to PIL images by
``datasets``. A spec may define ``row_filter = {"column": ("value", ...)}`` to keep only some
rows (SEED-Bench keeps ``data_type == "image"``); the filter runs before ``limit``.
``datasets`` is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["BenchmarkLoadError", "load_rows", "load_table", "offline_mode"]

DATA_EXTENSIONS = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "json", ".json": "json"}
"""Data file extensions, in order of preference when a directory mixes formats."""

KNOWN_SPLITS = (
    "train",
    "training",
    "test",
    "testing",
    "testmini",
    "val",
    "valid",
    "validation",
    "dev",
    "eval",
)
"""Names that mark a file as belonging to a split; a directory whose files carry none of them
(e.g. ``mmstar.parquet``) is taken as a single split."""

_SHARDED = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}(?:[-_.].*)?$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = {"1", "true", "yes", "on"}


class BenchmarkLoadError(RuntimeError):
    """A benchmark's data could not be loaded; the message says what was tried and what to do."""


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` is set to a truthy value."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def load_rows(
    spec: Any, source: str | os.PathLike[str] | None = None, limit: int | None = None
) -> list[dict]:
    """Raw rows of ``spec.split`` from ``source`` (see the module docstring), at most ``limit``."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    dataset = load_table(spec, source)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return [dict(row) for row in dataset]


def load_table(spec: Any, source: str | os.PathLike[str] | None = None) -> Any:
    """``spec.split`` from ``source`` as a ``datasets.Dataset`` (row filter applied; rows decoded on access).

    What a large training set is read through: a row's image is decoded only when the row is indexed.
    """
    return _apply_row_filter(spec, _load_dataset(spec, source))


# ------------------------------------------------------------------ dispatch


def _load_dataset(spec: Any, source: str | os.PathLike[str] | None) -> Any:
    if source is None:
        if not spec.dataset:
            raise BenchmarkLoadError(f"benchmark {spec.name!r} has no hub dataset; pass a local directory")
        return _load_hub(spec, spec.dataset)
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.exists():
        return _load_local(spec, path)
    if _HUB_ID.match(text) and not text.startswith("."):
        return _load_hub(spec, text, missing_path=text)
    raise BenchmarkLoadError(f"{spec.name}: local path {text!r} does not exist")


def _load_local(spec: Any, path: Path) -> Any:
    if path.is_file():
        builder = DATA_EXTENSIONS.get(_extension(path))
        if builder is None:
            raise BenchmarkLoadError(
                f"{spec.name}: {path} is not a data file (expected one of {', '.join(DATA_EXTENSIONS)})"
            )
        return _load_files(spec, builder, [path])
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return _load_saved(spec, path)
    builder, files = _split_files(spec, path)
    return _load_files(spec, builder, files)


def _load_saved(spec: Any, path: Path) -> Any:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # corrupt or foreign directory
        raise BenchmarkLoadError(f"{spec.name}: cannot load saved dataset {path}: {exc}") from exc
    if isinstance(loaded, datasets.DatasetDict):
        if spec.split not in loaded:
            raise BenchmarkLoadError(
                f"{spec.name}: split {spec.split!r} not in {path} "
                f"(available splits: {', '.join(sorted(loaded))})"
            )
        return loaded[spec.split]
    return loaded


def _load_files(spec: Any, builder: str, files: list[Path]) -> Any:
    import datasets

    try:
        return datasets.load_dataset(
            builder,
            data_files={spec.split: [str(f) for f in files]},
            split=spec.split,
            cache_dir=_datasets_cache_dir(),
        )
    except Exception as exc:
        names = ", ".join(str(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
        raise BenchmarkLoadError(f"{spec.name}: cannot read {builder} files {names}: {exc}") from exc


def _load_hub(spec: Any, hub_id: str, missing_path: str | None = None) -> Any:
    if offline_mode():
        cached = _load_from_cache(spec, hub_id)
        if cached is not None:
            return cached
        config = f", config {spec.dataset_config!r}" if spec.dataset_config else ""
        also = f" (and no local path {missing_path!r} exists)" if missing_path else ""
        raise BenchmarkLoadError(
            f"{spec.name}: offline mode (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE) and hub dataset "
            f"{hub_id!r}{config}, split {spec.split!r} is not in the local cache{also}; pass a local "
            "directory (a save_to_disk directory or a folder of parquet/jsonl files) instead"
        )
    import datasets

    try:
        return datasets.load_dataset(
            hub_id, spec.dataset_config, split=spec.split, cache_dir=_datasets_cache_dir()
        )
    except Exception as exc:
        raise BenchmarkLoadError(
            f"{spec.name}: cannot load hub dataset {hub_id!r} (config {spec.dataset_config!r}, "
            f"split {spec.split!r}): {exc}"
        ) from exc


def _apply_row_filter(spec: Any, dataset: Any) -> Any:
    row_filter = getattr(spec, "row_filter", None)
    if not row_filter:
        return dataset
    for column, allowed in row_filter.items():
        if column not in dataset.column_names:
            raise BenchmarkLoadError(f"{spec.name}: column {column!r} (row filter) not in the data")
        keep = set(allowed)
        dataset = dataset.filter(lambda value, keep=keep: value in keep, input_columns=[column])
    return dataset


# ------------------------------------------------------------------ data-file directories


def _extension(path: Path) -> str:
    return path.suffix.lower()


def _data_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if _extension(path) in DATA_EXTENSIONS:
            files.append(path)
    return files


def _file_split(rel: Path) -> str:
    """The split a data file belongs to, read from its name (``test-00000-of-00001`` -> ``test``)."""
    stem = rel.name[: -len(rel.suffix)] if rel.suffix else rel.name
    match = _SHARDED.match(stem)
    if match:
        return match.group("split")
    if len(rel.parts) > 1 and rel.parts[-2] in KNOWN_SPLITS:
        return rel.parts[-2]
    for sep in ("-", "_", "."):
        head = stem.split(sep, 1)[0]
        if head in KNOWN_SPLITS:
            return head
    return stem


def _belongs_to(rel: Path, split: str) -> bool:
    stem = rel.name[: -len(rel.suffix)] if rel.suffix else rel.name
    if _file_split(rel) == split or stem == split:
        return True
    if any(stem.startswith(split + sep) for sep in ("-", "_", ".")):
        return True
    return split in rel.parts[:-1]


def _split_files(spec: Any, root: Path) -> tuple[str, list[Path]]:
    """(builder, files of ``spec.split``) for a directory of data files."""
    files = _data_files(root)
    if not files:
        raise BenchmarkLoadError(
            f"{spec.name}: no data files ({', '.join(DATA_EXTENSIONS)}) and no save_to_disk dataset in {root}"
        )
    config = spec.dataset_config
    if config and any(config in f.relative_to(root).parts[:-1] for f in files):
        files = [f for f in files if config in f.relative_to(root).parts[:-1]]
    ext = next(e for e in DATA_EXTENSIONS if any(_extension(f) == e for f in files))
    builder = DATA_EXTENSIONS[ext]
    of_type = [f for f in files if _extension(f) == ext]
    rels = [f.relative_to(root) for f in of_type]
    chosen = [f for f, rel in zip(of_type, rels) if _belongs_to(rel, spec.split)]
    if chosen:
        return builder, chosen
    splits = sorted({_file_split(rel) for rel in rels})
    if not any(s in KNOWN_SPLITS for s in splits) and not any(
        part in KNOWN_SPLITS for rel in rels for part in rel.parts[:-1]
    ):
        return builder, of_type  # one unnamed split (e.g. mmstar.parquet)
    raise BenchmarkLoadError(
        f"{spec.name}: no {builder} files for split {spec.split!r} in {root} "
        f"(available splits: {', '.join(splits)})"
    )


# ------------------------------------------------------------------ offline caches


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def _datasets_cache_dir() -> str:
    return str(Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets").expanduser())


def _hub_cache_dir() -> Path:
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(value).expanduser() if value else _hf_home() / "hub"


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _load_from_cache(spec: Any, hub_id: str) -> Any | None:
    """The dataset from a cached hub snapshot or ``datasets`` Arrow cache, or ``None``."""
    snapshot = _cached_snapshot(hub_id)
    if snapshot is not None:
        try:
            return _load_local(spec, snapshot)
        except BenchmarkLoadError:
            pass  # e.g. the snapshot lacks the data files of this split; try the Arrow cache
    return _cached_arrow(spec, hub_id)


def _cached_snapshot(hub_id: str) -> Path | None:
    repo = _hub_cache_dir() / f"datasets--{hub_id.replace('/', '--')}"
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    dirs = [d for d in snapshots.iterdir() if d.is_dir()]
    return max(dirs, key=lambda d: d.stat().st_mtime) if dirs else None


def _cached_arrow(spec: Any, hub_id: str) -> Any | None:
    root = Path(_datasets_cache_dir())
    if not root.is_dir() or "/" not in hub_id:
        return None
    owner, name = hub_id.split("/", 1)
    config = spec.dataset_config or "default"
    split_file = re.compile(rf"^.+-{re.escape(spec.split)}(?:-\d{{5}}-of-\d{{5}})?\.arrow$")
    candidates: list[list[Path]] = []
    for repo_dir in root.iterdir():
        if "___" not in repo_dir.name or not repo_dir.is_dir():
            continue
        ns, _, ds = repo_dir.name.partition("___")
        if _loose(ns) != _loose(owner) or _loose(ds) != _loose(name):
            continue
        for config_dir in repo_dir.iterdir():
            if not (config_dir.name == config or config_dir.name.startswith(config + "-")):
                continue
            for leaf in config_dir.glob("*/*"):
                arrows = sorted(p for p in leaf.glob("*.arrow") if split_file.match(p.name))
                if arrows:
                    candidates.append(arrows)
    if not candidates:
        return None
    import datasets

    newest = max(candidates, key=lambda files: files[0].stat().st_mtime)
    parts = [datasets.Dataset.from_file(str(p)) for p in newest]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
