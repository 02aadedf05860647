"""Decoding the contract's logs and errors by ABI, fast: eth_abi directly, no web3 processing.

Events whose fields are all one-word values (uintN, address, bool, bytesN) are read word by word
(a catch-up is mostly such events); anything else goes through eth_abi's strict decoders.
"""

from __future__ import annotations

import re
from functools import lru_cache

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic
from eth_utils import to_checksum_address as _to_checksum_address

_UINT = re.compile(r"uint(\d*)$")
_BYTES_N = re.compile(r"bytes(\d+)$")


@lru_cache(maxsize=65_536)
def to_checksum_address(value: str | bytes) -> str:
    """eth_utils' checksum (a keccak each time), cached: logs repeat the same few addresses."""
    return _to_checksum_address(value)


def _word_reader(kind: str):
    """A function of one 32-byte word for a one-word type, or None (eth_abi decodes the rest).
    Like eth_abi's strict mode, a word with bits outside its type is refused (ValueError)."""
    if (m := _UINT.match(kind)) is not None:
        bits = int(m.group(1) or 256)

        def read_uint(word: bytes) -> int:
            value = int.from_bytes(word, "big")
            if value >> bits:
                raise ValueError(f"{kind} out of range")
            return value
        return read_uint
    if kind == "address":
        def read_address(word: bytes) -> str:
            if any(word[:12]):
                raise ValueError("address with dirty high bytes")
            return to_checksum_address(word[12:])
        return read_address
    if kind == "bool":
        def read_bool(word: bytes) -> bool:
            value = int.from_bytes(word, "big")
            if value > 1:
                raise ValueError("bool out of range")
            return value == 1
        return read_bool
    if (m := _BYTES_N.match(kind)) is not None and 1 <= int(m.group(1)) <= 32:
        size = int(m.group(1))

        def read_bytes_n(word: bytes) -> str:
            if any(word[size:]):
                raise ValueError(f"{kind} with dirty low bytes")
            return "0x" + word[:size].hex()
        return read_bytes_n
    return None


def abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


def _convert(value, param: dict, as_json: bool):
    kind = param["type"]
    if kind.startswith("tuple"):
        if kind.endswith("[]"):
            inner = {**param, "type": kind[:-2]}
            return [_convert(v, inner, as_json) for v in value]
        fields = [(c["name"], _convert(v, c, as_json)) for v, c in zip(value, param["components"])]
        return dict(fields) if as_json else tuple(v for _, v in fields)
    if kind == "address":
        return to_checksum_address(value)
    if as_json and isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def checksummed(value, param: dict):
    """eth_abi's output as web3's ``call()`` gives it: the same tuples, addresses checksummed."""
    return _convert(value, param, as_json=False)


def named(value, param: dict):
    """eth_abi's tuples -> dicts with the ABI's component names; bytes -> 0x hex; addresses checksummed."""
    return _convert(value, param, as_json=True)


class EventDecoder:
    """Decodes raw logs by topic0 with eth_abi directly (several times faster than web3's processing)."""

    def __init__(self, abi: list, names: set[str]):
        self._events = {}
        for item in abi:
            if item.get("type") == "event" and item["name"] in names:
                indexed = [i for i in item["inputs"] if i["indexed"]]
                plain = [i for i in item["inputs"] if not i["indexed"]]
                topic = "0x" + event_abi_to_log_topic(item).hex()
                types = [abi_type(i) for i in plain]
                readers = [_word_reader(t) for t in types]
                static = None if None in readers else [(i["name"], r) for i, r in zip(plain, readers)]
                topic_readers = [(i["name"], _word_reader(i["type"])) for i in indexed]
                self._events[topic] = (item["name"], indexed, plain, types, static, topic_readers)

    def decode(self, raw: dict) -> tuple[str, dict] | None:
        topics = raw["topics"]
        topic0 = topics[0] if isinstance(topics[0], str) else "0x" + bytes(topics[0]).hex()
        entry = self._events.get(topic0)
        if entry is None:
            return None
        name, indexed, plain, types, static, topic_readers = entry
        args = {}
        for (key, reader), param, topic in zip(topic_readers, indexed, topics[1:]):
            word = bytes.fromhex(topic[2:]) if isinstance(topic, str) else bytes(topic)
            args[key] = reader(word) if reader else named(abi_decode([param["type"]], word)[0], param)
        data = raw["data"]
        data = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
        if static is not None and len(data) == 32 * len(static):
            for i, (key, reader) in enumerate(static):
                args[key] = reader(data[32 * i:32 * i + 32])
        else:
            for param, value in zip(plain, abi_decode(types, data)):
                args[param["name"]] = named(value, param)
        return name, args
