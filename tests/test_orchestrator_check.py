"""`tenantchain orchestrator check` through the real CLI, against anvil with the contracts deployed and
this machine's real dockerd, iptables and HAProxy: a host set up right passes every item; a wrong host
key, a wrong operator key, a registration over this machine's capacity and an unreachable node each
fail (exit 1) on the line that names them."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from coincurve import PrivateKey
from eth_account import Account

from orchestrator.chain.bonds import approve_bond, bond_shortfall
from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.chain.client import Chain, Deployment
from orchestrator.chain.wallet import write_keystore
from orchestrator.dev.devchain import DEV_KEYS, deploy_local, free_port

pytestmark = [pytest.mark.chain, pytest.mark.docker]

TENANTCHAIN = str(PROJECT_ROOT / ".venv" / "bin" / "tenantchain")
OPERATOR = Account.from_key(DEV_KEYS[1])
PRICES = (10**6, 10**5, 10**6, 10**3)
METERED = (10**9, 10**8)


def machine_capacity() -> tuple[int, int, int, int]:
    """What fits this machine: its CPUs, half its memory, 1 GiB of storage."""
    memory_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return (os.cpu_count() * 1000, memory_mib // 2, 1, 256)


def register_host(chain: Chain, capacity, key: PrivateKey) -> int:
    bond = bond_shortfall(chain, capacity, PRICES, METERED)
    assert bond > 0  # the market asks for one: the bond line below has something to check
    chain.transact(chain.token.functions.mint(OPERATOR.address, bond), OPERATOR)
    approve_bond(chain, OPERATOR, bond)
    tc = chain.tenantchain.functions
    chain.transact(tc.registerHost(capacity, PRICES, METERED, key.public_key.format(True)), OPERATOR)
    return tc.hostCount().call()


@pytest.fixture
def deployed(anvil, tmp_path, docker_client):
    record = tmp_path / "deployment.json"
    deploy_local(anvil.url, record, operators=(OPERATOR.address,))
    return Chain(anvil.url, Deployment.load(record)), record


def check(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([TENANTCHAIN, "orchestrator", "check", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def lines(result) -> dict[str, tuple[str, str]]:
    """{item: (status, detail)} from the check's output (the last line is the summary)."""
    out = result.stdout.strip().splitlines()
    items = {}
    for line in out[:-1]:
        status, _, rest = line.partition(" ")
        name, _, detail = rest.strip().partition(": ")
        items[name] = (status, detail)
    return items


def test_a_host_set_up_right_passes_every_item(deployed, tmp_path):
    """Through a host.toml (as the unit runs it), with the operator's keystore and a password file."""
    chain, record = deployed
    key = PrivateKey()
    host_id = register_host(chain, machine_capacity(), key)
    (tmp_path / "host.key").write_text(key.to_hex())
    write_keystore(OPERATOR, "s3cret pw", tmp_path / "operator.json")
    (tmp_path / "password").write_text("s3cret pw\n")  # as `echo ... >` writes it
    (tmp_path / "host.toml").write_text(
        f'rpc_url = "{chain.w3.provider.endpoint_uri}"\ndeployment = "{record}"\nhost_id = {host_id}\n'
        f'keystore = "{tmp_path / "operator.json"}"\ningress_ports = "30000-32767"\n')

    result = check("--config", str(tmp_path / "host.toml"), "--password-file", str(tmp_path / "password"),
                   "--host-key-file", str(tmp_path / "host.key"), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    items = lines(result)
    assert set(items) == {"docker", "daemon baseline", "user namespaces", "iptables", "haproxy", "volumes",
                          "chain", "contracts", "host", "operator key", "host key", "capacity", "bond"}
    assert all(status == "ok" for status, _ in items.values()), result.stdout
    assert items["operator key"][1] == f"{OPERATOR.address} operates host {host_id}"
    assert result.stdout.strip().splitlines()[-1] == "13 ok, 0 warnings, 0 missing: ready"
    # The machine-readable form says the same.
    as_json = json.loads(check("--config", str(tmp_path / "host.toml"), "--password-file", str(tmp_path / "password"),
                               "--host-key-file", str(tmp_path / "host.key"), "--data-dir", str(tmp_path / "data"),
                               "--json", cwd=tmp_path).stdout)
    assert as_json["ready"] is True and {i["name"] for i in as_json["items"]} == set(items)


def test_a_wrong_host_key_or_operator_key_fails_on_its_line(deployed, tmp_path):
    chain, record = deployed
    host_id = register_host(chain, machine_capacity(), PrivateKey())
    (tmp_path / "other.key").write_text(PrivateKey().to_hex())
    common = ["--rpc-url", chain.w3.provider.endpoint_uri, "--deployment", str(record), "--host-id", str(host_id),
              "--host-key-file", str(tmp_path / "other.key"), "--data-dir", str(tmp_path / "data")]

    wrong_key = check(*common, "--private-key", DEV_KEYS[1], cwd=tmp_path)
    assert wrong_key.returncode == 1, wrong_key.stdout
    items = lines(wrong_key)
    assert items["host key"][0] == "missing"
    assert "doesn't match host" in items["host key"][1] and "registered public key" in items["host key"][1]
    assert [name for name, (status, _) in items.items() if status != "ok"] == ["host key"]
    assert wrong_key.stdout.strip().splitlines()[-1].endswith("not ready (host key)")

    stranger = Account.from_key(DEV_KEYS[3])
    wrong_operator = check(*common, "--private-key", stranger.key.hex(), cwd=tmp_path)
    assert wrong_operator.returncode == 1
    status, detail = lines(wrong_operator)["operator key"]
    assert status == "missing" and stranger.address in detail and OPERATOR.address in detail


def test_a_registration_over_this_machine_fails_on_capacity(deployed, tmp_path):
    chain, record = deployed
    key = PrivateKey()
    cpu, memory, storage, pids = machine_capacity()
    host_id = register_host(chain, (cpu + 1000, memory, storage, pids), key)
    (tmp_path / "host.key").write_text(key.to_hex())

    result = check("--rpc-url", chain.w3.provider.endpoint_uri, "--deployment", str(record), "--host-id", str(host_id),
                   "--host-key-file", str(tmp_path / "host.key"), "--private-key", DEV_KEYS[1],
                   "--data-dir", str(tmp_path / "data"), cwd=tmp_path)

    assert result.returncode == 1, result.stdout
    status, detail = lines(result)["capacity"]
    assert status == "missing"
    assert f"{cpu + 1000} millicores registered, {os.cpu_count()} CPUs here" in detail
    assert "memory" not in detail  # only what is over is named
    assert result.stdout.strip().splitlines()[-1].endswith("not ready (capacity)")


def test_an_unreachable_node_fails_on_the_chain_line(deployed, tmp_path):
    chain, record = deployed
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    (tmp_path / "host.key").write_text(PrivateKey().to_hex())

    result = check("--rpc-url", closed, "--deployment", str(record), "--host-id", "1",
                   "--host-key-file", str(tmp_path / "host.key"), "--private-key", DEV_KEYS[1],
                   "--data-dir", str(tmp_path / "data"), cwd=tmp_path)

    assert result.returncode == 1, result.stdout
    items = lines(result)
    status, detail = items["chain"]
    assert status == "missing" and "cannot reach the chain" in detail and closed in detail
    # What needs the chain is not checked, and says so, rather than failing on its own.
    assert {name for name, (s, _) in items.items() if s == "skip"} == {
        "contracts", "host", "operator key", "host key", "capacity", "bond"}
    assert items["docker"][0] == "ok"


def test_a_config_file_with_an_unknown_key_is_refused(tmp_path):
    (tmp_path / "host.toml").write_text('host_id = 1\nrpc_ur1 = "http://127.0.0.1:8545"\n')
    result = check("--config", str(tmp_path / "host.toml"), cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == (f"error: config file {tmp_path / 'host.toml'}: unknown key(s) rpc_ur1 (the keys "
                                     "are the options of `tenantchain orchestrator check --help`)")
