"""Decoding the contract's logs and errors by ABI, fast: eth_abi directly, no web3 processing."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address


def abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


def named(value, param: dict):
    """eth_abi's tuples -> dicts with the ABI's component names; bytes -> 0x hex; addresses checksummed."""
    kind = param["type"]
    if kind.startswith("tuple"):
        if kind.endswith("[]"):
            inner = {**param, "type": kind[:-2]}
            return [named(v, inner) for v in value]
        return {c["name"]: named(v, c) for v, c in zip(value, param["components"])}
    if kind == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


class EventDecoder:
    """Decodes raw logs by topic0 with eth_abi directly (several times faster than web3's processing)."""

    def __init__(self, abi: list, names: set[str]):
        self._events = {}
        for item in abi:
            if item.get("type") == "event" and item["name"] in names:
                indexed = [i for i in item["inputs"] if i["indexed"]]
                plain = [i for i in item["inputs"] if not i["indexed"]]
                topic = "0x" + event_abi_to_log_topic(item).hex()
                self._events[topic] = (item["name"], indexed, plain, [abi_type(i) for i in plain])

    def decode(self, raw: dict) -> tuple[str, dict] | None:
        topics = raw["topics"]
        topic0 = topics[0] if isinstance(topics[0], str) else "0x" + bytes(topics[0]).hex()
        entry = self._events.get(topic0)
        if entry is None:
            return None
        name, indexed, plain, types = entry
        args = {}
        for param, topic in zip(indexed, topics[1:]):
            data = bytes.fromhex(topic[2:]) if isinstance(topic, str) else bytes(topic)
            args[param["name"]] = named(abi_decode([param["type"]], data)[0], param)
        data = raw["data"]
        data = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
        for param, value in zip(plain, abi_decode(types, data)):
            args[param["name"]] = named(value, param)
        return name, args
