"""tools.dev_eval on srcal-micro: per-item responses beside the report, `generate` keywords reach decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


def test_responses_written_and_generate_keywords_applied(
    micro: Path, smoke_dataset: Path, tmp_path: Path
) -> None:
    from benchmarks.records import read_items
    from tools.dev_eval import evaluate_into

    items = read_items(smoke_dataset / "rft.jsonl")[:6]
    report: dict = {}
    path = tmp_path / "dev.json"
    evaluate_into(report, [str(micro)], items, smoke_dataset, 12, path)
    evaluate_into(report, [str(micro)], items, smoke_dataset, 12, path, repetition_penalty=50.0)

    saved = json.loads(path.read_text())
    assert [e["responses"] for e in saved["evaluations"]] == ["responses-0.jsonl", "responses-1.jsonl"]
    assert saved["evaluations"][0]["suites"]["all"]["n"] == len(items)
    plain, penalised = (
        [json.loads(line) for line in (tmp_path / f"responses-{k}.jsonl").read_text().splitlines()]
        for k in (0, 1)
    )
    assert [r["id"] for r in plain] == [i.id for i in items] == [r["id"] for r in penalised]
    assert set(plain[0]) == {"id", "suite", "answer", "parsed", "correct", "response"}
    # the keyword reaches `generate`: a strong repetition penalty changes greedy responses
    assert [r["response"] for r in plain] != [r["response"] for r in penalised]
