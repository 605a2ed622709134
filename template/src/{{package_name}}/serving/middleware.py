"""ASGI middleware for the service: body-size limit, API-key check, request timeout, errors and spec.

BentoML has no body-size limit or authentication: without the limit a 100 MB body is read
into memory, and open-source BentoML has no authentication. Its request timeout leaks (see
`RequestTimeout`), so the service makes BentoML's time requests as this one does
(`replace_bentoml_timeout`). Each answers with a short JSON error and never echoes input.

BentoML's answers do not match its own OpenAPI document (`/docs.json`): its 400 bodies carry
pydantic's error list where the document promises a string, a body that is not JSON can end
in a 500, and the document leaves out the statuses these middlewares answer with.
`ClientErrors` and `OpenApiDocument` make answers and document agree.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from ..core.requests import describe_errors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
API_KEY_HEADER = b"x-api-key"
STRING_SCHEMA = {"type": "string"}
OPENAPI_PATH = "/docs.json"
EXPLAIN_PARAMETER = "explain"  # `?explain=k`: each answer lists its k largest feature contributions
EXPLAINED_PATHS = frozenset({"/predict", "/predict_batch"})
# application/json, or a JSON-based type such as application/merge-patch+json, with any parameters
JSON_MEDIA_TYPE = re.compile(rb"\s*application/([a-z0-9.+-]+\+)?json\s*(;.*)?", re.IGNORECASE | re.DOTALL)


async def send_json(send: Send, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Answer with `status` and a small JSON body, plus `headers` other than its content type and length."""
    payload = json.dumps(body).encode()
    kept = [(key, value) for key, value in headers if key.lower() not in (b"content-type", b"content-length")]
    length = str(len(payload)).encode()
    all_headers = [*kept, (b"content-type", b"application/json"), (b"content-length", length)]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
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


class BufferedResponse:
    """Collects what an app sends, so the middleware can answer with something else."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.complete = not message.get("more_body", False)

    @property
    def status(self) -> int:
        return self.start["status"] if self.start else 0

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def status_phrase(status: int) -> str:
    """`HTTPStatus`'s phrase for `status` in lower case, e.g. "bad request"."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "client error"


def client_error_body(status: int, body: bytes) -> dict[str, str]:
    """A BentoML 4xx body as `{"error", "detail"}`, both strings, as its OpenAPI document declares.

    A validation error's detail names each field and error type (`describe_errors`), never a value.
    """
    fallback = {"error": status_phrase(status)}
    try:
        parsed = json.loads(body)
    except ValueError:
        return fallback
    if isinstance(parsed, list) and len(parsed) == 1:  # BentoML wraps some errors in a list
        parsed = parsed[0]
    if not isinstance(parsed, dict):
        return fallback
    detail = parsed.get("detail")
    if isinstance(detail, list):  # pydantic's errors, without inputs
        errors = [error for error in detail if isinstance(error, dict)]
        return {"error": f"invalid request: {len(errors)} error(s)", "detail": describe_errors(errors)}
    answer = {"error": parsed["error"]} if isinstance(parsed.get("error"), str) else fallback
    if isinstance(detail, str):
        answer["detail"] = detail
    return answer


class ClientErrors:
    """415 for a POST body that is not JSON, and client-error bodies in the shape `/docs.json` declares.

    Without the first, BentoML picks a parser by Content-Type: `multipart/form-data` without
    a boundary made starlette raise a 400 that BentoML answered as a 500. The second rewrites
    BentoML's 4xx bodies with `client_error_body`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        content_type = header(scope, b"content-type")
        if content_type is not None and not JSON_MEDIA_TYPE.fullmatch(content_type):
            detail = "send the body as application/json"
            return await send_json(send, 415, {"error": "unsupported media type", "detail": detail})
        held: Message | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                held = message  # answered below, once the whole body is in
                return
            if held is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = client_error_body(held["status"], b"".join(chunks))
                await send_json(send, held["status"], body, held.get("headers", ()))

        await self.app(scope, receive, rewriting_send)


class OpenApiDocument:
    """`/docs.json` as BentoML writes it, plus what BentoML leaves out: the statuses this service adds.

    Every API operation also documents 413 (`BodySizeLimit`), 415 (`ClientErrors`), 429
    (BentoML's concurrency limit), 503 (the model failed and the fallback is `error`) and 504
    (`RequestTimeout`); with an API key, the key as a security scheme and 401 on every
    operation outside `OPEN_PATHS`; `extra` adds more (a feature-store project's 422 for an
    unknown entity). The prediction operations also get their `explain` query parameter (1 to
    `explained_columns`), which BentoML cannot declare. If the document is not what this
    expects, it is served as it is.
    """

    ADDED: Mapping[int, str] = MappingProxyType(
        {
            413: "Request body over service.max_body_bytes",
            415: "Request body is not JSON",
            429: "Too many concurrent requests",
            503: "The model could not answer",
            504: "Not answered within the request timeout",
        }
    )

    def __init__(
        self,
        app: ASGIApp,
        api_key_auth: bool = False,
        extra: Mapping[int, str] | None = None,
        explained_columns: int = 0,
    ) -> None:
        self.app, self.api_key_auth = app, api_key_auth
        self.added = {**self.ADDED, **(extra or {})}
        self.explained_columns = explained_columns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != OPENAPI_PATH or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        response = BufferedResponse()
        await self.app(scope, receive, response.send)
        if response.start is None:
            return
        headers = response.start.get("headers", ())
        if response.status == 200 and response.complete:
            try:
                return await send_json(send, 200, self.amend(json.loads(response.body)), headers)
            except (ValueError, KeyError, TypeError, AttributeError):
                pass  # BentoML's document changed shape: serve it unchanged rather than fail
        await send(response.start)
        await send({"type": "http.response.body", "body": response.body})

    def amend(self, document: dict[str, Any]) -> dict[str, Any]:
        """`document` with the added responses and, with an API key, its security scheme."""
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = {
            "type": "object",
            "title": "Error",
            "required": ["error"],
            "properties": {"error": STRING_SCHEMA, "detail": STRING_SCHEMA},
        }
        error_schema = {"$ref": "#/components/schemas/Error"}
        error_content = {"schema": error_schema}  # nested in steps: the template checks no Jinja is left over
        error = {"application/json": error_content}
        if self.api_key_auth:
            schemes = document["components"].setdefault("securitySchemes", {})
            schemes["ApiKey"] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER.decode()}
        for path, item in document["paths"].items():
            for operation in item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                if "x-bentoml-name" in operation:  # one of the service's APIs
                    for status, description in self.added.items():
                        responses.setdefault(str(status), {"description": description, "content": error})
                if path in EXPLAINED_PATHS and self.explained_columns:
                    operation.setdefault("parameters", []).append(self.explain_parameter())
                if self.api_key_auth and path not in OPEN_PATHS:
                    operation["security"] = [{"ApiKey": []}]
                    responses.setdefault("401", {"description": "Missing or wrong X-API-Key", "content": error})
        return document

    def explain_parameter(self) -> dict[str, Any]:
        """The `explain` query parameter as OpenAPI declares one."""
        schema = {"type": "integer", "minimum": 1, "maximum": self.explained_columns}
        return {
            "name": EXPLAIN_PARAMETER,
            "in": "query",
            "required": False,
            "description": "List each answer's this many largest feature contributions (`explanation`)",
            "schema": schema,
        }
