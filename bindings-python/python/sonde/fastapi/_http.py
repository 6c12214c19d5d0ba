"""HTTP plumbing for the analytics router: bounded body reading (413 before the whole body
is read, gzip with a bound on the inflated size), key checks in constant time, JSON
responses, and the error shape every endpoint uses."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import zlib
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import SondeError


class HTTPProblem(Exception):
    """Ends a request with an error response in the router's shape."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        violations: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.violations = violations or []
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"detail": self.detail, "code": self.code, "violations": self.violations}
        return json_response(body, self.status, self.headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def problem_from(error: SondeError, index: int | None = None) -> HTTPProblem:
    """A core error as an HTTP problem: 413 for size, 422 for rules, 503 when shut down."""
    status = {
        "payload_too_large": 413,
        "invalid_event": 422,
        "invalid_config": 422,
        "shut_down": 503,
        "queue_full": 503,
        "timeout": 504,
        "store_failed": 503,
        "unsupported": 501,
    }.get(error.code, 500)
    violations = [{"index": index, **v} for v in error.violations]
    return HTTPProblem(status, error.code, error.message, violations)


def too_large(limit: int) -> HTTPProblem:
    message = f"the body is over the {limit}-byte limit"
    violation = {"index": None, "path": "", "code": "batch_too_large", "message": message}
    return HTTPProblem(413, "payload_too_large", message, [violation])


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit`` (from
    ``Content-Length`` before reading, else while streaming); gzip bodies are inflated
    with the same bound."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise HTTPProblem(415, "unsupported", f"content-encoding {encoding!r} is not supported")
    inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise HTTPProblem(400, "invalid_event", f"the {encoding} body is corrupt: {e}") from e
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    return inflated


def same_key(given: str | None, keys: Iterable[str]) -> bool:
    """Constant-time comparison against every configured key."""
    if not given:
        return False
    given_bytes = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given_bytes, key.encode())
    return found


def bearer_or_header(request: Request, header: str) -> str | None:
    value = request.headers.get(header)
    if value:
        return value
    auth = request.headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def write_key_of(request: Request) -> str | None:
    """A write key as Segment SDKs send it (HTTP basic auth, key as user name), or in an
    ``X-Write-Key`` header, or a ``writeKey`` query parameter (``sendBeacon`` cannot set
    headers)."""
    auth = request.headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, _ = base64.b64decode(credentials.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user
    return request.headers.get("x-write-key") or request.query_params.get("writeKey")
