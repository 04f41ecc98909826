"""Reader validity: how well a reader names the answer a rationale implies, on cases whose answer is known.

Two sources of cases, each a response to one benchmark document with a constructed label:

* **generated from the built-in facts** (:func:`generated_cases`): for each built-in item,
  - ``gold``: the gold rationale (its ``Answer:`` line removed) implies the gold answer;
  - ``altered``: the gold rationale with the answer-bearing facts changed so that it states a
    chosen distractor (option text and letter, the number, the named value; for yes/no the
    concluding sentence negated): it implies that distractor. Arithmetic inside may no longer
    hold: the label is the conclusion the rationale states;
  - ``cut``: the rationale cut before it reaches its conclusion (the sentences before the first
    that names the answer, else the first words of the first): it implies nothing decisive;
  each decisive rationale is paired with a final answer equal to its implied answer (consistent)
  and with another (inconsistent); a cut one with the gold answer (undecided).
* **hand-written, in the record schema of each public benchmark** (``harness/implied_answer/cases/``),
  with yes/no, letters, option texts, numbers, units, percentages and free text.

Figures per suite / benchmark (:func:`validate`): on cases with a decisive label,
``coverage`` (the reader decided) and ``agreement`` (of decided: the reader's answer equals the
label under the benchmark's matching rule); ``flag_agreement`` (the ``consistent`` flag equals
the constructed one, over cases where both are defined); on non-decisive cases ``abstention``
(the reader left it undecided); and the confusion table of constructed x read ``consistent``.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.records import LETTERS, BenchmarkItem

CASES_DIR = Path(__file__).parent / "cases"
MEASURED = CASES_DIR / "measured" / "validity.json"
"""Pooled validity figures per reader, as measured by ``srcal readers validate`` (docs/metrics.md)."""
VARIANTS = ("gold", "altered", "cut", "hand")


@dataclass
class ValidityCase:
    """One response with the answer its rationale implies known by construction."""

    case: str
    benchmark: str
    variant: str
    doc: dict[str, Any]
    response: str
    implied: str | None
    """The implied answer as a response would write it after ``Answer:``; ``None``: nothing decisive."""
    consistent: bool | None
    """Whether the final answer is the implied one; ``None`` when ``implied`` is ``None``."""


# ----------------------------------------------------------------------------- generated cases


def _body(rationale: str) -> str:
    return re.split(r"\n\s*answer\s*:", rationale, flags=re.IGNORECASE)[0].strip()


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def _number_pattern(value: str) -> re.Pattern[str]:
    digits = re.escape(value.lstrip("-−"))
    sign = r"[-−]" if value.startswith(("-", "−")) else r"(?<![-−])"
    return re.compile(rf"(?<![\d.,]){sign}{digits}(?![\d]|\.\d)")


def _word_pattern(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.]){re.escape(text)}(?![\w])", re.IGNORECASE)


_FLIPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b([Tt]here is) no\b"), r"\1 a"),
    (re.compile(r"\b([Tt]here is) an?\b"), r"\1 no"),
    (re.compile(r"\bdoes not (increase|decrease)\b"), r"\1s"),
    (re.compile(r"\b(increase|decrease)s\b"), r"does not \1"),
    (re.compile(r"\b(is|are) not\b"), r"\1"),
    (re.compile(r"\b(is|are)\b"), r"\1 not"),
]


def negate(sentence: str) -> str | None:
    """The sentence with its (yes/no) claim reversed; ``None`` when no rule applies.

    "so the answer is yes" <-> "no"; else the first rule that matches, applied to every
    clause of the sentence (a premise and the conclusion drawn from it flip together):
    "There is no X" <-> "There is a X"; "increases" <-> "does not increase"; "is/are (not)".
    """
    stated = re.search(r"\banswer is (yes|no)\b", sentence)
    if stated:
        flipped = "no" if stated.group(1) == "yes" else "yes"
        return sentence[: stated.start(1)] + flipped + sentence[stated.end(1) :]
    for pattern, repl in _FLIPS:
        if pattern.search(sentence):
            return pattern.sub(repl, sentence)
    return None


def _distractor_number(gold: str, body: str, rng: random.Random) -> str:
    value = float(gold.replace("−", "-"))
    deltas = [1, 2, 3] if abs(value) < 10 else [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20]
    for delta in rng.sample(deltas, len(deltas)):
        candidate = value + delta if rng.random() < 0.5 or value - delta < 0 else value - delta
        text = str(int(candidate)) if float(candidate).is_integer() else f"{candidate:g}"
        if not _number_pattern(text).search(body):
            return text
    return str(int(value) + 1000)


def altered(item: BenchmarkItem, rng: random.Random, pool: Sequence[str]) -> tuple[str, str] | None:
    """(rationale, implied answer) of the gold rationale changed to state a distractor, or ``None``."""
    body = _body(item.rationale)
    if item.answer_type == "multiple_choice" and item.choices:
        gold = LETTERS.index(item.answer)
        other = rng.choice([i for i in range(len(item.choices)) if i != gold])
        text = _word_pattern(item.choices[gold]).sub(item.choices[other], body)
        text = re.sub(rf"\boption \(?{item.answer}\)?(?![A-Za-z])", f"option {LETTERS[other]}", text)
        return (text, LETTERS[other]) if text != body else None
    if item.answer_type in ("integer", "float"):
        pattern = _number_pattern(item.answer)
        if not pattern.search(body):
            return None
        other = _distractor_number(item.answer, body, rng)
        return pattern.sub(other, body), other
    if item.answer_type == "yes_no":
        sentences = _sentences(body)
        flipped = negate(sentences[-1])
        if flipped is None:
            return None
        return " ".join([*sentences[:-1], flipped]), "no" if item.answer == "yes" else "yes"
    others = [a for a in pool if a.lower() != item.answer.lower()]
    pattern = _word_pattern(item.answer)
    if not others or not pattern.search(body):
        return None
    other = rng.choice(sorted(set(others)))
    return pattern.sub(other, body), other


def cut(item: BenchmarkItem) -> str:
    """The rationale cut before its conclusion: the sentences before the first that names the answer."""
    body = _body(item.rationale)
    sentences = _sentences(body)
    if item.answer_type == "multiple_choice" and item.choices:
        named = [_word_pattern(item.choices[LETTERS.index(item.answer)]), re.compile(r"\boption\b", re.I)]
    elif item.answer_type in ("integer", "float"):
        named = [_number_pattern(item.answer)]
    elif item.answer_type == "text":
        named = [_word_pattern(item.answer)]
    else:
        named = []
    kept: list[str] = []
    if named:
        for sentence in sentences:
            if any(p.search(sentence) for p in named):
                break
            kept.append(sentence)
    if kept and len(kept) < len(sentences):
        return " ".join(kept)
    words = sentences[0].rstrip(".").split()
    return " ".join(words[: max(2, min(5, len(words) // 2))])


def _other_answer(item: BenchmarkItem, implied: str, rng: random.Random, pool: Sequence[str]) -> str:
    if item.answer_type == "multiple_choice" and item.choices:
        return rng.choice([x for x in LETTERS[: len(item.choices)] if x != implied])
    if item.answer_type == "yes_no":
        return "no" if implied == "yes" else "yes"
    if item.answer_type in ("integer", "float"):
        return _distractor_number(implied, implied, rng)
    return rng.choice(sorted({a for a in pool if a.lower() != implied.lower()} or {"unknown"}))


def _pool_key(item: BenchmarkItem) -> tuple[str, ...]:
    """Items whose text answers are interchangeable (same suite, family and question opening)."""
    return (item.suite, item.question_type, *item.question.lower().split()[:2])


def generated_cases(items: Iterable[BenchmarkItem], seed: int = 0) -> list[ValidityCase]:
    """Gold, altered and cut rationales of built-in items, paired with final answers (see module doc)."""
    items = list(items)
    pools: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for item in items:
        if item.answer_type == "text":
            pools[_pool_key(item)].append(item.answer)
    out: list[ValidityCase] = []
    for item in items:
        rng = random.Random(f"{seed}/{item.id}")
        pool = pools.get(_pool_key(item), [])
        doc = item.to_dict()
        rationales = [("gold", _body(item.rationale), item.answer)]
        changed = altered(item, rng, pool)
        if changed is not None:
            rationales.append(("altered", *changed))
        for variant, rationale, implied in rationales:
            for final, consistent in ((implied, True), (_other_answer(item, implied, rng, pool), False)):
                out.append(
                    ValidityCase(
                        case=f"{item.id}/{variant}/{'same' if consistent else 'other'}",
                        benchmark=item.suite,
                        variant=variant,
                        doc=doc,
                        response=f"{rationale}\nAnswer: {final}",
                        implied=implied,
                        consistent=consistent,
                    )
                )
        out.append(
            ValidityCase(
                case=f"{item.id}/cut",
                benchmark=item.suite,
                variant="cut",
                doc=doc,
                response=f"{cut(item)}\nAnswer: {item.answer}",
                implied=None,
                consistent=None,
            )
        )
    return out


def public_cases(benchmarks: Sequence[str] | None = None, directory: Path = CASES_DIR) -> list[ValidityCase]:
    """The hand-written cases in each public benchmark's record schema (``harness/implied_answer/cases``)."""
    from benchmarks.records import RecordError

    out: list[ValidityCase] = []
    for path in sorted(directory.glob("*.json")):
        name = path.stem
        if benchmarks is not None and name not in benchmarks:
            continue
        for i, case in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            for key in ("case", "doc", "response", "implied", "consistent"):
                if key not in case:
                    raise RecordError(f"{path}: case {i}: field {key!r}: missing")
            out.append(
                ValidityCase(
                    case=case["case"],
                    benchmark=name,
                    variant="hand",
                    doc=case["doc"],
                    response=case["response"],
                    implied=case["implied"],
                    consistent=case["consistent"],
                )
            )
    return out


def _names(value: str | None, known: tuple[str, ...]) -> list[str]:
    """A comma-separated choice among ``known`` (None: all; "none": none); misspelt names get "did you mean"."""
    from benchmarks.registry import BENCHMARKS, UnknownNameError

    if value is None:
        return list(known)
    chosen = [] if value == "none" else [v.strip() for v in value.split(",") if v.strip()]
    for name in chosen:
        BENCHMARKS.get(name)
        if name not in known:
            raise UnknownNameError(f"{name!r} is not one of {', '.join(known)}")
    return chosen


def select_cases(
    suites: str | None = None,
    benchmarks: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    per_suite: int = 40,
    cases_dir: str | Path | None = None,
) -> list[ValidityCase]:
    """Generated cases (the first ``per_suite`` items of each chosen suite's ``split``) + public cases."""
    from benchmarks.fileio import srcal_home
    from benchmarks.records import RecordError, read_items
    from benchmarks.registry import BUILTIN_SUITES, PUBLIC_BENCHMARKS

    chosen_suites = _names(suites, BUILTIN_SUITES)
    cases = public_cases(_names(benchmarks, PUBLIC_BENCHMARKS), Path(cases_dir) if cases_dir else CASES_DIR)
    if not chosen_suites:
        return cases
    directory = Path(data_dir) if data_dir else srcal_home() / "data" / "default"
    path = directory / f"{split}.jsonl"
    if not path.is_file():
        raise RecordError(f"{path}: not found (srcal data build --out {directory})")
    items = [i for i in read_items(path) if i.suite in chosen_suites]
    picked = [i for s in chosen_suites for i in [x for x in items if x.suite == s][:per_suite]]
    return generated_cases(picked) + cases


def write_report(report: dict[str, Any], out: Path) -> None:
    """``out/report.json`` (every case) and ``out/report.md`` (the table), atomically."""
    from benchmarks.fileio import atomic_write_text

    atomic_write_text(out / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    atomic_write_text(out / "report.md", report_markdown(report))


# ----------------------------------------------------------------------------- measuring a reader


class _NoJudge:
    """Validity needs no judge score; open-ended specs are scored with this stand-in."""

    def judge(self, *args: Any, **kwargs: Any) -> tuple[float, float]:
        return 1.0, 1.0


def _spec(name: str) -> Any:
    from benchmarks.registry import BENCHMARKS

    spec = BENCHMARKS.get(name)
    return type(spec)(judge=_NoJudge()) if hasattr(spec, "get_judge") else spec


@dataclass
class CaseResult:
    case: str
    benchmark: str
    variant: str
    implied: str | None
    read: str | None
    read_status: str
    agrees: bool | None
    consistent: bool | None
    read_consistent: bool | None


def read_cases(reader: Any, cases: Sequence[ValidityCase]) -> list[CaseResult]:
    """Score each case's response, read its rationale with ``reader`` and compare with the labels."""
    from harness.consistency import consistency_fields, read_query

    specs: dict[str, Any] = {}
    prepared = []
    for case in cases:
        spec = specs.setdefault(case.benchmark, _spec(case.benchmark))
        doc = spec.to_doc(case.doc)
        prepared.append((case, spec, doc, spec.score(case.response, doc)))
    readings = reader.read([read_query(doc, row) for _, _, doc, row in prepared])
    out = []
    for (case, spec, doc, row), reading in zip(prepared, readings):
        agrees = None
        if case.implied is not None and reading.status == "ok":
            label_row = spec.score(f"The label.\nAnswer: {case.implied}", doc)
            agrees = bool(spec.same_answer(reading.answer, label_row, doc))
        out.append(
            CaseResult(
                case=case.case,
                benchmark=case.benchmark,
                variant=case.variant,
                implied=case.implied,
                read=reading.answer,
                read_status=reading.status,
                agrees=agrees,
                consistent=case.consistent,
                read_consistent=consistency_fields(spec, doc, row, reading)["consistent"],
            )
        )
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def summarize(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Coverage, agreement, flag agreement, abstention and the consistent confusion table."""
    decisive = [r for r in results if r.implied is not None]
    decided = [r for r in decisive if r.read_status == "ok"]
    agreed = sum(1 for r in decided if r.agrees)
    flags = [r for r in results if r.consistent is not None and r.read_consistent is not None]
    loose = [r for r in results if r.implied is None]
    confusion: dict[str, int] = defaultdict(int)
    for r in results:
        label = "none" if r.consistent is None else str(r.consistent).lower()
        read = "none" if r.read_consistent is None else str(r.read_consistent).lower()
        confusion[f"{label}->{read}"] += 1
    return {
        "n": len(results),
        "n_decisive": len(decisive),
        "decided": len(decided),
        "coverage": _ratio(len(decided), len(decisive)),
        "agreement": _ratio(agreed, len(decided)),
        "agreement_of_all": _ratio(agreed, len(decisive)),
        "flag_agreement": _ratio(sum(1 for r in flags if r.consistent == r.read_consistent), len(flags)),
        "n_non_decisive": len(loose),
        "abstention": _ratio(sum(1 for r in loose if r.read_status != "ok"), len(loose)),
        "confusion": dict(sorted(confusion.items())),
    }


def _summaries(results: Sequence[CaseResult], field: str) -> dict[str, dict[str, Any]]:
    """:func:`summarize` per value of ``field`` (sorted)."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[getattr(r, field)].append(r)
    return {name: summarize(rs) for name, rs in sorted(groups.items())}


def validate(reader: Any, cases: Sequence[ValidityCase]) -> dict[str, Any]:
    """Per-benchmark and pooled figures of ``reader`` on ``cases`` (pooled over generated / public).

    ``timing`` is the wall time of reading them (model loading included; readings already in the
    reader's cache cost nothing: measure cost with an empty ``cache_dir``).
    """
    import time

    started = time.perf_counter()
    results = read_cases(reader, cases)
    seconds = time.perf_counter() - started
    generated = [r for r in results if r.variant != "hand"]
    hand = [r for r in results if r.variant == "hand"]
    return {
        "reader": reader.identity(),
        "pooled": {
            **({"generated": summarize(generated)} if generated else {}),
            **({"public": summarize(hand)} if hand else {}),
        },
        "by_benchmark": _summaries(results, "benchmark"),
        "by_variant": _summaries(results, "variant"),
        "timing": {
            "seconds": round(seconds, 2),
            "cases": len(results),
            "seconds_per_100": round(100 * seconds / len(results), 2) if results else None,
        },
        "cases": [asdict(r) for r in results],
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def report_markdown(report: dict[str, Any]) -> str:
    """The validity table (per suite / benchmark, pooled rows first) as markdown."""
    lines = [
        "| cases | n (decisive) | coverage | agreement (of decided) | flag agreement | abstention on cut (n) |",
        "|---|---|---|---|---|---|",
    ]
    rows = [(f"**{k}** (pooled)", v) for k, v in report["pooled"].items()]
    rows += list(report["by_benchmark"].items())
    for name, s in rows:
        lines.append(
            f"| {name} | {s['n']} ({s['n_decisive']}) | {_fmt(s['coverage'])} | {_fmt(s['agreement'])} | "
            f"{_fmt(s['flag_agreement'])} | {_fmt(s['abstention'])} ({s['n_non_decisive']}) |"
        )
    timing = report.get("timing")
    if timing and timing["cases"]:
        lines.append(
            f"\nRead {timing['cases']} cases in {timing['seconds']:.1f} s "
            f"({timing['seconds_per_100']:.1f} s per 100; cached readings cost nothing)."
        )
    return "\n".join(lines) + "\n"


def measured_validity(identity: dict[str, Any], path: Path = MEASURED) -> dict[str, Any]:
    """The committed validity figures of the reader with ``identity`` (same name and backbone).

    The backbone is the same when its name is, or, for an entry that records one, when its
    weights hash is (a model directory measured in one place and loaded from another).
    ``{"measured": False}`` for a reader nobody measured (another backbone: run
    ``srcal readers validate --reader NAME --reader-model ID`` and read its report).
    """
    if not path.is_file():
        return {"measured": False}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        weights = entry.get("backbone_hash")
        backbone = entry.get("backbone") == identity.get("backbone") or (
            weights is not None and weights == identity.get("backbone_hash")
        )
        same = entry["reader"] == identity.get("reader") and backbone
        if same and entry.get("settings", {}) == {k: identity.get(k) for k in entry.get("settings", {})}:
            return {"measured": True, **entry}
    return {"measured": False}
