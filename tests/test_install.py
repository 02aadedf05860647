"""The package as a host gets it: a wheel built from the repo, installed into a fresh venv that sees neither
the repo nor node, gives a working `tenantchain` (the shipped ABIs, the portal serving its packaged
bundle); the shipped systemd unit passes `systemd-analyze verify`; the sample host.toml is all real options.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest
import tomllib

from orchestrator.chain.artifacts import shipped_artifacts
from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.cli.orchestrator import PACKAGING, orchestrator_run, render_unit
from orchestrator.dev.devchain import free_port

sys.path.insert(0, str(Path(__file__).parent))
from orchestration import wait_for  # noqa: E402


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv with only the wheel installed in it; the dependencies come from the test venv's
    site-packages through a path entry (not a site dir: the repo's editable-install hook there isn't run)."""
    root = tmp_path_factory.mktemp("install")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "wheels"), str(PROJECT_ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel, = (root / "wheels").glob("tenantchain-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    # A host: no node on PATH, no checkout around (cwd elsewhere), no inherited Python paths.
    env = {"PATH": str(venv / "bin"), "HOME": str(root / "home"), "LANG": "C.UTF-8"}
    assert shutil.which("node", path=env["PATH"]) is None
    work = root / "elsewhere"
    work.mkdir()

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env, cwd=work)

    return {"venv": venv, "site": site, "run": run, "env": env, "work": work}


def test_the_installed_package_is_the_wheel_not_the_repo(installed):
    out = installed["run"]("python", "-c", "import json, orchestrator, orchestrator.chain.artifacts as a, "
                           "orchestrator.web.portal as p; print(json.dumps([orchestrator.__file__, str(a.SHIPPED), "
                           "str(p.BUNDLE), sorted(a.shipped_artifacts())]))")
    assert out.returncode == 0, out.stderr
    module, shipped, bundle, names = json.loads(out.stdout)
    for path in (module, shipped, bundle):
        assert Path(path).is_relative_to(installed["site"]), path
        assert not Path(path).is_relative_to(PROJECT_ROOT), path
    # The ABIs (and creation code) the runtime reads are the ones in the repo's contracts.json.
    assert sorted(json.loads(Path(shipped).read_text())["contracts"]) == names
    assert {name: a.abi for name, a in shipped_artifacts().items()} == {
        name: entry["abi"] for name, entry in json.loads(Path(shipped).read_text())["contracts"].items()}


def test_the_installed_cli_runs(installed):
    run = installed["run"]
    version = run("tenantchain", "--version")
    assert version.returncode == 0 and version.stdout.strip() == "tenantchain, version 0.1.0", version.stderr
    top = run("tenantchain", "--help")
    assert top.returncode == 0, top.stderr
    for group in ("tenant", "operator", "orchestrator", "portal"):
        assert f"\n  {group} " in top.stdout
    check = run("tenantchain", "orchestrator", "check", "--help")
    assert check.returncode == 0 and "--password-file" in check.stdout and "--allow-host-root" in check.stdout
    unit = run("tenantchain", "orchestrator", "unit")
    assert unit.returncode == 0
    assert f"ExecStart={installed['venv'] / 'bin' / 'tenantchain'} orchestrator run" in unit.stdout
    sample = run("tenantchain", "orchestrator", "unit", "--sample-config")
    assert sample.stdout == (PACKAGING / "host.toml").read_text()


def test_the_installed_portal_serves_its_packaged_bundle(installed, tmp_path):
    """`tenantchain portal` for a deployment record (no chain needed to serve the page), over HTTP."""
    record = tmp_path / "deployment.json"
    record.write_text(json.dumps({"chain_id": 31337, "start_block": 1, "token": "0x" + "11" * 20,
                                  "contracts": {"TenantChain": "0x" + "22" * 20, "TenantChainMarket": "0x" + "33" * 20}}))
    port = free_port()
    log = open(tmp_path / "portal.log", "w")
    server = subprocess.Popen([str(installed["venv"] / "bin" / "tenantchain"), "portal", "--deployment", str(record),
                               "--port", str(port), "--rpc-url", "http://127.0.0.1:8545"],
                              stdout=log, stderr=subprocess.STDOUT, env=installed["env"], cwd=installed["work"])
    try:
        def fetch(path: str) -> bytes | None:
            assert server.poll() is None, (tmp_path / "portal.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    return response.read()
            except OSError:
                return None

        index = wait_for(lambda: fetch("/"), timeout=30, what="the installed portal")
        bundle = PROJECT_ROOT / "orchestrator" / "web" / "portal_bundle"  # what the wheel build just made
        assert index == (bundle / "index.html").read_bytes()
        assert fetch("/portal.js") == (bundle / "portal.js").read_bytes()
        config = json.loads(fetch("/config.json"))
        assert config["tenantchain"] == "0x" + "22" * 20
        assert config["abi"]["market"] == shipped_artifacts()["TenantChainMarket"].abi
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_shipped_unit_verifies(tmp_path):
    """systemd's own checker on the unit as `orchestrator unit` prints it (ExecStart: this tenantchain)."""
    unit = tmp_path / "tenantchain-orchestrator.service"
    unit.write_text(render_unit(str(PROJECT_ROOT / ".venv" / "bin" / "tenantchain")))
    service = parse_unit(unit.read_text())["Service"]
    assert service["Restart"] == ["always"] and service["KillMode"] == ["process"]
    assert service["StateDirectory"] == ["tenantchain"]
    assert sorted(service["LoadCredential"]) == ["host-key:/etc/tenantchain/host.key",
                                                 "keystore-password:/etc/tenantchain/keystore-password"]
    exec_start = service["ExecStart"][0].split()
    assert exec_start[1:3] == ["orchestrator", "run"]
    options = dict(zip(exec_start[3::2], exec_start[4::2]))
    assert options == {"--config": "/etc/tenantchain/host.toml", "--data-dir": "/var/lib/tenantchain",
                       "--password-file": "%d/keystore-password", "--host-key-file": "%d/host-key"}
    assert service["StandardError"] == ["journal"]
    # Nothing that gives the service its own mount namespace: dockerd must see the devices tmpfs it mounts.
    assert not {"ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ReadOnlyPaths",
                "ProtectKernelModules", "ProtectClock", "DevicePolicy"} & set(service)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # a machine without systemd's tools: the keys asserted above are the check
        return
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # verify exits 0 on an unknown key, a bad value or a wrong section: it only warns, naming the file.
    assert unit.name not in result.stderr, result.stderr


def test_the_sample_host_toml_is_real_options():
    """Every key of the sample is an option of `orchestrator run` (the loader refuses unknown ones) and its
    value converts to that option's type."""
    sample = PACKAGING / "host.toml"
    ctx = orchestrator_run.make_context("run", ["--config", str(sample), "--host-key-file", "/etc/tenantchain/host.key"])
    data = tomllib.loads(sample.read_text())
    assert len(data) >= 10
    for key, value in data.items():
        assert ctx.params[key] == (Path(value) if key in ("deployment", "keystore") else value), key


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and keys (continuation lines joined, comments dropped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    logical = []
    for line in text.splitlines():
        if logical and logical[-1].endswith("\\"):
            logical[-1] = logical[-1][:-1] + " " + line.strip()
        else:
            logical.append(line.strip())
    for line in logical:
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections
