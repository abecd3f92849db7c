"""The runnable example end to end: the FastAPI service records every decision
through the client, then ``cairn incident`` and ``cairn replay`` run on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import binary

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_example_service_records_every_decision_and_replay_finds_the_flips(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "CAIRND_BIN": str(binary("cairnd")), "CAIRN_BIN": str(binary("cairn"))}
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "run_example.py"),
            "--cases",
            "60",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["recorded"] == 60, "every request the service answered is in the ledger"
    assert "INTACT" in out.stdout

    # What replay reports is what the two model versions really disagree on.
    sys.path.insert(0, str(EXAMPLES))
    from model import decide, split, train

    v1, v2 = train("1.0.0"), train("2.0.0")
    _, x_test, _, _ = split()
    expected = sum(
        decide(v1, row.tolist())["decision"] != decide(v2, row.tolist())["decision"]
        for row in x_test[:60]
    )
    results = json.loads(Path(summary["replay_results"]).read_text())
    assert results["replayed"] == 60 and results["errors"] == 0
    assert results["label"]["changed"] == expected
    assert results["candidate"]["model"] == "breast-cancer-triage@2.0.0"
