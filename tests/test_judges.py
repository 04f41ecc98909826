"""benchmarks.judges: score parsing, the file judge, the OpenAI-compatible judge on a loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.judges import (
    FileJudge,
    Judge,
    JudgeError,
    JudgeNotConfiguredError,
    OpenAIJudge,
    build_review_prompt,
    judge_from_env,
    parse_score_pair,
)
from benchmarks.registry import JUDGES
from tests.endpoint_servers import FakeEndpoint, completion
from tests.test_public_benchmarks import offline_hf  # noqa: F401


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    server = FakeEndpoint()
    yield server
    server.close()


def test_parse_score_pair() -> None:
    assert parse_score_pair("8 6\nAssistant 2 is shorter.") == (8.0, 6.0)
    assert parse_score_pair("  9, 7.5 \n...") == (9.0, 7.5)
    assert parse_score_pair("8/10 6/10") == (8.0, 6.0)
    for bad in ("", "Assistant 1: 8", "8\n6", "8 6 4"):
        with pytest.raises(JudgeError):
            parse_score_pair(bad)


def test_review_prompt_has_all_parts() -> None:
    text = build_review_prompt("What is it?", "A red bus.", "A bus.", "A car.")
    for part in (
        "[Context]\nA red bus.",
        "[Question]\nWhat is it?",
        "[Assistant 1]\nA bus.",
        "[Assistant 2]\nA car.",
    ):
        assert part in text
    assert "first line" in text and "1 to 10" in text


def test_openai_judge_roundtrip(endpoint: FakeEndpoint) -> None:
    endpoint.replies.append((200, completion("8 6\nAssistant 2 misses details.")))
    judge = OpenAIJudge(base_url=endpoint.url, model="judge-model", api_key="sk-test", timeout=5)
    assert isinstance(judge, Judge)
    assert judge.judge("What is it?", "A red bus.", "A bus.", "A car.") == (8.0, 6.0)
    request = endpoint.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "judge-model"
    messages = request["body"]["messages"]
    assert messages[0]["role"] == "system" and "[Question]\nWhat is it?" in messages[1]["content"]


def test_openai_judge_from_env_retries_and_errors(
    endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRCAL_JUDGE", "openai")
    monkeypatch.setenv("SRCAL_JUDGE_BASE_URL", endpoint.url + "/chat/completions")
    monkeypatch.setenv("SRCAL_JUDGE_MODEL", "m")
    monkeypatch.setenv("SRCAL_JUDGE_TIMEOUT", "5")
    judge = judge_from_env()
    assert isinstance(judge, OpenAIJudge) and judge.api_key is None
    judge.backoff = 0.0
    endpoint.replies += [(503, {"error": "busy"}), (200, completion("7 7"))]
    assert judge.judge("q", "c", "r", "a") == (7.0, 7.0)
    assert len(endpoint.requests) == 2 and endpoint.requests[1]["auth"] is None
    endpoint.replies.append((400, {"error": "bad request"}))
    with pytest.raises(JudgeError, match="400"):
        judge.judge("q", "c", "r", "a")
    assert len(endpoint.requests) == 3  # a client error is not retried
    endpoint.replies.append((200, completion("I think both are fine.")))
    with pytest.raises(JudgeError, match="two scores"):
        judge.judge("q", "c", "r", "a")
    endpoint.replies.append((200, {"unexpected": True}))
    with pytest.raises(JudgeError, match="malformed"):
        judge.judge("q", "c", "r", "a")


def test_openai_judge_unreachable_is_a_judge_error() -> None:
    import socket

    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = OpenAIJudge(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout=2, max_retries=1, backoff=0
    )
    with pytest.raises(JudgeError, match="failed"):
        judge.judge("q", "c", "r", "a")


def test_file_judge(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    lines = [
        {"question_id": 0, "scores": [8, 6]},
        {"question_id": "1", "reference_score": 9, "model_score": 3, "answer": "A cat."},
        {"question_id": 2, "review": "10 5\nToo short."},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    judge = FileJudge(path)
    assert judge.judge("q", "c", "r", "anything", question_id="0") == (8.0, 6.0)
    assert judge.judge("q", "c", "r", "A cat.", question_id="1") == (9.0, 3.0)
    assert judge.judge("q", "c", "r", "x", question_id="2") == (10.0, 5.0)
    with pytest.raises(JudgeError, match="different answer"):
        judge.judge("q", "c", "r", "A dog.", question_id="1")
    with pytest.raises(JudgeError, match="no verdict"):
        judge.judge("q", "c", "r", "x", question_id="9")
    with pytest.raises(JudgeError, match="question_id"):
        judge.judge("q", "c", "r", "x")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1}\n')
    with pytest.raises(JudgeError, match="bad.jsonl:1"):
        FileJudge(bad)


def test_judge_configuration_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert {"file", "openai"} <= set(JUDGES.names())
    with pytest.raises(JudgeNotConfiguredError, match="SRCAL_JUDGE=file"):
        judge_from_env()
    monkeypatch.setenv("SRCAL_JUDGE", "gpt")
    with pytest.raises(JudgeNotConfiguredError, match="unknown judge 'gpt'"):
        judge_from_env()
    monkeypatch.setenv("SRCAL_JUDGE", "file")
    with pytest.raises(JudgeNotConfiguredError, match="SRCAL_JUDGE_FILE"):
        judge_from_env()
    monkeypatch.setenv("SRCAL_JUDGE_FILE", str(tmp_path / "missing.jsonl"))
    with pytest.raises(JudgeNotConfiguredError, match="does not exist"):
        judge_from_env()
    monkeypatch.setenv("SRCAL_JUDGE", "openai")
    with pytest.raises(JudgeNotConfiguredError, match="SRCAL_JUDGE_BASE_URL and SRCAL_JUDGE_MODEL"):
        judge_from_env()
