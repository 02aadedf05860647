"""Catch-up: a fresh orchestrator's watcher syncing a chain of many contract events into its store,
against web3.py's default event decoding of the same logs.

    .venv/bin/python -m bench.catchup [--events 100000] [--write]

The chain is built by `contracts/test/LoadGenerator.sol`, a tenant contract that makes thousands
of events per transaction: allocation lifecycles (requested with a 256-byte encrypted spec,
resized, released) for a fifth of the events, resizes of long-lived allocations for the rest.
Every event counted concerns the measured host and is one its watcher follows, so every one is
decoded, journaled and folded (the settlements beside them stay on the node: no host follows them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic
from web3 import Web3

from bench.fixtures import BenchChain, send
from bench.report import publish
from orchestrator.chain.build import compile_contracts
from orchestrator.chain.client import Chain
from orchestrator.chain.abi import EventDecoder
from orchestrator.chain.watcher import WATCHED, Watcher
from orchestrator.dev.devchain import DEV_KEYS, Anvil
from orchestrator.store import Store

BLOCK_GAS = 30_000_000
TX_GAS = 28_000_000
SPEC = os.urandom(256)
SMALL, LARGER = (100, 32, 1, 16), (200, 48, 1, 16)
WEB3_SAMPLE = 5_000  # logs decoded by the baseline (it is slow; the rate is what matters)


def build_chain(chain: Chain, events: int, sender: LocalAccount) -> dict:
    """Fill the chain with about ``events`` events that host 1's watcher follows; returns what was made."""
    w3, f = chain.w3, chain.tenantchain.functions
    artifact = compile_contracts()["LoadGenerator"]
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    _, deployed = send(chain, factory.constructor(chain.tenantchain.address), sender)
    generator = w3.eth.contract(address=deployed.contractAddress, abi=artifact.abi)
    g = generator.functions
    send(chain, g.register(), sender, gas=500_000)
    funder = Account.from_key(DEV_KEYS[4])
    chain.transact(chain.token.functions.mint(funder.address, 10**24), funder)
    chain.transact(chain.token.functions.approve(chain.tenantchain.address, 10**24), funder)
    chain.transact(f.deposit(generator.address, 10**24), funder)
    digest = Web3.keccak(SPEC)
    decoder = EventDecoder(chain.tenantchain.abi, WATCHED)

    def followed(receipt) -> int:  # the watcher's events among the receipt's logs (not settlements)
        return sum(1 for log in receipt.logs if log.address == chain.tenantchain.address
                   and decoder.decode({"topics": log.topics, "data": log.data}) is not None)

    made = {"lifecycle_events": 0, "resize_events": 0, "transactions": 0}
    lifecycle_target = events // 5

    # Measure gas per unit with a small call, then fill transactions to ~TX_GAS each.
    _, probe = send(chain, g.lifecycles(1, 5, SMALL, LARGER, digest, SPEC), sender, TX_GAS)
    per_cycle = probe.gasUsed // 5
    events_per_cycle = followed(probe) // 5
    made["lifecycle_events"] += 5 * events_per_cycle
    made["transactions"] += 1
    per_tx = max(1, int(TX_GAS * 0.9) // per_cycle)
    while made["lifecycle_events"] < lifecycle_target:
        n = min(per_tx, -(-(lifecycle_target - made["lifecycle_events"]) // events_per_cycle))
        send(chain, g.lifecycles(1, n, SMALL, LARGER, digest, SPEC), sender, TX_GAS)
        made["lifecycle_events"] += events_per_cycle * n
        made["transactions"] += 1
    # The rest: resizes of one allocation per transaction (terms and resized each; beside its settlement).
    _, probe = send(chain, g.resizes(1, 10, SMALL, LARGER, digest, SPEC), sender, TX_GAS)
    per_resize = probe.gasUsed // 10
    made["resize_events"] += followed(probe)
    made["transactions"] += 1
    per_tx = max(1, int(TX_GAS * 0.9) // per_resize)
    while made["lifecycle_events"] + made["resize_events"] < events:
        n = min(per_tx, -(-(events - made["lifecycle_events"] - made["resize_events"]) // 2))
        _, receipt = send(chain, g.resizes(1, n, SMALL, LARGER, digest, SPEC), sender, TX_GAS)
        made["resize_events"] += followed(receipt)
        made["transactions"] += 1
    made["gas_per_lifecycle"] = per_cycle
    made["events_per_lifecycle"] = events_per_cycle
    made["gas_per_resize"] = per_resize
    return made


def run(events: int) -> dict:
    deployer = Account.from_key(DEV_KEYS[3])
    with tempfile.TemporaryDirectory() as tmp, Anvil(extra_args=("--gas-limit", str(BLOCK_GAS))) as anvil:
        tmp = Path(tmp)
        chain = BenchChain.create(anvil.url, tmp).chain
        deployment = chain.deployment
        started = time.perf_counter()
        made = build_chain(chain, events, deployer)
        build_s = time.perf_counter() - started
        head = chain.w3.eth.block_number

        # The orchestrator's path: a fresh store, one watcher, from the deployment block to the head.
        store = Store(tmp / "catchup" / "state.db")
        store.bind(deployment.chain_id, deployment.tenantchain, 1)
        watcher = Watcher(Web3(Web3.HTTPProvider(anvil.url)), deployment.tenantchain, chain.tenantchain.abi,
                          deployment.start_block, 1, store)
        started = time.perf_counter()
        applied = watcher.poll()
        catchup_s = time.perf_counter() - started
        journaled = store.event_count()
        active = len(store.allocations(include_closed=False))
        allocations = len(store.allocations())
        store.close()

        # Baseline: web3.py's own decoding (contract.events.<Name>().process_log) of the same logs.
        raw = chain.w3.eth.get_logs({"address": deployment.tenantchain, "fromBlock": deployment.start_block,
                                     "toBlock": head})
        by_topic = {"0x" + event_abi_to_log_topic(item).hex(): chain.tenantchain.events[item["name"]]
                    for item in chain.tenantchain.abi if item["type"] == "event"}
        sample = raw[:: max(1, len(raw) // WEB3_SAMPLE)][:WEB3_SAMPLE]
        started = time.perf_counter()
        decoded = 0
        for log in sample:
            event = by_topic.get("0x" + bytes(log["topics"][0]).hex())
            if event is not None:
                event().process_log(log)
                decoded += 1
        web3_s = time.perf_counter() - started
    return {"events": applied, "journaled": journaled, "logs_on_chain": len(raw), "blocks": head,
            "allocations": allocations, "active_allocations": active, **made, "build_s": build_s,
            "catchup_s": catchup_s, "events_per_s": applied / catchup_s,
            "web3_sample": decoded, "web3_decode_s": web3_s, "web3_events_per_s": decoded / web3_s,
            "ratio": (applied / catchup_s) / (decoded / web3_s)}


def table(r: dict) -> str:
    return "\n".join([
        f"| catch-up of {r['events']:,} events ({r['blocks']:,} blocks) | events/s | time |", "|---|---:|---:|",
        f"| orchestrator: eth_getLogs in chunks, decode, journal + fold in SQLite | {r['events_per_s']:,.0f} | "
        f"{r['catchup_s']:.2f} s |",
        f"| baseline: web3.py `process_log` decoding alone (measured on {r['web3_sample']:,}) | "
        f"{r['web3_events_per_s']:,.0f} | {r['events'] / r['web3_events_per_s']:.2f} s (est.) |",
    ]) + (f"\n\nThe orchestrator's whole catch-up path is {r['ratio']:.1f}x faster than web3.py's decoding alone "
          f"(goal: at least 10,000 events/s). The events: {r['lifecycle_events']:,} from "
          f"{r['allocations']:,} allocation lifecycles of {r['events_per_lifecycle']} events each (requested with a "
          f"256-byte spec, resized, released) "
          f"and {r['resize_events']:,} from resizes, made by `contracts/test/LoadGenerator.sol` in "
          f"{r['transactions']} transactions ({r['build_s']:.0f} s).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.events)
    print(table(result))
    if args.write:
        publish('catchup', result, table(result), '')


if __name__ == "__main__":
    main()
