"""ASGI middleware for the service: body-size limit, API-key check and request timeout.

BentoML has no body-size limit or authentication: without the limit a 100 MB body is read
into memory, and open-source BentoML has no authentication. Its request timeout leaks (see
`RequestTimeout`), so the service makes BentoML's time requests as this one does
(`replace_bentoml_timeout`). Each answers with a short JSON error and never echoes input.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
API_KEY_HEADER = b"x-api-key"


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    """Answer with `status` and a small JSON body."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", ()) if key.lower() == name), None)


class BodySizeLimit:
    """413 for a request body over `max_bytes`, by Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes"})
        received, too_large, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:  # the app saw a disconnect; answer 413 once, drop its own reply
                if not started:
                    started = True
                    await send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes"})
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:  # the app's own error: not ours to handle
                raise  # the disconnect we simulated makes apps raise (e.g. ClientDisconnect)
        if too_large and not started:
            await send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes"})


class ApiKeyAuth:
    """401 without detail unless the X-API-Key header holds an accepted key; probes stay open.

    Keys are loaded when the app is built (in each worker), not when the module is imported.
    """

    def __init__(self, app: ASGIApp, load_keys: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.keys = [key.encode() for key in load_keys()]

    def accepts(self, presented: bytes | None) -> bool:
        # compare_digest against every key, so timing does not reveal which prefix matched
        return presented is not None and any([hmac.compare_digest(presented, key) for key in self.keys])  # noqa: C419

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        if not self.accepts(header(scope, API_KEY_HEADER)):
            return await send_json(send, 401, {"error": "unauthorized"})
        return await self.app(scope, receive, send)


class RequestTimeout:
    """504 for a request whose response has not started within `timeout` seconds; the handler is cancelled.

    A drop-in for BentoML's `TimeoutMiddleware`, which arms a timer per request and never
    cancels it. The timer holds a copy of the request's context, and through it the request's
    objects, until it fires: at 500 requests/s and a 5 s timeout, ~2,500 finished requests' worth.
    Every full garbage collection walked them, pausing the worker 60-130 ms about once a
    second (Shipshape's benchmarks/README.md). This one's timer ends with the wait.
    """

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app, self.timeout = app, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        response_started = asyncio.get_running_loop().create_future()

        async def marking_start(message: Message) -> None:
            if not response_started.done():
                response_started.set_result(None)
            await send(message)

        handling = asyncio.ensure_future(self.app(scope, receive, marking_start))
        first = asyncio.FIRST_COMPLETED
        done, _ = await asyncio.wait({response_started, handling}, timeout=self.timeout, return_when=first)
        if not done and handling.cancel():
            await send_json(send, 504, {"error": f"not answered within {self.timeout:g} s: retry later"})
            return
        await handling


def replace_bentoml_timeout() -> None:
    """Make BentoML's `TimeoutMiddleware` time requests as `RequestTimeout` does; calling it again changes nothing.

    BentoML's timeout cannot be switched off by configuration (`traffic.timeout` must be a
    positive number). A worker builds its middleware stack, with BentoML's class in it, before
    it creates the service, so swapping the class would come too late for that worker: the
    service calls this when it starts, before the worker accepts its first request, and the
    stack's instance then runs `RequestTimeout.__call__` on its own `app` and `timeout`.
    """
    from bentoml._internal.server.http import traffic

    bentoml_timeout = getattr(traffic, "TimeoutMiddleware", None)
    # RequestTimeout.__call__ uses the instance's `app` and `timeout`: BentoML's must keep just those.
    if not isinstance(bentoml_timeout, type) or set(vars(bentoml_timeout(app=None, timeout=1.0))) != {"app", "timeout"}:
        raise RuntimeError("BentoML's TimeoutMiddleware moved or changed: review middleware.replace_bentoml_timeout")
    bentoml_timeout.__call__ = RequestTimeout.__call__  # type: ignore[method-assign]
