"""Chart questions: the ChartQA-style families asked about one chart, with their rationales.

Each family takes the chart spec, the suite's ``random.Random`` and the yes/no answer the
suite wants next (``"yes"`` or ``"no"``, used by the yes/no families to keep answers
balanced) and returns ``(question, answer, answer_type, rationale sentences, choices)``,
or None when the chart does not support the question (e.g. a tie for the highest value).
:data:`FAMILIES` maps each ``question_type`` to its family.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from benchmarks.builtin.base import multiple_choice, yes_no
from benchmarks.builtin.charts.sources import Spec

MARKS = {"bar": "bar", "line": "point", "pie": "slice"}


def says(spec: Spec, label: str) -> str:
    """The sentence reading one mark off the chart: "The bar for Europe is 81."."""
    unit = "%" if spec["chart_type"] == "pie" else ""
    return f"The {MARKS[spec['chart_type']]} for {label} is {spec['values'][label]}{unit}."


def counted(rationale: str, spec: Spec) -> str:
    """``rationale`` opened by "The chart has N bars." when it reads every one of the chart's N marks.

    Greedy decoding of an enumeration has no stop of its own (a line chart's years run on past the last
    one); the count read first gives it one. Other rationales are returned as they are.
    """
    labels = list(spec.get("values") or {})
    if len(labels) < 2 or not all(says(spec, label) in rationale for label in labels):
        return rationale
    return f"The chart has {len(labels)} {MARKS[spec['chart_type']]}s. {rationale}"


def _value(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    values = spec["values"]
    label = rng.choice(list(values))
    v = values[label]
    if spec["chart_type"] == "pie":
        question = f"What percentage of the chart does {label} account for?"
    elif spec["chart_type"] == "line":
        question = f"What is the {spec['measure']} in {label}?"
    else:
        question = f"What is the {spec['measure']} for {label}?"
    said = [says(spec, label)]
    if rng.random() < 0.25:
        step = max(1, round(v * 0.1))
        near = [str(v + d * step) for d in (-2, -1, 1, 2) if v + d * step >= 0]
        distractors = [str(x) for x in values.values() if x != v] + near
        rng.shuffle(distractors)
        choices, letter = multiple_choice(rng, str(v), distractors)
        return question, letter, "multiple_choice", said, choices
    return question, str(v), "integer", said, None


def _extreme(spec: Spec, rng: random.Random, highest: bool) -> tuple | None:
    values = spec["values"]
    best = max(values.values()) if highest else min(values.values())
    winners = [k for k, v in values.items() if v == best]
    if len(winners) != 1:
        return None
    word = "highest" if highest else "lowest"
    if spec["chart_type"] == "line":
        question = f"In which {spec['x_label']} is the {spec['measure']} {word}?"
    else:
        question = f"Which {spec['x_label']} has the {word} {spec['measure']}?"
    unit = "%" if spec["chart_type"] == "pie" else ""
    said = [says(spec, label) for label in values]
    said.append(f"The {word} value is {best}{unit}, for {winners[0]}.")
    if rng.random() < 0.5:
        choices, letter = multiple_choice(rng, winners[0], list(values))
        return question, letter, "multiple_choice", said, choices
    return question, winners[0], "text", said, None


def _max(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    return _extreme(spec, rng, True)


def _min(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    return _extreme(spec, rng, False)


def _difference(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    values = spec["values"]
    a, b = rng.sample(list(values), 2)
    if spec["chart_type"] == "line" and list(values).index(a) > list(values).index(b):
        a, b = b, a
    hi, lo = max(values[a], values[b]), min(values[a], values[b])
    question = f"What is the difference in {spec['measure']} between {a} and {b}?"
    said = [says(spec, a), says(spec, b), f"The difference is {hi} - {lo} = {hi - lo}."]
    return question, str(hi - lo), "integer", said, None


def _sum(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    values = spec["values"]
    if spec["chart_type"] == "bar" and rng.random() < 0.5:
        labels = list(values)
        question = "What is the sum of all the values in the chart?"
    else:
        labels = rng.sample(list(values), 2)
        labels.sort(key=list(values).index)
        question = f"What is the sum of the {spec['measure']} of {labels[0]} and {labels[1]}?"
        if spec["chart_type"] == "pie":
            question = f"What is the total percentage of {labels[0]} and {labels[1]}?"
    total = sum(values[k] for k in labels)
    said = [says(spec, k) for k in labels]
    said.append(f"The total is {' + '.join(str(values[k]) for k in labels)} = {total}.")
    return question, str(total), "integer", said, None


def _compare(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    values = spec["values"]
    pairs = [(a, b) for a in values for b in values if values[a] != values[b]]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    word = rng.choice(("greater", "less"))
    truth = values[a] > values[b] if word == "greater" else values[a] < values[b]
    if truth != (target == "yes"):
        a, b = b, a
        truth = not truth
    question = f"Is the {spec['measure']} of {a} {word} than that of {b}?"
    if spec["chart_type"] == "pie":
        question = f"Is the share of {a} {word} than the share of {b}?"
    neg = "" if truth else "not "
    said = [
        says(spec, a),
        says(spec, b),
        f"{values[a]} is {neg}{word} than {values[b]}, so {a} is {neg}{word} than {b}.",
    ]
    return question, yes_no(truth), "yes_no", said, None


def _trend(spec: Spec, rng: random.Random, target: str) -> tuple | None:
    values = spec["values"]
    labels = list(values)
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :] if values[a] != values[b]]
    adjacent = [(a, b) for a, b in pairs if labels.index(b) == labels.index(a) + 1]
    if not pairs:
        return None
    a, b = rng.choice(adjacent if adjacent and rng.random() < 0.6 else pairs)
    word = rng.choice(("increase", "decrease"))
    up = values[b] > values[a]
    truth = up if word == "increase" else not up
    if truth != (target == "yes"):
        word = "decrease" if word == "increase" else "increase"
        truth = not truth
    question = f"Does the {spec['measure']} {word} from {a} to {b}?"
    relation = "greater" if up else "less"
    verb = f"{word}s" if truth else f"does not {word}"
    said = [
        says(spec, a),
        says(spec, b),
        f"{values[b]} is {relation} than {values[a]}, so the value {verb} from {a} to {b}.",
    ]
    return question, yes_no(truth), "yes_no", said, None


Family = Callable[[Spec, random.Random, str], tuple | None]
FAMILIES: dict[str, Family] = {
    "value": _value,
    "max": _max,
    "min": _min,
    "difference": _difference,
    "sum": _sum,
    "compare": _compare,
    "trend": _trend,
}
