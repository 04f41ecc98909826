"""``srcal eval --engine endpoint``: a served policy scored exactly as ``srcal score`` scores its responses.

The policy is a scripted OpenAI-compatible server on loopback (tests/endpoint_servers.py): its replies
vary with the request (parsed, unparseable, consistent or not), so scoring has something to get wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.evaluate import Checkpoint, EvalFailures, Evaluation, eval_config_from
from harness.implied_answer import ReaderConfig
from harness.rescore import rescore
from tests.endpoint_servers import FakeEndpoint, completion

SUITES = ["digits", "charts", "arithmetic"]
REPLIES = (
    "The picture shows the digit seven.\nAnswer: 7",
    "Counting the bars gives 3.\nAnswer: 3",
    "I cannot tell what this is",
    "It is option B.\nAnswer: C",
    "The total is 12.\nAnswer: 12",
)


def _text(request: dict[str, Any]) -> str:
    return request["body"]["messages"][0]["content"][-1]["text"]


def policy(request: dict[str, Any]) -> tuple[int, Any]:
    """A deterministic served policy: the reply is chosen by the prompt's hash."""
    digest = int(hashlib.sha256(_text(request).encode()).hexdigest(), 16)
    return 200, completion(REPLIES[digest % len(REPLIES)])


def _cfg(data: Path, server: FakeEndpoint, cache: Path, **endpoint: Any):
    section = {
        "base_url": server.url,
        "max_retries": 0,
        "backoff_s": 0.01,
        "cache_dir": str(cache),
        **endpoint,
    }
    base = {"data_dir": str(data), "limit": 5, "bootstrap_samples": 100, "reader": {"name": "conclusion"}}
    return eval_config_from((), {**base, "benchmarks": SUITES, "engine": "endpoint", "endpoint": section})


@pytest.fixture
def server():
    with FakeEndpoint(responder=policy) as fake:
        yield fake


def _samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scores_as_srcal_score_does(smoke_dataset: Path, server: FakeEndpoint, tmp_path: Path) -> None:
    cfg = _cfg(smoke_dataset, server, tmp_path / "cache")
    results = Evaluation(Checkpoint("policy-iter1"), cfg, tmp_path / "out", responder=_responder(cfg)).run()
    request = server.requests[0]["body"]
    assert request["model"] == "policy-iter1" and request["temperature"] == 0.0
    assert request["max_tokens"] == cfg.max_new_tokens
    image = request["messages"][0]["content"][0]
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
    statuses = set()
    for suite in SUITES:
        rows = _samples(tmp_path / "out" / suite / "samples.jsonl")
        log = tmp_path / f"{suite}.jsonl"  # the same responses as an lmms-eval samples log
        log.write_text(
            "".join(
                json.dumps({"doc_id": k, "target": r["gold"], "filtered_resps": [r["response"]]}) + "\n"
                for k, r in enumerate(rows)
            )
        )
        again = rescore(suite, log, True, ReaderConfig(name="conclusion"), str(smoke_dataset), 100)
        for row, other in zip(rows, again.rows, strict=True):
            for key in ("final_answer", "parse_status", "correct", "implied_answer", "consistent"):
                assert row[key] == other[key], (suite, row["id"], key)
        for key in ("accuracy", "consistency_rate", "parse_failure_rate"):
            assert results[suite][key] == again.summary[key], (suite, key)
        statuses |= {r["parse_status"] for r in rows}
    assert len(statuses) > 1  # the replies exercised more than one parse outcome


def _responder(cfg):
    from harness.endpoint_engine import EndpointResponder

    return EndpointResponder("policy-iter1", cfg)


def test_a_failing_server_loses_nothing(smoke_dataset: Path, tmp_path: Path) -> None:
    """Requests after the 7th get 503s: the answered ones are kept; the rerun sends only the others."""
    calls = {"n": 0}

    def failing(request: dict[str, Any]) -> tuple[int, Any]:
        calls["n"] += 1
        return policy(request) if calls["n"] <= 7 else (503, {"error": "overloaded"})

    with FakeEndpoint(responder=failing) as down:
        cfg = _cfg(smoke_dataset, down, tmp_path / "cache", concurrency=1)
        with pytest.raises(EvalFailures) as info:
            Evaluation(Checkpoint("policy-iter1"), cfg, tmp_path / "out", responder=_responder(cfg)).run()
    assert set(info.value.failures) == set(SUITES[1:])  # digits' 5 answered, charts' 2 of 5, arithmetic none
    assert "3 of 5 documents got no response" in info.value.failures["charts"]
    assert len(_samples(tmp_path / "out" / "charts" / "samples.jsonl")) == 2
    with FakeEndpoint(responder=policy) as up:
        cfg = _cfg(smoke_dataset, up, tmp_path / "cache")
        Evaluation(Checkpoint("policy-iter1"), cfg, tmp_path / "out", responder=_responder(cfg)).run()
        assert len(up.requests) == 8  # charts' 3 and arithmetic's 5
    with FakeEndpoint(responder=policy) as fresh:
        cfg = _cfg(smoke_dataset, fresh, tmp_path / "cache2")
        Evaluation(Checkpoint("policy-iter1"), cfg, tmp_path / "whole", responder=_responder(cfg)).run()
    for suite in SUITES:
        resumed = [r["response"] for r in _samples(tmp_path / "out" / suite / "samples.jsonl")]
        whole = [r["response"] for r in _samples(tmp_path / "whole" / suite / "samples.jsonl")]
        assert resumed == whole


def test_cli(smoke_dataset: Path, server: FakeEndpoint, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--model", "policy-iter1", "--engine", "endpoint"]
    cmd += ["--endpoint", server.url, "--benchmarks", "digits", "--limit", "3", "--data", str(smoke_dataset)]
    cmd += [
        "--reader",
        "conclusion",
        "--out",
        str(tmp_path / "out"),
        "--set",
        f"endpoint.cache_dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(server.requests) == 3
    metrics = json.loads((tmp_path / "out" / "digits" / "metrics.json").read_text())
    assert metrics["provenance"]["generation"]["engine"] == "endpoint"


def test_endpoint_needs_a_url(smoke_dataset: Path) -> None:
    from benchmarks.configuration import ConfigError

    with pytest.raises(ConfigError, match="endpoint.base_url"):
        eval_config_from((), {"engine": "endpoint"})


def test_where_the_policy_is_served_moves_no_hash() -> None:
    """Another port, concurrency or cache keeps the logged responses; server-specific request fields do not."""

    def config(**endpoint: Any):
        return eval_config_from(
            (), {"engine": "endpoint", "endpoint": {"base_url": "http://a:1/v1", **endpoint}}
        )

    base = config()
    moved = config(base_url="http://b:2/v1", concurrency=16, cache_dir="/elsewhere", timeout_s=5)
    assert moved.results_hash() == base.results_hash() and moved.generation() == base.generation()
    guided = config(extra_body={"guided_choice": ["A", "B"]})
    assert guided.results_hash() != base.results_hash() and guided.generation() != base.generation()
    assert eval_config_from((), {}).results_hash() != base.results_hash()
