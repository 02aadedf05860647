"""Every `tenantchain` role command through a subprocess against real chains (anvil and Ganache), errors included."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal

from coincurve import PrivateKey
from eth_account import Account

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.chain.client import Chain, Deployment
from orchestrator.chain.types import allocation_id
from orchestrator.dev.devchain import DEV_KEYS, deploy_local, free_port
from orchestrator.units import tokens

TENANTCHAIN = str(PROJECT_ROOT / ".venv" / "bin" / "tenantchain")
TEST_IMAGE_NAME = "tenantchain/busybox:local"
ADMIN, OPERATOR, TENANT = DEV_KEYS[0], DEV_KEYS[1], DEV_KEYS[2]


class Cli:
    def __init__(self, rpc_url: str, record, home):
        self.base = ["--rpc-url", rpc_url, "--deployment", str(record)]
        self.env = {**os.environ, "TENANTCHAIN_HOME": str(home), "TENANTCHAIN_PASSWORD": "pw"}

    def __call__(self, *args, key: str | None = None, chain: bool = True, ok: bool = True, json_out: bool = True):
        cmd = [TENANTCHAIN, *args, *(self.base if chain else [])]
        if key:
            cmd += ["--private-key", key]
        if json_out and chain:
            cmd += ["--json"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=self.env)
        if ok:
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout) if json_out and chain else result.stdout
        return result


def one_line_error(result, expected: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_every_role_command(local_chain, tmp_path):
    anvil = local_chain
    record = tmp_path / "deployment.json"
    deploy_local(anvil.url, record)
    chain = Chain(anvil.url, Deployment.load(record))
    f = chain.tenantchain.functions
    cli = Cli(anvil.url, record, tmp_path / "home")
    operator, tenant = Account.from_key(OPERATOR).address, Account.from_key(TENANT).address

    # accounts
    imported = subprocess.run([TENANTCHAIN, "account", "import", "alice", "--private-key", TENANT],
                              capture_output=True, text=True, env=cli.env)
    assert imported.returncode == 0 and tenant in imported.stdout
    created = subprocess.run([TENANTCHAIN, "account", "new", "bob"], capture_output=True, text=True, env=cli.env)
    assert created.returncode == 0
    listed = subprocess.run([TENANTCHAIN, "account", "list"], capture_output=True, text=True, env=cli.env).stdout
    assert "alice" in listed and "bob" in listed

    # admin
    cli("admin", "approve-operator", operator, key=ADMIN)
    assert f.isOperator(operator).call()
    host_key = tmp_path / "host.key"
    made = subprocess.run([TENANTCHAIN, "host-key", "new", str(host_key)], capture_output=True, text=True, env=cli.env)
    assert made.returncode == 0 and made.stdout.strip() == "0x" + PrivateKey(
        bytes.fromhex(host_key.read_text().strip())).public_key.format(True).hex()
    chain.transact(chain.token.functions.mint(Account.from_key(OPERATOR).address, 10**24),  # for the bond
                   Account.from_key(OPERATOR))
    registered = cli("operator", "host", "register", "--capacity", "cpu=4000,memory=4096,storage=10,pids=1000",
                     "--host-key-file", str(host_key), key=OPERATOR)
    host_id = registered["host"]
    assert f.getHost(host_id).call()[0] == operator
    listed = cli("hosts", "list")["hosts"]  # what a tenant sees before it requests anything
    assert [(h["host"], h["status"], h["free"]["cpu_millis"]) for h in listed] == [(host_id, "active", 4000)]
    assert listed[0]["reserved_prices"]["cpu_millis"] == f.getHost(host_id).call()[5][0]

    # tenant, signing with the imported keystore
    cli("tenant", "register", "--metadata-uri", "ipfs://alice", "--account", "alice")
    chain.transact(chain.token.functions.mint(tenant, 10**21), Account.from_key(TENANT))
    cli("tenant", "deposit", "100", "--account", "alice")
    assert f.accountOf(tenant).call()[0] == 100 * 10**18
    spec = tmp_path / "web.yaml"
    spec.write_text(f"image: {TEST_IMAGE_NAME}\ncommand: [httpd, -f, -p, '8080']\n"
                    "resources: {cpu_millis: 500, memory_mib: 64, storage_gib: 1, pids: 64}\n")
    allocation = cli("tenant", "request", str(spec), "--host-id", str(host_id), "--account", "alice")["allocation"]
    assert f.getAllocation(allocation).call()[2] == 1
    cli("tenant", "resize", str(allocation), "--resources", "cpu=1000,memory=128,storage=1,pids=64", "--account", "alice")
    assert tuple(f.getAllocation(allocation).call()[4]) == (1000, 128, 1, 64)
    listing = cli("tenant", "list", "--tenant", tenant)
    assert [a["id"] for a in listing["allocations"]] == [allocation]
    status = cli("tenant", "status", "--tenant", tenant)
    assert status["rate_per_second"] > 0 and len(status["allocations"]) == 1
    cli("tenant", "release", str(allocation), "--account", "alice")
    assert f.getAllocation(allocation).call()[2] == 2
    bill = cli("tenant", "bill", "--tenant", tenant)
    assert bill["reserved_total"] == bill["settled_reserved"] > 0
    before = chain.token.functions.balanceOf(tenant).call()
    withdrawn = cli("tenant", "withdraw", "all", "--account", "alice")["amount"]
    assert chain.token.functions.balanceOf(tenant).call() == before + withdrawn

    # operator
    cli("operator", "withdraw", "--host-id", str(host_id), key=OPERATOR)
    assert f.earningsOf(host_id).call() == 0
    cli("operator", "host", "update", str(host_id), "--capacity", "cpu=6000,memory=8192,storage=20,pids=2000",
        key=OPERATOR)
    assert tuple(f.getHost(host_id).call()[2]) == (6000, 8192, 20, 2000)
    cli("operator", "host", "drain", str(host_id), key=OPERATOR)
    assert f.getHost(host_id).call()[1] == 2

    # admin: quota and the pause
    cli("admin", "quota", tenant, "--resources", "cpu=100,memory=100,storage=1,pids=10", key=ADMIN)
    assert tuple(f.getTenant(tenant).call()[3]) == (100, 100, 1, 10)
    cli("admin", "pause", key=ADMIN)
    assert f.paused().call()
    cli("admin", "unpause", key=ADMIN)
    assert not f.paused().call()



def test_user_errors_are_one_clear_line_and_change_nothing(anvil, tmp_path):
    record = tmp_path / "deployment.json"
    chain_address = Account.from_key(OPERATOR).address
    deploy_local(anvil.url, record, operators=(chain_address,))
    chain = Chain(anvil.url, Deployment.load(record))
    f = chain.tenantchain.functions
    cli = Cli(anvil.url, record, tmp_path / "home")
    host_key = tmp_path / "host.key"
    host_key.write_text(PrivateKey().secret.hex())
    chain.transact(chain.token.functions.mint(Account.from_key(OPERATOR).address, 10**24),  # for the bond
                   Account.from_key(OPERATOR))
    host_id = cli("operator", "host", "register", "--capacity", "cpu=1000,memory=1024,storage=10,pids=100",
                  "--host-key-file", str(host_key), key=OPERATOR)["host"]
    assert chain_address == f.getHost(host_id).call()[0]
    cli("tenant", "register", key=TENANT)
    chain.transact(chain.token.functions.mint(Account.from_key(TENANT).address, 10**21), Account.from_key(TENANT))
    cli("tenant", "deposit", "100", key=TENANT)
    spec = tmp_path / "big.yaml"
    spec.write_text(f"image: {TEST_IMAGE_NAME}\nresources: {{cpu_millis: 2000, memory_mib: 64, storage_gib: 1, pids: 10}}\n")
    block = chain.w3.eth.block_number

    # Over capacity: the numbers are in the message.
    result = cli("tenant", "request", str(spec), "--host-id", str(host_id), key=TENANT, ok=False)
    one_line_error(result, "the host doesn't have the free capacity")
    assert "2000" in result.stderr and "1000" in result.stderr
    # Unknown host.
    one_line_error(cli("tenant", "request", str(spec), "--host-id", "77", key=TENANT, ok=False), "host 77")
    # An unfunded wallet (no ETH for gas).
    subprocess.run([TENANTCHAIN, "account", "new", "empty"], capture_output=True, text=True, env=cli.env, check=True)
    one_line_error(cli("tenant", "register", "--account", "empty", ok=False), "no ETH to pay for gas")
    # A wrong password.
    wrong = Cli(anvil.url, record, tmp_path / "home")
    wrong.env["TENANTCHAIN_PASSWORD"] = "not it"
    one_line_error(wrong("tenant", "register", "--account", "empty", ok=False), "wrong password")
    # The chain unreachable.
    down = Cli(f"http://127.0.0.1:{free_port()}", record, tmp_path / "home")
    one_line_error(down("tenant", "status", "--tenant", chain_address, ok=False), "cannot reach the chain")
    # A corrupt spec file.
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: [unclosed\n")
    one_line_error(cli("tenant", "request", str(bad), "--host-id", str(host_id), key=TENANT, ok=False), "not valid YAML")
    # A bad address.
    one_line_error(cli("admin", "approve-operator", "0x1234", key=DEV_KEYS[0], ok=False), "not an Ethereum address")

    assert chain.w3.eth.block_number == block  # nothing was sent
    assert tuple(f.getHost(host_id).call()[3]) == (0, 0, 0, 0)


def _deployed(anvil, tmp_path) -> tuple[Chain, Cli, object]:
    """A deployment with OPERATOR approved and funded for host bonds; its CLI; a host key file."""
    record = tmp_path / "deployment.json"
    deploy_local(anvil.url, record, operators=(Account.from_key(OPERATOR).address,))
    chain = Chain(anvil.url, Deployment.load(record))
    host_key = tmp_path / "host.key"
    host_key.write_text(PrivateKey().secret.hex())
    chain.transact(chain.token.functions.mint(Account.from_key(OPERATOR).address, 10**24), Account.from_key(OPERATOR))
    return chain, Cli(anvil.url, record, tmp_path / "home"), host_key


def test_request_goes_to_the_cheapest_host_that_fits(anvil, tmp_path):
    chain, cli, host_key = _deployed(anvil, tmp_path)
    f = chain.tenantchain.functions
    offers = [("cpu=8000,memory=8192,storage=10,pids=1000", "cpu=3000000,memory=100000,storage=1000000,pids=1000"),
              ("cpu=400,memory=8192,storage=10,pids=1000", "cpu=1000000,memory=100000,storage=1000000,pids=1000"),
              ("cpu=8000,memory=8192,storage=10,pids=1000", "cpu=2000000,memory=100000,storage=1000000,pids=1000")]
    hosts = [cli("operator", "host", "register", "--capacity", capacity, "--prices", prices,
                 "--host-key-file", str(host_key), key=OPERATOR)["host"] for capacity, prices in offers]
    cli("tenant", "register", key=TENANT)
    chain.transact(chain.token.functions.mint(Account.from_key(TENANT).address, 10**24), Account.from_key(TENANT))
    cli("tenant", "deposit", "100000", key=TENANT)
    spec = tmp_path / "web.yaml"
    spec.write_text(f"image: {TEST_IMAGE_NAME}\nresources: {{cpu_millis: 500, memory_mib: 64, storage_gib: 1, pids: 10}}\n")

    # Host 2 is the cheapest but has 400 millicores free: host 3 is the cheapest that fits.
    made = cli("tenant", "request", str(spec), "--host-id", "auto", key=TENANT, json_out=False)
    assert f"admitted on host {hosts[2]}" in made and "the cheapest of 2 hosts with the free capacity" in made, made
    assert f"next: host {hosts[0]}" in made

    # The listing shows each host's record, counted from the chain's logs.
    rejected = allocation_id(made.split("allocation ")[1].split()[0])  # named host/n
    chain.transact(f.rejectAllocation(rejected, 9), Account.from_key(OPERATOR))
    listed = {h["host"]: h["reputation"] for h in cli("hosts", "list")["hosts"]}
    # Served: admitted and not rejected by the host.
    assert listed[hosts[2]] == {"served": 0, "released": 0, "rejected": 1, "rejected_by_code": {"9": 1}, "out_of_funds": 0,
                                "dropped_lines": 0, "disputes_lost": 0, "disputes_won": 0, "slashes": 0, "slashed": 0}
    assert listed[hosts[0]]["served"] == 0
    assert "rejected 1 (1 x the registry has no such image)" in cli("hosts", "list", json_out=False)
    # Bonds and surcharges are in the listing too; a surcharge moves the quote.
    quote = f.rateOf(hosts[0], (500, 64, 1, 10)).call()
    cli("operator", "host", "surcharge", str(hosts[0]), "50", key=OPERATOR)
    row = next(h for h in cli("hosts", "list")["hosts"] if h["host"] == hosts[0])
    assert row["surcharge_pct"] == 50 and row["bond"]["amount"] == row["bond"]["required"] > 0
    assert f.rateOf(hosts[0], (500, 64, 1, 10)).call() > quote
    assert "bond " in cli("hosts", "list", json_out=False)

    # A ceiling below the cheapest: one line, nothing requested.
    count = f.getHost(hosts[2]).call()[4]
    rate_per_hour = f.rateOf(hosts[2], (500, 64, 1, 10)).call() * 3600 / 10**18
    refused = cli("tenant", "request", str(spec), "--host-id", "auto", "--max-rate", f"{rate_per_hour / 2:.12f}",
                  key=TENANT, ok=False)
    one_line_error(refused, "above --max-rate")
    assert f.getHost(hosts[2]).call()[4] == count
    # The same ceiling for a given host: refused before anything is sent, the quote in the sentence.
    quote = f.rateOf(hosts[2], (500, 64, 1, 10)).call()
    one_line_error(cli("tenant", "request", str(spec), "--host-id", str(hosts[2]), "--max-rate",
                       f"{rate_per_hour / 2:.12f}", key=TENANT, ok=False),
                   f"the host quotes {tokens(quote * 3600, 18, 'TCT')} per hour, above --max-rate")
    assert f.getHost(hosts[2]).call()[4] == count
    # Within it, the bound sent is the ceiling itself; the quote is reported.
    ceiling = f"{rate_per_hour * 2:.12f}"
    made = cli("tenant", "request", str(spec), "--host-id", str(hosts[2]), "--max-rate", ceiling, key=TENANT)
    assert made["quote"]["rate_per_second"] == quote == made["rate"]
    assert made["quote"]["max_rate_per_second"] == int(Decimal(ceiling).scaleb(18)) // 3600
    assert made["quote"]["max_metered"] == made["quote"]["metered"] == {
        "cpu_second": f.getHost(hosts[2]).call()[6][0], "memory_gib_second": f.getHost(hosts[2]).call()[6][1]}
    count += 1
    huge = tmp_path / "huge.yaml"
    huge.write_text(f"image: {TEST_IMAGE_NAME}\nresources: {{cpu_millis: 9000, memory_mib: 64, storage_gib: 1, pids: 10}}\n")
    one_line_error(cli("tenant", "request", str(huge), "--host-id", "auto", key=TENANT, ok=False),
                   "no active host has the free capacity")


def test_human_output_speaks_tokens_and_host_n(anvil, tmp_path):
    """Amounts in the token's symbol (cut, never rounded up; what moved to the last digit), rates per
    hour, allocations as host/n and accepted both ways; --raw for units and ids; reasons, not guesses."""
    chain, cli, host_key = _deployed(anvil, tmp_path)
    f = chain.tenantchain.functions
    host_id = cli("operator", "host", "register", "--capacity", "cpu=4000,memory=4096,storage=10,pids=1000",
                  "--host-key-file", str(host_key), key=OPERATOR)["host"]
    tenant = Account.from_key(TENANT)
    human = lambda *args, **kw: cli(*args, key=TENANT, json_out=False, **kw)  # noqa: E731

    one_line_error(cli("tenant", "withdraw", "all", key=TENANT, ok=False), "nothing to withdraw: the escrow of")
    cli("tenant", "register", key=TENANT)
    chain.transact(chain.token.functions.mint(tenant.address, 10**22), tenant)
    assert human("tenant", "deposit", "999.99999").strip() == f"deposited 999.99999 TCT for {tenant.address}"
    spec = tmp_path / "web.yaml"
    spec.write_text(f"image: {TEST_IMAGE_NAME}\nresources: {{cpu_millis: 1000, memory_mib: 64, storage_gib: 1, pids: 64}}\n")
    made = human("tenant", "request", str(spec), "--host-id", str(host_id))
    rate = f.rateOf(host_id, (1000, 64, 1, 64)).call()
    per_hour = tokens(rate * 3600, 18, "TCT")
    assert made.startswith(f"allocation {host_id}/1 admitted on host {host_id} ({per_hour} per hour); "
                           f"quoted {per_hour} per hour, at most {per_hour} per hour; metered 0.0000036 TCT per CPU-hour"), made
    assert " units" not in made and "4294967297" not in made
    raw = human("tenant", "request", str(spec), "--host-id", str(host_id), "--raw")
    second = (host_id << 32) | 2
    assert raw.startswith(f"allocation {second} admitted on host {host_id} ({rate} units/s)"), raw

    listed = human("tenant", "list").splitlines()  # the wallet's own, without an address
    assert listed == [f"{host_id}/1\tactive\tcpu 1,000 m, memory 64 MiB, storage 1 GiB, pids 64",
                      f"{host_id}/2\tactive\tcpu 1,000 m, memory 64 MiB, storage 1 GiB, pids 64"]
    status = human("tenant", "status", "--tenant", tenant.address)
    assert status.startswith(f"{tenant.address}: balance 999.9999 TCT, ") and " per hour, withdrawable " in status, status
    assert "; 2 allocations" in status

    # Either name of an allocation; a bad one is one line.
    assert human("tenant", "release", f"{host_id}/1").strip() == f"allocation {host_id}/1 released"
    assert human("tenant", "release", str(second)).strip() == f"allocation {host_id}/2 released"
    one_line_error(cli("tenant", "release", "1/0", key=TENANT, ok=False), "write it as host/n")
    assert [a[2] for a in (f.getAllocation((host_id << 32) | n).call() for n in (1, 2))] == [2, 2]

    # The bill: as wide as it needs, whatever the terminal (here a pipe), and in tokens.
    bill = human("tenant", "bill")
    rows = [line for line in bill.splitlines() if line.strip().startswith("0 ") or f" {host_id}/1 " in line]
    assert rows and max(len(line) for line in bill.splitlines()) > 80 and "…" not in bill, bill
    assert "(TCT; periods of 60 s)" in bill and bill.splitlines()[-1].startswith("reserved 0.")
    assert "units" in human("tenant", "bill", "--raw")

    # withdraw all: what moved, to its last digit; then nothing left, for the right reason.
    balance, _, _, _, withdrawable, _ = f.accountOf(tenant.address).call()
    out = human("tenant", "withdraw", "all").strip()
    assert out == f"withdrew {tokens(withdrawable, 18, 'TCT', exact=True)}" and len(out.split(".")[1]) > 5, out
    again = cli("tenant", "withdraw", "all", key=TENANT, ok=False)
    one_line_error(again, "held for metered use that hosts can still report and charge")
    assert "running allocations" not in again.stderr
    hosts = cli("hosts", "list", json_out=False)
    assert "3.6 TCT per core-hour" not in hosts and "0.0000036 TCT per core-hour" in hosts and "served 2" in hosts
