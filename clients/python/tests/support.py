"""Test helpers: a real ``cairnd`` started in a temp dir, the ``cairn`` CLI, and a
small forwarding proxy in front of the daemon that can hold requests back or
answer ``429`` first (the daemon itself does that only under real overload).

Binaries come from ``CAIRND_BIN`` / ``CAIRN_BIN``, else
``$CARGO_TARGET_DIR/release/``, else ``target/release/`` under the repository.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


def binary(name: str) -> Path:
    """The path of ``cairnd`` or ``cairn``; fails the test run with how to get it."""
    env = os.environ.get(f"{name.upper()}_BIN")
    candidates = [Path(env)] if env else []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / name)
    candidates.append(REPO / "target" / "release" / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(
        f"no {name} binary (looked at {', '.join(map(str, candidates))}): "
        f"run `cargo build --release` or set {name.upper()}_BIN"
    )


def cairn(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``cairn`` CLI and return what it printed."""
    out = subprocess.run(
        [str(binary("cairn")), *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"cairn {args} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


def free_port() -> int:
    """A port that was free a moment ago (for a daemon restarted on the same one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Daemon:
    """A ``cairnd`` child process on loopback; ``start`` waits until it logs the
    address it listens on."""

    def __init__(self, data: Path, port: int = 0, extra: tuple[str, ...] = ()) -> None:
        self.data = data
        self.port = port
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.addr = ""

    def start(self) -> Daemon:
        listen = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(binary("cairnd")),
                "--init",
                "--data",
                str(self.data),
                "--listen",
                listen,
                "--origin",
                "test.example/python",
                "--checkpoint-interval-ms",
                "100",
                *self.extra,
            ],
            env={**os.environ, "CAIRND_LOG_FORMAT": "json", "RUST_LOG": "info"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        found = threading.Event()
        proc = self.proc

        def read() -> None:  # keeps reading so the pipe never fills
            assert proc.stderr is not None
            for line in proc.stderr:
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                if v.get("fields", {}).get("message") == "cairnd listening":
                    self.addr = v["fields"]["addr"]
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(60):
            self.kill()
            raise AssertionError("cairnd did not log the address it listens on")
        self.port = int(self.addr.rsplit(":", 1)[1])
        return self

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def verifier_key(self) -> str:
        return (self.data / "verifier.key").read_text().strip()

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> int:
        """SIGTERM (drain, fsync, exit) and wait; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.proc = None
        return code

    def get(self, route: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", route)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def checkpoint_covering(self, size: int, timeout_s: float = 30) -> str:
        """The newest checkpoint once it covers at least ``size`` entries (the
        daemon signs one within ``--checkpoint-interval-ms`` of an append)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, body = self.get("/v1/checkpoint")
            if status == 200 and int(body.decode().split("\n")[1]) >= size:
                return body.decode()
            time.sleep(0.05)
        raise AssertionError(f"no checkpoint of size >= {size} within {timeout_s} s")


class Proxy:
    """Forwards requests to a daemon. ``gate`` holds them back until set;
    ``refuse_next`` answers that many with ``429`` and ``Retry-After``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.gate = threading.Event()
        self.gate.set()
        self.refuse_next = 0
        self.retry_after_s = 1
        self.seen: list[tuple[float, int]] = []  # (monotonic time, status answered)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.forward("POST")

            def do_GET(self) -> None:
                self.forward("GET")

            def forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else None
                proxy.gate.wait()
                with proxy.lock:
                    refuse = proxy.refuse_next > 0
                    proxy.refuse_next -= 1 if refuse else 0
                if refuse:
                    payload = b'{"error":"queue full","code":"queue_full"}'
                    self.answer(429, payload, {"Retry-After": str(proxy.retry_after_s)})
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(method, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                self.answer(r.status, data, {"Content-Type": r.getheader("Content-Type", "")})

            def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                with proxy.lock:
                    proxy.seen.append((time.monotonic(), status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def decision(i: int, **extra: Any) -> dict[str, Any]:
    """A small valid decision, numbered."""
    return {
        "stream": "tests.python",
        "model": {"name": "fraud", "version": "1.0.0"},
        "input": {"i": i, "amount": 10.5 * i},
        "output": {"label": "allow" if i % 3 else "review"},
        **extra,
    }
