"""The rft and calib pools drawn from public training sets (``srcal data build --preset paper-public``).

`draw_public_pools` samples each pool across the paper's categories in the configured ratio (2:1:1),
evenly across a category's sources or by ``source_weights``, from each source's training split in a
seeded order (`benchmarks.training`, loaded from the hub or a local copy through
`benchmarks.loading.load_table`, rows decoded one at a time). A row is dropped, and counted per
source and reason, when its image (or a re-encoded copy) is a test image of a benchmark in
``decontaminate`` (`benchmarks.decontaminate`), when its image already serves the other pool, or when
it repeats an item. The pools are disjoint in items and images. A row that does not match its source's
schema stops the build with the source, the row index and the field; the caller builds in a staging
directory, so nothing half-built is left.

These items have no structured facts (``facts`` is empty): the fact judge cannot label them, so the
R-Scorer's labels come from a served judge (``srcal teacher labels``) and rationale targets from
``srcal teacher rationales``. Human rationales a source has (A-OKVQA's, ScienceQA's solutions,
Geo170K's worked solutions) are kept as the item's ``rationale``, ending in ``Answer:``.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.configuration import ConfigError
from benchmarks.decontaminate import rgb
from benchmarks.fileio import png_bytes, sha256_bytes
from benchmarks.records import CATEGORIES, BenchmarkItem, RecordError
from benchmarks.training._common import UnusableRow

Progress = Callable[[str], None]
POOLS = ("rft", "calib")
NO_FACTS = (
    "none: public training items carry no structured facts; the fact judge cannot label them, so the "
    "R-Scorer's labels come from a served judge (srcal teacher labels) and rationales from srcal teacher "
    "rationales where the source has none"
)


class SourceError(ValueError):
    """A training source that cannot be used: the message names the source, where it was read and the row."""


def allocate_sources(
    total: int, sources: list[str], ratio: list[float], weights: dict[str, float]
) -> dict[str, int]:
    """``total`` items over ``sources``: first over the categories by ``ratio`` (2:1:1), then inside each
    category by ``weights`` (even when unset), each step with largest-remainder rounding (exact totals)."""
    from benchmarks.build import largest_remainder
    from benchmarks.registry import TRAINING_SOURCES

    out = {s: 0 for s in sources}
    if total == 0:
        return out
    by_category = {c: [s for s in sources if TRAINING_SOURCES.get(s).category == c] for c in CATEGORIES}
    category_weight = {c: w for c, w in zip(CATEGORIES, ratio) if by_category[c] and w > 0}
    if not category_weight:
        raise ConfigError("category_ratio gives zero weight to every category that has sources")
    for category, n in largest_remainder(total, category_weight).items():
        inner = {s: float(weights.get(s, 1.0)) for s in by_category[category]}
        if sum(inner.values()) <= 0:
            raise ConfigError(f"source_weights give zero weight to every {category} source")
        out.update(largest_remainder(n, inner))
    return out


def open_image(value: Any, base: Path | None, row: str, field: str) -> Any:
    """A row's image as a PIL image: a PIL image, a ``datasets`` ``{"bytes", "path"}`` dict, or a path
    inside ``base`` (the source's local directory: an absolute path or one that leaves it is refused
    unopened, `benchmarks.paths.resolve_data_path`); ``row`` and ``field`` name it in any refusal."""
    from PIL import Image, UnidentifiedImageError

    from benchmarks.paths import resolve_data_path

    where = f"{row}: field {field!r}"
    try:
        if isinstance(value, Image.Image):
            value.load()
            return value
        if isinstance(value, dict) and value.get("bytes"):
            image = Image.open(io.BytesIO(value["bytes"]))
        elif isinstance(value, dict | str) and (value.get("path") if isinstance(value, dict) else value):
            rel = value["path"] if isinstance(value, dict) else value
            if base is None:
                raise SourceError(f"{where}: image path {rel!r} and the source has no local directory")
            image = Image.open(resolve_data_path(base, rel, file=row, line=None, field=field))
        else:
            raise SourceError(f"{where}: no image (got {type(value).__name__})")
        image.load()
        return image
    except (OSError, UnidentifiedImageError) as exc:
        raise SourceError(f"{where}: unreadable image ({exc})") from exc


def _order(n: int, seed: int, name: str) -> list[int]:
    """Row indices of a source in the build's seeded order (the source's name enters the seed)."""
    key = int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:16], 16)
    order = list(range(n))
    random.Random(key).shuffle(order)
    return order


def _question(doc: Any) -> str:
    return f"Context: {doc.hint}\n{doc.question}" if doc.hint else doc.question


def _rationale(doc: Any) -> str:
    text = (doc.extra.get("rationale") or "").strip()
    return f"{text}\nAnswer: {doc.answer}" if text else ""


class PoolDraw:
    """One paper-public draw: the decontamination index, the sources' rows, the items and the counts."""

    def __init__(self, config: Any, stage: Path, say: Progress) -> None:
        self.config, self.stage, self.say = config, stage, say
        self.dropped: dict[str, Counter[str]] = defaultdict(Counter)
        self.image_pool: dict[str, str] = {}
        self.item_ids: set[str] = set()
        self.report: dict[str, Any] = {}

    def location(self, spec: Any) -> tuple[str | None, Path | None]:
        """Where a source or benchmark is read: ``sources[name]`` (a directory or hub id), else its hub id."""
        given = self.config.sources.get(spec.name)
        if given and Path(given).expanduser().exists():
            path = Path(given).expanduser()
            return str(path), path if path.is_dir() else path.parent
        return given, None

    def index(self) -> Any:
        from benchmarks.decontaminate import build_index
        from benchmarks.registry import BENCHMARKS

        def images(name: str) -> Any:
            spec = BENCHMARKS.get(name)
            source, base = self.location(spec)
            table = _load(spec, source)
            for i in range(len(table)):
                row = table[i]
                value = row.get(spec.image_field)
                for v in value if isinstance(value, list) else [value]:
                    if v is not None:
                        yield open_image(
                            v, base, f"{name} ({source or spec.dataset}) row {i}", spec.image_field
                        )

        return build_index(
            ((name, images(name)) for name in self.config.decontaminate),
            self.config.perceptual_distance,
            self.say,
        )

    def draw(self) -> dict[str, list[BenchmarkItem]]:
        from benchmarks.registry import TRAINING_SOURCES

        cfg = self.config
        index = self.index() if cfg.decontaminate else None
        plans = {
            pool: allocate_sources(
                cfg.split_size(pool), cfg.training_sources, cfg.category_ratio, cfg.source_weights
            )
            for pool in POOLS
        }
        pools: dict[str, list[BenchmarkItem]] = {pool: [] for pool in POOLS}
        for name in cfg.training_sources:
            spec = TRAINING_SOURCES.get(name)
            wanted = {pool: plans[pool][name] for pool in POOLS}
            taken = self._source(spec, wanted, index)
            for pool in POOLS:
                pools[pool].extend(taken[pool])
            self.say(f"{name:14s} rft {len(taken['rft']):6d}  calib {len(taken['calib']):6d}")
        return pools

    def _source(self, spec: Any, wanted: dict[str, int], index: Any) -> dict[str, list[BenchmarkItem]]:
        source, base = self.location(spec)
        where = f"{spec.name} ({source or spec.dataset}, split {spec.split})"
        taken: dict[str, list[BenchmarkItem]] = {pool: [] for pool in POOLS}
        rows_read, with_rationale = 0, 0
        if sum(wanted.values()):
            table = _load(spec, source)
            pools = iter([p for p in POOLS for _ in range(wanted[p])])
            pool = next(pools, None)
            for i in _order(len(table), self.config.seed, spec.name):
                if pool is None:
                    break
                rows_read += 1
                item = self._item(spec, table[i], i, where, pool, base, index)
                if item is None:
                    continue
                taken[pool].append(item)
                with_rationale += bool(item.rationale)
                pool = next(pools, None)
            if pool is not None:
                got = {p: len(v) for p, v in taken.items()}
                raise SourceError(
                    f"{where}: {len(table)} rows give {got} usable items, fewer than the {wanted} asked "
                    f"(dropped: {dict(self.dropped[spec.name])})"
                )
        self.report[spec.name] = {
            "category": spec.category,
            "dataset": spec.dataset,
            "split": spec.split,
            "read_from": source or spec.dataset,
            "license": spec.license,
            "answer_rule": spec.answer_rule,
            "rows_read": rows_read,
            "items": {p: len(v) for p, v in taken.items()},
            "with_human_rationale": with_rationale,
            "dropped": dict(sorted(self.dropped[spec.name].items())),
        }
        return taken

    def _item(
        self, spec: Any, row: dict[str, Any], i: int, where: str, pool: str, base: Path | None, index: Any
    ) -> BenchmarkItem | None:
        at = f"{where} row {i}"
        try:
            doc = spec.to_doc(row)
        except UnusableRow:
            self.dropped[spec.name]["unreadable_answer"] += 1
            return None
        except RecordError as exc:
            raise SourceError(f"{at}: {exc}") from exc
        image = rgb(open_image(doc.image, base, at, spec.image_field))
        if index is not None:
            hit = index.match(image)
            if hit is not None:
                self.dropped[spec.name][f"{hit[0]}:{hit[1]}"] += 1
                return None
        data = png_bytes(image)
        sha = sha256_bytes(data)
        owner = self.image_pool.get(sha)
        if owner is not None and owner != pool:
            self.dropped[spec.name][f"image_in_{owner}"] += 1
            return None
        question = _question(doc)
        key = f"{sha}\x1f{question}\x1f{doc.choices}"
        item_id = f"{spec.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        if item_id in self.item_ids:
            self.dropped[spec.name]["duplicate_item"] += 1
            return None
        rel = f"images/{sha[:2]}/{sha}.png"
        path = self.stage / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.image_pool.setdefault(sha, pool)
        self.item_ids.add(item_id)
        return BenchmarkItem(
            id=item_id,
            suite=spec.name,
            split=pool,
            category=spec.category,
            image=rel,
            image_sha256=sha,
            question=question,
            answer=doc.answer,
            answer_type=doc.answer_type,
            choices=doc.choices,
            facts={},
            rationale=_rationale(doc),
            question_type=str(doc.extra.get("question_type") or ""),
            source=spec.dataset or "",
            license=spec.license,
        )

    def manifest(self) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        for counts in self.dropped.values():
            for reason, n in counts.items():
                totals[reason.split(":", 1)[0]] += n
        return {
            "training_sources": self.report,
            "decontamination": {
                "benchmarks": list(self.config.decontaminate),
                "perceptual_distance": self.config.perceptual_distance,
                "dropped": dict(sorted(totals.items())),
            },
            "facts": NO_FACTS,
        }


def _load(spec: Any, source: str | None) -> Any:
    from benchmarks.loading import BenchmarkLoadError, load_table

    try:
        return load_table(spec, source)
    except BenchmarkLoadError as exc:
        raise SourceError(str(exc)) from exc
