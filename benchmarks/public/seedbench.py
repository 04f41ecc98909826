"""SEED-Bench (image part): multiple-choice questions over 9 image evaluation dimensions (Li et al., 2023).

Data: ``lmms-lab/SEED-Bench`` split ``test`` (lmms-eval task ``seedbench``, whose ``seed_image``
metric is this benchmark). Fields used: ``question_id``, ``question``, ``choice_a``-``choice_d``,
``answer`` (letter), ``data_type`` (``image`` or ``video``), ``question_type_id`` (dimension 1-9
for images), ``image`` (a *list* of images in the lmms-lab mirror; its first image is used).
Only ``data_type == "image"`` rows are evaluated: the loader keeps them (``row_filter``) and
``to_doc`` rejects video rows.

Official rule (SEED-Bench; lmms-eval ``seedbench/utils.py``): the predicted option letter must
equal ``answer``; accuracy overall and per evaluation dimension. Letters come from
``benchmarks.parsing``: an unparseable response is wrong and keeps its parse status.
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import check_letter, first_image, require_text, summary_with_groups
from benchmarks.records import RecordError
from benchmarks.spec import BenchmarkSpec, EvalDoc, require

DIMENSIONS = {
    1: "Scene Understanding",
    2: "Instance Identity",
    3: "Instance Attributes",
    4: "Instance Location",
    5: "Instances Counting",
    6: "Spatial Relation",
    7: "Instance Interaction",
    8: "Visual Reasoning",
    9: "Text Understanding",
}
"""SEED-Bench's image evaluation dimensions by ``question_type_id`` (paper, Table 1)."""


class SeedBenchImageSpec(BenchmarkSpec):
    name = "seedbench_img"
    title = "SEED-Bench (image)"
    category = "qa"
    dataset = "lmms-lab/SEED-Bench"
    dataset_config = None
    split = "test"
    image_field = "image"
    lmms_task = "seedbench"
    citation = (
        "Li et al., 'SEED-Bench: Benchmarking Multimodal LLMs with Generative Comprehension' (2023), "
        "arXiv:2307.16125; scoring: lmms-eval tasks/seedbench/utils.py (letter match, seed_image)"
    )
    row_filter = {"data_type": ("image",)}

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        data_type = require(raw, "data_type")
        if data_type != "image":
            raise RecordError(f"field 'data_type': {data_type!r} rows are not part of {self.name}")
        choices = [require_text(raw, f"choice_{c}") for c in "abcd"]
        type_id = require(raw, "question_type_id")
        try:
            dimension = DIMENSIONS.get(int(type_id), str(type_id))
        except ValueError:
            dimension = str(type_id)
        return EvalDoc(
            id=str(require(raw, "question_id")),
            question=require_text(raw, "question"),
            answer=check_letter(require(raw, "answer"), choices),
            answer_type="multiple_choice",
            choices=choices,
            image=first_image(raw.get(self.image_field)),
            extra={"question_type_id": type_id, "dimension": dimension},
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        row.update(answer=doc.answer, dimension=doc.extra["dimension"])
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return summary_with_groups(rows, dimension="dimension")


SPEC = SeedBenchImageSpec()
