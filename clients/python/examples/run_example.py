"""The example end to end: a ledger, the FastAPI service recording every decision,
some cases scored, then ``cairn incident`` and ``cairn replay`` (with model
version 2.0.0 as the candidate) on what was recorded, and ``cairn verify``.

    python examples/run_example.py [--cases 120] [--workdir DIR]

Needs ``cairnd`` and ``cairn`` (``CAIRND_BIN`` / ``CAIRN_BIN``, else on ``PATH``)
and the example's packages (``pip install './clients/python[example]'``). The
last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from model import split  # noqa: E402


def tool(name: str) -> str:
    path = os.environ.get(f"{name.upper()}_BIN") or shutil.which(name)
    if not path:
        sys.exit(f"no {name}: set {name.upper()}_BIN or put it on PATH")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_cairnd(data: Path) -> tuple[subprocess.Popen[str], str]:
    """``cairnd --init`` on a free port; waits until it logs its address."""
    proc = subprocess.Popen(
        [
            tool("cairnd"),
            "--init",
            "--data",
            str(data),
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "clinic.example/triage",
            "--checkpoint-interval-ms",
            "200",
        ],
        env={**os.environ, "CAIRND_LOG_FORMAT": "json", "RUST_LOG": "info"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    addr: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                continue
            if fields.get("message") == "cairnd listening":
                addr.append(fields["addr"])
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        sys.exit("cairnd did not start")
    return proc, f"http://{addr[0]}"


def request(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw or b"null")
        except ValueError:
            return r.status, raw.decode("utf-8", "replace")
    finally:
        conn.close()


def start_service(cairn_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=HERE,
        env={**os.environ, "CAIRN_URL": cairn_url, "MODEL_VERSION": "1.0.0"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the service exited with {proc.returncode}")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the service did not start")


def score_cases(port: int, cases: int) -> dict[str, int]:
    """Send the first ``cases`` test cases to the service; the count of each label."""
    _, x_test, _, _ = split()
    labels: dict[str, int] = {}
    for i, row in enumerate(x_test[:cases]):
        body = {"case_id": f"case-{i:04d}", "features": row.tolist()}
        status, answer = request(port, "POST", "/score", body)
        if status != 200:
            sys.exit(f"the service answered {status}: {answer}")
        labels[answer["decision"]] = labels.get(answer["decision"], 0) + 1
    return labels


def cairn(*args: str) -> str:
    print(f"\n$ cairn {' '.join(args)}", flush=True)
    out = subprocess.run([tool("cairn"), *args], capture_output=True, text=True, check=False)
    print(out.stdout, end="", flush=True)
    if out.returncode != 0:
        sys.exit(f"cairn {args[0]} exited {out.returncode}: {out.stderr}")
    return out.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=120)
    ap.add_argument("--workdir", type=Path, help="default: a new temp dir")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cairn-example-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "ledger"

    cairnd, url = start_cairnd(data)
    try:
        service, port = start_service(url)
        try:
            labels = score_cases(port, args.cases)
        except BaseException:
            service.kill()
            service.wait()
            raise
        print(f"scored {args.cases} cases through the service: {labels}", flush=True)
        service.send_signal(signal.SIGTERM)  # its shutdown closes the recorder: all delivered
        # uvicorn re-raises the signal after its graceful shutdown.
        if service.wait(60) not in (0, -signal.SIGTERM):
            sys.exit(f"the service exited with {service.returncode}")

        cairn("incident", "--data", str(data), "--stream", "clinic.triage", "--limit", "8")
        incident = json.loads(
            subprocess.run(
                [
                    tool("cairn"),
                    "incident",
                    "--data",
                    str(data),
                    "--stream",
                    "clinic.triage",
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        candidate = f"{sys.executable} {HERE / 'candidate.py'} --version 2.0.0"
        results = work / "replay-v2.json"
        cairn(
            "replay",
            "--data",
            str(data),
            "--daemon",
            url,
            "--stream",
            "clinic.triage",
            "--candidate-cmd",
            candidate,
            "--candidate-model",
            "breast-cancer-triage@2.0.0",
            "--tolerance",
            "$.score=0.1",
            "--examples",
            "5",
            "--json-out",
            str(results),
        )
    finally:
        cairnd.send_signal(signal.SIGTERM)
        cairnd.wait(60)
    cairn("verify", "--data", str(data))
    summary = {
        "cases": args.cases,
        "recorded": len(incident["entries"]),
        "replay_results": str(results),
        "ledger": str(data),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
