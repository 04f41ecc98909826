"""Public benchmark specs: real-schema fixtures through load -> to_doc -> score -> aggregate.

Fixtures (``tests/fixtures/public/*.json``) hold a few rows in each dataset's real schema with
the image field left null; the helpers below draw small PIL images, build a ``datasets.Dataset``
and ``save_to_disk`` it, so every test goes through ``SPEC.load(local_dir)``. Expected aggregate
numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks.judges import JudgeError, JudgeNotConfiguredError
from benchmarks.records import RecordError
from benchmarks.registry import BENCHMARKS, PUBLIC_BENCHMARKS

FIXTURES = Path(__file__).parent / "fixtures" / "public"
FIXTURE_FILE = {
    "mmstar": "mmstar",
    "mmbench_en_dev": "mmbench",
    "seedbench_img": "seedbench",
    "scienceqa_img": "scienceqa",
    "ai2d": "ai2d",
    "chartqa": "chartqa",
    "mathvista_testmini": "mathvista",
    "pope": "pope",
    "hallusionbench": "hallusionbench",
    "llava_bench_wild": "llavabench",
}


# ------------------------------------------------------------------ helpers (also used by test_loading)


@pytest.fixture(autouse=True)
def offline_hf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network and throw-away caches for every test; no judge configured."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    for name in (
        "SRCAL_JUDGE",
        "SRCAL_JUDGE_FILE",
        "SRCAL_JUDGE_BASE_URL",
        "SRCAL_JUDGE_MODEL",
        "SRCAL_JUDGE_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def fixture_rows(name: str) -> list[dict[str, Any]]:
    """The raw fixture rows of benchmark ``name`` (image field still null)."""
    return json.loads((FIXTURES / f"{FIXTURE_FILE[name]}.json").read_text())


def _image(i: int) -> Any:
    from PIL import Image

    return Image.new("RGB", (8 + i, 8), color=((40 * i) % 256, 120, 200))


def with_images(name: str, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Fixture rows with small generated PIL images in the spec's image field (a list stays a list)."""
    field = BENCHMARKS.get(name).image_field
    out = []
    for i, row in enumerate(fixture_rows(name) if rows is None else rows):
        row = dict(row)
        value = row.get(field)
        row[field] = [_image(i + j) for j in range(len(value))] if isinstance(value, list) else _image(i)
        out.append(row)
    return out


def fixture_dataset(name: str, rows: list[dict[str, Any]] | None = None) -> Any:
    import datasets

    return datasets.Dataset.from_list(with_images(name, rows))


def save_fixture(name: str, root: Path, as_dict: bool = True) -> Path:
    """``save_to_disk`` the fixture (as a DatasetDict keyed by the spec's split by default)."""
    import datasets

    ds = fixture_dataset(name)
    path = root / f"{name}_saved"
    if as_dict:
        datasets.DatasetDict({BENCHMARKS.get(name).split: ds}).save_to_disk(str(path))
    else:
        ds.save_to_disk(str(path))
    return path


def load_docs(name: str, tmp_path: Path) -> tuple[Any, list[Any]]:
    spec = BENCHMARKS.get(name)
    rows = spec.load(str(save_fixture(name, tmp_path)))
    return spec, [spec.to_doc(r) for r in rows]


def run(
    spec: Any, docs: list[Any], responses: list[str | None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert len(docs) == len(responses)
    rows = [spec.score(r, d) for r, d in zip(responses, docs)]
    return rows, spec.aggregate(rows)


# ------------------------------------------------------------------ registry and common behaviour


def test_registry_has_all_ten_public_benchmarks() -> None:
    assert len(PUBLIC_BENCHMARKS) == 10
    for name in PUBLIC_BENCHMARKS:
        spec = BENCHMARKS.get(name)
        assert spec.name == name
        assert spec.category in ("qa", "reasoning", "hallucination")
        assert spec.dataset and "/" in spec.dataset
        assert spec.lmms_task and spec.citation and spec.title and spec.split


@pytest.mark.parametrize("name", PUBLIC_BENCHMARKS)
def test_fixture_loads_maps_and_prompts(name: str, tmp_path: Path) -> None:
    from PIL import Image

    spec, docs = load_docs(name, tmp_path)
    assert docs
    assert len({d.id for d in docs}) == len(docs)
    for doc in docs:
        assert isinstance(doc.image, Image.Image)
        for style in ("bare", "plain", "rationale"):
            text = spec.prompt(doc, style)
            assert doc.question.strip().splitlines()[0] in text
        if doc.answer_type == "multiple_choice" and doc.choices:
            assert doc.answer in "ABCDEFGHIJ"[: len(doc.choices)]
    with pytest.raises(ValueError, match="prompt style"):
        spec.prompt(docs[0], "fancy")


MISSING_FIELD = {
    "mmstar": "answer",
    "mmbench_en_dev": "index",
    "seedbench_img": "choice_b",
    "scienceqa_img": "choices",
    "ai2d": "options",
    "chartqa": "type",
    "mathvista_testmini": "question_type",
    "pope": "category",
    "hallusionbench": "figure_id",
    "llava_bench_wild": "gpt_answer",
}


@pytest.mark.parametrize("name", PUBLIC_BENCHMARKS)
def test_missing_field_raises_record_error_naming_it_image_only_at_generation(name: str) -> None:
    spec = BENCHMARKS.get(name)
    raw = with_images(name)[0]
    spec.to_doc(raw)  # the complete row maps
    field = MISSING_FIELD[name]
    del raw[field]
    with pytest.raises(RecordError, match=repr(field)):
        spec.to_doc(raw)
    # scoring needs no image: a document without one maps; only generation refuses it
    from harness.evaluate import EvalError, open_image

    raw = with_images(name)[0]
    del raw[spec.image_field]
    doc = spec.to_doc(raw)
    assert doc.image is None
    with pytest.raises(EvalError, match=repr(spec.image_field)):
        open_image(spec, doc, None)


# ------------------------------------------------------------------ MMStar


def test_mmstar_inline_options_and_scores(tmp_path: Path) -> None:
    from benchmarks.prompts import MC_SHORT
    from benchmarks.public.mmstar import split_inline_options

    spec, docs = load_docs("mmstar", tmp_path)
    assert docs[0].choices == [
        "The suitcase is on the book.",
        "The suitcase is beneath the cat.",
        "The suitcase is beneath the bed.",
        "The suitcase is beneath the book.",
    ]
    assert docs[2].choices == ["35°", "45°", "55°", "65°"]
    assert split_inline_options("What is shown?") is None
    prompt = spec.prompt(docs[0], "plain")
    assert "Options: A: The suitcase is on the book." in prompt and prompt.endswith(MC_SHORT)
    rows, agg = run(
        spec,
        docs,
        [
            "Answer: A",  # right
            "The image shows a stadium.\nAnswer: C",  # wrong (B)
            "C",  # right, short answer
            "I am not sure what happens next in this scene, honestly.",  # no answer: failure
            "Answer: Pupa",  # option text -> B, right
        ],
    )
    assert [r["correct"] for r in rows] == [True, False, True, False, True]
    assert rows[3]["parse_status"] == "no_answer_marker" and rows[3]["final_answer"] is None
    assert agg["accuracy"] == pytest.approx(0.6)
    assert agg["parse_failures"] == 1
    assert agg["by_category"]["coarse perception"]["accuracy"] == pytest.approx(0.5)
    # l2 groups: scene 1/2, geometry 1, single-instance 0, diagram 1 -> macro 0.625
    assert agg["l2_macro_accuracy"] == pytest.approx(0.625)


# ------------------------------------------------------------------ MMBench


def test_mmbench_options_hint_and_circular_eval(tmp_path: Path) -> None:
    spec, docs = load_docs("mmbench_en_dev", tmp_path)
    by_index = {d.extra["index"]: d for d in docs}
    assert len(by_index[2].choices) == 2 and by_index[2].hint.startswith("People can use")
    assert by_index[5].choices == ["angry", "sad", "happy"] and by_index[5].hint is None  # "nan" option/hint
    prompt = spec.prompt(by_index[2], "plain")
    assert prompt.startswith("Hint: People") and "B. how long" in prompt and "C." not in prompt
    order = [0, 1000000, 2, 1000002, 5, 6]
    responses = {
        0: "A",
        1000000: "Answer: D",  # group 0: both right
        2: "Answer: B",
        1000002: "Answer: B",  # wrong (A): group 2 fails
        5: "Answer: D",  # D is not an option here: invalid
        6: "Answer: B",
    }
    rows, agg = run(spec, [by_index[i] for i in order], [responses[i] for i in order])
    assert [r["correct"] for r in rows] == [True, True, True, False, False, True]
    assert rows[4]["parse_status"] == "invalid"
    assert agg["accuracy"] == pytest.approx(4 / 6)
    assert agg["parse_failures"] == 1
    # circular groups 0 (ok), 2 (fail), 5 (fail), 6 (ok)
    assert agg["circular_groups"] == 4
    assert agg["circular_accuracy"] == pytest.approx(0.5)
    assert agg["circular_by_category"]["image_topic"] == {"accuracy": 1.0, "n": 1}
    assert agg["circular_by_category"]["physical_property_reasoning"]["accuracy"] == 0.0


def test_mmbench_nan_options_and_no_circular_rows() -> None:
    spec = BENCHMARKS.get("mmbench_en_dev")
    raw = with_images("mmbench_en_dev")[0]
    raw.update(C=float("nan"), D=None, hint=float("nan"), index="17")
    doc = spec.to_doc(raw)
    assert doc.choices == ["teddy bear", "rabbit"] and doc.hint is None and doc.id == "17"
    raw.update(C=None, D="dog")
    with pytest.raises(RecordError, match="'D'"):
        spec.to_doc(raw)
    agg = spec.aggregate([spec.score("A", doc)])
    assert "circular_accuracy" not in agg and agg["accuracy"] == 1.0


# ------------------------------------------------------------------ SEED-Bench


def test_seedbench_image_rows_only(tmp_path: Path) -> None:
    spec, docs = load_docs("seedbench_img", tmp_path)
    assert len(docs) == 4  # the video row is filtered out by the loader
    video = with_images("seedbench_img")[4]
    with pytest.raises(RecordError, match="data_type"):
        spec.to_doc(video)
    rows, agg = run(spec, docs, ["Answer: A", "Answer: Three", "Answer: B", ""])
    assert [r["correct"] for r in rows] == [True, True, False, False]
    assert rows[3]["parse_status"] == "invalid"
    assert agg["accuracy"] == 0.5
    assert agg["by_dimension"]["Scene Understanding"]["accuracy"] == 1.0
    assert agg["by_dimension"]["Instances Counting"]["accuracy"] == 1.0
    assert agg["by_dimension"]["Spatial Relation"]["accuracy"] == 0.0


# ------------------------------------------------------------------ ScienceQA / AI2D


def test_scienceqa_index_answer_and_context(tmp_path: Path) -> None:
    spec, docs = load_docs("scienceqa_img", tmp_path)
    assert [d.answer for d in docs] == ["A", "B", "A", "B"]
    assert spec.prompt(docs[1], "plain").startswith("Context: Tree frogs live")
    assert not spec.prompt(docs[0], "plain").startswith("Context")
    assert spec.to_doc(with_images("scienceqa_img")[1]).id == docs[1].id  # stable content id
    rows, agg = run(
        spec,
        docs,
        ["Answer: A", "Answer: Madagascar day gecko", "Answer: C", "The answer is pole."],
    )
    assert [r["correct"] for r in rows] == [True, True, False, True]
    assert rows[2]["parse_status"] == "invalid"  # C is not among two options
    assert rows[3]["parse_status"] == "fallback_answer_is"
    assert agg["accuracy"] == 0.75
    assert agg["by_subject"]["natural science"]["accuracy"] == 0.5
    raw = with_images("scienceqa_img")[0]
    raw["answer"] = 7
    with pytest.raises(RecordError, match="'answer'"):
        spec.to_doc(raw)


def test_ai2d_string_index_answers(tmp_path: Path) -> None:
    spec, docs = load_docs("ai2d", tmp_path)
    assert [d.answer for d in docs] == ["B", "C", "D", "A"]
    rows, agg = run(spec, docs, ["B", "Answer: pupa", "Answer: A", "Answer: energy"])
    assert [r["correct"] for r in rows] == [True, True, False, True]
    assert agg["accuracy"] == 0.75


# ------------------------------------------------------------------ ChartQA


def test_chartqa_relaxed_correctness_rule() -> None:
    from benchmarks.public.chartqa import relaxed_correctness

    assert relaxed_correctness("0", "0")
    assert not relaxed_correctness("0.0", "0")  # zero target: exact string match only
    assert relaxed_correctness("45%", "0.45")  # trailing % means value/100
    assert not relaxed_correctness("45%", "45")
    assert not relaxed_correctness("45", "45%")
    assert relaxed_correctness("43", "45")  # 4.4% off
    assert not relaxed_correctness("48", "45")  # 6.7% off
    assert relaxed_correctness("1234", "1234.0")
    assert not relaxed_correctness("1,234", "1234")  # float() rejects separators: string compare
    assert relaxed_correctness("ITALY", "Italy")
    assert not relaxed_correctness("Italy.", "Italy")


def test_chartqa_scores_and_split_aggregates(tmp_path: Path) -> None:
    spec, docs = load_docs("chartqa", tmp_path)
    rows, agg = run(
        spec,
        docs,
        [
            "Answer: 0.0",  # target 0: needs the exact string "0" -> wrong
            "Answer: yes.",  # "yes" vs "Yes" -> right
            "Answer: 45%",  # 0.45 vs 45 -> wrong
            "Answer: 45%",  # 0.45 vs 0.45 -> right
            "Answer: 1,234",  # "1,234" vs "1234" -> wrong under the official rule
            "The chart is about European countries and their values over time.",  # no answer
        ],
    )
    assert [r["correct"] for r in rows] == [False, True, False, True, False, False]
    assert rows[1]["prediction"] == "yes"  # the raw extracted answer, trailing period removed
    assert rows[5]["parse_status"] == "no_answer_marker" and rows[5]["prediction"] is None
    assert agg["relaxed_accuracy"] == pytest.approx(2 / 6)
    assert agg["relaxed_human_split"] == pytest.approx(1 / 3)
    assert agg["relaxed_augmented_split"] == pytest.approx(1 / 3)
    assert agg["parse_failures"] == 1
    assert spec.score("Answer: 0", docs[0])["correct"]
    assert spec.score("Answer: 1234", docs[4])["correct"]


def test_chartqa_optional_thousands_separator_stripping(tmp_path: Path) -> None:
    from benchmarks.public.chartqa import ChartQASpec

    spec = ChartQASpec()
    spec.strip_thousands_separators = True
    doc = spec.to_doc(with_images("chartqa")[4])
    assert spec.score("Answer: 1,234", doc)["correct"]


# ------------------------------------------------------------------ MathVista


def test_mathvista_official_normalisation(tmp_path: Path) -> None:
    spec, docs = load_docs("mathvista_testmini", tmp_path)
    assert docs[0].question.startswith("Hint: Please answer") and docs[0].answer == "B"
    assert spec.prompt(docs[2], "plain").endswith("one decimal place.")
    assert spec.prompt(docs[0], "bare") == docs[0].question
    rows, agg = run(
        spec,
        docs,
        [
            "The blue part covers 8 of the 11 parts.\nAnswer: B",  # letter -> "8/11": right
            "Answer: 15",  # wrong
            "Answer: 0.62",  # round(0.62, 1) = 0.6: right
            "",  # unparseable: failure
            "Answer: 2007, 2008",  # -> str([2007, 2008]): right
            "Answer: circel",  # not a letter nor a choice -> most similar "circle": right, flagged
        ],
    )
    assert [r["correct"] for r in rows] == [True, False, True, False, True, True]
    assert rows[0]["prediction"] == "8/11"
    assert rows[4]["prediction"] == "[2007, 2008]"
    assert rows[5]["parse_status"] == "fallback_most_similar" and rows[5]["prediction"] == "circle"
    assert agg["accuracy"] == pytest.approx(4 / 6)
    assert agg["most_similar_fallbacks"] == 1
    assert agg["parse_failures"] == 1
    assert agg["by_question_type"]["multi_choice"]["accuracy"] == 1.0
    assert agg["by_question_type"]["free_form"]["accuracy"] == 0.5
    assert agg["by_answer_type"]["float"]["accuracy"] == 0.5
    assert agg["by_skill"]["statistical reasoning"]["accuracy"] == pytest.approx(2 / 3)
    assert agg["by_skill"]["geometry reasoning"] == {"n": 1, "accuracy": 1.0}


def test_mathvista_edge_cases() -> None:
    from benchmarks.public.mathvista import MathVistaTestminiSpec, edit_distance

    spec = MathVistaTestminiSpec()
    mc, integer, float1, float2, listed, _ = (spec.to_doc(r) for r in with_images("mathvista_testmini"))
    assert spec.score("Answer: 14.7", integer)["prediction"] == "14"  # str(int(float(x))) truncates
    assert spec.score("Answer: 0.66", float1)["prediction"] == "0.7"
    assert not spec.score("Answer: 0.66", float1)["correct"]
    assert spec.score("Answer: $1.449", float2)["prediction"] == "1.45"
    assert spec.score("Answer: [2007, 2008]", listed)["correct"]
    assert not spec.score("Answer: 2007 and 2008", listed)["correct"]
    assert spec.score("Answer: 8/11", mc)["parse_status"] == "ok"  # exact option text
    paren = spec.score("Answer: I pick (B) here", mc)
    assert paren["correct"] and paren["parse_status"] == "fallback_paren_letter"
    assert not spec.score("I have no idea at all about this figure, sorry.", mc)["correct"]
    spec.most_similar_fallback = False
    off = spec.score("Answer: 8/12", mc)
    assert not off["correct"] and off["parse_status"] == "invalid"
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3
    raw = with_images("mathvista_testmini")[0]
    raw["answer"] = "7/11"
    with pytest.raises(RecordError, match="'answer'"):
        spec.to_doc(raw)


# ------------------------------------------------------------------ POPE


def test_pope_metrics_count_unparseable_as_failures(tmp_path: Path) -> None:
    spec, docs = load_docs("pope", tmp_path)
    assert [d.extra["category"] for d in docs] == ["adversarial"] * 2 + ["popular"] * 2 + ["random"] * 2
    rows, agg = run(
        spec,
        docs,
        [
            "Yes",  # adversarial, truth yes: TP
            "Yes, there is.",  # adversarial, truth no: FP
            "Answer: no",  # popular, truth yes: FN
            "No",  # popular, truth no: TN
            "I cannot tell from this picture whether it is there or not.",  # random, truth yes: unparsed
            "Answer: no",  # random, truth no: TN
        ],
    )
    assert rows[4]["prediction"] is None and rows[4]["parse_status"] == "no_answer_marker"
    # TP=1 FP=1 TN=2, positives=3 -> FN=2 (one of them unparsed)
    assert (agg["tp"], agg["fp"], agg["tn"], agg["fn"], agg["unparsed"]) == (1, 1, 2, 2, 1)
    assert agg["accuracy"] == pytest.approx(0.5)
    assert agg["precision"] == pytest.approx(0.5)
    assert agg["recall"] == pytest.approx(1 / 3)
    assert agg["f1"] == pytest.approx(0.4)
    assert agg["yes_ratio"] == pytest.approx(2 / 6)
    adv = agg["by_category"]["adversarial"]
    assert (adv["accuracy"], adv["precision"], adv["recall"], adv["yes_ratio"]) == (0.5, 0.5, 1.0, 1.0)
    assert adv["f1"] == pytest.approx(2 / 3)
    assert agg["by_category"]["random"]["recall"] == 0.0
    assert agg["by_category"]["random"]["unparsed"] == 1
    assert agg["by_category"]["popular"]["f1"] == 0.0


# ------------------------------------------------------------------ HallusionBench


def test_hallusionbench_aacc_facc_qacc(tmp_path: Path) -> None:
    spec, docs = load_docs("hallusionbench", tmp_path)
    assert [d.answer for d in docs] == ["yes", "no", "no", "yes", "no", "yes"]
    assert docs[0].id == "VD_illusion_0_0_0"
    rows, agg = run(spec, docs, ["Yes", "Yes", "No", "Answer: yes", "Answer: yes", ""])
    assert [r["correct"] for r in rows] == [True, False, True, True, False, False]
    assert agg["aAcc"] == pytest.approx(0.5)
    # figures: VD/illusion/0/0 (one of two wrong), VD/illusion/0/1 ok, VS/chart/1/1 ok, VS/chart/1/2 wrong,
    # VD/math/2/0 wrong -> 2/5
    assert agg["n_figures"] == 5 and agg["fAcc"] == pytest.approx(0.4)
    # questions: illusion q0 (both right), illusion q1 wrong, chart q0 (one wrong), math q0 wrong -> 1/4
    assert agg["n_question_groups"] == 4 and agg["qAcc"] == pytest.approx(0.25)
    raw = with_images("hallusionbench")[0]
    raw["gt_answer"] = "2"
    with pytest.raises(RecordError, match="gt_answer"):
        spec.to_doc(raw)


def test_hallusionbench_facc_skips_vs_rows_without_figure() -> None:
    spec = BENCHMARKS.get("hallusionbench")
    base = {"subcategory": "chart", "set_id": "9", "question_id": "0", "parse_status": "ok"}
    rows = [
        dict(base, category="VS", figure_id="0", correct=False),
        dict(base, category="VS", figure_id="1", correct=True),
    ]
    agg = spec.aggregate(rows)
    assert agg["n_figures"] == 1 and agg["fAcc"] == 1.0
    assert agg["qAcc"] == 0.0


# ------------------------------------------------------------------ LLaVA-Bench


class StubJudge:
    """Scores by question id; raises JudgeError for ids it does not know."""

    def __init__(self, scores: dict[str, tuple[float, float]]) -> None:
        self.scores = scores
        self.calls: list[tuple[str, str, str, str, str | None]] = []

    def judge(
        self,
        question: str,
        context: str,
        reference_answer: str,
        answer: str,
        *,
        question_id: str | None = None,
    ) -> tuple[float, float]:
        self.calls.append((question, context, reference_answer, answer, question_id))
        if question_id not in self.scores:
            raise JudgeError(f"no verdict for {question_id}")
        return self.scores[question_id]


def test_llavabench_requires_a_judge(tmp_path: Path) -> None:
    from benchmarks.public.llavabench import LlavaBenchWildSpec

    spec = LlavaBenchWildSpec()
    doc = spec.to_doc(with_images("llava_bench_wild")[0])
    with pytest.raises(JudgeNotConfiguredError, match="SRCAL_JUDGE"):
        spec.score("Diamond Head.", doc)


def test_llavabench_relative_score(tmp_path: Path) -> None:
    from benchmarks.public.llavabench import LlavaBenchWildSpec

    _, docs = load_docs("llava_bench_wild", tmp_path)
    judge = StubJudge({"0": (8, 6), "1": (9, 9), "2": (10, 5)})  # "3" fails
    spec = LlavaBenchWildSpec(judge=judge)
    assert spec.prompt(docs[0], "plain") == docs[0].question
    rows, agg = run(spec, docs, ["Diamond Head.", "An aerial view of a crater.", "Morning.", "Blue."])
    assert judge.calls[0] == (
        docs[0].question,
        "An aerial view of Diamond Head in the Hawaiian Islands. It is a volcanic tuff cone.",
        "The famous sight in the photo is Diamond Head.",
        "Diamond Head.",
        "0",
    )
    assert rows[0]["relative_score"] == pytest.approx(0.75) and rows[0]["correct"] is None
    assert rows[3]["judge_status"] == "failed" and rows[3]["model_score"] is None
    # 100 * (6 + 9 + 5) / (8 + 9 + 10)
    assert agg["score"] == pytest.approx(100 * 20 / 27)
    assert agg["by_category"]["conv"] == {"n": 2, "score": pytest.approx(75.0)}
    assert agg["by_category"]["detail"]["score"] == pytest.approx(100.0)
    assert agg["by_category"]["complex"]["score"] == pytest.approx(50.0)
    assert agg["judge_failures"] == 1 and agg["n_judged"] == 3
    assert math.isnan(spec.aggregate([rows[3]])["score"])


def test_llavabench_with_file_judge_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.public.llavabench import LlavaBenchWildSpec

    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text(
        json.dumps({"question_id": 0, "scores": [8, 4]})
        + "\n"
        + json.dumps({"question_id": 1, "review": "10 7\nAssistant 2 misses the city."})
        + "\n"
    )
    monkeypatch.setenv("SRCAL_JUDGE", "file")
    monkeypatch.setenv("SRCAL_JUDGE_FILE", str(verdicts))
    spec = LlavaBenchWildSpec()
    docs = [spec.to_doc(r) for r in with_images("llava_bench_wild")[:2]]
    rows, agg = run(spec, docs, ["Diamond Head.", "A crater by the sea."])
    assert [(r["reference_score"], r["model_score"]) for r in rows] == [(8.0, 4.0), (10.0, 7.0)]
    assert agg["score"] == pytest.approx(100 * 11 / 18)
