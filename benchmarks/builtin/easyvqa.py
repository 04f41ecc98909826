"""easy-VQA (real data, MIT): one coloured shape per 64x64 image.

Source: the ``easy-vqa`` package (4,000 train / 1,000 test images with questions).
Facts per image: ``shape`` (circle / rectangle / triangle) and ``color`` (8 colours).
The colour is read exactly from the image's pixels (easy-VQA draws with fixed RGB
values); the shape from the package's own questions and answers about that image.
Splits: ``base``/``rft``/``calib`` partition the train images; ``test`` uses test images.
Questions: the package's own (shape, colour, yes/no), with shape and colour questions
also turned into 4-way multiple choice.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from benchmarks.builtin.base import (
    ClaimCheck,
    Draft,
    Suite,
    SuiteInfo,
    multiple_choice,
    partition,
    sentences,
    split_rng,
    with_answer,
)

SHAPES = ("circle", "rectangle", "triangle")
COLORS = {
    (255, 0, 0): "red",
    (0, 255, 0): "green",
    (0, 0, 255): "blue",
    (255, 255, 0): "yellow",
    (0, 0, 0): "black",
    (128, 128, 128): "gray",
    (0, 128, 128): "teal",
    (165, 42, 42): "brown",
}
COLOR_NAMES = tuple(COLORS.values())


def _negated(question: str) -> bool:
    return bool(re.search(r"\bnot\b|\bno\b", question))


@cache
def _source(part: str) -> tuple[dict[int, str], dict[int, list[tuple[str, str]]]]:
    """(image id -> path, image id -> [(question, answer)]) for ``part`` in {train, test}."""
    import easy_vqa

    if part == "train":
        questions, answers, ids = easy_vqa.get_train_questions()
        paths = easy_vqa.get_train_image_paths()
    else:
        questions, answers, ids = easy_vqa.get_test_questions()
        paths = easy_vqa.get_test_image_paths()
    by_image: dict[int, list[tuple[str, str]]] = {}
    for q, a, i in zip(questions, answers, ids):
        by_image.setdefault(int(i), []).append((q, a))
    return {int(k): v for k, v in paths.items()}, by_image


def _shape_from_questions(qa: list[tuple[str, str]]) -> str | None:
    possible = set(SHAPES)
    for question, answer in qa:
        if answer in SHAPES:
            return answer
        named = [s for s in SHAPES if s in question]
        if len(named) == 1 and answer in ("yes", "no") and "color" not in question:
            present = (answer == "yes") != _negated(question)
            if present:
                return named[0]
            possible.discard(named[0])
    return possible.pop() if len(possible) == 1 else None


def _color_from_pixels(image: Any) -> str | None:
    counts = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
    for _, rgb in sorted(counts, reverse=True)[:4]:
        if rgb in COLORS:
            return COLORS[rgb]
    return None


class EasyVQASuite(Suite):
    info = SuiteInfo(
        name="easyvqa",
        category="perception",
        source="easy-vqa package (Victor Zhou), real images and questions",
        license="MIT",
        description="One coloured shape per image: shape, colour and yes/no questions.",
        question_types=["shape", "color", "yes_no"],
    )

    def _images(self, split: str, seed: int) -> list[tuple[str, int]]:
        if split == "test":
            paths, _ = _source("test")
            return [("test", i) for i in sorted(paths)]
        paths, _ = _source("train")
        ids = sorted(paths)
        # Train images are shared by base / rft / calib only: renormalise the fractions.
        fractions = {"base": (0.0, 0.5), "rft": (0.5, 0.8), "calib": (0.8, 1.0)}
        order = partition(ids, "base", seed) + partition(ids, "rft", seed)
        order += partition(ids, "calib", seed) + partition(ids, "test", seed)
        lo, hi = fractions[split]
        return [("train", i) for i in order[int(lo * len(order)) : int(hi * len(order))]]

    def generate(self, split: str, n: int, seed: int) -> list[Draft]:
        from PIL import Image

        rng = split_rng(seed, self.name, split)
        images = self._images(split, seed)
        rng.shuffle(images)
        drafts: list[Draft] = []
        family_cycle = ["shape", "color", "yes", "no"]
        for index, (part, image_id) in enumerate(images):
            if len(drafts) >= n:
                break
            paths, questions = _source(part)
            image = Image.open(paths[image_id]).convert("RGB")
            qa = questions.get(image_id, [])
            facts = {"shape": _shape_from_questions(qa), "color": _color_from_pixels(image)}
            if facts["shape"] is None or facts["color"] is None:
                continue
            family = family_cycle[index % len(family_cycle)]
            wanted = [
                (q, a)
                for q, a in qa
                if (family == "shape" and a in SHAPES)
                or (family == "color" and a in COLOR_NAMES)
                or (family in ("yes", "no") and a == family)
            ]
            if not wanted:
                continue
            question, answer = rng.choice(wanted)
            drafts.append(self._draft(image, f"easyvqa/{part}/{image_id}", question, answer, facts, rng))
        return drafts

    def _draft(self, image: Any, key: str, question: str, answer: str, facts: dict, rng: Any) -> Draft:
        shape, color = facts["shape"], facts["color"]
        said = [f"The image shows a {color} {shape}."]
        choices = None
        answer_type = "yes_no" if answer in ("yes", "no") else "text"
        qtype = "yes_no" if answer_type == "yes_no" else ("shape" if answer in SHAPES else "color")
        final = answer
        if answer_type == "yes_no":
            named_shape = next((s for s in SHAPES if s in question), None)
            named_color = next((c for c in COLOR_NAMES if re.search(rf"\b{c}\b", question)), None)
            if named_shape:
                said.append(
                    f"The shape is a {shape}."
                    if named_shape == shape
                    else f"The shape is not a {named_shape}."
                )
            if named_color:
                said.append(
                    f"The shape is {color}." if named_color == color else f"The shape is not {named_color}."
                )
            if _negated(question):
                said.append(f"The question asks whether it is absent, so the answer is {answer}.")
        elif rng.random() < 0.5:
            pool = list(SHAPES) if qtype == "shape" else list(COLOR_NAMES)
            choices, final = multiple_choice(rng, answer, pool, k=3 if qtype == "shape" else 4)
            answer_type = "multiple_choice"
            said.append(f"The {qtype} is {answer}, which is option {final}.")
        else:
            said.append(f"So the {qtype} is {answer}.")
        q = question[0].upper() + question[1:]
        return Draft(
            image=image,
            question=q,
            answer=final,
            answer_type=answer_type,
            facts=dict(facts),
            rationale=with_answer(said, final),
            question_type=qtype,
            choices=choices,
            image_key=key,
        )

    def check_rationale(self, rationale: str, facts: dict[str, Any]) -> list[ClaimCheck]:
        checks: list[ClaimCheck] = []
        colors = "|".join(COLOR_NAMES)
        shapes = "|".join(SHAPES)
        for sentence in sentences(rationale):
            s = sentence.lower()
            for color, shape in re.findall(rf"\b(?:a|an|one)\s+({colors})\s+({shapes})\b", s):
                checks.append(
                    ClaimCheck(
                        f"a {color} {shape}", color == facts["color"] and shape == facts["shape"], "object"
                    )
                )
            for neg, shape in re.findall(rf"\bshape is (not )?(?:an? )?({shapes})\b", s):
                checks.append(ClaimCheck(sentence, (shape == facts["shape"]) != bool(neg), "shape"))
            for neg, color in re.findall(rf"\b(?:shape|color) is (not )?({colors})\b", s):
                checks.append(ClaimCheck(sentence, (color == facts["color"]) != bool(neg), "color"))
        return checks


SUITE = EasyVQASuite()


def _benchmark() -> Any:
    from benchmarks.spec import BuiltinBenchmark

    return BuiltinBenchmark(SUITE)


BENCHMARK = _benchmark()
