"""The tenant portal in headless Chromium (Debian's), driven by clicks through Playwright, with a wallet
injected as an EIP-1193 provider (and announced by EIP-6963) that signs in Python with a test key
against a real anvil; the real orchestrator runs what the page requests. The chain's state is asserted
after each step; screenshots are saved with the test's output (its tmp_path).

The browser stays on loopback: every name resolves to nothing but 127.0.0.1, and a dead proxy
catches anything else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from orchestrator.chain.build import compile_contracts
from orchestrator.chain.refusals import ERROR_SENTENCES, REJECT_REASONS
from orchestrator.dev.devchain import DEV_KEYS, free_port
from orchestrator.spec import RejectCode, open_spec

from .conftest import TEST_IMAGE
from .netproxy import Proxy
from .orchestration import OPERATOR, TENANTS, Cluster, wait_for, wait_running
from .test_spec_rules import CASES, plaintext

playwright_api = pytest.importorskip("playwright.sync_api")  # in requirements.lock: present wherever setup ran

TENANTCHAIN = str(Path(sys.executable).with_name("tenantchain"))
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
UNITS = 10**18  # the test token's decimals

INJECTED_WALLET = """
(() => {
  const provider = {
    async request({ method, params }) {
      const reply = await window.__testWallet(method, params ?? []);
      if (reply.error) { const e = new Error(reply.error.message); e.code = reply.error.code; throw e; }
      return reply.result;
    },
    on() {}, removeListener() {},
  };
  window.ethereum = provider;
  const info = Object.freeze({ uuid: "3c6f0a1e-7b1c-4bd0-9d8e-1b5f7f0e2a11", name: "Test Wallet", rdns: "org.tenantchain.test",
                               icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E" });
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider",
                                                              { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


class InjectedWallet:
    """What a browser wallet does, in Python: holds a key, says which chain it is on, signs and sends
    transactions and EIP-712 data; ``refuse`` holds the methods the 'user' declines (EIP-1193 4001)."""

    def __init__(self, w3: Web3, key: str, chain_id: int | None = None):
        self.w3, self.account = w3, Account.from_key(key)
        self.real_chain_id = w3.eth.chain_id
        self.chain_id = chain_id or self.real_chain_id
        self.refuse: set[str] = set()
        self.calls: list[str] = []

    def __call__(self, method: str, params: list) -> dict:
        self.calls.append(method)
        if method in self.refuse:
            return {"error": {"code": 4001, "message": "User rejected the request."}}
        try:
            return {"result": self._handle(method, params)}
        except ValueError as exc:  # the node's JSON-RPC error, passed on as a wallet would
            detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {"code": -32603, "message": str(exc)}
            return {"error": detail}

    def _handle(self, method: str, params: list):
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address]
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "wallet_switchEthereumChain":
            wanted = int(params[0]["chainId"], 16)
            if wanted != self.real_chain_id:
                raise ValueError({"code": 4902, "message": "Unrecognized chain."})
            self.chain_id = wanted
            return None
        if method == "eth_sendTransaction":
            return self._send(params[0])
        if method == "eth_signTypedData_v4":
            typed = json.loads(params[1])
            signed = self.account.sign_message(encode_typed_data(full_message=typed))
            return "0x" + bytes(signed.signature).hex()
        response = self.w3.provider.make_request(method, params)
        if "error" in response:
            raise ValueError(response["error"])
        return response["result"]

    def _send(self, tx: dict) -> str:
        number = lambda key, default: int(tx[key], 16) if tx.get(key) else default  # noqa: E731
        fields = {"to": Web3.to_checksum_address(tx["to"]), "data": tx.get("data") or tx.get("input") or "0x",
                  "value": number("value", 0), "chainId": self.real_chain_id,
                  "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending")}
        # Like MetaMask: the node's estimate with a 50% buffer (a charge that depends on the block's time
        # can cost more when mined than when estimated).
        fields["gas"] = number("gas", None) or self.w3.eth.estimate_gas({**fields, "from": self.account.address}) * 3 // 2
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        fields["maxPriorityFeePerGas"] = number("maxPriorityFeePerGas", 10**9)
        fields["maxFeePerGas"] = number("maxFeePerGas", 2 * base + fields["maxPriorityFeePerGas"])
        signed = self.account.sign_transaction(fields)
        return "0x" + self.w3.eth.send_raw_transaction(signed.raw_transaction).hex().removeprefix("0x")


@pytest.fixture
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed; run `make setup` (installs Debian's chromium)", pytrace=False)
    direct = Path("/usr/lib/chromium/chromium")  # skips Debian's wrapper script (and its noise)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(direct if direct.exists() else executable),
                                    headless=True, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def portal_server(tmp_path):
    """`tenantchain portal` serving a deployment (the test writes the record first); yields its URL."""
    processes = []

    def start(record: Path, rpc_url: str) -> str:
        port = free_port()
        log = open(tmp_path / "portal.log", "w")
        processes.append(subprocess.Popen([TENANTCHAIN, "portal", "--deployment", str(record), "--rpc-url", rpc_url,
                                           "--port", str(port)], stdout=log, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}/"

        def up():
            assert processes[-1].poll() is None, (tmp_path / "portal.log").read_text()
            try:
                return requests.get(url + "config.json", timeout=2).ok
            except requests.RequestException:
                return False
        wait_for(up, timeout=60, what="the portal server")
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def open_portal(browser, url: str, wallet: InjectedWallet):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.expose_function("__testWallet", wallet)
    page.add_init_script(INJECTED_WALLET)
    page.on("pageerror", lambda error: print("page error:", error))
    page.goto(url)
    return page


def message(page) -> str:
    """The page's one-line outcome of the last action, once the action has finished."""
    page.wait_for_function("() => ['ok', 'error', 'warn'].includes(document.getElementById('message').className)",
                           timeout=60_000)
    return page.inner_text("#message")


def click_and_wait(page, selector: str) -> str:
    page.evaluate("() => { const m = document.getElementById('message'); m.className = ''; m.textContent = ''; }")
    page.click(selector)
    return message(page)


def test_portal_full_flow_with_the_real_orchestrator(anvil, tmp_path, docker_cleanup, run_labels, browser, portal_server):
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tc = cluster.chain, cluster.chain.tenantchain.functions
    tenant = Account.from_key(DEV_KEYS[5])  # a new user: not registered, no escrow, tokens in the wallet
    chain.transact(chain.token.functions.mint(tenant.address, 5_000 * UNITS), tenant)
    wallet = InjectedWallet(chain.w3, DEV_KEYS[5])
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with cluster.orchestrator(tmp_path, run_labels, api_addr="127.0.0.1:0", api_plain_http=True) as running:
        o = running.o
        chain.transact(tc.setHostApi(cluster.host_id, o.api.url, b"\0" * 32), OPERATOR)
        page = open_portal(browser, portal_server(cluster.record, anvil.url), wallet)

        # Hosts are listed before any wallet connects (reads go to the RPC).
        page.wait_for_selector(f"#host-rows tr[data-host='{cluster.host_id}']")
        assert "8 cores" in page.inner_text(f"#host-rows tr[data-host='{cluster.host_id}']")
        row = page.inner_text(f"#host-rows tr[data-host='{cluster.host_id}']")
        assert "0 served, 0 rejected" in row and "; bond " in row

        # Connect through the wallet that announced itself by EIP-6963.
        assert click_and_wait(page, "text=Connect Test Wallet") == "Connected."
        assert tenant.address in page.inner_text("#who")
        assert page.is_visible("#register") and page.is_hidden("#network-banner")

        assert "Registered" in click_and_wait(page, "#register")
        assert tc.getTenant(tenant.address).call()[0] == 1  # TenantStatus.Active

        page.fill("#deposit-amount", "1000")
        assert click_and_wait(page, "#deposit-form button") == "Deposited 1,000 TCT."
        assert tc.accountOf(tenant.address).call()[0] == 1000 * UNITS
        assert page.inner_text("#escrow") == "1,000 TCT"
        assert wallet.calls.count("eth_sendTransaction") == 3  # register, approve, deposit

        # Request from the form: the spec is encrypted in the browser; the real orchestrator decrypts it.
        page.select_option("#req-host", str(cluster.host_id))
        page.fill("#req-image", TEST_IMAGE)
        page.fill("#req-command", "sleep 3600")
        page.fill("#req-cpu", "0.5")
        page.fill("#req-memory", "64")
        page.fill("#req-pids", "32")
        page.dispatch_event("#req-pids", "change")
        page.wait_for_function("() => document.getElementById('quote').textContent.startsWith('Costs')")
        outcome = click_and_wait(page, "#request-submit")
        assert "admitted on host" in outcome, outcome
        (allocation,) = [log.args.allocationId for log in chain.tenantchain.events.AllocationRequested().get_logs(
            from_block=0, argument_filters={"tenant": tenant.address})]
        assert tc.getAllocation(allocation).call()[2] == 1  # Active
        assert "1 served, 0 rejected" in page.inner_text(f"#host-rows tr[data-host='{cluster.host_id}']")
        wait_running(o, allocation)
        row = f"#allocation-rows tr[data-allocation='{allocation}']"
        assert page.inner_text(f"{row} td:first-child") == f"{cluster.host_id}/{allocation & 0xFFFFFFFF}"

        # The page asks the host (a wallet-signed EIP-712 request) and shows the container running.
        page.click(f"{row} .live button")
        page.wait_for_function(f"() => document.querySelector(\"{row} .live\").textContent.startsWith('running')",
                               timeout=30_000)
        assert "eth_signTypedData_v4" in wallet.calls
        page.screenshot(path=str(shots / "1-running.png"), full_page=True)

        # Resize in place: the chain and the container's cgroup follow.
        page.click(f"{row} button:has-text('Resize')")
        page.fill(f"{row} form.resize input[name=memory]", "128")
        assert "resized" in click_and_wait(page, f"{row} form.resize button")
        assert tc.getAllocation(allocation).call()[4][1] == 128
        wait_for(lambda: o.driver.containers()[allocation].memory_bytes == 128 * 2**20, what="the resize on the host")

        # Consent to automatic resizes within bounds, then take it back.
        page.click(f"{row} button:has-text('Autoscale')")
        for name, value in (("minCpu", "0.25"), ("minMemory", "64"), ("maxCpu", "1"), ("maxMemory", "256")):
            page.fill(f"{row} form.autoscale input[name={name}]", value)
        assert "may resize it" in click_and_wait(page, f"{row} form.autoscale button[name=apply]")
        low, high, ceiling, _ = tc.scalingPolicyOf(allocation).call()
        assert (tuple(low), tuple(high)) == ((250, 64, 1, 32), (1000, 256, 1, 32))
        assert ceiling == tc.rateOf(cluster.host_id, (1000, 256, 1, 32)).call()
        assert "autoscaled: 0.25 cores–1 core, 64–256 MiB" in page.inner_text(f"{row} td:nth-child(3)")
        page.click(f"{row} button:has-text('Autoscale')")
        assert "automatic resizing off" in click_and_wait(page, f"{row} form.autoscale button[name=off]")
        assert tc.scalingPolicyOf(allocation).call()[2] == 0

        # Release: the chain closes it, the host removes the container, the bill shows the settlement.
        assert "released" in click_and_wait(page, f"{row} button:has-text('Release')")
        assert tc.getAllocation(allocation).call()[2] == 2  # Closed
        wait_for(lambda: allocation not in o.driver.containers(), what="the container to go")
        assert page.inner_text(f"{row} td:nth-child(3)") == "released"
        page.wait_for_selector(f"#bill-body [data-bill='{allocation}'] svg rect")
        settled = sum(log.args.reserved + log.args.metered for log in chain.tenantchain.events.Settled().get_logs(
            from_block=0, argument_filters={"allocationId": allocation}))
        assert settled > 0 and "settled" in page.inner_text(f"#bill-body [data-bill='{allocation}']")
        page.screenshot(path=str(shots / "2-released.png"), full_page=True)

        # Withdraw everything: the escrow goes back to the wallet.
        before = chain.token.functions.balanceOf(tenant.address).call()
        withdrawable = tc.accountOf(tenant.address).call()[4]
        page.fill("#withdraw-amount", "all")
        assert click_and_wait(page, "#withdraw-form button").startswith("Withdrew")
        assert chain.token.functions.balanceOf(tenant.address).call() == before + withdrawable
        assert tc.accountOf(tenant.address).call()[0] == 1000 * UNITS - settled - withdrawable
        page.screenshot(path=str(shots / "3-withdrawn.png"), full_page=True)
    print(f"screenshots: {shots}")


def test_portal_error_paths_change_nothing(anvil, tmp_path, browser, portal_server):
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tc = cluster.chain, cluster.chain.tenantchain.functions
    tenant = TENANTS[0]  # registered, with escrow
    wallet = InjectedWallet(chain.w3, tenant.key.hex(), chain_id=1)  # the wallet starts on another network
    page = open_portal(browser, portal_server(cluster.record, anvil.url), wallet)
    escrow = tc.accountOf(tenant.address).call()

    # Wrong network: a banner with a switch button; writes are held back until it is used. Not a green
    # "Connected." (a warning that says what to do), and no account labels without values.
    assert click_and_wait(page, "text=Connect Test Wallet") == (
        "Connected, but your wallet is on chain 1: switch it to Anvil (local) to use this portal.")
    assert page.get_attribute("#message", "class") == "warn"
    assert page.inner_text("#account-empty") == "Switch your wallet to Anvil (local) to see your escrow."
    assert page.is_hidden("#account-facts") and page.is_hidden("#register")
    assert page.is_visible("#network-banner") and "your wallet is on chain 1" in page.inner_text("#network-banner")
    page.fill("#deposit-amount", "5")
    assert "switch to Anvil (local) first" in click_and_wait(page, "#deposit-form button")
    assert "Switched network." == click_and_wait(page, "#switch-network")
    assert page.is_hidden("#network-banner") and wallet.chain_id == chain.w3.eth.chain_id

    # A signature the user rejects: a message, and nothing changes.
    wallet.refuse.add("eth_sendTransaction")
    page.fill("#deposit-amount", "5")
    assert click_and_wait(page, "#deposit-form button") == "You rejected the request in your wallet; nothing changed."
    assert tc.accountOf(tenant.address).call() == escrow
    wallet.refuse.clear()

    # Over capacity: the contract's refusal decoded into a sentence; no allocation made.
    page.select_option("#req-host", str(cluster.host_id))
    page.fill("#req-image", TEST_IMAGE)
    page.fill("#req-cpu", "1000")
    outcome = click_and_wait(page, "#request-submit")
    assert outcome.startswith("The host doesn't have the free capacity") and "AllocationInsufficientCapacity" in outcome
    assert tc.getHost(cluster.host_id).call()[4] == 0  # no allocation on the host

    # A broken YAML spec: one sentence, nothing sent.
    spec = tmp_path / "broken.yaml"
    spec.write_text("image: [unclosed\n")
    page.set_input_files("#req-file", str(spec))
    sent = wallet.calls.count("eth_sendTransaction")
    assert click_and_wait(page, "#request-submit").startswith("broken.yaml is not valid YAML")
    assert wallet.calls.count("eth_sendTransaction") == sent
    page.screenshot(path=str(tmp_path / "portal-errors.png"), full_page=True)

    # A good YAML spec is encrypted in the browser (eciesjs) and opens with the host's key (eciespy).
    spec.write_text(f"image: {TEST_IMAGE}\ncommand: [sleep, '60']\nexpose: [8080]\n"
                    "resources: {cpu: 250, memory: 32, storage: 1, pids: 16}\n")
    page.set_input_files("#req-file", str(spec))
    assert "admitted on host" in click_and_wait(page, "#request-submit")
    (event,) = chain.tenantchain.events.AllocationRequested().get_logs(from_block=0, argument_filters={"tenant": tenant.address})
    opened = open_spec(event.args.encryptedSpec, event.args.specHash, cluster.host_key)
    assert (opened.image, opened.command, opened.expose) == (TEST_IMAGE, ("sleep", "60"), (8080,))
    assert tuple(event.args.resources.values()) == (250, 32, 1, 16)

    # The host rejects it (no orchestrator here: its operator's transaction): the page shows it by itself.
    allocation = event.args.allocationId
    chain.transact(tc.rejectAllocation(allocation, int(RejectCode.IMAGE_MISSING)), OPERATOR)
    status = f"#allocation-rows tr[data-allocation='{allocation}'] td:nth-child(3)"
    page.wait_for_function(f"() => document.querySelector(\"{status}\").textContent.startsWith('rejected by the host')",
                           timeout=15_000)
    assert page.inner_text(status) == f"rejected by the host: {REJECT_REASONS[RejectCode.IMAGE_MISSING]}"


def test_portal_refuses_what_the_host_would_refuse_and_sends_nothing(anvil, tmp_path, browser, portal_server):
    """The table of hostile specs (tests/spec_cases.json, the host's own verdicts), each as a YAML file in
    the page: refused with the host's sentence (the CLI's), before anything is signed or estimated."""
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tenant = cluster.chain, TENANTS[1]  # registered, with escrow
    wallet = InjectedWallet(chain.w3, tenant.key.hex())
    page = open_portal(browser, portal_server(cluster.record, anvil.url), wallet)
    assert click_and_wait(page, "text=Connect Test Wallet") == "Connected."
    page.select_option("#req-host", str(cluster.host_id))
    nonce = chain.w3.eth.get_transaction_count(tenant.address, "pending")
    resources = ',"resources":{"cpu":250,"memory":32,"storage":1,"pids":16}}'

    def refused(name: str, text: str | bytes) -> str:
        spec = tmp_path / name
        spec.write_bytes(text if isinstance(text, bytes) else text.encode())
        page.set_input_files("#req-file", str(spec))
        return click_and_wait(page, "#request-submit")

    # As files: a spec that isn't a mapping is the CLI's own sentence; `resources` is the vector there.
    hostile = [c for c in CASES if c["refused"] and isinstance(c["spec"], dict) and "resources" not in c["spec"]]
    assert len(hostile) > 25
    for i, case in enumerate(hostile):
        body = plaintext(case).decode()  # JSON is YAML: the very bytes the host's verdict is for
        outcome = refused(f"case-{i}.yaml", body[:-1] + resources)
        said = lambda text: " ".join(text.split())  # noqa: E731  (as the page, and the CLI's one line, show it)
        assert outcome == said(f"case-{i}.yaml: {case['refused']}. The host would refuse it, so nothing was sent.") or (
            case.get("grow_to") and outcome.startswith(said(f"case-{i}.yaml: {case['refused']} (this one is "))), (case, outcome)
    assert refused("list.yaml", "- busybox\n") == "list.yaml: the spec must be a mapping (image, command, env, resources, ...)"

    # 300 KB is parsed and refused by size; 3 MB is not even read. Neither reaches the RPC ("HTTP request failed.").
    pad = lambda n: f"image: busybox\nenv: {{PAD: {'x' * n}}}\nresources: {{cpu: 250, memory: 32, storage: 1, pids: 16}}\n"  # noqa: E731
    assert refused("big.yaml", pad(300_000)).startswith("big.yaml: spec larger than 65536 bytes (this one is 300")
    assert refused("huge.yaml", pad(3_000_000)) == ("huge.yaml: spec larger than 65536 bytes (the file is 3.0 MB). "
                                                   "The host would refuse it, so nothing was sent.")
    # The form is held to the same rules.
    page.set_input_files("#req-file", [])
    page.fill("#req-image", "BusyBox")
    assert click_and_wait(page, "#request-submit") == (
        "the form: spec.image must be an image reference. The host would refuse it, so nothing was sent.")

    assert chain.w3.eth.get_transaction_count(tenant.address, "pending") == nonce
    assert "eth_sendTransaction" not in wallet.calls
    assert len(chain.tenantchain.events.AllocationRequested().get_logs(from_block=0)) == 0


def test_portal_layout_follows_the_chain_and_explains_outages(anvil, tmp_path, browser, portal_server):
    """At 1400 px nothing is wider than the window; no label without its value before connecting; the
    favicon is served; the page follows the chain and the wallet's network without a click; an RPC that
    stops answering is one sentence (viem's nested errors unwrapped), and nothing is sent."""
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tc, tenant = cluster.chain, cluster.chain.tenantchain.functions, TENANTS[2]
    rpc = Proxy(int(anvil.url.rsplit(":", 1)[1]))
    try:
        url = portal_server(cluster.record, rpc.url)
        favicon = requests.get(url + "favicon.ico", timeout=5)
        assert favicon.status_code == 200 and favicon.content[:4] == b"\0\0\1\0"  # an ICO
        wallet = InjectedWallet(chain.w3, tenant.key.hex())
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        missing = []
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        page.expose_function("__testWallet", wallet)
        page.add_init_script(INJECTED_WALLET)
        page.goto(url)
        page.wait_for_selector(f"#host-rows tr[data-host='{cluster.host_id}']")
        width = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        assert page.evaluate(width)[0] <= 1400, page.evaluate(width)
        assert page.is_hidden("#account-facts") and page.is_visible("#account-empty")
        assert all(page.is_hidden(f"#account-facts {tag}") for tag in ("dt", "dd"))
        page.screenshot(path=str(tmp_path / "portal-1400.png"), full_page=True)

        assert click_and_wait(page, "text=Connect Test Wallet") == "Connected."
        assert page.is_visible("#account-facts") and page.evaluate(width)[0] <= 1400
        assert not missing, missing  # favicon.ico included

        # Something happens on the chain: a request (sent elsewhere), then the host's rejection. No click.
        allocation = cluster.request(tenant, b'{"image":"busybox"}', resources=(250, 32, 1, 16))
        row = f"#allocation-rows tr[data-allocation='{allocation}']"
        page.wait_for_selector(row, timeout=15_000)
        assert page.inner_text(f"{row} td:nth-child(3)") == "active"
        chain.transact(tc.rejectAllocation(allocation, int(RejectCode.FORBIDDEN)), OPERATOR)
        page.wait_for_function(f"() => document.querySelector(\"{row} td:nth-child(3)\").textContent"
                               ".startsWith('rejected by the host')", timeout=15_000)

        # The wallet switches network without telling (no event): the banner shows by itself, and back.
        wallet.chain_id = 5
        page.wait_for_selector("#network-banner", state="visible", timeout=15_000)
        assert page.is_hidden("#account-facts")
        wallet.chain_id = wallet.real_chain_id
        page.wait_for_selector("#network-banner", state="hidden", timeout=15_000)
        page.wait_for_selector("#account-facts", state="visible", timeout=15_000)

        # The chain's RPC stops answering: the page says it is not up to date, and an action says why.
        nonce = chain.w3.eth.get_transaction_count(tenant.address, "pending")
        rpc.cut()
        page.wait_for_selector("#stale", state="visible", timeout=30_000)
        assert "The chain's RPC doesn't answer" in page.inner_text("#stale")
        page.fill("#deposit-amount", "5")
        assert click_and_wait(page, "#deposit-form button").startswith("The chain's RPC doesn't answer; try again in a moment.")
        assert chain.w3.eth.get_transaction_count(tenant.address, "pending") == nonce
        assert "eth_sendTransaction" not in wallet.calls
        rpc.restore()
        page.wait_for_selector("#stale", state="hidden", timeout=30_000)
    finally:
        rpc.close()


def test_every_contract_error_has_a_sentence():
    """The CLI and the portal explain refusals from one table: a new error must be added to it."""
    artifacts = compile_contracts()
    names = {item["name"] for name in ("TenantChain", "ITenantChain", "TenantChainMarket", "ERC20", "IERC20Errors")
             for item in artifacts[name].abi if item["type"] == "error"}
    assert names and not names - set(ERROR_SENTENCES), sorted(names - set(ERROR_SENTENCES))


def test_portal_builds_a_static_site_for_a_deployment(anvil, tmp_path):
    cluster = Cluster.create(anvil.url, tmp_path)
    site = tmp_path / "site"
    built = subprocess.run([TENANTCHAIN, "portal", "--deployment", str(cluster.record), "--rpc-url", "",
                            "--build", str(site)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    assert {"index.html", "portal.js", "portal.css", "config.json"} <= {p.name for p in site.iterdir()}
    config = json.loads((site / "config.json").read_text())
    assert (config["chain_id"], config["tenantchain"], config["rpc_url"]) == (
        31337, cluster.chain.tenantchain.address, "")
    assert {"requestAllocation", "AllocationInsufficientCapacity"} <= {i.get("name") for i in config["abi"]["tenantchain"]}
    assert config["errors"] == ERROR_SENTENCES

    missing = subprocess.run([TENANTCHAIN, "portal", "--deployment", str(tmp_path / "nope.json"), "--build", str(site)],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "deploy first" in missing.stderr
