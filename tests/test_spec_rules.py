"""The workload spec's rules, one table for the host and the portal: every case in tests/spec_cases.json
is parsed by the host's own parser (what `tenantchain tenant request` runs before sending) as the compact
JSON the portal sends; portal/test/spec_rules.test.js runs the same table through the portal's checker,
and tests/test_portal.py refuses the hostile ones in the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.spec import RULES, SpecError, parse_spec

CASES = json.loads((Path(__file__).with_name("spec_cases.json")).read_text(encoding="utf-8"))["cases"]


def plaintext(case: dict) -> bytes:
    """The case's spec as the portal's JSON.stringify writes it (compact, UTF-8, padded to grow_to)."""
    dump = lambda body: json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # noqa: E731
    body = case["spec"]
    if "grow_to" in case:
        body = {**body, "env": {**body["env"], "PAD": ""}}
        body["env"]["PAD"] = "x" * (case["grow_to"] - len(dump(body)))
        assert len(dump(body)) == case["grow_to"]
    return dump(body)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_host_decides_each_case_as_the_table_says(case):
    if case["refused"] is None:
        parse_spec(plaintext(case))
    else:
        with pytest.raises(SpecError) as refused:
            parse_spec(plaintext(case))
        assert str(refused.value) == case["refused"]


def test_every_sentence_of_the_rules_is_in_the_table():
    """A rule added to spec_rules.json without a case would be checked on one side only."""
    said = [c["refused"] for c in CASES if c["refused"]]
    shapes = {rule: re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(text)), re.S) for rule, text in RULES["messages"].items()}
    untested = [rule for rule, shape in shapes.items()
                if rule != "not_json" and not any(shape.fullmatch(sentence) for sentence in said)]  # the portal sends JSON
    assert not untested, untested
