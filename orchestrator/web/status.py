"""The operator's window: a status page, a JSON API behind it, and Prometheus `/metrics`.

Served from a thread of the orchestrator on a local address (`--status-addr`). Reads only: the
store (projection, journal, actions, reports, samples), Docker states and a cached view of the
chain (host and tenant escrows) that the service refreshes.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("tenantchain.status")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.allocations = Gauge("tenantchain_allocations", "Allocations on this host by state", ["state"], registry=r)
        self.actions = Counter("tenantchain_reconcile_actions", "Reconcile actions", ["action"], registry=r)
        self.errors = Counter("tenantchain_reconcile_errors", "Reconcile errors", registry=r)
        self.subscribed = Gauge("tenantchain_new_block_subscription",
                                "1 while new blocks are pushed over the websocket, else 0 (polling)", registry=r)
        self.lag = Gauge("tenantchain_watcher_lag_blocks", "Blocks between the chain head and the store", registry=r)
        self.reports = Counter("tenantchain_report_transactions", "Usage report transactions", ["status"], registry=r)
        self.reconcile = Gauge("tenantchain_reconcile_pass_seconds", "Duration of the last reconcile pass",
                               ["kind"], registry=r)
        self.passes = Counter("tenantchain_reconcile_passes", "Reconcile passes", ["kind"], registry=r)
        self.swept = Gauge("tenantchain_meter_sweep_containers", "Containers sampled by the last metering sweep",
                           registry=r)
        self.sweep = Gauge("tenantchain_meter_sweep_seconds", "Duration of the last metering sweep", registry=r)
        self.capacity = Gauge("tenantchain_host_capacity", "Host capacity", ["resource"], registry=r)
        self.used = Gauge("tenantchain_host_used", "Host capacity in use", ["resource"], registry=r)
        self.egress = Gauge("tenantchain_allocation_egress", "1 if the allocation may reach the public internet",
                            ["allocation"], registry=r)
        self.endpoint = Gauge("tenantchain_allocation_endpoint",
                              "Published ports: 1 while the proxy serves it, 0 while assigned but closed",
                              ["allocation", "container_port", "host_port"], registry=r)
        self.operator_balance = Gauge("tenantchain_operator_balance_wei", "The operator's ETH balance (pays for gas)",
                                      registry=r)
        self.proxy_up = Gauge("tenantchain_ingress_proxy_up", "1 while the ingress proxy runs (absent: no ingress)",
                              registry=r)


RESOURCES = ("cpu_millis", "memory_mib", "storage_gib", "pids")


def _spark(points: list[int], top: int) -> str:
    """A tiny inline SVG line chart (CPU per period against the allocation's ceiling)."""
    if len(points) < 2 or top <= 0:
        return ""
    step = 100 / (len(points) - 1)
    coords = " ".join(f"{i * step:.1f},{20 - 18 * min(v, top) / top:.1f}" for i, v in enumerate(points))
    return (f"<svg width='100' height='20' viewBox='0 0 100 20' class='spark'><polyline fill='none' stroke='#36c' "
            f"stroke-width='1.5' points='{coords}'/></svg>")


def _endpoints(endpoints: list[dict]) -> str:
    """`8080 -> host:30001 (open)` per published port."""
    return "<br>".join(html.escape(f"{e['container_port']} -> {e['endpoint'] or '-'} ({e['state']})") for e in endpoints)


def _operator(operator: dict) -> str:
    if "balance_wei" not in operator:
        return ""
    warning = " <strong class='low'>LOW: fund it, or reports and settlements stop</strong>" if operator["low"] else ""
    return (f"operator {html.escape(operator['address'])}: {operator['balance_wei'] / 1e18:.4f} ETH for gas, "
            f"{operator['pending_transactions']} transactions pending{warning}")


def _page(status: dict) -> str:
    """Plain server-rendered HTML; a small script refreshes it."""
    e = html.escape
    host = status["host"]
    rows = "".join(
        f"<tr><td>{a['id']}</td><td>{e(a['tenant'])}</td><td class='{e(a['state'])}'>{e(a['state'])}</td>"
        f"<td>{a['cpu_millis']}</td><td>{a['memory_mib']}</td><td>{a['storage_gib']}</td><td>{a['pids']}</td>"
        f"<td>{a['cpu_ms_last_period']}</td>"
        f"<td>{_spark([u['cpu_ms'] for u in a['usage']], a['cpu_millis'] * status['period_seconds'])}</td>"
        f"<td>{'on' if a.get('egress') else 'off'}</td><td>{_endpoints(a.get('endpoints', []))}</td></tr>"
        for a in status["allocations"])
    tenants = "".join(
        f"<tr><td>{e(t['address'])}</td><td>{t['balance']}</td><td>{t['rate_per_second']}</td>"
        f"<td>{'suspended' if t['suspended'] else e(str(t['seconds_left']))}</td></tr>" for t in status["tenants"])
    events = "".join(f"<li>block {ev['block']}: {e(ev['name'])}</li>" for ev in status["events"][:20])
    actions = "".join(f"<li>{e(time.strftime('%H:%M:%S', time.localtime(a['at'])))} "
                      f"{a['allocation'] or ''} {e(a['action'])} {e(a['detail'])}</li>" for a in status["actions"][:20])
    cap = " ".join(f"{r}: {host['used'].get(r, 0)}/{host['capacity'].get(r, 0)}" for r in RESOURCES)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>TenantChain host {host['id']}</title>
<style>body{{font:14px sans-serif;margin:1.5em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:2px 6px;text-align:right}}.paused{{color:#a60}}.closed{{color:#888}}.running{{color:#070}}</style></head>
<body><h1>TenantChain host {host['id']}</h1>
<p id="capacity">{e(cap)}</p><p id="operator">{_operator(status.get("operator") or {})}</p><p>watcher lag: <span id="lag">{status['watcher']['lag']}</span> blocks;
checkpoint {status['watcher']['checkpoint']}</p>
<h2>Allocations ({len(status['allocations'])})</h2><table id="allocations"><tr><th>id</th><th>tenant</th>
<th>state</th><th>cpu m</th><th>mem MiB</th><th>storage GiB</th><th>pids</th><th>CPU ms, last period</th>
<th>CPU per period</th><th>egress</th><th>endpoints</th></tr>
{rows}</table>
<h2>Tenants</h2><table id="tenants"><tr><th>tenant</th><th>balance</th><th>per second</th><th>time left (s)</th></tr>
{tenants}</table>
<h2>Recent chain events</h2><ul>{events}</ul><h2>Reconcile actions</h2><ul>{actions}</ul>
<script>setTimeout(function(){{location.reload()}}, 5000)</script></body></html>"""


class StatusServer:
    def __init__(self, address: str, snapshot: Callable[[], dict], metrics: Metrics):
        host, _, port = address.rpartition(":")
        snapshot_fn, registry = snapshot, metrics.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path == "/metrics":
                    body, kind = generate_latest(registry), CONTENT_TYPE_LATEST
                elif self.path == "/api/status":
                    body, kind = json.dumps(snapshot_fn()).encode(), "application/json"
                elif self.path.startswith("/api/allocations/"):
                    wanted = self.path.rsplit("/", 1)[1]
                    found = [a for a in snapshot_fn()["allocations"] if str(a["id"]) == wanted]
                    if not found:
                        self.send_error(404, "no such allocation on this host")
                        return
                    body, kind = json.dumps(found[0]).encode(), "application/json"
                elif self.path in ("/", "/index.html"):
                    body, kind = _page(snapshot_fn()).encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet: the orchestrator logs what matters
                pass

        self.server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        self.url = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "StatusServer":
        self.thread.start()
        log.info("status page at %s", self.url)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
