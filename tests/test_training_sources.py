"""Public training sources and the paper-public pools: real-schema fixtures, 2:1:1 draws, decontamination.

Fixtures (``tests/fixtures/training/*.json``) hold a few rows of each source in its real schema with the
image left null (or, for the LLaVA-format sources, a path); the helpers draw a distinct structured image
per row (a random 9 x 8 grid scaled up, so that difference hashes differ and survive JPEG) and lay each
source out as a user's local copy would be: a ``save_to_disk`` dataset, or a JSON file beside an image
folder. Nothing reads the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from benchmarks.build import DataConfig, build_dataset
from benchmarks.public_pools import SourceError, allocate_sources
from benchmarks.records import CATEGORIES, read_items
from benchmarks.registry import BENCHMARKS, TRAINING_SOURCES
from benchmarks.training._common import UnusableRow, vqa_accuracy, vqa_gold, vqa_normalize
from tests.test_public_benchmarks import offline_hf  # noqa: F401 (autouse: offline, throw-away caches)

FIXTURES = Path(__file__).parent / "fixtures" / "training"
PUBLIC = Path(__file__).parent / "fixtures" / "public"
CONVERSATION_FILES = {"geo170k": "qa_tuning.json", "mathv360k": "train_samples_all_tuning.json"}


def picture(seed: int) -> Any:
    """A distinct, smooth 72 x 64 picture: a random 9 x 8 grid of colours scaled up (robust to JPEG)."""
    from PIL import Image

    rng = random.Random(seed)
    grid = Image.new("RGB", (9, 8))
    grid.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(72)])
    return grid.resize((72, 64), Image.Resampling.NEAREST)


def jpeg_copy(image: Any, quality: int = 60) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def rows_of(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def seed_of(name: str, i: int) -> int:
    return int(hashlib.sha256(f"{name}:{i}".encode()).hexdigest()[:8], 16)


def source_dir(
    name: str, root: Path, rows: list[dict[str, Any]] | None = None, images: dict | None = None
) -> Path:
    """A local copy of training source ``name`` in ``root`` (``images``: row index -> a given picture)."""
    import datasets

    spec = TRAINING_SOURCES.get(name)
    rows = rows_of(name) if rows is None else rows
    images = images or {}
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    if name in CONVERSATION_FILES:
        (out / CONVERSATION_FILES[name]).write_text(json.dumps(rows))
        for i, row in enumerate(rows):
            path = out / spec.image_root / row["image"]
            path.parent.mkdir(parents=True, exist_ok=True)
            images.get(i, picture(seed_of(name, i))).save(path)
        return out
    filled = []
    for i, row in enumerate(rows):
        row = dict(row)
        image = images.get(i, picture(seed_of(name, i)))
        if name in ("dvqa", "figureqa"):  # Image(decode=False): the row holds the encoded bytes
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            image = {"bytes": buffer.getvalue(), "path": None}
        row[spec.image_field] = [image] if spec.image_field == "images" else image
        filled.append(row)
    if name in ("dvqa", "figureqa"):
        features = datasets.Features(
            {
                "image": datasets.Image(decode=False),
                "qa": [{"question": datasets.Value("string"), "answer": datasets.Value("string")}],
            }
        )
        dataset = datasets.Dataset.from_list(filled, features=features)
    else:
        dataset = datasets.Dataset.from_list(filled)
    datasets.DatasetDict({spec.split: dataset}).save_to_disk(str(out / "saved"))
    return out / "saved"


def benchmark_dir(name: str, root: Path, images: dict[int, Any]) -> Path:
    """A local copy of public benchmark ``name``'s fixture with the given pictures per row."""
    import datasets

    file = {"chartqa": "chartqa", "pope": "pope"}[name]
    spec = BENCHMARKS.get(name)
    rows = []
    for i, row in enumerate(json.loads((PUBLIC / f"{file}.json").read_text())):
        rows.append({**row, spec.image_field: images.get(i, picture(seed_of(f"bench-{name}", i)))})
    out = root / f"bench-{name}"
    datasets.DatasetDict({spec.split: datasets.Dataset.from_list(rows)}).save_to_disk(str(out))
    return out


# ------------------------------------------------------------------ sources in their schemas


def test_every_source_is_registered_with_a_category_licence_and_rule() -> None:
    assert len(TRAINING_SOURCES) >= 10
    categories = {TRAINING_SOURCES.get(n).category for n in TRAINING_SOURCES}
    assert categories == set(CATEGORIES)
    for name in TRAINING_SOURCES:
        spec = TRAINING_SOURCES.get(name)
        assert spec.license and spec.answer_rule and spec.dataset, name
        assert (FIXTURES / f"{name}.json").is_file(), f"{name}: no fixture in its real schema"


EXPECTED = {  # (row, answer, answer_type, choices or None, starts of the rationale or "")
    "vqav2": [(0, "red", "text", None, ""), (1, "yes", "yes_no", None, ""), (2, "2", "integer", None, "")],
    "okvqa": [(1, "italy", "text", None, ""), (3, "1960", "integer", None, "")],
    "aokvqa": [(0, "D", "multiple_choice", ["skateboarder", "train", "delivery", "cab"], "A train would")],
    "textvqa": [(0, "nokia", "text", None, ""), (3, "10:10", "text", None, "")],
    "chartqa_train": [
        (0, "81", "integer", None, ""),
        (2, "12.5", "float", None, ""),
        (5, "45%", "text", None, ""),
    ],
    "dvqa": [(1, "no", "yes_no", None, "")],
    "figureqa": [(0, "Yes", "yes_no", None, "")],
    "scienceqa_train": [(1, "B", "multiple_choice", ["tiger", "Madagascar day gecko"], "The gecko has")],
    "ai2d_train": [(0, "B", "multiple_choice", ["Oxygen", "Carbon dioxide", "Nitrogen", "Heat"], "")],
    "geo170k": [(1, "C", "multiple_choice", ["30°", "45°", "60°", "90°"], "AB is a diameter")],
    "mathv360k": [(0, "7", "integer", None, ""), (2, "B", "multiple_choice", ["no", "yes"], "")],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_loads_offline_in_its_real_schema(name: str, tmp_path: Path) -> None:
    spec = TRAINING_SOURCES.get(name)
    rows = spec.load(str(source_dir(name, tmp_path)))
    assert len(rows) == len(rows_of(name))
    for row, answer, answer_type, choices, rationale in EXPECTED[name]:
        doc = spec.to_doc(rows[row])
        assert (doc.answer, doc.answer_type, doc.choices) == (answer, answer_type, choices), (name, row)
        assert (doc.extra.get("rationale") or "").startswith(rationale), (name, row)
        assert doc.question and "<image>" not in doc.question and "Answer with" not in doc.question
        assert doc.image is not None


def test_questions_without_a_readable_answer_are_unusable_not_errors() -> None:
    spec = TRAINING_SOURCES.get("mathv360k")
    with pytest.raises(UnusableRow, match="conversations"):
        spec.to_doc(rows_of("mathv360k")[4])


def test_vqa_normalisation_gold_and_accuracy() -> None:
    assert vqa_normalize("Two dogs.") == "2 dogs"
    assert vqa_normalize("the red-car") == "red car"
    assert vqa_normalize("1,000") == "1000" and vqa_normalize("3.5") == "3.5"
    assert vqa_normalize("Dont know!") == "don't know"
    assert vqa_gold(["Maroon", "red", "red", "Red."]) == "red"
    # 3 of 10 say "2": each left-out "2" has 2 matches (2/3), each other answer 3 matches (1)
    assert vqa_accuracy("two", ["2"] * 3 + ["3"] * 7) == pytest.approx(0.9)
    assert vqa_accuracy("2", ["2"] * 2 + ["3"] * 8) == pytest.approx(0.6)
    assert vqa_accuracy("4", ["2"] * 10) == 0.0
    spec = TRAINING_SOURCES.get("vqav2")
    doc = spec.to_doc({**rows_of("vqav2")[2], "image": None})
    row = spec.score("Two dogs sit there.\nAnswer: two", doc)
    assert row["vqa_accuracy"] == pytest.approx(1.0) and row["correct"]
    assert spec.aggregate([row, spec.score("Answer: 3", doc)])["vqa_accuracy"] == pytest.approx(0.8)


# ------------------------------------------------------------------ the paper-public pools


def public_config(root: Path, names: list[str], rft: int, calib: int, **kw: Any) -> DataConfig:
    sources = {n: str(source_dir(n, root / "sources")) for n in names}
    return DataConfig(
        seed=kw.pop("seed", 0),
        suites=[],
        base_size=0,
        test_per_suite=0,
        rft_size=rft,
        calib_size=calib,
        training_sources=names,
        sources={**sources, **kw.pop("sources", {})},
        export_hf=False,
        **kw,
    )


def test_pools_are_2_1_1_per_source_as_configured_and_reproducible(tmp_path: Path) -> None:
    names = sorted(EXPECTED)
    cfg = public_config(tmp_path, names, rft=16, calib=8)
    first = build_dataset(cfg, tmp_path / "a")
    for pool, total in (("rft", 16), ("calib", 8)):
        items = read_items(tmp_path / "a" / f"{pool}.jsonl")
        assert len(items) == total
        per_category = {c: sum(i.category == c for i in items) for c in CATEGORIES}
        assert per_category == {"perception": total // 2, "chart": total // 4, "math_science": total // 4}
        planned = allocate_sources(total, names, [2, 1, 1], {})
        assert {n: sum(i.suite == n for i in items) for n in names} == planned
        assert first["training_sources"]["vqav2"]["items"][pool] == planned["vqav2"]
        assert all(i.facts == {} and i.license for i in items)
    rft, calib = (read_items(tmp_path / "a" / f"{p}.jsonl") for p in ("rft", "calib"))
    assert not {i.image_sha256 for i in rft} & {i.image_sha256 for i in calib}  # disjoint in images
    assert first["splits"]["base"]["count"] == first["splits"]["test"]["count"] == 0
    assert "fact judge cannot label" in first["facts"]
    with_rationale = [i for i in rft + calib if i.suite in ("aokvqa", "scienceqa_train", "geo170k")]
    assert with_rationale and all(
        i.rationale.rstrip().endswith(f"Answer: {i.answer}") for i in with_rationale
    )
    # the same seed gives the same bytes, wherever the sources are read from
    again = public_config(tmp_path / "elsewhere", names, rft=16, calib=8)
    build_dataset(again, tmp_path / "b")
    for name in ("rft.jsonl", "calib.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    images_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "images").rglob("*.png"))
    assert images_a == sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "images").rglob("*.png")
    )
    strip = lambda m: {k: v for k, v in m.items() if k not in ("build_seconds", "training_sources")}  # noqa: E731
    second = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert strip(first) == strip(second) and first["config_hash"] == second["config_hash"]
    # another seed draws another pool; weights move the per-source counts
    other = build_dataset(public_config(tmp_path / "s1", names, rft=16, calib=8, seed=1), tmp_path / "c")
    assert other["splits"]["rft"]["sha256"] != first["splits"]["rft"]["sha256"]
    weighted = allocate_sources(16, names, [2, 1, 1], {"dvqa": 3.0})
    assert weighted["dvqa"] > weighted["figureqa"] and sum(weighted.values()) == 16


def test_benchmark_test_images_and_their_jpeg_copies_are_dropped_and_counted(tmp_path: Path) -> None:
    chart_images = {0: picture(9001), 1: picture(9002)}
    pope_images = {2: picture(9003)}
    bench = {
        "chartqa": str(benchmark_dir("chartqa", tmp_path, chart_images)),
        "pope": str(benchmark_dir("pope", tmp_path, pope_images)),
    }
    planted = {1: chart_images[0], 4: jpeg_copy(pope_images[2])}  # exact copy; re-encoded JPEG copy
    sources = {"chartqa_train": str(source_dir("chartqa_train", tmp_path / "src", images=planted))}
    cfg = DataConfig(
        suites=[], base_size=0, test_per_suite=0, rft_size=3, calib_size=1, export_hf=False,
        training_sources=["chartqa_train"], decontaminate=["chartqa", "pope"], sources={**sources, **bench},
    )  # fmt: skip
    manifest = build_dataset(cfg, tmp_path / "out")
    report = manifest["training_sources"]["chartqa_train"]
    assert report["dropped"] == {"image_exact:chartqa": 1, "image_near:pope": 1}
    assert report["rows_read"] == 6 and report["items"] == {"rft": 3, "calib": 1}
    assert manifest["decontamination"]["dropped"] == {"image_exact": 1, "image_near": 1}
    kept = read_items(tmp_path / "out" / "rft.jsonl") + read_items(tmp_path / "out" / "calib.jsonl")
    questions = {i.question for i in kept}
    fixture = rows_of("chartqa_train")
    assert fixture[1]["query"] not in questions and fixture[4]["query"] not in questions
    # a pool that cannot be filled after the drops says so, naming the source and the drops
    short = DataConfig(**{**cfg.__dict__, "rft_size": 4})
    with pytest.raises(SourceError, match=r"chartqa_train .* fewer than .*image_exact:chartqa"):
        build_dataset(short, tmp_path / "short")
    assert not (tmp_path / "short").exists()


def test_a_schema_error_names_the_source_row_and_field_and_builds_nothing(tmp_path: Path) -> None:
    rows = rows_of("vqav2")
    broken = [dict(r) for r in rows]
    del broken[3]["question"]
    cfg = DataConfig(
        suites=[], base_size=0, test_per_suite=0, rft_size=6, calib_size=0, export_hf=False,
        training_sources=["vqav2"], sources={"vqav2": str(source_dir("vqav2", tmp_path, broken))},
    )  # fmt: skip
    with pytest.raises(SourceError, match=r"^vqav2 \(.*saved, split train\) row 3: field 'question': empty"):
        build_dataset(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def test_an_unreadable_image_names_the_row_and_field(tmp_path: Path) -> None:
    root = source_dir("geo170k", tmp_path)
    (root / "images" / "geoqa_plus" / "2.png").write_bytes(b"not a png")
    cfg = DataConfig(
        suites=[], base_size=0, test_per_suite=0, rft_size=6, calib_size=0, export_hf=False,
        training_sources=["geo170k"], sources={"geo170k": str(root)},
    )  # fmt: skip
    with pytest.raises(SourceError, match=r"geo170k .* row 2: field 'image': unreadable image"):
        build_dataset(cfg, tmp_path / "out")


def test_an_image_path_that_leaves_the_source_directory_is_refused_unopened(tmp_path: Path) -> None:
    from benchmarks.paths import DataPathError

    rows = [dict(r) for r in rows_of("geo170k")]
    root = source_dir("geo170k", tmp_path, rows)
    rows[0]["image"] = "../../../outside.png"  # under images/: climbs out of the copy
    (root / "qa_tuning.json").write_text(json.dumps(rows))
    cfg = DataConfig(
        suites=[], base_size=0, test_per_suite=0, rft_size=6, calib_size=0, export_hf=False,
        training_sources=["geo170k"], sources={"geo170k": str(root)},
    )  # fmt: skip
    with pytest.raises(DataPathError, match=r"geo170k .* row 0: field 'image': .*not opened"):
        build_dataset(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_config_checks_and_the_hash_ignores_where_data_is_read() -> None:
    from benchmarks.build import config_hash, load_data_config

    with pytest.raises(Exception, match="did you mean 'vqav2'"):
        DataConfig(training_sources=["vqa2"])
    with pytest.raises(ValueError, match="source_weights"):
        DataConfig(training_sources=["vqav2"], source_weights={"dvqa": 1.0})
    with pytest.raises(ValueError, match="built-in suite"):
        DataConfig(training_sources=["vqav2"], decontaminate=["charts"])
    paper = load_data_config("paper-public")
    assert paper.rft_size == 20000 and paper.calib_size == 12000 and paper.decontaminate
    moved = DataConfig(**{**paper.__dict__, "sources": {"vqav2": "/data/vqav2"}})
    assert config_hash(moved) == config_hash(paper)
    # the new fields stay out of the hash at their defaults: the default dataset keeps the hash it had
    assert config_hash(load_data_config("default")).startswith("5e4ac455778d")


def test_cli_source_option(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    config = tmp_path / "data.yaml"
    config.write_text(
        "data:\n  suites: []\n  base_size: 0\n  test_per_suite: 0\n  rft_size: 2\n  calib_size: 1\n"
        "  export_hf: false\n  training_sources: [scienceqa_train]\n"
    )
    where = source_dir("scienceqa_train", tmp_path)
    out = tmp_path / "out"
    args = ["data", "build", "--config", str(config), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--source", f"scienceqa_train={where}"])
    assert result.exit_code == 0, result.output
    assert "scienceqa_train" in result.output and len(read_items(out / "rft.jsonl")) == 2
    checked = CliRunner().invoke(main, ["data", "validate", str(out)])  # the pool passes the validator
    assert checked.exit_code == 0, checked.output
    result = CliRunner().invoke(main, [*args, "--source", f"sciencqa_train={where}"])
    assert result.exit_code == 1 and "did you mean 'scienceqa_train'" in result.output


# ------------------------------------------------------------------ a calibration on the public pool


def test_smoke_calibration_on_a_public_pool_through_served_teacher_labels(tmp_path: Path) -> None:
    """paper-public's path at smoke size: the pool from the fixtures, teacher rationales and judge labels
    from a scripted OpenAI-compatible server; the fact judge is refused for these items, by name."""
    import re

    import yaml
    from click.testing import CliRunner

    from harness.cli import main
    from tests.endpoint_servers import FakeEndpoint, completion

    names = sorted(EXPECTED)
    sources = {n: str(source_dir(n, tmp_path / "sources")) for n in names}
    data = tmp_path / "data"
    config = tmp_path / "public.yaml"
    pool = {"suites": [], "base_size": 0, "test_per_suite": 0, "rft_size": 24, "calib_size": 24}
    pool |= {"export_hf": False, "training_sources": names, "sources": sources}
    config.write_text(yaml.safe_dump({"data": pool, "data_dir": str(data)}))

    def respond(request: dict[str, Any]) -> tuple[int, Any]:
        content = request["body"]["messages"][-1]["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        text = "".join(part.get("text", "") for part in parts)
        if "End with a last line exactly:" in text:  # a rationale request: reach the gold answer
            gold = text.rsplit("End with a last line exactly:", 1)[1].strip()
            return 200, completion(f"The picture shows what the question asks about.\n{gold}")
        digest = hashlib.sha256(text.encode()).digest()[0]  # a judge: a verdict fixed by the request
        return 200, completion("ABT"[digest % 3].replace("T", "Tie"))

    runner = CliRunner()
    run = tmp_path / "run"
    with FakeEndpoint(respond, models=("judge",)) as server:
        endpoint = ["--endpoint", server.url, "--model", "judge", "--cache-dir", str(tmp_path / "cache")]
        base = ["calibrate", "--preset", "smoke", "--config", str(config)]
        # RFT refuses items without rationales, saying what to do
        refused = runner.invoke(main, [*base, "--run-dir", str(tmp_path / "bare"), "--stage", "rft"])
        assert refused.exit_code == 1 and "srcal teacher rationales" in refused.output, refused.output
        rationales = tmp_path / "rft_rationales.jsonl"
        made = runner.invoke(
            main, ["teacher", "rationales", *endpoint, "--data", str(data), "--out", str(rationales)]
        )
        assert made.exit_code == 0, made.output
        with_rationales = [*base, "--set", f"rft.teacher_rationales={rationales}"]
        # the scorer stage writes its candidates, then refuses fact labels for public items
        refused = runner.invoke(main, [*with_rationales, "--run-dir", str(run), "--stage", "scorer"])
        assert refused.exit_code == 1 and "srcal teacher labels" in refused.output, refused.output
        candidates = run / "scorer" / "train_candidates.jsonl"
        assert candidates.is_file()
        labels = tmp_path / "labels.jsonl"
        made = runner.invoke(
            main,
            [
                "teacher",
                "labels",
                *endpoint,
                "--data",
                str(data),
                "--candidates",
                str(candidates),
                "--out",
                str(labels),
            ],
        )
        assert made.exit_code == 0, made.output
        # another config (the labels), another run directory: the completed stages are copied
        labelled = [*with_rationales, "--set", f"scorer.labels={labels}", "--reuse-from", str(run)]
        run = tmp_path / "labelled"
        done = runner.invoke(main, [*labelled, "--run-dir", str(run), "--stage", "curate"])
        assert done.exit_code == 0, done.output
    scorer = json.loads((run / "scorer" / "scorer.manifest.json").read_text())["summary"]
    assert scorer["examples"] > 0 and scorer["train"] > 0
    curated = json.loads((run / "iter_1" / "curate.manifest.json").read_text())["summary"]
    assert curated["items"] == 8
    rft = json.loads((run / "iter_0" / "rft.manifest.json").read_text())["summary"]
    assert rft["teacher_kept"] > 0 and re.search(r"public|vqav2", json.dumps(rft["pool"]))
    # the oracle arm cannot run on these items: refused by name, not silently answer-only
    oracle = runner.invoke(
        main,
        [
            *with_rationales,
            "--set",
            "scorer.kind=facts",
            "--run-dir",
            str(tmp_path / "oracle"),
            "--stage",
            "verdicts",
        ],
    )
    assert oracle.exit_code == 1 and "carry no structured facts" in oracle.output, oracle.output
