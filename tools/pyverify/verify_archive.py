#!/usr/bin/env python3
"""Independent verifier of a Cairn archive, written from schemas/archive-v1.md.

Reads an archive (a bucket's HTTP(S) endpoint and prefix, read with plain GETs, or a
local directory) and checks its signed checkpoint against a verifier key, the entries of
a range (or all of them): decoding, chain links, leaf hashes, payload commitments and
erasures, the stored tiles and the root against the checkpoint, and, given a checkpoint
the auditor kept, consistency with it.

Usage:
    verify_archive.py SOURCE (--key KEY | --key-file FILE) [--from N] [--to N]
                      [--checkpoint FILE] [--json]

Exit status, as `cairn verify`: 0 intact, 1 damaged (the first damaged seq and its
kind), 2 could not check.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from archive_check import CannotCheck, Report, check_archive
from archive_source import SourceError, open_source
from checkpoint_note import parse_verifier_key

EXIT_INTACT = 0
EXIT_DAMAGED = 1
EXIT_CANNOT_CHECK = 2
ALSO_MAX = 9


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="verify_archive.py",
        description="Check a Cairn archive (schemas/archive-v1.md) from its objects alone.",
        epilog="Exit status: 0 intact, 1 damaged, 2 could not check.",
    )
    p.add_argument("source", help="http(s)://HOST/BUCKET/PREFIX, file:///DIR or a directory")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key", help="the ledger's verifier key string (NAME+ID+KEY)")
    keys.add_argument("--key-file", type=Path, help="a file holding the verifier key string")
    p.add_argument("--from", dest="first", type=int, default=0, help="first seq to check")
    p.add_argument("--to", dest="last", type=int, help="last seq to check (inclusive)")
    p.add_argument(
        "--checkpoint", type=Path, help="a checkpoint note you kept: the archive must extend it"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args(argv)
    if args.first < 0 or (args.last is not None and args.last < 0):
        p.error("seqs are not negative")
    return args


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CannotCheck(f"reading {what} {path}: {e}") from None


def run(args: argparse.Namespace) -> Report:
    key = args.key if args.key is not None else read_text(args.key_file, "the key file").strip()
    try:
        parse_verifier_key(key)
    except ValueError as e:
        raise CannotCheck(f"the verifier key does not parse: {e}") from None
    kept = read_text(args.checkpoint, "your checkpoint") if args.checkpoint else None
    try:
        source = open_source(args.source)
    except SourceError as e:
        raise CannotCheck(str(e)) from None
    return check_archive(source, key, args.first, args.last, kept)


def print_report(r: Report) -> None:
    print(f"archive {r.source}: ledger {r.origin}, checkpoint at size {r.size}")
    span = f"seq {r.start}..={r.end - 1}" if r.end > r.start else "no entries"
    print(
        f"checked {span}: {r.entries_checked} entries, {r.payloads_checked} payloads "
        f"({r.payload_bytes} bytes), hashed up to the root signed at size {r.size}"
    )
    for e in r.erased:
        print(f"erased properly: the {e.slot} of seq {e.seq} by redaction {e.by}")
    if r.trusted_size is not None and r.intact():
        print(f"consistent with your checkpoint at size {r.trusted_size}")
    first = r.first_damage()
    if first is None:
        root = r.root.hex() if r.root is not None else "(range only)"
        print(f"INTACT: root {root}")
        return
    at = f" at seq {first.seq}" if first.seq is not None else ""
    print(f"DAMAGED{at}: {first.kind}: {first.detail}")
    rest = [d for d in r.damage if d is not first]
    for d in rest[:ALSO_MAX]:
        where = f"seq {d.seq}" if d.seq is not None else "archive"
        print(f"  also {where}: {d.kind}: {d.detail}")
    if len(rest) > ALSO_MAX:
        print(f"  ... {len(r.damage)} findings in all")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except CannotCheck as e:
        if args.json:
            print(json.dumps({"status": "error", "error": str(e)}))
        else:
            print(f"could not check: {e}", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print_report(report)
    return EXIT_INTACT if report.intact() else EXIT_DAMAGED


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(EXIT_INTACT)
    except Exception:  # a bug must not exit 1, which means "damaged"
        traceback.print_exc()
        print("could not check: the verifier failed (a bug, reported above)", file=sys.stderr)
        sys.exit(EXIT_CANNOT_CHECK)
