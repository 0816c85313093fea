"""Tiny JSON-over-HTTP helpers on urllib (no extra dependencies)."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any


class MatrixError(Exception):
    """A non-2xx answer: ``status``, ``errcode`` (if the body was a Matrix error) and the raw ``body``."""

    def __init__(self, method: str, url: str, status: int, body: str):
        self.method, self.url, self.status, self.body = method, url, status, body
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        self.json = parsed if isinstance(parsed, dict) else None
        self.errcode = self.json.get("errcode") if self.json else None
        super().__init__(f"{method} {url} -> {status} {body[:500]}")


def request_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> Any:
    """Sends ``body`` as JSON (if not None) and returns the decoded JSON answer; raises MatrixError on non-2xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ssl_context) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise MatrixError(method, url, e.code, e.read().decode(errors="replace")) from None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the kernel picks it; tiny race, fine for tests)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ca_context(ca_file: str) -> ssl.SSLContext:
    """A TLS client context that trusts only the test CA (hostname checking on)."""
    return ssl.create_default_context(cafile=ca_file)
