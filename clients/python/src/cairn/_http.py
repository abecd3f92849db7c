"""One persistent HTTP/1.1 connection to ``cairnd``, reopened after any error.

``http.client`` with keep-alive, rather than a third-party HTTP stack: the
sender makes one request at a time, so a pooled async client would add a
dependency and CPU per request without adding anything it uses.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from dataclasses import dataclass

from .types import CairnError


class ConfigError(CairnError, ValueError):
    """An option of the recorder is out of range."""


@dataclass(frozen=True)
class Endpoint:
    """Where the daemon is: scheme, host, port and the base path."""

    scheme: str
    host: str
    port: int
    base_path: str

    @staticmethod
    def parse(url: str) -> Endpoint:
        """``http://host:port[/base]`` or ``https://...``."""
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"url {url!r}: use http://HOST[:PORT] or https://HOST[:PORT]")
        try:
            port = u.port or (443 if u.scheme == "https" else 80)
        except ValueError as e:
            raise ConfigError(f"url {url!r}: {e}") from None
        return Endpoint(u.scheme, u.hostname, port, u.path.rstrip("/"))

    def path(self, route: str) -> str:
        """The request path of ``route`` (e.g. ``/v1/decisions``) under the base."""
        return self.base_path + route


class Response:
    """Status, the headers the client reads, and the body."""

    __slots__ = ("body", "retry_after", "status")

    def __init__(self, status: int, retry_after: str | None, body: bytes) -> None:
        self.status = status
        self.retry_after = retry_after
        self.body = body


class Connection:
    """A keep-alive connection; any transport error closes it, and the next
    request opens a new one."""

    def __init__(
        self,
        endpoint: Endpoint,
        token: str | None,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}

    def _open(self) -> http.client.HTTPConnection:
        e = self.endpoint
        if e.scheme == "https":
            return http.client.HTTPSConnection(
                e.host, e.port, timeout=self.timeout_s, context=self.ssl_context
            )
        return http.client.HTTPConnection(e.host, e.port, timeout=self.timeout_s)

    def request(
        self, method: str, route: str, body: bytes | None = None, content_type: str | None = None
    ) -> Response:
        """Send one request and read the whole answer. Raises ``OSError`` or
        ``http.client.HTTPException`` on transport errors, after closing."""
        headers = dict(self._auth)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if self._conn is None:
            self._conn = self._open()
        try:
            self._conn.request(method, self.endpoint.path(route), body=body, headers=headers)
            r = self._conn.getresponse()
            data = r.read()
            out = Response(r.status, r.getheader("Retry-After"), data)
            if r.will_close:
                self.close()
            return out
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        """Close the connection, if open."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
