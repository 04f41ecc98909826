"""Build the offline training pools and test sets: ``srcal data build``.

Output directory::

    <out>/
      base.jsonl rft.jsonl calib.jsonl test.jsonl   BenchmarkItem records, one per line
      images/<aa>/<sha256>.png                      content-addressed images
      hf/                                           the same data as a datasets DatasetDict
      manifest.json                                 config, counts, hashes, baselines, licences

``rft`` and ``calib`` (and ``base``) are sampled across the paper's three categories in
the configured ratio (2:1:1), evenly across a category's suites; ``test`` has
``test_per_suite`` items per suite. Splits are disjoint in items and in images: real
sources are partitioned per split by the suites, and any image that still turns up in
two splits is dropped from the later one. The build happens in a staging directory that
is renamed into place at the end, so a crash never leaves a half-built dataset behind;
rebuilding with the same config is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.configuration import ConfigError, from_mapping, load_yaml, preset_path
from benchmarks.fileio import atomic_write_json, png_bytes, sha256_bytes, sha256_file
from benchmarks.records import CATEGORIES, SPLITS, BenchmarkItem, write_jsonl
from benchmarks.registry import BUILTIN_SUITES, SUITES
from benchmarks.scoring import majority_baseline

MANIFEST_VERSION = 1
PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class DataConfig:
    """Sizes and seed of a built-in dataset build."""

    seed: int = field(default=0, metadata={"help": "Seed of every generator and sampler."})
    suites: list[str] = field(
        default_factory=lambda: list(BUILTIN_SUITES), metadata={"help": "Built-in suites to include."}
    )
    base_size: int = field(
        default=2400, metadata={"help": "Items in `base` (trains the embedded base model)."}
    )
    rft_size: int = field(default=2000, metadata={"help": "Items in `rft`, the rationale fine-tuning pool."})
    calib_size: int = field(default=1000, metadata={"help": "Items in `calib`, the calibration pool."})
    test_per_suite: int = field(default=300, metadata={"help": "Items per suite in `test`."})
    category_ratio: list[float] = field(
        default_factory=lambda: [2.0, 1.0, 1.0],
        metadata={"help": "Weights of perception : chart : math_science in base/rft/calib (paper: 2:1:1)."},
    )
    export_hf: bool = field(
        default=True, metadata={"help": "Also write a datasets `save_to_disk` copy in hf/."}
    )
    training_sources: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Public training sets (benchmarks/training) the rft and calib pools are drawn from instead of "
            "the built-in suites (`paper-public`); empty: the built-in suites."
        },
    )
    source_weights: dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "Weights of training sources inside their category (unset: even)."},
    )
    sources: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "Where a training source or benchmark is read: NAME -> local directory or hub id (unset: the "
            "spec's hub id). Where, not what: not part of the config hash (`srcal data build --source NAME=DIR`)."
        },
    )
    decontaminate: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Benchmarks whose test images (and re-encoded copies) are kept out of the training pools; "
            "the rows dropped are counted per source in the manifest."
        },
    )
    perceptual_distance: int = field(
        default=3,
        metadata={
            "help": "Largest difference-hash distance (bits of 64) at which a training image counts as a copy "
            "of a benchmark image (every match up to 3 is found: benchmarks/decontaminate.py)."
        },
    )

    def __post_init__(self) -> None:
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown:
            SUITES.get(unknown[0])  # raises with a did-you-mean hint
        if len(self.category_ratio) != len(CATEGORIES) or any(w < 0 for w in self.category_ratio):
            raise ValueError(f"category_ratio needs {len(CATEGORIES)} non-negative weights")
        for name in ("base_size", "rft_size", "calib_size", "test_per_suite"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        from benchmarks.registry import BENCHMARKS, PUBLIC_BENCHMARKS, TRAINING_SOURCES

        for name in self.training_sources:
            TRAINING_SOURCES.get(name)  # raises with a did-you-mean hint
        stray = sorted(set(self.source_weights) - set(self.training_sources))
        if stray:
            raise ValueError(f"source_weights: {stray[0]!r} is not one of training_sources")
        for name in self.decontaminate:
            if name not in PUBLIC_BENCHMARKS:
                BENCHMARKS.get(name)
                raise ValueError(f"decontaminate: {name!r} is a built-in suite, not a public benchmark")
        for name in self.sources:
            if name not in TRAINING_SOURCES and name not in BENCHMARKS:
                TRAINING_SOURCES.get(name)  # neither a training source nor a benchmark: did-you-mean
        if not 0 <= self.perceptual_distance <= 16:
            raise ValueError("perceptual_distance must be between 0 and 16")

    def identity(self) -> dict[str, Any]:
        """The fields that decide what is built (the config hash): ``sources`` (where the data is read) never,
        the public-source fields only when set (so datasets built before them keep their hash)."""
        out = asdict(self)
        del out["sources"]
        for name in ("training_sources", "source_weights", "decontaminate"):
            if not out[name]:
                del out[name]
        if not self.training_sources:
            del out["perceptual_distance"]
        return out

    def split_size(self, split: str) -> int:
        return {"base": self.base_size, "rft": self.rft_size, "calib": self.calib_size}[split]


DATA_LATER_FIELDS = {
    "training_sources": [],
    "source_weights": {},
    "sources": {},
    "decontaminate": [],
    "perceptual_distance": 3,
}
"""`DataConfig` fields added after datasets and runs were made, with their defaults (a run recorded
without them is the same run while they keep these values)."""


def load_data_config(preset: str | None = None, config_file: str | Path | None = None) -> DataConfig:
    """A DataConfig from a preset name (``benchmarks/presets/<name>.yaml``) and/or a YAML file."""
    data: dict[str, Any] = {}
    if preset:
        path = preset_path(PRESET_DIR, preset, "data preset")
        data.update(load_yaml(path).get("data", {}))
        where = str(path)
    if config_file:
        loaded = load_yaml(config_file)
        data.update(loaded.get("data", loaded))
        where = str(config_file)
    return from_mapping(DataConfig, data, where if data else "defaults")


def largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """``total`` split in proportion to ``weights`` in integers that sum to it (largest remainders first,
    ties in key order)."""
    weight_sum = sum(weights.values())
    raw = {k: total * w / weight_sum for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    order = sorted(raw, key=lambda k: (counts[k] - raw[k], list(raw).index(k)))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def allocate(total: int, suites: list[str], ratio: list[float]) -> dict[str, int]:
    """Split ``total`` items over suites: by category weight, then evenly inside a category."""
    if total == 0:
        return {}
    by_category = {c: [s for s in suites if SUITES.get(s).category == c] for c in CATEGORIES}
    weights = {c: w for c, w in zip(CATEGORIES, ratio) if by_category[c]}
    if sum(weights.values()) <= 0:
        raise ConfigError("category_ratio gives zero weight to every category that has suites")
    out: dict[str, int] = {}
    for c, n in largest_remainder(total, weights).items():
        out.update(largest_remainder(n, {s: 1.0 for s in by_category[c]}))
    return out


def config_hash(config: DataConfig) -> str:
    return hashlib.sha256(json.dumps(config.identity(), sort_keys=True).encode()).hexdigest()


def _item_id(suite: str, image_sha: str, question: str, choices: list[str] | None) -> str:
    key = json.dumps([image_sha, question, choices], ensure_ascii=False)
    return f"{suite}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


Progress = Callable[[str], None]


def build_dataset(
    config: DataConfig, out: str | Path, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Build the dataset into ``out`` (atomically); returns the manifest."""
    out = Path(out)
    say = progress or (lambda _msg: None)
    wanted_hash = config_hash(config)
    manifest_path = out / "manifest.json"
    if out.exists():
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("config_hash") == wanted_hash and not force:
                say(f"{out}: up to date (config {wanted_hash[:12]}), nothing to do")
                return manifest
        if not force:
            raise ConfigError(
                f"{out} exists and was not built with this config; use --force to rebuild or another --out"
            )
    started = time.perf_counter()
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}")
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "images").mkdir(parents=True)
    try:
        manifest = _build_into(config, stage, say)
        manifest["config_hash"] = wanted_hash
        manifest["build_seconds"] = round(time.perf_counter() - started, 2)
        atomic_write_json(stage / "manifest.json", manifest)
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    say(f"built {out} in {manifest['build_seconds']} s")
    return manifest


def _build_into(config: DataConfig, stage: Path, say: Progress) -> dict[str, Any]:
    image_split: dict[str, str] = {}  # image sha -> the split that owns it
    seen_ids: set[str] = set()
    dropped: Counter[str] = Counter()
    split_items: dict[str, list[BenchmarkItem]] = {}
    public = None
    if config.training_sources:
        from benchmarks.public_pools import PoolDraw

        public = PoolDraw(config, stage, say)
        drawn = public.draw()
    for split in SPLITS:
        if public is not None and split in drawn:
            split_items[split] = drawn[split]
            for item in drawn[split]:
                image_split.setdefault(item.image_sha256, split)
                seen_ids.add(item.id)
            write_jsonl(stage / f"{split}.jsonl", drawn[split])
            continue
        if split == "test":
            plan = {s: config.test_per_suite for s in config.suites}
        else:
            plan = allocate(config.split_size(split), config.suites, config.category_ratio)
        items: list[BenchmarkItem] = []
        for suite_name, n in plan.items():
            if n == 0:
                continue
            t0 = time.perf_counter()
            kept = _suite_items(
                SUITES.get(suite_name), split, n, config.seed, stage, image_split, seen_ids, dropped
            )
            items.extend(kept)
            say(f"{split:5s} {suite_name:10s} {len(kept):6d} items  {time.perf_counter() - t0:6.1f} s")
        split_items[split] = items
        write_jsonl(stage / f"{split}.jsonl", items)
    if config.export_hf:
        say("writing the datasets copy (hf/)")
        export_hf(split_items, stage, stage / "hf")
    manifest = _manifest(config, split_items, stage, dropped)
    if public is not None:
        manifest.update(public.manifest())
    return manifest


def _suite_items(
    suite: Any,
    split: str,
    n: int,
    seed: int,
    stage: Path,
    image_split: dict[str, str],
    seen_ids: set[str],
    dropped: Counter[str],
) -> list[BenchmarkItem]:
    """``n`` items of ``suite`` for ``split``, skipping images owned by another split."""
    kept: list[BenchmarkItem] = []
    request = n
    for _attempt in range(4):
        drafts = suite.generate(split, request, seed)
        kept = []
        kept_ids: set[str] = set()
        for draft in drafts:
            data = png_bytes(draft.image)
            sha = sha256_bytes(data)
            owner = image_split.get(sha)
            if owner is not None and owner != split:
                dropped[f"{suite.name}:{split}:image_in_{owner}"] += 1
                continue
            item_id = _item_id(suite.name, sha, draft.question, draft.choices)
            if item_id in seen_ids or item_id in kept_ids:
                dropped[f"{suite.name}:{split}:duplicate_item"] += 1
                continue
            rel = f"images/{sha[:2]}/{sha}.png"
            path = stage / rel
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            kept_ids.add(item_id)
            kept.append(
                BenchmarkItem(
                    id=item_id,
                    suite=suite.name,
                    split=split,
                    category=suite.category,
                    image=rel,
                    image_sha256=sha,
                    question=draft.question,
                    answer=draft.answer,
                    answer_type=draft.answer_type,
                    choices=draft.choices,
                    facts=draft.facts,
                    rationale=draft.rationale,
                    question_type=draft.question_type,
                    source=draft.source or suite.info.source,
                    license=draft.license or suite.info.license,
                )
            )
            if len(kept) == n:
                break
        if len(kept) == n:
            break
        request = int(request * 1.5) + 10  # some drafts were dropped: ask for more, deterministically
    if len(kept) < n:
        raise RuntimeError(
            f"suite {suite.name!r} could not produce {n} distinct {split} items (got {len(kept)})"
        )
    for item in kept:
        image_split.setdefault(item.image_sha256, split)
        seen_ids.add(item.id)
    return kept


def export_hf(split_items: dict[str, list[BenchmarkItem]], root: Path, target: Path) -> None:
    """Write the splits as a ``datasets.DatasetDict`` (``load_from_disk``-able, images embedded)."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "suite": datasets.Value("string"),
            "split": datasets.Value("string"),
            "category": datasets.Value("string"),
            "image": datasets.Image(),
            "image_path": datasets.Value("string"),
            "image_sha256": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "answer_type": datasets.Value("string"),
            "choices": datasets.Sequence(datasets.Value("string")),
            "facts_json": datasets.Value("string"),
            "rationale": datasets.Value("string"),
            "question_type": datasets.Value("string"),
            "source": datasets.Value("string"),
            "license": datasets.Value("string"),
        }
    )
    splits = {}
    for split, items in split_items.items():
        rows = {name: [] for name in features}
        for item in items:
            rows["id"].append(item.id)
            rows["suite"].append(item.suite)
            rows["split"].append(item.split)
            rows["category"].append(item.category)
            rows["image"].append({"path": None, "bytes": (root / item.image).read_bytes()})
            rows["image_path"].append(item.image)
            rows["image_sha256"].append(item.image_sha256)
            rows["question"].append(item.question)
            rows["answer"].append(item.answer)
            rows["answer_type"].append(item.answer_type)
            rows["choices"].append(item.choices or [])
            rows["facts_json"].append(json.dumps(item.facts, sort_keys=True))
            rows["rationale"].append(item.rationale)
            rows["question_type"].append(item.question_type)
            rows["source"].append(item.source)
            rows["license"].append(item.license)
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    datasets.disable_progress_bars()
    datasets.DatasetDict(splits).save_to_disk(str(target))


def hf_row_to_item(row: dict[str, Any]) -> BenchmarkItem:
    """The ``BenchmarkItem`` behind one row of the ``datasets`` copy (inverse of ``export_hf``)."""
    return BenchmarkItem(
        id=row["id"],
        suite=row["suite"],
        split=row["split"],
        category=row["category"],
        image=row["image_path"],
        image_sha256=row["image_sha256"],
        question=row["question"],
        answer=row["answer"],
        answer_type=row["answer_type"],
        choices=list(row["choices"]) or None,
        facts=json.loads(row["facts_json"]),
        rationale=row["rationale"],
        question_type=row["question_type"],
        source=row["source"],
        license=row["license"],
    )


def _manifest(
    config: DataConfig, split_items: dict[str, list[BenchmarkItem]], stage: Path, dropped: Counter[str]
) -> dict[str, Any]:
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    splits: dict[str, Any] = {}
    for split, items in split_items.items():
        per_category = Counter(i.category for i in items)
        splits[split] = {
            "count": len(items),
            "per_category": {c: per_category.get(c, 0) for c in CATEGORIES},
            "category_share": {
                c: round(per_category.get(c, 0) / len(items), 4) if items else 0 for c in CATEGORIES
            },
            "per_suite": dict(sorted(Counter(i.suite for i in items).items())),
            "images": len({i.image_sha256 for i in items}),
            "sha256": sha256_file(stage / f"{split}.jsonl"),
        }
    suites: dict[str, Any] = {}
    for name in config.suites:
        suite = SUITES.get(name)
        test = [i for i in split_items["test"] if i.suite == name]
        top, share = majority_baseline(i.answer for i in test)
        suites[name] = {
            "category": suite.category,
            "source": suite.info.source,
            "license": suite.info.license,
            "test_majority_answer": top,
            "test_majority_baseline": round(share, 4) if test else None,
            "answer_types": dict(sorted(Counter(i.answer_type for i in test).items())),
            "question_types": dict(sorted(Counter(i.question_type for i in test).items())),
        }
    return {
        "manifest_version": MANIFEST_VERSION,
        "config": config.identity(),
        "splits": splits,
        "suites": suites,
        "dropped": dict(sorted(dropped.items())),
        "versions": {
            "srcal": version("srcal"),
            "python": platform.python_version(),
            "pillow": version("pillow"),
            "matplotlib": version("matplotlib"),
            "numpy": version("numpy"),
        },
    }
