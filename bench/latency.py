"""Event -> enforced latency: from the block that admits an allocation to the container running
with the admitted limits, and resize -> limits applied; against Docker doing the same directly.

    .venv/bin/python -m bench.latency [--allocations 50] [--write]

Both sides are timed the same way: from just before the work is asked for (the transaction is sent;
anvil mines it at once / the SDK call is made) to the timestamp dockerd puts on the container's
`start` (or `update`) event, read from its event stream, so that no polling loads the daemon.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
from docker.types import Mount
from web3.logs import DISCARD

from bench.fixtures import BenchChain, OrchestratorProcess, send
from bench.report import publish
from orchestrator.chain.pricing import request_bounds
from orchestrator.dev.devchain import Anvil
from orchestrator.host.docker_driver import DockerDriver, Limits
from orchestrator.spec import WorkloadSpec, encrypt_spec

IMAGE = "tenantchain/busybox:local"
SPEC = WorkloadSpec(image=IMAGE, command=("sleep", "3600"))
RESOURCES = (100, 32, 1, 16)


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


class DockerEvents:
    """dockerd's container events with its own timestamps, by (container name, action), in a thread."""

    def __init__(self, client: docker.DockerClient, labels: dict[str, str]):
        self._stream = client.events(decode=True, since=int(time.time()) - 1, filters={
            "type": "container", "label": [f"{k}={v}" for k, v in labels.items()]})
        self._seen: dict[tuple[str, str], list[float]] = {}
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                key = (event["Actor"]["Attributes"].get("name", ""), event.get("Action", ""))
                with self._changed:
                    self._seen.setdefault(key, []).append(event["timeNano"] / 1e9)
                    self._changed.notify_all()
        except (OSError, ValueError, docker.errors.DockerException):
            return  # closed

    def wait(self, name: str, action: str, after: float, timeout: float = 60.0) -> float:
        """The time of the first ``action`` event of ``name`` at or after ``after`` (time.time())."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                times = [t for t in self._seen.get((name, action), []) if t >= after]
                if times:
                    return times[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {action} event for {name}")
                self._changed.wait(left)

    def close(self) -> None:
        self._stream.close()


def run(allocations: int) -> dict:
    run_id = uuid.uuid4().hex[:6]
    labels = {"tenantchain.bench": run_id}
    client = docker.from_env(timeout=120)
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        tmp = Path(tmp)
        bench = BenchChain.create(anvil.url, tmp)
        chain, f = bench.chain, bench.chain.tenantchain.functions
        (tenant,) = bench.tenants(1)
        enforce, resize = [], []
        events = DockerEvents(client, labels)
        # As operators run it: its own process, the default 1 s poll, new blocks pushed over the websocket.
        with OrchestratorProcess(bench, tmp, run_id, "tclat", "--reconcile-interval", "60",
                                 "--meter-interval", "3600", "--settle-interval", "3600") as orchestrator:
            for _ in range(allocations):
                ciphertext, digest = encrypt_spec(SPEC, bench.host_key.public_key.format(True))
                max_rate, max_metered = request_bounds(chain, 1, RESOURCES)
                t0, receipt = send(chain, f.requestAllocation(1, RESOURCES, max_rate, max_metered, digest, ciphertext),
                                   tenant)
                allocation = chain.tenantchain.events.AllocationRequested().process_receipt(receipt, errors=DISCARD)[0].args.allocationId
                name = orchestrator.container_name(allocation)
                enforce.append(events.wait(name, "start", t0) - t0)
                quote = f.rateOf(1, (200, 48, 1, 16)).call()  # no surcharge on the bench's host: the resize's rate
                t0, _ = send(chain, f.resizeAllocation(allocation, (200, 48, 1, 16), quote), tenant)
                resize.append(events.wait(name, "update", t0) - t0)
                assert client.api.inspect_container(name)["HostConfig"]["Memory"] == 48 * 2**20

        # Baselines, same run: Docker directly, same limits and hardening, same image.
        direct, direct_volume, direct_update = [], [], []
        baseline = DockerDriver(None, scope={"bench": f"base{run_id}"}, data_dir=tmp / "b",
                                extra_labels=labels, name_prefix=f"tcbase{run_id}")
        network, _ = baseline.ensure_network(tenant.address)
        try:
            hardening = dict(detach=True, labels=labels, user="65534:65534", network=network.name,
                             nano_cpus=10**8, mem_limit=32 * 2**20, memswap_limit=32 * 2**20, pids_limit=16,
                             cap_drop=["ALL"], read_only=True, security_opt=["no-new-privileges:true"])
            for i in range(allocations):
                # The same limits and hardening, no volume.
                name = f"tcbase{run_id}-{i}"
                t0 = time.time()
                c = client.containers.run(IMAGE, ["sleep", "3600"], name=name, **hardening)
                direct.append(events.wait(name, "start", t0) - t0)
                t0 = time.time()
                baseline.update_limits(c.id, Limits(200, 48, 16, 1))
                direct_update.append(events.wait(name, "update", t0) - t0)
                c.remove(force=True)
                # The very container the orchestrator makes: also a sized ext4 volume on /data (Docker
                # has no sized volume here: an image file, mkfs and a loop device, as the driver does),
                # a tmpfs /tmp and a restart policy.
                name = f"tcbasev{run_id}-{i}"
                t0 = time.time()
                volume = baseline.ensure_volume(10_000 + i, 1)
                c = client.containers.run(
                    IMAGE, ["sleep", "3600"], name=name, tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=64m"},
                    mounts=[Mount(target="/data", source=volume.name, type="volume")],
                    restart_policy={"Name": "unless-stopped"}, **hardening)
                direct_volume.append(events.wait(name, "start", t0) - t0)
                c.remove(force=True)
        finally:
            events.close()
            for allocation in baseline.volume_allocations():
                baseline.remove_volume(allocation)
            baseline.remove_network(network)
    client.close()
    e, d, dv, r, u = (_percentiles(x) for x in (enforce, direct, direct_volume, resize, direct_update))
    return {"allocations": allocations, "enforce": e, "direct_create": d, "direct_create_with_volume": dv,
            "resize": r, "direct_update": u,
            "ratio_enforce_p50": e["p50"] / d["p50"], "ratio_enforce_vs_volume_p50": e["p50"] / dv["p50"],
            "ratio_resize_p50": r["p50"] / u["p50"]}


def table(r: dict) -> str:
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    return "\n".join([
        f"| over {r['allocations']} allocations | p50 | p95 | p50 ratio |", "|---|---:|---:|---:|",
        f"| request admitted -> container running with its limits | {ms(r['enforce']['p50'])} | {ms(r['enforce']['p95'])} | |",
        f"| baseline: docker run, same limits, no volume | {ms(r['direct_create']['p50'])} | "
        f"{ms(r['direct_create']['p95'])} | "
        f"{r['ratio_enforce_p50']:.2f} |",
        f"| baseline: the same container through the docker SDK (+ sized ext4 volume, tmpfs) | "
        f"{ms(r['direct_create_with_volume']['p50'])} | "
        f"{ms(r['direct_create_with_volume']['p95'])} | {r['ratio_enforce_vs_volume_p50']:.2f} |",
        f"| resize admitted -> new limits applied | {ms(r['resize']['p50'])} | {ms(r['resize']['p95'])} | |",
        f"| baseline: docker update | {ms(r['direct_update']['p50'])} | {ms(r['direct_update']['p95'])} | "
        f"{r['ratio_resize_p50']:.2f} |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=50)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.allocations)
    print(table(result))
    if args.write:
        publish('latency', result, table(result), '; goal: p50 ratios <= 1.25')


if __name__ == "__main__":
    main()
