"""A replay candidate for ``cairn replay --candidate-cmd``: reads one request per
line on stdin (``schemas/replay-protocol.md``), answers with the chosen model
version's decision on the recorded input, one line each, in order.

    cairn replay --data DIR --candidate-cmd "python candidate.py --version 2.0.0"
"""

from __future__ import annotations

import argparse
import json
import sys

from model import VERSIONS, decide, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", choices=sorted(VERSIONS), default="2.0.0")
    model = train(ap.parse_args().version)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = decide(model, request["input"]["features"])
        except (KeyError, TypeError, ValueError) as e:
            answer = {"error": f"cannot score this input: {e}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
