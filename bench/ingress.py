"""Ingress: a published port through HAProxy against the container's own address, same load tool (wrk),
same server, side by side; a proxy reload with hundreds of published allocations; reloads under load.

    .venv/bin/python -m bench.ingress [--seconds 5] [--rounds 3] [--routes 400] [--write]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.report import publish
from orchestrator.host.docker_driver import DockerDriver, Limits
from orchestrator.host.proxy import IngressProxy, Route, port_free
from orchestrator.spec import WorkloadSpec

IMAGE = "tenantchain/busybox:local"
SERVER = WorkloadSpec(image=IMAGE, command=("httpd", "-f", "-p", "8080", "-h", "/www"))
TENANT = "0x" + "be" * 20


def _free_block(n: int, start: int = 20000) -> range:
    for first in range(start, 65000 - n, 211):
        block = range(first, first + n)
        if all(port_free("127.0.0.1", p) for p in block):
            return block
    raise RuntimeError(f"no {n} consecutive free ports")


def wrk(url: str, seconds: float, connections: int) -> dict:
    """One wrk run: requests/s, p50 and p99 latency (ms), errors (connect/read/write/timeout + non-2xx)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url],
                         check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def latency(pct: str) -> float:
        value, suffix = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * unit[suffix]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50_ms": latency("50"),
            "p99_ms": latency("99"), "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
            "requests": int(re.search(r"(\d+) requests in", out).group(1))}


def run(seconds: int = 5, rounds: int = 3, routes: int = 400, connections: int = 8, reloads: int = 10) -> dict:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (make setup installs Debian's wrk)")
    run_id = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="tc-bench-ingress-"))
    driver = DockerDriver(None, scope={"bench": f"ingress{run_id}"}, data_dir=tmp, name_prefix=f"tcbi{run_id}",
                          extra_labels={"tenantchain.bench": run_id})
    proxy = IngressProxy(tmp / "ingress", bind_address="127.0.0.1", maxconn_per_allocation=10_000)
    try:
        network, _ = driver.ensure_network(TENANT)
        container = driver.create_container(1, TENANT, SERVER, Limits(1000, 64, 64, 1), [network])
        address = driver.client.api.inspect_container(container.id)["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        port = _free_block(1)[0]
        proxy.apply([Route(1, port, address, 8080)])
        direct_url, proxied_url = f"http://{address}:8080/", f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-sf", "-o", "/dev/null", proxied_url]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the proxied server never answered")
            time.sleep(0.1)

        # Side by side, alternating, so that the machine's noise falls on both alike.
        direct, proxied = [], []
        for _ in range(rounds):
            direct.append(wrk(direct_url, seconds, connections))
            proxied.append(wrk(proxied_url, seconds, connections))

        # Reloads under load: wrk through the proxy while its configuration changes `reloads` times.
        extra = _free_block(reloads, start=port + 1)
        under_load: dict = {}
        loader = threading.Thread(target=lambda: under_load.update(wrk(proxied_url, max(seconds, round(reloads * 0.5) + 1),
                                                                       connections)))
        loader.start()
        time.sleep(0.3)
        for i in range(reloads):
            proxy.apply([Route(1, port, address, 8080)] + [Route(2 + j, extra[j], address, 8080) for j in range(i + 1)])
            time.sleep(0.4)
        loader.join()

        # A reload with `routes` published allocations (the servers need not run: HAProxy doesn't probe them).
        block = _free_block(routes + 1, start=extra[-1] + 1)
        many = [Route(1, port, address, 8080)] + [Route(10 + i, block[i], address, 8080) for i in range(routes)]
        proxy.apply(many)
        reload_s = []
        for i in range(5):
            changed = many[:-1] if i % 2 == 0 else many
            t0 = time.perf_counter()
            assert proxy.apply(changed) == "reloaded"
            reload_s.append(time.perf_counter() - t0)
    finally:
        proxy.stop()
        driver.remove_all()
        shutil.rmtree(tmp, ignore_errors=True)

    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    result = {
        "seconds": seconds, "rounds": rounds, "connections": connections,
        "direct": {"rps": median(direct, "rps"), "p50_ms": median(direct, "p50_ms"), "p99_ms": median(direct, "p99_ms")},
        "proxied": {"rps": median(proxied, "rps"), "p50_ms": median(proxied, "p50_ms"), "p99_ms": median(proxied, "p99_ms")},
        "errors": sum(r["errors"] for r in direct + proxied),
        "under_reloads": {"reloads": reloads, "requests": under_load["requests"], "errors": under_load["errors"]},
        "routes": routes, "reload_s": statistics.median(reload_s), "reload_s_max": max(reload_s),
    }
    result["p50_ratio"] = result["proxied"]["p50_ms"] / result["direct"]["p50_ms"]
    result["throughput_ratio"] = result["proxied"]["rps"] / result["direct"]["rps"]
    return result


def table(r: dict) -> str:
    d, p = r["direct"], r["proxied"]
    return "\n".join([
        f"| path (wrk, {r['connections']} connections, {r['seconds']} s x {r['rounds']}, medians) | requests/s | p50 | p99 |",
        "|---|---:|---:|---:|",
        f"| baseline: the container's own address | {d['rps']:,.0f} | {d['p50_ms']:.2f} ms | {d['p99_ms']:.2f} ms |",
        f"| published port through HAProxy | {p['rps']:,.0f} | {p['p50_ms']:.2f} ms | {p['p99_ms']:.2f} ms |",
        "",
        f"Through the proxy: p50 latency {r['p50_ratio']:.2f}x, throughput {r['throughput_ratio']:.2f}x of direct "
        f"(goals: <= 1.15x, >= 0.85x). {r['under_reloads']['reloads']} reloads under load: "
        f"{r['under_reloads']['errors']} failed of {r['under_reloads']['requests']:,} requests. "
        f"A reload with {r['routes']} published allocations: {r['reload_s'] * 1000:.0f} ms median, "
        f"{r['reload_s_max'] * 1000:.0f} ms at most (goal: under 1 s).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--routes", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8, help="wrk's concurrent connections")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.seconds, args.rounds, args.routes, args.connections)
    print(table(result))
    if args.write:
        publish("ingress", result, table(result))


if __name__ == "__main__":
    main()
