"""`make demo`: start a local chain, deploy with `ape run deploy`, show what is there, stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

from .build import PROJECT_ROOT
from .devchain import Anvil
from .errors import ChainError, ConfigError


def deploy(rpc_url: str, record_path: Path) -> dict:
    """Run the operator's deploy script against ``rpc_url``; returns the deployment record."""
    env = {
        **os.environ,
        "TENANTCHAIN_RPC_URL": rpc_url,
        "TENANTCHAIN_DEPLOYMENT": str(record_path),
        "SOLCX_BINARY_PATH": str(PROJECT_ROOT / ".solc"),
        "APE_DATA_FOLDER": str(PROJECT_ROOT / ".ape"),
    }
    ape = PROJECT_ROOT / ".venv" / "bin" / "ape"
    if not ape.exists():
        raise ConfigError("ape is not installed; run `make setup`")
    result = subprocess.run(
        [str(ape), "run", "deploy", "--network", "ethereum:anvil:node"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ChainError(f"deployment failed: {tail[0]}")
    return json.loads(record_path.read_text())


def run_demo(rpc_url: str | None, run_dir: Path, echo=print) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    anvil = None
    if rpc_url is None:
        anvil = Anvil(log_path=run_dir / "anvil.log").start()
        rpc_url = anvil.url
        echo(f"anvil chain started at {rpc_url} (log: {run_dir / 'anvil.log'})")
    try:
        record = deploy(rpc_url, run_dir / "deployment.json")
        echo(f"deployed on chain {record['chain_id']} from block {record['start_block']}:")
        for name, address in record["contracts"].items():
            echo(f"  {name:<12} {address}")
        echo("ready. Press Ctrl-C to stop.")
        stop.wait()
    finally:
        if anvil:
            anvil.stop()
            echo("anvil stopped.")
