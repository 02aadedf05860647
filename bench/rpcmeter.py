"""A JSON-RPC proxy on loopback that counts what a client receives from the node: bytes per method,
and every log that an `eth_getLogs` answer carries (its topics kept, to say whose it was).

    with RpcMeter(anvil.url) as meter:
        Watcher(Web3(Web3.HTTPProvider(meter.url)), ...).poll()
        meter.bytes_received, meter.logs, meter.node_s

It forwards each request to the node unchanged and the node's answer back unchanged; it measures the
real traffic of a real client (the benchmarks' RPC bytes, the tests' logs received), not a model of it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class RpcMeter:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.bytes_received = 0  # answer bodies, as the client reads them
        self.bytes_by_method: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.logs: list[dict] = []  # every log of every eth_getLogs answer
        self.node_s = 0.0  # time spent waiting for the node's answers (the client's wait, less the proxy's own)
        self._lock = threading.Lock()
        self._session = requests.Session()
        meter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as web3's session uses it

            def do_POST(self) -> None:  # noqa: N802 (the http.server name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = meter._forward(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-meter", daemon=True)

    def _forward(self, body: bytes) -> bytes:
        started = time.perf_counter()
        answer = self._session.post(self.upstream, data=body, headers={"Content-Type": "application/json"},
                                    timeout=300).content
        waited = time.perf_counter() - started
        request, reply = json.loads(body), json.loads(answer)
        pairs = zip(request, reply) if isinstance(request, list) else [(request, reply)]
        with self._lock:
            self.bytes_received += len(answer)
            self.node_s += waited
            self.bytes_by_method["batch" if isinstance(request, list) else request.get("method", "?")] += len(answer)
            for ask, got in pairs:
                method = ask.get("method", "?")
                self.calls[method] += 1
                if method == "eth_getLogs" and isinstance(got.get("result"), list):
                    self.logs.extend(got["result"])
        return answer

    def reset(self) -> None:
        with self._lock:
            self.bytes_received = 0
            self.node_s = 0.0
            self.bytes_by_method.clear()
            self.calls.clear()
            self.logs.clear()

    def __enter__(self) -> "RpcMeter":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._session.close()
