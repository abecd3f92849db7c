"""Where an archive's objects are read from: a local directory or an HTTP(S) base URL.

A source answers one question, "the bytes of object NAME", with the bytes, with `None`
when the object is not there (a missing file, HTTP 404 or 403: the archive lacks it,
which is damage when its checkpoint covers it), or with a `SourceError` when it could
not ask (network down, server error, a permission problem on a local file): that is
"could not check", never damage. HTTP reads are plain GETs of `BASE/NAME`, as an
auditor with anonymous read access to a bucket would make them.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Protocol

OBJECT_BYTES_MAX = 300 * 1024 * 1024
"""No archive object is larger: a stored value's raw piece is at most 256 MiB."""

HTTP_TIMEOUT_S = 30.0
HTTP_ATTEMPTS = 4
"""A GET that fails with a 5xx, 429 or a connection error is retried this many times
in all, with a growing pause, before the check gives up (exit 2)."""


class SourceError(Exception):
    """The archive could not be read (not: an object is absent)."""


class Source(Protocol):
    """Reads archive objects by name (names as in schemas/archive-v1.md)."""

    def describe(self) -> str: ...

    def get(self, name: str) -> bytes | None: ...


class DirSource:
    """An archive in a local directory (`file:///DIR` or a plain path)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root} is not a directory")
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def get(self, name: str) -> bytes | None:
        path = self.root / name
        try:
            with path.open("rb") as f:
                data = f.read(OBJECT_BYTES_MAX + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise SourceError(f"reading {path}: {e}") from None
        if len(data) > OBJECT_BYTES_MAX:
            raise SourceError(f"{path} is larger than any archive object ({OBJECT_BYTES_MAX} B)")
        return data


class HttpSource:
    """An archive under an HTTP(S) base URL: a bucket's public endpoint and prefix."""

    def __init__(self, base: str) -> None:
        self.base = base if base.endswith("/") else base + "/"

    def describe(self) -> str:
        return self.base

    def get(self, name: str) -> bytes | None:
        url = self.base + urllib.parse.quote(name)
        last = ""
        for attempt in range(HTTP_ATTEMPTS):
            if attempt:
                time.sleep(0.5 * 2**attempt)
            try:
                with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
                    data: bytes = resp.read(OBJECT_BYTES_MAX + 1)
            except urllib.error.HTTPError as e:
                if e.code in (403, 404):
                    # S3 answers 403 for a missing key when listing is not allowed.
                    return None
                last = f"HTTP {e.code} {e.reason}"
                if e.code != 429 and e.code < 500:
                    break
                continue
            except (urllib.error.URLError, OSError) as e:
                last = str(getattr(e, "reason", e))
                continue
            if len(data) > OBJECT_BYTES_MAX:
                raise SourceError(f"{url} is larger than any archive object")
            return data
        raise SourceError(f"GET {url}: {last}")


def open_source(location: str) -> Source:
    """`http://…` / `https://…` base URLs, `file:///DIR`, or a directory path."""
    parsed = urllib.parse.urlparse(location)
    if parsed.scheme in ("http", "https"):
        return HttpSource(location)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise SourceError(f"file URL with a host: {location}")
        return DirSource(Path(urllib.parse.unquote(parsed.path)))
    if parsed.scheme in ("s3", "gs", "az"):
        raise SourceError(
            f"{location}: give the bucket's HTTP(S) endpoint and prefix instead "
            "(this verifier reads with plain GETs and signs nothing)"
        )
    return DirSource(Path(location))
