"""``rag serve``: one ASGI app on one port, the browser page at ``/`` and the HTTP API under ``/v1``.

Both front ends share one ``RagPipeline`` (one index and one set of models in memory); the generator's own lock
runs one generation at a time whichever front end asked. Around them:

* Auth: ``--auth USER:PASSWORD`` protects the page (Gradio's login) and the API (HTTP Basic) alike;
  ``--api-key KEY`` (or ``$RAG_API_KEY``) accepts ``Authorization: Bearer KEY`` for programs. Without
  ``--auth`` the page is open, so any address other than loopback is refused unless ``--insecure-no-auth``.
* Limits: a request body over the upload limit plus 1 MB is refused with 413 before it is read; questions over
  ``max_question_chars`` with 400 (the pipeline's own check).
* Errors: JSON with a status code for every refused request; no traceback ever reaches a response.
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.errors import RagError, SettingsError, user_message
from rag.pipeline import RagPipeline
from ui.api import INTERNAL_ERROR, build_router, error_response, status_of

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
API_PREFIXES = ("/v1", "/openapi.json", "/docs", "/redoc")


@dataclass(frozen=True)
class Access:
    """Who may use the server: a page login (also valid as HTTP Basic on the API) and/or an API key."""

    login: tuple[str, str] | None = None
    api_key: str | None = None

    def allows(self, header: str) -> bool:
        if self.login is None and self.api_key is None:
            return True
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.api_key:
            return hmac.compare_digest(value.strip().encode(), self.api_key.encode())
        if scheme.lower() == "basic" and self.login:
            try:
                user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return (hmac.compare_digest(user.encode(), self.login[0].encode())
                    & hmac.compare_digest(password.encode(), self.login[1].encode()))
        return False


def check_exposure(host: str, access: Access, insecure_no_auth: bool) -> None:
    """Refuse to put an unprotected page on a network address (the index can be read and changed from it)."""
    if host in LOOPBACK or insecure_no_auth or access.login is not None:
        return
    what = "only --api-key, which does not protect the page" if access.api_key else "no --auth"
    raise SettingsError(f"refusing to serve on {host} with {what}: anyone who can reach the port could read and "
                        "change the index. Add --auth USER:PASSWORD, or --insecure-no-auth if the network is yours")


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` (413) by their Content-Length, or while a chunked body streams."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"the request body is over the {self.max_bytes / 1e6:.0f} MB limit "
                                       "(setting upload_max_mb)", "request_too_large")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def build_server(pipeline: RagPipeline, *, access: Access | None = None) -> FastAPI:
    """The API and the page over one pipeline, with auth, limits and JSON errors."""
    import gradio as gr

    from ui.app import CSS, JS, build_app

    access = access or Access()
    s = pipeline.settings
    max_upload = int(s.upload_max_mb * 1_000_000)
    app = FastAPI(title="rag-seeds API", version="1",
                  description="Ask your documents, offline: answers cited to the exact passage, or an honest "
                              "\"The documents don't say.\" The page is at /.")
    app.include_router(build_router(pipeline, max_upload_bytes=max_upload))

    @app.middleware("http")
    async def require_auth(request: Request, call_next):
        if request.url.path.startswith(API_PREFIXES) and not access.allows(request.headers.get("authorization", "")):
            response = error_response(401, "missing or wrong credentials: send 'Authorization: Bearer KEY' (the "
                                           "server's --api-key) or HTTP Basic with the --auth login", "unauthorized")
            response.headers["WWW-Authenticate"] = 'Basic realm="rag-seeds"'
            return response
        return await call_next(request)

    @app.exception_handler(RagError)
    async def user_error(request: Request, exc: RagError):
        status = status_of(exc)
        log.info("%s %s -> %d: %s", request.method, request.url.path, status, exc)
        return error_response(status, user_message(exc), type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                             for e in exc.errors())
        return error_response(422, f"the request does not have the expected shape: {problems}", "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, INTERNAL_ERROR, "internal_error")

    demo = build_app(pipeline=pipeline)
    demo.queue(default_concurrency_limit=1, max_size=64)
    app = gr.mount_gradio_app(app, demo, path="", auth=access.login, ssr_mode=False, show_error=False,
                              max_file_size=max_upload, css=CSS, js=JS, footer_links=[])
    app.add_middleware(BodyLimit, max_bytes=max_upload + 1_000_000)
    return app


@dataclass
class RunningServer:
    """A server started with ``block=False`` (tests, notebooks); ``close`` stops it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(pipeline: RagPipeline, *, host: str | None = None, port: int | None = None,
          access: Access | None = None, insecure_no_auth: bool = False, block: bool = True) -> RunningServer:
    """Index the seeds if there is no index yet, then serve page and API (blocking unless ``block=False``)."""
    access = access or Access()
    s = pipeline.settings
    host, port = host or s.ui_host, port or s.ui_port
    check_exposure(host, access, insecure_no_auth)
    pipeline.ensure_index()
    app = build_server(pipeline, access=access)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    url = f"http://{host}:{port}"
    if block:
        server.run()
        return RunningServer(url, server, threading.current_thread())
    thread = threading.Thread(target=server.run, name="rag-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SettingsError(f"the server could not start on {url} (is the port in use?)")
        time.sleep(0.05)
    return RunningServer(url, server, thread)
