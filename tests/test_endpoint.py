"""benchmarks.endpoint and calibrate.teacher on a scripted loopback server: retries, refusals, malformed
and slow answers, a server that goes away mid-run, the request cache, and the key never written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.endpoint import EndpointClient, EndpointConfig, EndpointError
from benchmarks.records import read_items
from calibrate.records import Candidate, CandidateSet
from calibrate.teacher import parse_verdict, rationale_messages, teacher_labels, teacher_rationales
from tests.endpoint_servers import DROP, FakeEndpoint, completion

SECRET = "sk-test-never-written-0123456789"


def config(server: FakeEndpoint, tmp_path: Path, **kw: Any) -> EndpointConfig:
    defaults = {"model": "m", "api_key_env": "SRCAL_TEST_KEY", "backoff_s": 0.0, "max_retries": 2}
    kw = {**defaults, "timeout_s": 5.0, "cache_dir": str(tmp_path / "cache"), **kw}
    return EndpointConfig(base_url=server.url, **kw)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def last_user_text(request: dict[str, Any]) -> str:
    content = request["body"]["messages"][-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


@pytest.fixture
def server() -> Any:
    srv = FakeEndpoint()
    yield srv
    srv.close()


class TestClient:
    def test_config_errors(self) -> None:
        with pytest.raises(ValueError, match="http"):
            EndpointConfig(base_url="localhost:8000", model="m")
        with pytest.raises(ValueError, match="model"):
            EndpointConfig(base_url="http://x/v1", model=" ")

    def test_transient_failures_are_retried(self, server: FakeEndpoint, tmp_path: Path) -> None:
        server.replies += [(503, {"error": "busy"}), (429, {"error": "slow down"}), (200, completion("hi"))]
        [reply] = EndpointClient(config(server, tmp_path)).chat_many([user("x")])
        assert reply.text == "hi" and reply.attempts == 3 and len(server.requests) == 3

    def test_failures_stay_per_request(self, server: FakeEndpoint, tmp_path: Path) -> None:
        """A refusal, a malformed answer and a dropped connection never abort the batch."""
        plan = {
            "refuse": (400, {"error": "bad"}),
            "junk": (200, "{not json"),
            "empty": (200, {"x": 1}),
            "drop": (200, DROP),
        }
        server.responder = lambda r: plan.get(last_user_text(r), (200, completion("ok " + last_user_text(r))))
        texts = ["a", "refuse", "junk", "empty", "drop", "b"]
        replies = EndpointClient(config(server, tmp_path, concurrency=3)).chat_many([user(t) for t in texts])
        assert [r.text for r in replies] == ["ok a", None, None, None, None, "ok b"]
        kinds = [r.error.split(":")[0] for r in replies if r.error]
        assert kinds == ["refused", "malformed", "malformed", "failed"]
        assert "HTTP 400" in replies[1].error and replies[1].attempts == 1  # a refusal is not retried
        assert replies[4].attempts == 3  # a dropped connection is

    def test_slow_answers_time_out_then_fail(self, tmp_path: Path) -> None:
        slow = FakeEndpoint(responder=lambda r: (200, completion("late")), delay=1.5)
        try:
            [reply] = EndpointClient(config(slow, tmp_path, timeout_s=0.3, max_retries=1)).chat_many(
                [user("x")]
            )
        finally:
            slow.close()
        assert reply.error.startswith("failed") and "Timeout" in reply.error and len(slow.requests) == 2
        with pytest.raises(EndpointError) as info:
            EndpointClient(config(slow, tmp_path, timeout_s=0.3, max_retries=0)).chat(user("x"))
        assert info.value.kind == "failed"

    def test_cache_sends_only_what_is_missing(
        self, server: FakeEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SRCAL_TEST_KEY", SECRET)
        server.responder = lambda r: (200, completion("re " + last_user_text(r)))
        client = EndpointClient(config(server, tmp_path))
        first = client.chat_many([user("a"), user("b"), user("a")])
        assert [r.text for r in first] == ["re a", "re b", "re a"] and len(server.requests) == 2
        assert server.requests[0]["auth"] == f"Bearer {SECRET}"
        again = EndpointClient(config(server, tmp_path)).chat_many([user("a"), user("c"), user("b")])
        assert [r.cached for r in again] == [True, False, True] and len(server.requests) == 3
        other_model = EndpointClient(config(server, tmp_path, model="m2"))
        other_model.chat_many([user("a")])
        assert len(server.requests) == 4  # the key holds the endpoint's model
        sampled = EndpointClient(config(server, tmp_path, temperature=0.7))
        sampled.chat_many([user("a")])
        sampled.chat_many([user("a")])
        assert len(server.requests) == 6  # sampled requests are never cached
        assert not [p for p in tmp_path.rglob("*") if p.is_file() and SECRET in p.read_text()]

    def test_server_gone_mid_run_then_resumed(self, tmp_path: Path) -> None:
        """The server stops answering after 3 requests; a rerun against a new one sends only the rest."""
        served = []

        def flaky(r: dict[str, Any]) -> tuple[int, Any]:
            served.append(last_user_text(r))
            return (200, completion("ok")) if len(served) <= 3 else (200, DROP)

        first = FakeEndpoint(responder=flaky)
        try:
            replies = EndpointClient(config(first, tmp_path, concurrency=1, max_retries=0)).chat_many(
                [user(str(i)) for i in range(8)]
            )
        finally:
            first.close()
        assert sum(r.ok for r in replies) == 3 and sum(r.error is not None for r in replies) == 5
        second = FakeEndpoint(responder=lambda r: (200, completion("ok")))
        try:
            again = EndpointClient(config(second, tmp_path)).chat_many([user(str(i)) for i in range(8)])
        finally:
            second.close()
        assert all(r.ok for r in again) and len(second.requests) == 5
        assert sorted(last_user_text(r) for r in second.requests) == sorted(
            str(i) for i, r in enumerate(replies) if not r.ok
        )


def test_parse_verdict() -> None:
    assert [parse_verdict(t) for t in ("A", " b.", "Tie", "Verdict: B", "Response A is better", "tie.")] == [
        "A",
        "B",
        "Tie",
        "B",
        "A",
        "Tie",
    ]
    for bad in ("", "Both are fine", "Answer: A", "AB"):
        assert parse_verdict(bad) is None


def test_teacher_rationales_keep_gold_answers(
    smoke_dataset: Path, server: FakeEndpoint, tmp_path: Path
) -> None:
    items = read_items(smoke_dataset / "rft.jsonl")[:6]
    by_question = {it.question.strip(): it for it in items}

    def teacher(r: dict[str, Any]) -> tuple[int, Any]:
        text = last_user_text(r)
        item = by_question[text.split("\n", 1)[0].removeprefix("Question: ")]
        if item is items[0]:
            return 200, completion("It is hard to say.")
        if item is items[1]:
            return 500, {"error": "boom"}
        gold = text.rsplit("exactly: ", 1)[1]
        return 200, completion(f"I look at the image.\n{gold}")

    server.responder = teacher
    out = tmp_path / "rationales.jsonl"
    manifest = teacher_rationales(EndpointClient(config(server, tmp_path)), items, smoke_dataset, out)
    assert manifest["kept"] == 4 and manifest["dropped"] == {"failed": 1, "no_answer": 1}
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [k["id"] for k in kept] == [it.id for it in items[2:]]
    image_part = server.requests[0]["body"]["messages"][1]["content"][0]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert json.loads((tmp_path / "rationales.jsonl.manifest.json").read_text())["output_sha256"]
    assert isinstance(rationale_messages(items[0], None)[1]["content"], str)  # text-only teachers


def test_teacher_labels_keep_order_consistent_pairs(
    smoke_dataset: Path, server: FakeEndpoint, tmp_path: Path
) -> None:
    from calibrate.scorer.labels import read_labels
    from calibrate.scorer.model import PAIRWISE_SYSTEM

    item = read_items(smoke_dataset / "rft.jsonl")[0]
    cands = [
        Candidate(
            i, f"Reasoning {i}. Answer: {item.answer}", f"Reasoning {i}.", item.answer, "ok", True, -1.0, 5
        )
        for i in range(3)
    ]
    sets = [CandidateSet(item.id, cands)]

    def judge(r: dict[str, Any]) -> tuple[int, Any]:
        text = last_user_text(r)
        first = int(text.split("Response A: Reasoning ", 1)[1][0])
        second = int(text.split("Response B: Reasoning ", 1)[1][0])
        if {first, second} == {0, 2}:
            return 200, completion("A")  # position bias: says A in both orders
        return 200, completion("A" if first < second else "B")  # prefers the lower id

    server.responder = judge
    out = tmp_path / "labels.jsonl"
    manifest = teacher_labels(EndpointClient(config(server, tmp_path)), [item], sets, out)
    assert manifest["pairs"] == 3 and manifest["kept_pairs"] == 2
    assert manifest["dropped"] == {"orders_disagree": 1}
    labels = read_labels(out)
    assert {(x["a"], x["b"], x["verdict"]) for x in labels} == {
        (0, 1, "A"),
        (1, 0, "B"),
        (1, 2, "A"),
        (2, 1, "B"),
    }
    assert server.requests[0]["body"]["messages"][0]["content"] == PAIRWISE_SYSTEM


def test_endpoint_reader(server: FakeEndpoint, tmp_path: Path) -> None:
    from harness.implied_answer import ReaderConfig, ReadQuery, make_reader

    replies = {
        "Explanation: It has 3 sides.": "The explanation leads to triangle.",
        "Explanation: 2 + 2.": "4",
    }
    server.responder = lambda r: (
        (200, completion(replies[last_user_text(r).rsplit("\n", 1)[1]]))
        if last_user_text(r).rsplit("\n", 1)[1] in replies
        else (400, {"error": "no"})
    )
    cfg = ReaderConfig(
        name="endpoint",
        cache_dir=str(tmp_path),
        endpoint={"base_url": server.url, "model": "r", "backoff_s": 0.0},
    )
    reader = make_reader(cfg)
    queries = [
        ReadQuery("What shape?", "text", "It has 3 sides."),
        ReadQuery("2 + 2?", "integer", "2 + 2."),
        ReadQuery("2 + 2?", "integer", ""),
        ReadQuery("What?", "text", "Unknown."),
    ]
    got = reader.read(queries)
    assert [(g.answer, g.status) for g in got] == [
        ("triangle", "ok"),
        ("4", "ok"),
        (None, "no_rationale"),
        (None, "failed"),
    ]
    assert reader.identity()["reader"] == "endpoint" and len(server.requests) == 3
    reader.read(queries[:2])
    assert len(server.requests) == 3  # read once, then cached
    with pytest.raises(ValueError, match="reader.endpoint"):
        make_reader(ReaderConfig(name="endpoint"))


def test_per_request_parameters(tmp_path) -> None:
    """``each[i]`` reaches request i only; a list of another length is refused before anything is sent."""
    from benchmarks.endpoint import EndpointClient, EndpointConfig
    from tests.endpoint_servers import FakeEndpoint, completion

    with FakeEndpoint(responder=lambda r: (200, completion(str(r["body"]["seed"])))) as server:
        client = EndpointClient(
            EndpointConfig(base_url=server.url, model="m", cache_dir=str(tmp_path), concurrency=1)
        )
        messages = [[{"role": "user", "content": "hi"}]] * 2
        replies = client.chat_many(messages, each=[{"seed": 7}, {"seed": 9}], temperature=0.5)
        assert [r.text for r in replies] == ["7", "9"]
        assert all(r["body"]["temperature"] == 0.5 for r in server.requests)
        with pytest.raises(ValueError, match="1 per-request parameter sets for 2 requests"):
            client.chat_many(messages, each=[{"seed": 1}])
        assert len(server.requests) == 2
