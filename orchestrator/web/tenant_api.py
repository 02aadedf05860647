"""The host's tenant API: Starlette on uvicorn (TLS, streaming, request limits), beside the operator's
status page. Every request is an EIP-712 signed envelope (chain.signed_requests), checked by the
backend the service wires in, which also does the work; this module only speaks HTTP.

    POST /v1/allocations/{id}/status    state, restarts, exit code, OOM kills, limits, usage, endpoints
    POST /v1/allocations/{id}/logs      tail / since / follow, streamed, at most a byte cap per request
    POST /v1/allocations/{id}/restart
    POST /v1/allocations/{id}/events    the allocation's reconcile actions
    POST /v1/allocations/{id}/receipts  the host's signed usage receipts (billing.receipts)
    POST /v1/allocations/{id}/advice    used (p50/p90/peak) against reserved, and the recommended size
    GET  /v1/health

Errors are JSON {"error": one sentence} with 400/401/403/404/429.

Browsers (the tenant portal) may call it from any origin: CORS allows every origin because nothing
here rides on cookies or ambient credentials; each request carries its own wallet signature.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

log = logging.getLogger("tenantchain.api")

ACTIONS = ("status", "logs", "restart", "events", "advice", "receipts")
MAX_BODY = 16 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TenantBackend(Protocol):
    def authorize(self, envelope: object, allocation: int, action: str) -> dict: ...  # the params; raises ApiError
    def status(self, allocation: int) -> dict: ...
    def logs(self, allocation: int, params: dict) -> Iterator[bytes]: ...
    def restart(self, allocation: int) -> dict: ...
    def events(self, allocation: int) -> list[dict]: ...
    def advice(self, allocation: int) -> dict: ...
    def receipts(self, allocation: int) -> dict: ...


def create_app(backend: TenantBackend) -> Starlette:
    async def action(request: Request):
        try:
            allocation = int(request.path_params["allocation"])
            name = request.path_params["action"]
            if name not in ACTIONS:
                raise ApiError(404, f"no action {name!r} ({', '.join(ACTIONS)})")
            body = await request.body()
            if len(body) > MAX_BODY:
                raise ApiError(400, "the request is too large")
            try:
                envelope = json.loads(body or b"null")
            except ValueError as exc:
                raise ApiError(400, "the body is not JSON: send {request, signature}") from exc
            params = await _threaded(backend.authorize, envelope, allocation, name)
            if name == "logs":
                return StreamingResponse(backend.logs(allocation, params), media_type="text/plain; charset=utf-8")
            handler = {"status": backend.status, "restart": backend.restart, "events": backend.events,
                       "advice": backend.advice, "receipts": backend.receipts}[name]
            return JSONResponse(await _threaded(handler, allocation))
        except ApiError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValueError:
            return JSONResponse({"error": "the allocation id is a number"}, status_code=400)

    async def health(_request: Request):
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/v1/allocations/{allocation}/{action}", action, methods=["POST"]),
                             Route("/v1/health", health, methods=["GET"])],
                     middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                                            allow_headers=["content-type"], max_age=600)])


async def _threaded(fn, *args):
    """Blocking work (chain reads, Docker) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


class TenantApiServer:
    """uvicorn in a thread of the orchestrator; TLS unless it listens on loopback only."""

    def __init__(self, address: str, backend: TenantBackend, certfile: str | None = None, keyfile: str | None = None,
                 max_connections: int = 256):
        host, _, port = address.rpartition(":")
        config = uvicorn.Config(create_app(backend), host=host or "127.0.0.1", port=int(port), log_level="warning",
                                access_log=False, limit_concurrency=max_connections, timeout_keep_alive=15,
                                ssl_certfile=certfile, ssl_keyfile=keyfile)
        self.server = uvicorn.Server(config)
        self.scheme = "https" if certfile else "http"
        # Bound here, so that the address (port 0: any free one) is known and a taken port fails at once.
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((config.host, config.port))
        except OSError as exc:
            self.socket.close()
            raise ApiError(500, f"the tenant API can't listen on {address}: {exc.strerror}") from exc
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, name="tenant-api",
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"{self.scheme}://{host}:{port}"

    def start(self, deadline_s: float = 10.0) -> "TenantApiServer":
        self.thread.start()
        import time

        deadline = time.monotonic() + deadline_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ApiError(500, f"the tenant API could not listen on {self.server.config.host}:"
                                    f"{self.server.config.port}")
            time.sleep(0.02)
        log.info("tenant API at %s", self.url)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
