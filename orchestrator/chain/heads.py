"""New-block notifications pushed by the node (`eth_subscribe` to `newHeads` over a websocket), so
that the orchestrator reads a block's events as soon as it lands instead of at its next poll.

Optional and never trusted for content: a notification only wakes the loop, which then polls as
always (logs, confirmations, reorg checks). Without a websocket URL, or while the subscription is
down, the loop polls at its interval; the subscription reconnects with backoff.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

log = logging.getLogger("tenantchain.heads")


class HeadSubscription:
    def __init__(self, url: str, on_head: Callable[[], None], stop: threading.Event,
                 max_backoff_s: float = 30.0):
        self.url = url
        self.on_head = on_head
        self.stop = stop
        self.max_backoff_s = max_backoff_s
        self.connected = threading.Event()  # set while subscribed
        self.heads = 0  # notifications received
        self._thread = threading.Thread(target=self._run, name="head-subscription", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        failing = False
        while not self.stop.is_set():
            try:
                self._subscribe_and_listen()
                backoff = 0.5
            except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
                self.connected.clear()
                if not failing:  # once per outage, not once per retry
                    log.warning("new-block subscription at %s failed (%s: %s); polling until it is back",
                                self.url, exc.__class__.__name__, str(exc)[:200])
                failing = True
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            failing = False

    def _subscribe_and_listen(self) -> None:
        with connect(self.url, open_timeout=5, close_timeout=1, max_size=2**22) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            reply = json.loads(ws.recv(timeout=5))
            if "error" in reply or "result" not in reply:
                raise ValueError(f"eth_subscribe refused: {str(reply.get('error'))[:200]}")
            self.connected.set()
            log.info("subscribed to new blocks at %s", self.url)
            while not self.stop.is_set():
                try:
                    message = ws.recv(timeout=1.0)
                except TimeoutError:
                    continue  # only to look at the stop flag
                if json.loads(message).get("method") == "eth_subscription":
                    self.heads += 1
                    self.on_head()
