"""Careless input through the real command line, generated: whatever a user types or feeds in, the
answer is either success or one line starting with `error:` — never a traceback or an encoder's dump —
and a refused command sends nothing to the chain."""

from __future__ import annotations

import string

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.chain import types
from orchestrator.chain.client import Chain, Deployment
from orchestrator.dev.devchain import deploy_local
from orchestrator.errors import ConfigError

from .test_cli import OPERATOR, TENANT, Cli

# A few generated cases per test: each one starts the real console script (about a second).
CASES = settings(max_examples=12, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NUMBERS = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(alphabet=string.printable, max_size=12), st.booleans(), st.none())


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    from orchestrator.dev.devchain import Anvil

    tmp = tmp_path_factory.mktemp("cli-input")
    anvil = Anvil(log_path=tmp / "anvil.log").start()
    try:
        record = tmp / "deployment.json"
        deploy_local(anvil.url, record, operators=(Account.from_key(OPERATOR).address,))
        yield anvil, record, tmp
    finally:
        anvil.stop()


def assert_one_line_or_ok(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert len(lines[0]) < 400, "an error line, not a dump"


@CASES
@given(content=st.binary(min_size=1, max_size=512))
def test_a_spec_file_of_random_bytes(deployed, content):
    anvil, record, tmp = deployed
    chain = Chain(anvil.url, Deployment.load(record))
    before = chain.w3.eth.block_number
    spec = tmp / "random.yaml"
    spec.write_bytes(content)
    result = Cli(anvil.url, record, tmp / "home")("tenant", "request", str(spec), "--host-id", "1", key=TENANT,
                                                  ok=False)
    assert result.returncode != 0
    assert_one_line_or_ok(result)
    assert chain.w3.eth.block_number == before, "a refused request sent a transaction"


@CASES
@given(values=st.lists(NUMBERS, min_size=4, max_size=4))
def test_resources_outside_the_contract_types(deployed, values):
    anvil, record, tmp = deployed
    chain = Chain(anvil.url, Deployment.load(record))
    before = chain.w3.eth.block_number
    cpu, memory, storage, pids = (repr(v) if isinstance(v, str) else str(v).lower() for v in values)
    spec = tmp / "resources.yaml"
    spec.write_text(f"image: tenantchain/busybox:local\nresources: {{cpu_millis: {cpu}, memory_mib: {memory}, "
                    f"storage_gib: {storage}, pids: {pids}}}\n")
    result = Cli(anvil.url, record, tmp / "home")("tenant", "request", str(spec), "--host-id", "1", key=TENANT,
                                                  ok=False)
    assert_one_line_or_ok(result)
    assert result.returncode != 0  # no host 1 here: nothing can succeed, every failure must be a sentence
    assert chain.w3.eth.block_number == before


@CASES
@given(text=st.text(alphabet=string.printable, max_size=40), allocation=NUMBERS)
def test_resize_arguments(deployed, text, allocation):
    anvil, record, tmp = deployed
    chain = Chain(anvil.url, Deployment.load(record))
    before = chain.w3.eth.block_number
    result = Cli(anvil.url, record, tmp / "home")("tenant", "resize", str(allocation), "--resources", text,
                                                  key=TENANT, ok=False)
    assert_one_line_or_ok(result)
    assert result.returncode != 0
    assert chain.w3.eth.block_number == before


@given(value=st.integers(min_value=-2**300, max_value=2**300), bits=st.sampled_from([24, 32, 64, 128, 256]))
def test_uint_accepts_exactly_the_solidity_range(value, bits):
    if 0 <= value < 2**bits:
        assert types.uint(value, bits, "x") == value
        assert types.uint(str(value), bits, "x") == value
    else:
        with pytest.raises(ConfigError):
            types.uint(value, bits, "x")
