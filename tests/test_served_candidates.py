"""Candidate search through a served policy (``candidates.engine: endpoint``).

The policy is a scripted OpenAI-compatible server on loopback (tests/endpoint_servers.py) that samples
``n`` choices per request from the request's seed, with per-token log-probs, as vLLM does.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from benchmarks.records import read_items
from calibrate.artifacts import Artifact
from calibrate.candidates import (
    CandidateStage,
    ServedCandidatesError,
    ServedPolicy,
    generate_candidates,
)
from calibrate.config import CandidateConfig
from calibrate.records import CandidateSet
from tests.endpoint_servers import FakeEndpoint

ANSWERS = ("7", "3", "12", "B", "yes")


def sampler(request: dict[str, Any], logprobs: bool = True) -> tuple[int, Any]:
    """``n`` choices drawn from the request's seed: reasoned answers, duplicates and unparseable text."""
    body = request["body"]
    text = body["messages"][0]["content"][-1]["text"]
    rng = random.Random(f"{body['seed']}:{hashlib.sha256(text.encode()).hexdigest()}")
    choices = []
    for index in range(body["n"]):
        answer = rng.choice(ANSWERS)
        content = rng.choice(
            (f"It shows {answer}.\nAnswer: {answer}", f"I think {answer}", "It shows 7.\nAnswer: 7")
        )
        tokens = content.split()
        choice: dict[str, Any] = {"index": index, "message": {"role": "assistant", "content": content}}
        if logprobs:
            values = [-round(rng.random(), 4) for _ in tokens]
            choice["logprobs"] = {"content": [{"token": t, "logprob": v} for t, v in zip(tokens, values)]}
        choices.append(choice)
    return 200, {"choices": choices}


def _cfg(server: FakeEndpoint, **endpoint: Any) -> CandidateConfig:
    section = {"base_url": server.url, "max_retries": 0, "backoff_s": 0.01, "concurrency": 2, **endpoint}
    return CandidateConfig(
        num_candidates=4, temperature=0.9, top_p=0.95, max_new_tokens=32, batch_size=3,
        engine="endpoint", endpoint=section,
    )  # fmt: skip


@pytest.fixture
def items(smoke_dataset: Path) -> list:
    return read_items(smoke_dataset / "calib.jsonl")[:7]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_served_candidates_are_records(smoke_dataset: Path, items: list, tmp_path: Path) -> None:
    with FakeEndpoint(responder=sampler, models=("iter_1",)) as server:
        cfg = _cfg(server)
        policy = ServedPolicy.for_checkpoint(cfg, "iter_1")
        summary = generate_candidates(policy, items, smoke_dataset, cfg, tmp_path / "c.jsonl", seed=0)
        bodies = [r["body"] for r in server.requests]
    assert len(bodies) == len(items)  # one request per item, n samples each
    first = bodies[0]
    assert first["model"] == "iter_1" and first["n"] == 4 and first["logprobs"] is True
    assert first["temperature"] == 0.9 and first["top_p"] == 0.95 and first["max_tokens"] == 32
    image = first["messages"][0]["content"][0]
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
    assert len({b["seed"] for b in bodies}) == len(items)  # every item its own seed
    sets = [CandidateSet.from_dict(r) for r in _records(tmp_path / "c.jsonl")]
    assert [s.item_id for s in sets] == [item.id for item in items]
    assert summary["duplicates_removed"] > 0 and summary["tokens"] > 0
    assert len({c.parse_status for s in sets for c in s.candidates}) > 1  # parsed and unparsed
    for s in sets:
        assert s.num_generated == 4 and 1 <= len(s.candidates) <= 4
        for c in s.candidates:
            assert c.num_tokens == len(c.token_logprobs) == len(c.text.split())
            assert c.logprob_sum == pytest.approx(sum(c.token_logprobs), abs=1e-6)
            assert c.correct is not None  # scored against the gold answer, as the local engine's


def test_reruns_send_only_missing_items(smoke_dataset: Path, items: list, tmp_path: Path) -> None:
    """Requests after the 4th fail: the stage stops; the rerun asks only for the items not logged."""
    calls = {"n": 0}

    def failing(request: dict[str, Any]) -> tuple[int, Any]:
        calls["n"] += 1
        return sampler(request) if calls["n"] <= 4 else (503, {"error": "overloaded"})

    out = tmp_path / "c.jsonl"
    with FakeEndpoint(responder=failing, models=("iter_0",)) as down:
        cfg = _cfg(down, concurrency=1)
        with pytest.raises(ServedCandidatesError, match="503"):
            generate_candidates(
                ServedPolicy.for_checkpoint(cfg, "iter_0"), items, smoke_dataset, cfg, out, seed=0
            )
    assert len(_records(out)) == 3  # batch 0 logged; batch 1 failed at its second item
    with FakeEndpoint(responder=sampler, models=("iter_0",)) as up:
        cfg = _cfg(up)
        generate_candidates(
            ServedPolicy.for_checkpoint(cfg, "iter_0"), items, smoke_dataset, cfg, out, seed=0
        )
        assert len(up.requests) == len(items) - 3
    with FakeEndpoint(responder=sampler, models=("iter_0",)) as fresh:
        cfg = _cfg(fresh)
        whole = tmp_path / "whole.jsonl"
        generate_candidates(
            ServedPolicy.for_checkpoint(cfg, "iter_0"), items, smoke_dataset, cfg, whole, seed=0
        )
    assert out.read_bytes() == whole.read_bytes()


def test_a_server_without_logprobs_is_refused(smoke_dataset: Path, items: list, tmp_path: Path) -> None:
    with FakeEndpoint(responder=lambda r: sampler(r, logprobs=False), models=("iter_0",)) as server:
        cfg = _cfg(server)
        with pytest.raises(ServedCandidatesError, match="no token log-probs"):
            generate_candidates(
                ServedPolicy.for_checkpoint(cfg, "iter_0"), items, smoke_dataset, cfg, tmp_path / "c", seed=0
            )


def test_a_server_ignoring_n_is_refused(smoke_dataset: Path, items: list, tmp_path: Path) -> None:
    def single(request: dict[str, Any]) -> tuple[int, Any]:
        status, body = sampler(request)
        return status, {"choices": body["choices"][:1]}

    with FakeEndpoint(responder=single, models=("iter_0",)) as server:
        cfg = _cfg(server)
        with pytest.raises(ServedCandidatesError, match="1 choices for n=4"):
            generate_candidates(
                ServedPolicy.for_checkpoint(cfg, "iter_0"), items, smoke_dataset, cfg, tmp_path / "c", seed=0
            )


def test_the_stage_names_the_policy_to_serve(smoke_dataset: Path, items: list, tmp_path: Path) -> None:
    """The stage asks for the checkpoint's served name; one not served stops it with the command to serve it."""
    policy = Artifact(tmp_path / "run" / "iter_1" / "model", "h")
    with FakeEndpoint(responder=sampler, models=("iter_0",)) as server:
        cfg = _cfg(server, model="policy-{policy}")
        (tmp_path / "iter_2").mkdir()
        stage = CandidateStage(cfg, policy, items, "pool", smoke_dataset, tmp_path / "iter_2", seed=0)
        with pytest.raises(ServedCandidatesError, match="--served-model-name policy-iter_1"):
            stage.run()
        server.models.append("policy-iter_1")
        outputs, summary = stage.run()
    assert outputs == ["candidates.jsonl"] and summary["items"] == len(items)
    assert {r["body"]["model"] for r in server.requests} == {"policy-iter_1"}


def test_engine_settings_enter_the_hash_only_when_served() -> None:
    local = CandidateStage(CandidateConfig(), Artifact(Path("."), ""), [], "", Path("."), Path("."), 0)
    assert "engine" not in local.config() and "endpoint" not in local.config()
    served = CandidateConfig(engine="endpoint", endpoint={"base_url": "http://x/v1", "concurrency": 8})
    config = CandidateStage(served, Artifact(Path("."), ""), [], "", Path("."), Path("."), 0).config()
    assert config["engine"] == "endpoint" and config["served_model"] == "{policy}"
    assert "endpoint" not in config  # concurrency, timeouts, URL: where it is served, not what


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"engine": "vllm"}, "engine must be local or endpoint"),
        ({"engine": "endpoint"}, "endpoint.base_url"),
        (
            {"engine": "endpoint", "endpoint": {"base_url": "http://x/v1"}, "strategy": "sentence_search"},
            "sampling",
        ),
    ],
)
def test_bad_engine_settings(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CandidateConfig(**fields)
