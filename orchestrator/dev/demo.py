"""`make demo`: the whole product on this machine, from nothing, until Ctrl-C.

Starts anvil (on 8545, the CLI's default, when it is free), deploys with `ape run deploy`, registers a
host for the local Docker daemon, runs its orchestrator (with the status page), gives two funded
tenants small web workloads, then shows the limits applied, the isolation between tenants (bounded
probes between the demo's own containers), a bill, and where the status page is. It writes an env file
(`<run dir>/env`: the chain, the deployment, the contracts, the demo's keys, `tenantchain` and `cast` on
PATH) and prints the one line that loads it. Ctrl-C (SIGINT) or SIGTERM stops everything it started and
removes its containers, networks and volumes.

Once the orchestrator runs, nothing here sends from the operator's account: the orchestrator is its
only sender (its transaction manager owns the nonces). What the host needs before it runs (its
registration, its tenant API's address) is sent first; the demo's settlement comes from a tenant.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import requests
import uvicorn
from eth_account import Account
from web3.logs import DISCARD

from ..billing.bill import build_bill
from ..chain.build import PROJECT_ROOT
from ..chain.bonds import approve_bond, bond_shortfall
from ..chain.client import Chain, Deployment
from ..chain.pricing import request_bounds
from ..chain.wallet import new_host_key
from ..errors import ChainError, ConfigError
from ..host.machine import this_machine
from ..network_plane import NetworkPolicy
from ..service import Orchestrator, ServiceConfig
from ..spec import WorkloadSpec, encrypt_spec
from ..units import allocation_name, plural, tokens
from ..web.portal import build_site, create_app
from .devchain import DEV_KEYS, Anvil, free_port, tool_path

IMAGE = "tenantchain/busybox:local"
WEB = WorkloadSpec(image=IMAGE, command=("httpd", "-f", "-p", "8080", "-h", "/www"), expose=(8080,))
INGRESS_PORTS = range(38080, 38180)  # published ports of the demo, on 127.0.0.1
RESOURCES = (250, 64, 1, 64)  # a quarter core, 64 MiB, 1 GiB volume, 64 pids
CHAIN_PORT = 8545  # the CLI's default --rpc-url, and a port a browser wallet stays pointed at
# The development keys' roles: the deployer (admin, arbiter), the host's operator, tenants A and B, and
# one the demo never uses (a faucet for wallets of your own: gas and test tokens).
ROLES = {"ADMIN_KEY": 0, "OPERATOR_KEY": 1, "TENANT_A_KEY": 2, "TENANT_B_KEY": 3, "FAUCET_KEY": 4}


def deploy(rpc_url: str, record_path: Path, **env: str) -> dict:
    """Run the operator's deploy script against ``rpc_url``; returns the deployment record."""
    full_env = {
        **os.environ, **env,
        "TENANTCHAIN_RPC_URL": rpc_url,
        "TENANTCHAIN_DEPLOYMENT": str(record_path),
        "SOLCX_BINARY_PATH": str(PROJECT_ROOT / ".solc"),
        "APE_DATA_FOLDER": str(PROJECT_ROOT / ".ape"),
    }
    ape = PROJECT_ROOT / ".venv" / "bin" / "ape"
    if not ape.exists():
        raise ConfigError("ape is not installed; run `make setup`")
    result = subprocess.run([str(ape), "run", "deploy", "--network", "ethereum:anvil:node"],
                            cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ChainError(f"deployment failed: {tail[0]}")
    return json.loads(record_path.read_text())


def _probe(client, source: str, target_ip: str) -> bool:
    """One bounded HTTP request from one demo container to another."""
    ex = client.api.exec_create(source, ["timeout", "3", "wget", "-q", "-O", "/dev/null", f"http://{target_ip}:8080/"])
    client.api.exec_start(ex["Id"])
    return client.api.exec_inspect(ex["Id"])["ExitCode"] == 0


def _fetch(url: str) -> str | None:
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException:
        return None
    return response.text if response.ok else None


def _wait(condition, timeout: float, what: str, stop: threading.Event):
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ChainError(f"timed out waiting for {what}")
        stop.wait(0.25)
    raise KeyboardInterrupt


def run_demo(rpc_url: str | None, run_dir: Path, echo=print, status_port: int = 8787) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_id = uuid.uuid4().hex[:6]
    anvil = orchestrator = thread = portal = None
    try:
        if rpc_url is None:
            anvil = _start_anvil(run_dir / "anvil.log")
            rpc_url = anvil.url
            echo(f"demo {run_id}: anvil chain started at {rpc_url} (log: {run_dir / 'anvil.log'})"
                 + ("" if anvil.port == CHAIN_PORT else f"; port {CHAIN_PORT} was taken, so a wallet must be pointed here"))
        operator, *tenants = (Account.from_key(k) for k in DEV_KEYS[1:4])
        record_path = run_dir / "deployment.json"
        record_path.unlink(missing_ok=True)
        (run_dir / "env").unlink(missing_ok=True)  # a past run's chain is gone
        record = deploy(rpc_url, record_path, TENANTCHAIN_OPERATORS=operator.address, TENANTCHAIN_PERIOD_SECONDS="10",
                        TENANTCHAIN_REDEPLOY="1")
        echo(f"deployed with `ape run deploy`: TenantChain {record['contracts']['TenantChain']}, "
             f"token {record['token']}, chain {record['chain_id']}")
        chain = Chain(rpc_url, Deployment.load(record_path))
        env_path = _write_env(run_dir / "env", rpc_url, record_path, record)
        f = chain.tenantchain.functions

        key_path = run_dir / f"host-{run_id}.key"
        host_key = new_host_key(key_path)
        machine = this_machine(run_dir)  # what this machine has: the orchestrator refuses more
        capacity = (min(machine.cpu_millis, 16_000), min(4096, machine.memory_mib),
                    min(50, machine.disk_gib or 50), min(4096, machine.pids or 4096))
        bond = bond_shortfall(chain, capacity, (10**6, 10**5, 10**6, 10**3), (10**9, 10**8))
        chain.transact(chain.token.functions.mint(operator.address, bond), operator)
        approve_bond(chain, operator, bond)
        chain.transact(f.registerHost(capacity, (10**6, 10**5, 10**6, 10**3), (10**9, 10**8),
                                      host_key.public_key.format(True)), operator)
        host_id = f.hostCount().call()
        echo(f"host {host_id} registered for the local Docker daemon (capacity {capacity})")

        port = status_port if _free(status_port) else free_port()
        # The tenant API's address is published before the orchestrator starts: afterwards the operator's
        # account is the orchestrator's alone (a transaction sent beside it takes a nonce it counts on).
        api_url = f"http://127.0.0.1:{free_port()}"
        chain.transact(f.setHostApi(host_id, api_url, b"\0" * 32), operator)
        config = ServiceConfig(
            rpc_url=rpc_url, deployment_path=record_path, host_id=host_id, operator=operator, host_key=host_key,
            data_dir=run_dir / f"orchestrator-{run_id}", poll_interval_s=0.5, reconcile_interval_s=5,
            meter_interval_s=1, settle_interval_s=15, volume_retention_s=0, status_addr=f"127.0.0.1:{port}",
            extra_labels={"tenantchain.demo": run_id}, name_prefix=f"tcdemo{run_id}",
            ws_url=rpc_url.replace("http", "ws", 1),  # anvil serves websockets on the same port
            network=NetworkPolicy(ingress_ports=INGRESS_PORTS, bind_address="127.0.0.1", public_host="127.0.0.1"),
            api_addr=api_url.removeprefix("http://"), api_plain_http=True)  # the tenant API, for the CLI and the portal
        orchestrator = Orchestrator(config)
        thread = threading.Thread(target=orchestrator.run, daemon=True)
        thread.start()
        echo(f"orchestrator running; status page: {orchestrator.status.url}/  (metrics: /metrics, API: /api/status)")
        portal = _portal(record_path, rpc_url, run_dir / "portal", echo)

        allocations: dict[str, list[int]] = {}
        for name, tenant, count in (("A", tenants[0], 2), ("B", tenants[1], 1)):
            chain.transact(f.registerTenant(b"\x00" * 32, f"demo:{name}", RESOURCES), tenant)
            chain.transact(chain.token.functions.mint(tenant.address, 10**21), tenant)
            chain.transact(chain.token.functions.approve(chain.tenantchain.address, 10**21), tenant)
            chain.transact(f.deposit(tenant.address, 10**20), tenant)
            for _ in range(count):
                ciphertext, digest = encrypt_spec(WEB, host_key.public_key.format(True))
                max_rate, max_metered = request_bounds(chain, host_id, RESOURCES)  # the quote of the moment
                receipt = chain.transact(f.requestAllocation(host_id, RESOURCES, max_rate, max_metered, digest,
                                                             ciphertext), tenant)
                allocations.setdefault(name, []).append(
                    chain.tenantchain.events.AllocationRequested().process_receipt(receipt, errors=DISCARD)[0].args.allocationId)
            echo(f"tenant {name} ({tenant.address}) funded; allocations {', '.join(map(allocation_name, allocations[name]))} requested")

        driver = orchestrator.driver
        wanted = [a for ids in allocations.values() for a in ids]
        states = _wait(lambda: (s := driver.containers()) and all(a in s and s[a].status == "running" for a in wanted)
                       and s, 60, "the workloads to run", stop)
        client = driver.client
        for name, ids in allocations.items():
            for a in ids:
                host_cfg = client.api.inspect_container(states[a].id)["HostConfig"]
                echo(f"  {name} allocation {allocation_name(a)}: container {states[a].id[:12]} cpu {host_cfg['NanoCpus'] / 1e9:.2f} cores, "
                     f"memory {host_cfg['Memory'] // 2**20} MiB (swap {host_cfg['MemorySwap'] // 2**20 - host_cfg['Memory'] // 2**20} MiB), "
                     f"pids {host_cfg['PidsLimit']}, read-only root, caps dropped")

        def ip(a: int) -> str:
            networks = client.api.inspect_container(states[a].id)["NetworkSettings"]["Networks"]
            return next(iter(networks.values()))["IPAddress"]

        a1, a2, b1 = allocations["A"][0], allocations["A"][1], allocations["B"][0]
        _wait(lambda: _probe(client, states[a1].id, "127.0.0.1"), 20, "the web servers", stop)
        same = _probe(client, states[a1].id, ip(a2))
        cross = _probe(client, states[a1].id, ip(b1))
        echo(f"isolation: A -> A {'reachable' if same else 'UNREACHABLE'}; A -> B {'reachable (BAD)' if cross else 'blocked'}; "
             f"A -> this host: blocked by {len(orchestrator.network.firewall.rules()['iptables'])} kernel rules")
        endpoint = _wait(lambda: (v := orchestrator.network.view.get(a1)) and v.endpoints
                         and v.endpoints[0]["state"] == "open" and v.endpoints[0]["endpoint"], 30, "the endpoint", stop)
        page = _wait(lambda: _fetch(f"http://{endpoint}/"), 20, "the published port", stop)
        echo(f"ingress: A's web server published at http://{endpoint}/ through HAProxy ({len(page)} bytes); "
             f"tenantchain tenant endpoints {allocation_name(a1)} --private-key $TENANT_A_KEY")

        echo("waiting for the first usage report and settlement (periods of 10 s)...")
        _wait(lambda: any(s == "sent" for _, s, *_ in orchestrator.store.reports(5)), 90, "a usage report", stop)
        chain.transact(f.settle(a1), tenants[0])  # anyone may settle: the tenant, not the orchestrator's account
        bill = build_bill(chain, tenants[0].address)
        token = chain.token.functions
        meta = (chain.read(token.decimals().call), chain.read(token.symbol().call))
        periods = len({line.period for line in bill.lines})
        echo(f"bill of tenant A so far: reserved {tokens(bill.reserved_total, *meta)}, metered "
             f"{tokens(bill.metered_total, *meta)} over {plural(periods, 'period')} "
             f"(full table: tenantchain tenant bill --private-key $TENANT_A_KEY)")
        if portal is not None:
            echo(f"tenant portal: {portal[1]}  (a browser wallet on {rpc_url}, chain {record['chain_id']}, with tenant "
                 f"A's key {DEV_KEYS[2]}: a well-known development key, for local chains only)")
        echo(f"the demo's chain, contracts and keys, and tenantchain and cast on PATH, in a shell of yours: "
             f"source {shlex.quote(str(env_path))}")
        echo("ready. Press Ctrl-C to stop everything.")
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if portal is not None:
            portal[0].should_exit = True
        if orchestrator is not None:
            orchestrator.stop()
            if thread is not None:
                thread.join(timeout=30)
            orchestrator.teardown()
            orchestrator.close()
            echo("demo containers, networks and volumes removed.")
        if anvil:
            anvil.stop()
            (run_dir / "env").unlink(missing_ok=True)  # it named the chain just stopped
            echo("anvil stopped.")


def _portal(record_path: Path, rpc_url: str, site: Path, echo) -> tuple[uvicorn.Server, str] | None:
    """The tenant portal for the demo's deployment, served from a thread (None if its bundle isn't built)."""
    from ..cli.portal import portal_config  # the CLI assembles the page's config: ABIs, sentences

    try:
        build_site(site, portal_config(Deployment.load(record_path), rpc_url))
    except ConfigError as exc:
        echo(f"no tenant portal: {exc}")
        return None
    port = 8790 if _free(8790) else free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(site), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, name="portal", daemon=True).start()
    return server, f"http://127.0.0.1:{port}/"


def _start_anvil(log_path: Path) -> Anvil:
    """Anvil on CHAIN_PORT when it is free (the CLI's default URL; a wallet stays pointed at it across
    runs), else on a free port."""
    if _free(CHAIN_PORT):
        try:
            return Anvil(port=CHAIN_PORT, log_path=log_path).start()
        except ChainError:  # taken between the check and the start: any free port then
            pass
    return Anvil(log_path=log_path).start()


def _write_env(path: Path, rpc_url: str, record_path: Path, record: dict) -> Path:
    """A shell file of exports for the demo's chain (`source` it): the CLI's chain and deployment, cast's
    RPC (ETH_RPC_URL), the contracts, the demo's keys (well-known development keys: local chains only),
    and PATH with `tenantchain` and the pinned `cast`."""
    contracts = record["contracts"]
    values = {
        "TENANTCHAIN_RPC_URL": rpc_url,
        "TENANTCHAIN_DEPLOYMENT": str(record_path.resolve()),
        "ETH_RPC_URL": rpc_url,
        "TC": contracts["TenantChain"],
        "TOKEN": record["token"],
        **({"MARKET": contracts["TenantChainMarket"]} if "TenantChainMarket" in contracts else {}),
        **{name: DEV_KEYS[i] for name, i in ROLES.items()},
    }
    tools = [PROJECT_ROOT / ".venv" / "bin", tool_path("cast").parent]
    lines = [f"# The TenantChain demo's chain (chain {record['chain_id']}): source this file from any shell.",
             "# The keys are anvil's well-known development keys: never use them on a real network.",
             "# OPERATOR_KEY is the demo orchestrator's: send nothing from it while the demo runs.",
             *(f"export {name}={shlex.quote(value)}" for name, value in values.items()),
             "export PATH=" + ":".join(shlex.quote(str(p)) for p in tools) + ':"$PATH"']
    path.write_text("\n".join(lines) + "\n")
    return path


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
