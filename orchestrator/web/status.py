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

from ..ops.recommender import THROTTLED_SHARE
from ..units import allocation_name, plural, tokens

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
        self.autoscale = Counter("tenantchain_autoscale_steps", "Automatic resizes (and refusals)", ["action"],
                                 registry=r)
        self.restarts = Gauge("tenantchain_allocation_restarts_last_hour", "Deaths of the allocation's process "
                              "in the last hour (Docker restarts it, backing off)", ["allocation"], registry=r)
        self.oom_kills = Gauge("tenantchain_allocation_oom_kills_last_hour", "OOM kills in the allocation in the "
                               "last hour", ["allocation"], registry=r)
        self.crash_looping = Gauge("tenantchain_allocation_crash_looping", "1 if it died 3 times in 5 minutes",
                                   ["allocation"], registry=r)
        self.throttled = Gauge("tenantchain_allocation_cpu_throttled_ratio", "Share of the allocation's CFS periods "
                               "in which the kernel throttled it (cpu.stat nr_throttled / nr_periods), over the "
                               "last half period", ["allocation"], registry=r)
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
            f"{plural(operator['pending_transactions'], 'transaction')} pending{warning}")


LOW_FUNDS_S = 24 * 3600  # a tenant whose escrow runs out within a day is highlighted
def _cores(millis: int) -> str:
    """`0.25 cores`, `1 core`, `2.5 cores` (to the hundredth)."""
    text = f"{millis / 1000:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {'core' if text == '1' else 'cores'}"


UNITS = {"cpu_millis": ("CPU", _cores),
         "memory_mib": ("Memory", lambda v: f"{v / 1024:,.1f} GiB" if v >= 1024 else f"{v:,} MiB"),
         "storage_gib": ("Storage", lambda v: f"{v:,} GiB"), "pids": ("PIDs", lambda v: f"{v:,}")}


def _amount(units: int | None, token: dict) -> str:
    """Token units in whole tokens with the token's symbol: 99,999.9999 TUSD."""
    return tokens(units, token.get("decimals", 0), token.get("symbol", "units"))


def _duration(seconds: float | None) -> str:
    """3 d 4 h, 5 h 12 min, 40 min, 12 s."""
    if seconds is None:
        return "no charge running"
    seconds = int(seconds)
    if seconds >= 3650 * 86400:
        return "over 10 years"
    for size, unit, smaller, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} {seconds % size // smaller} {small_unit}"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def _allocation_id(allocation: int) -> str:
    """Ids are host << 32 | n: shown as host/n (the full id in the tooltip), as the CLI and the portal."""
    return f"<span title='{allocation}'>{allocation_name(allocation)}</span>"


def _bar(used: int, capacity: int) -> str:
    share = min(100.0, 100.0 * used / capacity) if capacity else 0.0
    return (f"<span class='bar'><span class='fill{' full' if share >= 90 else ''}' style='width:{share:.0f}%'>"
            f"</span></span> {share:.0f}%")


def _overcommit(over: list[str]) -> str:
    """The host promises more than its machine has (an operator's deliberate --allow-overcommit)."""
    if not over:
        return ""
    return ("<p id='overcommit' class='low'><strong>OVERCOMMITTED:</strong> "
            + html.escape("; ".join(over)) + " — reservations are not guaranteed</p>")


def _page(status: dict) -> str:
    """Plain server-rendered HTML in human units; a small script refreshes it. Allocations are grouped by
    tenant; low funds and crash-looping containers are highlighted."""
    e = html.escape
    host = status["host"]
    token = status.get("token") or {}
    period = status["period_seconds"]
    capacity = "".join(
        f"<tr><th>{label}</th><td>{_bar(host['used'].get(r, 0), host['capacity'].get(r, 0))}</td>"
        f"<td>{fmt(host['used'].get(r, 0))} of {fmt(host['capacity'].get(r, 0))}</td></tr>"
        for r, (label, fmt) in UNITS.items())
    tenants = {t["address"]: t for t in status["tenants"]}
    groups: dict[str, list] = {}
    for a in status["allocations"]:
        groups.setdefault(a["tenant"], []).append(a)
    rows = []
    for tenant, allocations in groups.items():
        t = tenants.get(tenant)
        left = t and not t["suspended"] and t["seconds_left"] is not None and t["seconds_left"] < LOW_FUNDS_S
        funds = ("" if t is None else f" — {_amount(t['balance'], token)}, "
                 + ("SUSPENDED" if t["suspended"] else f"{_duration(t['seconds_left'])} left"))
        rows.append(f"<tr class='group{' low' if left or (t and t['suspended']) else ''}'><td colspan='11'>"
                    f"tenant {e(tenant)}{e(funds)}</td></tr>")
        for a in allocations:
            ceiling = a["cpu_millis"] * period
            share = 100.0 * a["cpu_ms_last_period"] / ceiling if ceiling else 0.0
            rows.append(
                f"<tr><td>{_allocation_id(a['id'])}</td><td class='{e(a['state'])}'>{e(a['state'])}{e(_care(a))}</td>"
                f"<td>{UNITS['cpu_millis'][1](a['cpu_millis'])}</td><td>{UNITS['memory_mib'][1](a['memory_mib'])}</td>"
                f"<td>{a['storage_gib']} GiB</td><td>{a['pids']:,}</td><td>{share:.0f}% of its CPU</td>"
                f"{_throttled(a.get('cpu_throttled_ratio'))}"
                f"<td>{_spark([u['cpu_ms'] for u in a['usage']], ceiling)}</td>"
                f"<td>{'on' if a.get('egress') else 'off'}</td><td>{_endpoints(a.get('endpoints', []))}</td></tr>")
    tenant_rows = "".join(
        f"<tr class='{'low' if t['suspended'] or (t['seconds_left'] is not None and t['seconds_left'] < LOW_FUNDS_S) else ''}'>"
        f"<td>{e(t['address'])}</td><td>{e(_amount(t['balance'], token))}</td>"
        f"<td>{e(_amount(t['rate_per_second'] * 3600, token))} per hour</td>"
        f"<td>{'suspended' if t['suspended'] else e(_duration(t['seconds_left']))}</td></tr>" for t in status["tenants"])
    events = "".join(f"<li>block {ev['block']}: {e(ev['name'])}</li>" for ev in status["events"][:20])
    actions = "".join(f"<li>{e(time.strftime('%H:%M:%S', time.localtime(a['at'])))} "
                      f"{_allocation_id(a['allocation']) if a['allocation'] else ''} {e(a['action'])} {e(a['detail'])}</li>"
                      for a in status["actions"][:20])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>TenantChain host {host['id']}</title>
<style>body{{font:14px sans-serif;margin:1.5em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:2px 6px;text-align:right}}.paused{{color:#a60}}.closed{{color:#888}}.running{{color:#070}}
.crash-looping{{color:#fff;background:#c00}}tr.group td{{text-align:left;background:#eef;font-weight:bold}}
tr.low td,.low{{background:#fdd}}.bar{{display:inline-block;width:120px;height:10px;background:#eee;
vertical-align:middle}}.fill{{display:block;height:10px;background:#36c}}.fill.full{{background:#c60}}</style></head>
<body><h1>TenantChain host {host['id']}</h1>
<table id="capacity">{capacity}</table>{_overcommit(host.get("overcommitted") or [])}<p id="operator">{_operator(status.get("operator") or {})}</p>
<p>watcher lag: <span id="lag">{status['watcher']['lag']}</span> blocks; checkpoint {status['watcher']['checkpoint']};
periods of {_duration(period)}</p>
<h2>Allocations ({len(status['allocations'])})</h2><table id="allocations"><tr><th>host/n</th><th>state</th>
<th>CPU</th><th>memory</th><th>storage</th><th>PIDs</th><th>last period</th><th>throttled</th><th>CPU per period</th>
<th>egress</th>
<th>endpoints</th></tr>
{"".join(rows)}</table>
<h2>Tenants</h2><table id="tenants"><tr><th>tenant</th><th>escrow</th><th>rate</th><th>time left</th></tr>
{tenant_rows}</table>
{_advice(status.get("advice"), token)}
<h2>Recent chain events</h2><ul>{events}</ul><h2>Reconcile actions</h2><ul>{actions}</ul>
<script>setTimeout(function(){{location.reload()}}, 5000)</script></body></html>"""


def _throttled(ratio: float | None) -> str:
    """The share of its CFS periods the kernel throttled it in (last half period); highlighted from the
    recommender's threshold, at which it is never stepped down."""
    if ratio is None:
        return "<td class='throttled'>-</td>"
    return (f"<td class='throttled{' low' if ratio >= THROTTLED_SHARE else ''}' title='of its CPU periods, "
            f"throttled by the kernel'>{100 * ratio:.0f}%</td>")


def _care(a: dict) -> str:
    """Deaths, OOM kills and health of the last hour, and automatic scaling, after the state."""
    notes = []
    if a.get("restarts_last_hour"):
        notes.append(f"{a['restarts_last_hour']} restarts/h, last exit {a['last_exit_code']}")
    if a.get("oom_kills_last_hour"):
        notes.append(f"{a['oom_kills_last_hour']} OOM kills/h")
    if a.get("health"):
        notes.append(a["health"])
    if a.get("autoscale"):
        p = a["autoscale"]
        notes.append(f"autoscaled {p['min_cpu_millis']}-{p['max_cpu_millis']} m")
    return f" ({'; '.join(notes)})" if notes else ""


def _advice(advice: dict | None, token: dict) -> str:
    """Idle reserved capacity and what it is worth; allocations that are short or oversized."""
    if not advice:
        return ""
    e, host = html.escape, advice["host"]
    rows = []
    for row in advice["allocations"]:
        a = row["advice"]
        wanted, used = a["recommended"], a["used"]
        if not (a["reasons"] or a["throttled"] or a["oom_kills"]) or used is None:
            continue
        note = "throttled" if a["throttled"] else ""
        if a.get("cpu_throttled_ratio"):
            note += f" ({100 * a['cpu_throttled_ratio']:.0f}% of periods)" if note else ""
        note += f"{', ' if note else ''}{a['oom_kills']} OOM kills" if a["oom_kills"] else ""
        rows.append(f"<tr class='{'low' if note else ''}'><td>{_allocation_id(row['id'])}</td>"
                    f"<td>{UNITS['cpu_millis'][1](row['cpu_millis'])} / {UNITS['memory_mib'][1](row['memory_mib'])}</td>"
                    f"<td>{used['cpu_millis']['p90']} m / {used['memory_mib']['peak']} MiB</td>"
                    f"<td>{UNITS['cpu_millis'][1](wanted['cpu_millis'])} / {UNITS['memory_mib'][1](wanted['memory_mib'])}</td>"
                    f"<td>{e(note or ', '.join(a['reasons']))}</td></tr>")
    idle = host["idle_reserved"]
    return (f"<h2>Advice</h2><p id='advice'>Reserved but idle (p90): {UNITS['cpu_millis'][1](idle['cpu_millis'])} and "
            f"{UNITS['memory_mib'][1](idle['memory_mib'])}, worth {e(_amount(host['idle_reserved_monthly'], token))} a month "
            f"if right-sized and rented again; free capacity would earn {e(_amount(host['free_monthly'], token))} a month; "
            f"{plural(len(host['short']), 'allocation')} short of CPU or memory.</p>"
            + (f"<table id='advice-rows'><tr><th>host/n</th><th>reserved</th><th>used (p90 CPU, peak memory)</th>"
               f"<th>recommended</th><th>why</th></tr>{''.join(rows)}</table>" if rows else ""))


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
                elif self.path == "/api/advice":
                    body, kind = json.dumps(snapshot_fn().get("advice") or {}).encode(), "application/json"
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
