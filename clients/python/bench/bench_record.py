"""Throughput of one Python process recording decisions into a real ``cairnd``,
and how long each ``record()`` call holds up its caller.

    python bench/bench_record.py --count 200000              # starts its own cairnd
    python bench/bench_record.py --url http://127.0.0.1:7070  # or uses a running one

Decisions are recorded flat out from one thread (or at ``--rate``); the run ends
when every future has its receipt. Prints decisions/s recorded *and*
acknowledged (durable), the time each ``record()`` call took (p50, p99, p99.9,
max) and the recorder's counters. ``CAIRND_BIN`` names the daemon binary when
the benchmark starts its own (default: ``cairnd`` on ``PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from cairn import Recorder


def start_cairnd(data: str) -> tuple[subprocess.Popen[str], str]:
    """``cairnd --init`` on a free loopback port; its process and URL."""
    binary = os.environ.get("CAIRND_BIN") or shutil.which("cairnd")
    if not binary:
        sys.exit("no cairnd: set CAIRND_BIN or put cairnd on PATH, or pass --url")
    proc = subprocess.Popen(
        [binary, "--init", "--data", data, "--listen", "127.0.0.1:0", "--origin", "bench/py"],
        env={**os.environ, "CAIRND_LOG_FORMAT": "json", "RUST_LOG": "info"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                continue
            if fields.get("message") == "cairnd listening":
                found.append(fields["addr"])
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        sys.exit("cairnd did not start")
    return proc, f"http://{found[0]}"


def decisions(n: int) -> list[dict[str, Any]]:
    """Small fraud-scoring decisions, about 300 bytes each as JSON."""
    return [
        {
            "stream": "payments.fraud",
            "model": {"name": "fraud-model", "version": "7.2.0"},
            "subject": f"cust-{i % 5000:06d}",
            "request_id": f"req-{i:09d}",
            "input": {
                "amount": 12.5 + i % 977,
                "currency": "EUR",
                "country": "DE",
                "merchant": f"m-{i % 311}",
                "card_present": i % 2 == 0,
            },
            "output": {"label": "approve" if i % 7 else "review", "score": (i % 100) / 100},
            "decision": "approve" if i % 7 else "review",
            "score": (i % 100) / 100,
            "latency_ms": 1.5,
        }
        for i in range(n)
    ]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def percentile(sorted_ns: list[int], q: float) -> float:
    """The ``q`` quantile of sorted nanoseconds, in microseconds."""
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running cairnd (default: start one in a temp dir)")
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0, help="decisions/s (default: flat out)")
    ap.add_argument("--batch", type=int, default=1000, help="batch_entries_max")
    ap.add_argument("--flush-interval-ms", type=float, default=5)
    ap.add_argument("--queue", type=int, default=10_000, help="queue_entries_max")
    ap.add_argument("--in-flight", type=int, default=1, help="requests_in_flight_max")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    proc = None
    tmp = None
    url = args.url
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="cairn-bench-")
        proc, url = start_cairnd(os.path.join(tmp.name, "ledger"))
    items = decisions(args.count)
    took = [0] * args.count
    try:
        rec = Recorder(
            url,
            batch_entries_max=args.batch,
            queue_entries_max=args.queue,
            flush_interval_ms=args.flush_interval_ms,
            queue_full_wait_s=60,
        )
        futures = []
        clock = time.perf_counter_ns
        gap_ns = int(1e9 / args.rate) if args.rate else 0
        cpu_started = time.process_time()
        started = clock()
        for i, d in enumerate(items):
            if gap_ns:
                while clock() - started < i * gap_ns:
                    pass
            t0 = clock()
            futures.append(rec.record(d))
            took[i] = clock() - t0
        for f in futures:
            f.result()
        elapsed_s = (clock() - started) / 1e9
        client_cpu_s = time.process_time() - cpu_started
        stats = rec.stats()
        rec.close()
    finally:
        daemon_cpu_s = None
        if proc is not None:
            daemon_cpu_s = cpu_seconds(proc.pid)
            proc.terminate()
            proc.wait()
        if tmp is not None:
            tmp.cleanup()
    took.sort()
    out = {
        "decisions": args.count,
        "seconds": round(elapsed_s, 3),
        "decisions_per_s": round(args.count / elapsed_s),
        "record_us_p50": round(percentile(took, 0.50), 1),
        "record_us_p99": round(percentile(took, 0.99), 1),
        "record_us_p999": round(percentile(took, 0.999), 1),
        "record_us_max": round(took[-1] / 1000, 1),
        "client_cpu_us_per_decision": round(client_cpu_s / args.count * 1e6, 1),
        "cairnd_cpu_us_per_decision": (
            None if daemon_cpu_s is None else round(daemon_cpu_s / args.count * 1e6, 1)
        ),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests": stats.requests,
        "retries": stats.retries,
        "failed": stats.failed,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>16}: {v}")
    return 0 if stats.failed == 0 and stats.recorded == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
