"""A small HTTP/1.1 server side (stdlib asyncio): GET and HEAD, keep-alive, limits.

Guests send short GETs; a full framework would cost more than it brings. Request heads are
capped (8 KiB) and idle connections closed, so a workload cannot hold the service's memory
or sockets; anything unparseable gets 400 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from v6fabric.metadata.documents import TEXT, Answer

log = logging.getLogger(__name__)

HEAD_LIMIT = 8192
BODY_LIMIT = 65536
IDLE_TIMEOUT = 30.0
METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        token = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return token == "keep-alive"
        return token != "close"


class BadRequest(ValueError):
    pass


def parse_head(head: bytes) -> Request:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadRequest("non-ASCII request head") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        raise BadRequest("bad request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1") or not method.isalpha():
        raise BadRequest("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header line")
        headers[name.lower()] = value.strip()
    return Request(method, target, version, headers)


def plain(status: int, text: str) -> Answer:
    return Answer(status, TEXT, text.encode())


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def response_bytes(answer: Answer, *, head_only: bool, keep_alive: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {answer.status} {_reason(answer.status)}",
        f"Content-Type: {answer.content_type}",
        f"Content-Length: {len(answer.body)}",
    ]
    if not keep_alive:
        lines.append("Connection: close")
    if answer.status == 405:
        lines.append("Allow: GET, HEAD")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head if head_only else head + answer.body


Handler = Callable[[Request], Awaitable[Answer]]


async def _discard_body(reader: asyncio.StreamReader, request: Request) -> None:
    if "transfer-encoding" in request.headers:
        raise BadRequest("request bodies in chunks are not accepted")
    raw = request.headers.get("content-length", "0")
    if not raw.isdigit() or int(raw) > BODY_LIMIT:
        raise BadRequest("bad content-length")
    if int(raw):
        await reader.readexactly(int(raw))


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handle: Handler,
    idle_timeout: float = IDLE_TIMEOUT,
) -> None:
    """Answer requests on one connection until the client closes, asks to close, idles
    ``idle_timeout`` seconds, or sends something malformed. ``reader``'s limit must be
    ``HEAD_LIMIT``."""
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout):  # no extra task, unlike wait_for
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(
                    response_bytes(
                        plain(431, "Request head too large\n"), head_only=False, keep_alive=False
                    )
                )
                return
            try:
                request = parse_head(head)
                await _discard_body(reader, request)
            except BadRequest as exc:
                writer.write(
                    response_bytes(plain(400, f"{exc}\n"), head_only=False, keep_alive=False)
                )
                return
            if request.method not in METHODS:
                answer = plain(405, "Only GET and HEAD are supported\n")
            else:
                answer = await handle(request)
            keep = request.keep_alive
            writer.write(
                response_bytes(answer, head_only=request.method == "HEAD", keep_alive=keep)
            )
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()
