"""``srcal eval --engine endpoint`` against a real server: ``transformers serve`` serving srcal-micro.

The served policy (tools/serve_policy.py, on CPU, greedy) answers every document exactly as the native
engine does on the same weights: responses byte for byte, hence the same scores. A server that goes
down mid-evaluation loses nothing: the answered documents stay logged and the rerun against a new
server sends only the others. Run with ``tox -e serve`` (installs ``transformers[serving]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.evaluate import Checkpoint, EvalFailures, Evaluation, eval_config_from
from tests.endpoint_servers import PolicyServer

pytestmark = pytest.mark.serve
SUITES = ["digits", "charts", "arithmetic"]
LIMIT = 4


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


@pytest.fixture(scope="module")
def server(micro: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyServer]:
    pytest.importorskip("fastapi", reason="tox -e serve installs transformers[serving]")
    srv = PolicyServer(micro, tmp_path_factory.mktemp("server") / "server.log")
    yield srv
    srv.stop()


def _cfg(data: Path, cache: Path, url: str | None = None):
    base = {"data_dir": str(data), "limit": LIMIT, "bootstrap_samples": 100, "reader": {"name": "conclusion"}}
    base.update(benchmarks=SUITES, max_new_tokens=24, batch_size=4)
    if url is not None:
        base.update(engine="endpoint", endpoint={"base_url": url, "max_retries": 0, "cache_dir": str(cache)})
    return eval_config_from((), base)


def _responder(model: Path, cfg):
    from harness.endpoint_engine import EndpointResponder

    return EndpointResponder(str(model), cfg)


def _rows(out: Path, suite: str) -> list[dict]:
    return [json.loads(line) for line in (out / suite / "samples.jsonl").read_text().splitlines()]


def test_served_policy_answers_as_the_native_engine(
    micro: Path, server: PolicyServer, smoke_dataset: Path, tmp_path: Path
) -> None:
    native = Evaluation(Checkpoint(str(micro)), _cfg(smoke_dataset, tmp_path), tmp_path / "native").run()
    cfg = _cfg(smoke_dataset, tmp_path / "cache", server.url)
    served = Evaluation(
        Checkpoint(str(micro)), cfg, tmp_path / "served", responder=_responder(micro, cfg)
    ).run()
    for suite in SUITES:
        mine, theirs = _rows(tmp_path / "native", suite), _rows(tmp_path / "served", suite)
        assert [r["response"] for r in theirs] == [r["response"] for r in mine], suite
        for key in ("accuracy", "consistency_rate", "parse_failure_rate"):
            assert served[suite][key] == native[suite][key], (suite, key)
    assert all(r["response"] for s in SUITES for r in _rows(tmp_path / "served", s))


def test_a_server_that_goes_down_loses_nothing(micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
    """The server dies after the first suite: digits stays logged; the rerun sends only the others."""
    first = PolicyServer(micro, tmp_path / "first.log")
    cfg = _cfg(smoke_dataset, tmp_path / "cache", first.url)
    out = tmp_path / "out"
    Evaluation(
        Checkpoint(str(micro)), _cfg_only(cfg, ["digits"]), out, responder=_responder(micro, cfg)
    ).run()
    first.stop()
    with pytest.raises(EvalFailures) as info:
        Evaluation(Checkpoint(str(micro)), cfg, out, responder=_responder(micro, cfg)).run()
    assert set(info.value.failures) == set(SUITES[1:])
    assert not (out / "charts" / "samples.jsonl").exists() or not _rows(out, "charts")
    second = PolicyServer(micro, tmp_path / "second.log")
    try:
        cfg = _cfg(smoke_dataset, tmp_path / "cache2", second.url)
        Evaluation(Checkpoint(str(micro)), cfg, out, responder=_responder(micro, cfg)).run()
        assert second.completions_served() == LIMIT * (len(SUITES) - 1)
    finally:
        second.stop()
    assert all(len(_rows(out, suite)) == LIMIT for suite in SUITES)


def _cfg_only(cfg, suites: list[str]):
    import dataclasses

    return dataclasses.replace(cfg, benchmarks=suites)
