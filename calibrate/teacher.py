"""Teacher data from served models: rationales for rationale fine-tuning, pairwise labels for the R-Scorer.

On GPU, SRC starts from data a large model writes [paper]: a strong vision-language teacher's rationales
for the RFT items, kept only when they end in the gold answer, and a strong LLM judge's pairwise verdicts
that the R-Scorer is trained on. Both come from an OpenAI-compatible endpoint through
`benchmarks.endpoint.EndpointClient` (concurrency, retries, request cache: a rerun or a run resumed after
a kill sends only what is not answered yet).

``teacher_rationales``: image (inline data URL) + question + options + gold answer -> a rationale that
ends in ``Answer: ...``; kept only when the project's parser reads the gold answer from it
(`calibrate.rationale_sft.teacher_drop_reason`, the filter the RFT stage applies too). Output: JSONL
``{"id", "rationale"}``, the format of ``rft.teacher_rationales``.

``teacher_labels``: for each candidate set, pairs of candidates (`select_pairs`) in both orders, asked
with the R-Scorer's own pairwise prompt (`calibrate.scorer.model.pairwise_messages`); a pair is kept
only when the two orders agree (A in one order is B in the other, Tie is Tie). Output: JSONL
``{"item_id", "a", "b", "verdict"}`` in both orders, the format ``srcal scorer train --labels`` and
``scorer.labels`` read.

Each output is written atomically with ``<out>.manifest.json`` beside it: the endpoint (never its key),
the inputs, kept and dropped counts, every dropped item or pair with its reason, request counts.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.endpoint import EndpointClient, EndpointProgress, image_data_url
from benchmarks.fileio import atomic_write_json, atomic_write_text, jsonl_line, png_bytes, sha256_file
from benchmarks.prompts import format_choices
from benchmarks.records import BenchmarkItem
from calibrate.records import CandidateSet

TEACHER_PROMPT_VERSION = 1
TEACHER_SYSTEM = (
    "You are an expert tutor. You explain, step by step, how the answer to a question about an image "
    "follows from what the image shows."
)
Progress = Callable[[EndpointProgress], None]


def gold_answer_line(item: BenchmarkItem) -> str:
    """The ``Answer: ...`` line a kept rationale ends with (an option's letter, a number, a word)."""
    return f"Answer: {item.answer}"


def rationale_messages(item: BenchmarkItem, png: bytes | None) -> list[dict[str, Any]]:
    """The teacher's request for ``item``: image part (when given) and text with the gold answer."""
    lines = [f"Question: {item.question.strip()}"]
    if item.choices:
        lines.append(f"Options:\n{format_choices(item.choices)}")
    gold = item.answer
    if item.choices and item.answer_text and item.answer_text != item.answer:
        gold = f"{item.answer} ({item.answer_text})"
    lines += [
        f"The correct answer is {gold}.",
        "Write a short step-by-step rationale (2 to 5 sentences) that reaches this answer from what the "
        "image shows. Do not mention that you were given the answer. End with a last line exactly: "
        f"{gold_answer_line(item)}",
    ]
    text = "\n".join(lines)
    if png is None:  # a text-only teacher: plain string content, which every server's template takes
        return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": text}]
    parts = [{"type": "image_url", "image_url": {"url": image_data_url(png)}}, {"type": "text", "text": text}]
    return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": parts}]


def _item_png(data_dir: Path, item: BenchmarkItem) -> bytes:
    from benchmarks.paths import item_image_path
    from calibrate.generation import load_rgb

    return png_bytes(load_rgb(item_image_path(data_dir, item)))


def teacher_rationales(
    client: EndpointClient,
    items: Sequence[BenchmarkItem],
    data_dir: Path,
    out: Path,
    *,
    with_image: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ask the teacher for a rationale per item; write the kept ones to ``out``; return the manifest."""
    from calibrate.rationale_sft import teacher_drop_reason

    started = time.time()
    requests = [rationale_messages(it, _item_png(data_dir, it) if with_image else None) for it in items]
    replies = client.chat_many(requests, progress=progress)
    kept: list[dict[str, str]] = []
    dropped: list[dict[str, str]] = []
    for item, reply in zip(items, replies):
        if reply.error is not None:
            dropped.append({"id": item.id, "reason": reply.error.split(":", 1)[0], "detail": reply.error})
            continue
        rationale = (reply.text or "").strip()
        reason = teacher_drop_reason(item, rationale)
        if reason is None:
            kept.append({"id": item.id, "rationale": rationale})
        else:
            dropped.append({"id": item.id, "reason": reason, "detail": rationale[-160:]})
    atomic_write_text(out, "".join(jsonl_line(r) for r in kept))
    manifest = _manifest(client, replies, started, "teacher-rationales", out)
    manifest.update(
        data=str(data_dir),
        with_image=with_image,
        items=len(items),
        kept=len(kept),
        dropped=dict(sorted(Counter(d["reason"] for d in dropped).items())),
        dropped_items=dropped,
    )
    atomic_write_json(_manifest_path(out), manifest)
    return manifest


# --------------------------------------------------------------------------- labels

_VERDICT = re.compile(r"^\W*(?:verdict\s*:?\s*)?(?:response\s+)?(A|B|tie)\b", re.IGNORECASE)


def parse_verdict(reply: str) -> str | None:
    """The verdict a judge's reply starts with (``A``, ``B``, ``Tie``; "Verdict: B", "Response A ..."), else None."""
    match = _VERDICT.match(reply.strip())
    if match is None:
        return None
    word = match.group(1)
    return "Tie" if word.lower() == "tie" else word.upper()


def _mirror(verdict: str) -> str:
    return {"A": "B", "B": "A"}.get(verdict, verdict)


def teacher_labels(
    client: EndpointClient,
    items: Sequence[BenchmarkItem],
    candidate_sets: Sequence[CandidateSet],
    out: Path,
    *,
    max_pairs_per_item: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ask the judge for both orders of each pair; write the order-consistent labels; return the manifest."""
    from calibrate.scorer.model import pairwise_messages, select_pairs

    started = time.time()
    by_id = {it.id: it for it in items}
    missing = [cs.item_id for cs in candidate_sets if cs.item_id not in by_id]
    if missing:
        raise ValueError(f"candidate sets name items not in the data: {', '.join(missing[:5])}")
    tasks: list[tuple[str, int, int]] = []
    requests = []
    for cs in candidate_sets:
        cands = {c.candidate_id: c for c in cs.candidates}
        for a, b in select_pairs(list(cands), max_pairs_per_item):
            for first, second in ((a, b), (b, a)):
                tasks.append((cs.item_id, first, second))
                requests.append(pairwise_messages(by_id[cs.item_id], cands[first], cands[second]))
    replies = client.chat_many(requests, progress=progress)
    labels: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for k in range(0, len(tasks), 2):
        (item_id, a, b), verdicts, reasons = tasks[k], [], []
        for reply in replies[k : k + 2]:
            verdict = parse_verdict(reply.text) if reply.text is not None else None
            verdicts.append(verdict)
            if reply.error is not None:
                reasons.append(reply.error)
            elif verdict is None:
                reasons.append(f"unreadable: {(reply.text or '')[:80]!r}")
        pair = {"item_id": item_id, "a": a, "b": b}
        if reasons:
            kind = reasons[0].split(":", 1)[0]
            dropped.append({**pair, "reason": kind, "detail": "; ".join(reasons)})
        elif verdicts[0] != _mirror(verdicts[1]):
            dropped.append({**pair, "reason": "orders_disagree", "detail": f"{verdicts[0]} / {verdicts[1]}"})
        else:
            labels.append({**pair, "verdict": verdicts[0]})
            labels.append({"item_id": item_id, "a": b, "b": a, "verdict": verdicts[1]})
    atomic_write_text(out, "".join(jsonl_line(r) for r in labels))
    manifest = _manifest(client, replies, started, "teacher-labels", out)
    manifest.update(
        pairs=len(tasks) // 2,
        kept_pairs=len(labels) // 2,
        verdicts=dict(sorted(Counter(r["verdict"] for r in labels[::2]).items())),
        dropped=dict(sorted(Counter(d["reason"] for d in dropped).items())),
        dropped_pairs=dropped,
    )
    atomic_write_json(_manifest_path(out), manifest)
    return manifest


# --------------------------------------------------------------------------- manifests


def _manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def _manifest(client: EndpointClient, replies: Sequence[Any], started: float, kind: str, out: Path) -> dict:
    return {
        "kind": kind,
        "prompt_version": TEACHER_PROMPT_VERSION,
        "endpoint": client.cfg.public(),
        "output": out.name,
        "output_sha256": sha256_file(out),
        "requests": {
            "total": len(replies),
            "cached": sum(r.cached for r in replies),
            "sent": sum(not r.cached for r in replies),
            "failed": sum(r.error is not None for r in replies),
        },
        "seconds": round(time.time() - started, 2),
    }
