"""The pinned toolchain: one compiler, one set of settings, the same bytecode on every path."""

import json
import subprocess

import pytest

import yaml

from orchestrator.chain.build import PROJECT_ROOT, compile_contracts, compiler_settings, strip_metadata

from .conftest import tool_env

CONTRACT = "TestToken"


def test_settings_agree_between_forge_ape_and_package_json():
    forge = compiler_settings()
    ape = yaml.safe_load((PROJECT_ROOT / "ape-config.yaml").read_text())["solidity"]
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    assert forge.version == ape["version"] == package["devDependencies"]["solc"]
    assert forge.optimizer_runs == ape["optimization_runs"]
    assert forge.evm_version == ape["evm_version"]
    oz_version = package["devDependencies"]["@openzeppelin/contracts"]
    assert any(dep.get("version") == oz_version for dep in yaml.safe_load(
        (PROJECT_ROOT / "ape-config.yaml").read_text())["dependencies"])


def test_solc_answers_like_native_solc():
    settings = compiler_settings()
    out = subprocess.run([str(settings.solc_path), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"Version: {settings.version}+commit." in out


@pytest.mark.timeout(900)  # three compilers in turn: minutes on a loaded machine
def test_forge_ape_and_orchestrator_build_the_same_bytecode():
    ours = compile_contracts(["contracts/test/TestToken.sol"])[CONTRACT]

    subprocess.run(
        [str(PROJECT_ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"), "build", "--quiet"],
        cwd=PROJECT_ROOT, env=tool_env(), check=True, capture_output=True,
    )
    forge_artifact = json.loads((PROJECT_ROOT / f".forge/out/{CONTRACT}.sol/{CONTRACT}.json").read_text())

    ape = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/ape"), "compile", "--force"],
        cwd=PROJECT_ROOT, env=tool_env(), capture_output=True, text=True,
    )
    assert ape.returncode == 0, ape.stdout + ape.stderr
    manifest = json.loads((PROJECT_ROOT / ".build/__local__.json").read_text())
    ape_type = manifest["contractTypes"][CONTRACT]

    reference = strip_metadata(ours.deployed_bytecode)
    assert len(reference) > 1000
    assert strip_metadata(forge_artifact["deployedBytecode"]["object"]) == reference
    assert strip_metadata(ape_type["runtimeBytecode"]["bytecode"]) == reference
    assert strip_metadata(ape_type["deploymentBytecode"]["bytecode"]) == strip_metadata(ours.bytecode)


def test_setup_is_idempotent():
    """Run after `make test`'s own set-up: everything is there, so nothing is installed again."""
    result = subprocess.run([str(PROJECT_ROOT / "tools/setup.sh")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr and "using " not in result.stderr, result.stderr


EIP_170_LIMIT = 24_576  # bytes of runtime code every real chain accepts
EIP_3860_LIMIT = 49_152  # bytes of init code


def test_every_deployed_contract_fits_the_size_limits():
    """A contract that grows past EIP-170 deploys on anvil (with its limit lifted) and nowhere else:
    fail here first, with the margin in the message."""
    artifacts = compile_contracts()
    for name in ("TenantChain", "TenantChainExtension", "TenantChainMarket", "TestToken"):
        runtime = (len(artifacts[name].deployed_bytecode) - 2) // 2
        init = (len(artifacts[name].bytecode) - 2) // 2
        assert runtime <= EIP_170_LIMIT, f"{name}: {runtime:,} bytes of runtime code, over EIP-170's {EIP_170_LIMIT:,}"
        assert init <= EIP_3860_LIMIT, f"{name}: {init:,} bytes of init code, over EIP-3860's {EIP_3860_LIMIT:,}"
