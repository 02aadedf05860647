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

Errors are JSON {"error": one sentence} with 400/401/403/404/429 (503 when the chain can't be asked).
Each client address has a token bucket of its own, taken before anything else (parsing, signature
recovery, chain reads), so that strangers flooding the API cost the operator no RPC calls beyond it.

Browsers (the tenant portal) may call it from any origin: CORS allows every origin because nothing
here rides on cookies or ambient credentials; each request carries its own wallet signature.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

log = logging.getLogger("tenantchain.api")

ACTIONS = ("status", "logs", "restart", "events", "advice", "receipts")
MAX_BODY = 16 * 1024
UINT64 = 2**64


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


class TokenBuckets:
    """A token bucket per key: ``burst`` at once, ``rate_per_s`` sustained. At most ``max_keys`` are
    kept; full buckets (keys quiet for a while) are forgotten first, so many sources can't grow it."""

    def __init__(self, rate_per_s: float, burst: int, what: str, max_keys: int = 50_000):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate_per_s, self.burst, self.what, self.max_keys = rate_per_s, burst, what, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate_per_s)
            if tokens < 1:
                raise ApiError(429, f"too many requests {self.what}; at most {self.rate_per_s:g} per second")
            if key not in self._buckets and len(self._buckets) >= self.max_keys:
                self._forget(now)
            self._buckets[key] = (tokens - 1, now)

    def _forget(self, now: float) -> None:
        refill_s = self.burst / self.rate_per_s
        for key in [k for k, (_, last) in self._buckets.items() if now - last >= refill_s]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: the oldest half goes
            for key in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:self.max_keys // 2]:
                del self._buckets[key]


def create_app(backend: TenantBackend, source_rate_per_s: float = 20.0, source_burst: int = 60) -> Starlette:
    sources = TokenBuckets(source_rate_per_s, source_burst, "from this address")

    async def action(request: Request):
        try:
            sources.take(request.client.host if request.client else "")
            allocation = _allocation_id(request.path_params["allocation"])
            name = request.path_params["action"]
            if name not in ACTIONS:
                raise ApiError(404, f"no action {name!r} ({', '.join(ACTIONS)})")
            body = await _body(request)
            try:
                envelope = json.loads(body or b"null")
            except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
                raise ApiError(400, "the body is not JSON: send {request, signature}") from exc
            params = await _threaded(backend.authorize, envelope, allocation, name)
            if name == "logs":
                return StreamingResponse(backend.logs(allocation, params), media_type="text/plain; charset=utf-8")
            handler = {"status": backend.status, "restart": backend.restart, "events": backend.events,
                       "advice": backend.advice, "receipts": backend.receipts}[name]
            return JSONResponse(await _threaded(handler, allocation))
        except ApiError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)

    async def health(_request: Request):
        return JSONResponse({"ok": True})

    async def http_error(_request: Request, exc: HTTPException):
        """Starlette's own refusals (no such route, a method not allowed) in the same JSON form."""
        message = {404: f"no such path; POST /v1/allocations/{{id}}/{{action}} ({', '.join(ACTIONS)}) "
                        "or GET /v1/health",
                   405: "method not allowed: actions are POST, the health check GET"}.get(
            exc.status_code, f"refused ({exc.status_code})")
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    async def unexpected(_request: Request, exc: Exception):
        """A bug, not the client's fault: one JSON sentence to the client, one JSON line in the log."""
        log.error("tenant API request failed: %s: %s", exc.__class__.__name__, str(exc)[:300])
        return JSONResponse({"error": "the host failed to answer this request; try again later"}, status_code=500)

    return Starlette(routes=[Route("/v1/allocations/{allocation}/{action}", action, methods=["POST"]),
                             Route("/v1/health", health, methods=["GET"])],
                     exception_handlers={HTTPException: http_error, 500: unexpected},
                     middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                                            allow_headers=["content-type"], max_age=600)])


def _allocation_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 20 and int(text) < UINT64):
        raise ApiError(400, "the allocation id is a whole number from 0 to 2^64-1")
    return int(text)


async def _body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY (a declared or streamed larger one is refused)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(413, f"the request is larger than {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, f"the request is larger than {MAX_BODY} bytes")
    return body


async def _threaded(fn, *args):
    """Blocking work (chain reads, Docker) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


class TenantApiServer:
    """uvicorn in a thread of the orchestrator; TLS unless it listens on loopback only."""

    def __init__(self, address: str, backend: TenantBackend, certfile: str | None = None, keyfile: str | None = None,
                 max_connections: int = 256, source_rate_per_s: float = 20.0, source_burst: int = 60):
        host, _, port = address.rpartition(":")
        config = uvicorn.Config(create_app(backend, source_rate_per_s, source_burst), host=host or "127.0.0.1", port=int(port), log_level="warning",
                                access_log=False, log_config=None, limit_concurrency=max_connections, timeout_keep_alive=15,
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
