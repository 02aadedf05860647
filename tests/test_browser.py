"""The status page in headless Chromium (Debian's), during a run with real allocations: the numbers it
renders match the chain, and a screenshot is saved with the test's output."""

import re
import shutil
import subprocess

import pytest

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed; run `make setup` (installs Debian's chromium)", pytrace=False)
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", *args],
                          capture_output=True, text=True, timeout=120)


def test_status_page_in_chromium_matches_the_chain(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tc = cluster.chain.tenantchain.functions
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        ids = [cluster.request(TENANTS[i], WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600")),
                               resources=(300 + 100 * i, 64, 1, 32)) for i in range(2)]
        wait_for(lambda: all(o.snapshot()["allocations"][i]["state"] == "running" for i in range(2))
                 if len(o.snapshot()["allocations"]) == 2 else False, what="two running allocations")
        o.refresh_view()  # the chain view behind the page (its thread does this every second too)

        dom = _chromium(tmp_path, "--dump-dom", o.status.url + "/").stdout
        used = tc.getHost(cluster.host_id).call()[3]
        capacity = tc.getHost(cluster.host_id).call()[2]
        # Human units, as on-chain: 700 of 8,000 millicores is 0.7 of 8 cores; MiB of memory.
        assert f"{used[0] / 1000:g} cores of {capacity[0] / 1000:g} cores" in dom
        assert f"{used[1]} MiB of {capacity[1] / 1024:,.1f} GiB" in dom
        for allocation in ids:
            row = re.search(rf"<tr><td><span title=\"{allocation}\">{allocation >> 32}/{allocation & 0xFFFFFFFF}"
                            rf"</span></td>.*?</tr>", dom)
            assert row and "running" in row.group(0)
        balance = tc.accountOf(TENANTS[0].address).call()[0]
        assert f"{balance / 10**18:,.4f}".rstrip("0").rstrip(".")[:6] in dom and "TCT" in dom
        assert "Allocations (2)" in dom

        screenshot = tmp_path / "status.png"
        _chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,900", o.status.url + "/")
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 5000
