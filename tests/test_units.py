"""Token amounts as people read them (thousands grouped, never scientific notation, never rounded up),
allocations as host/n, counted nouns; and the status page's words."""

import pytest

from orchestrator.chain.types import allocation_id
from orchestrator.errors import ConfigError
from orchestrator.units import allocation_name, plural, tokens
from orchestrator.web.status import UNITS, _operator


def test_amounts_below_one_are_fixed_point_with_four_significant_digits():
    assert tokens(926_912_345_678, 18, "TCT") == "0.0000009269 TCT"  # once `9.269e-7 TCT`
    assert tokens(3_696_000_000_000, 18, "TCT") == "0.000003696 TCT"
    assert tokens(1, 18, "TCT") == "0.000000000000000001 TCT"
    assert tokens(-5 * 10**11, 18, "TCT") == "-0.0000005 TCT"


def test_amounts_of_one_or_more_keep_at_most_four_decimals():
    assert tokens(0, 18, "TCT") == "0 TCT"
    assert tokens(123_456_789_012_345_678_901_234, 18, "TCT") == "123,456.789 TCT"
    assert tokens(25, 1, "TUSD") == "2.5 TUSD"
    assert tokens(10**21, 18, "TCT") == "1,000 TCT"
    assert tokens(None, 18, "TCT") == "-"


def test_amounts_are_cut_toward_zero_never_rounded_up_to_what_is_not_there():
    almost = 999_999_990_000_000_000_000  # 999.99999
    assert tokens(almost, 18, "TCT") == "999.9999 TCT"  # never `1,000 TCT`: a withdrawal of 1,000 would fail
    assert tokens(-almost, 18, "TCT") == "-999.9999 TCT"
    assert tokens(99_999_999_999_999_999, 18, "TCT") == "0.09999 TCT"  # never `0.1`
    assert tokens(9_999_999, 0, "T") == "9,999,999 T"


def test_exact_amounts_keep_every_digit():
    assert tokens(999_999_990_000_000_000_000, 18, "TCT", exact=True) == "999.99999 TCT"  # what a withdrawal moved
    assert tokens(123_456_789_012_345_678_901_234, 18, "TCT", exact=True) == "123,456.789012345678901234 TCT"
    assert tokens(10**21, 18, "TCT", exact=True) == "1,000 TCT"
    assert tokens(926_912_345_678, 18, "TCT", exact=True) == "0.000000926912345678 TCT"


def test_one_allocation_name_and_both_spellings_accepted():
    assert allocation_name(4294967300) == "1/4"
    assert allocation_name((7 << 32) | 123) == "7/123"
    assert allocation_id("1/4") == allocation_id("4294967300") == allocation_id(" 1/4 ") == 4294967300
    assert allocation_id(allocation_name((2**32 - 1 << 32) | 2**32 - 1)) == 2**64 - 1
    for bad, said in (("1/0", "both from 1"), ("0/3", "both from 1"), ("x/2", "host of allocation"),
                      ("1/2/3", "number of allocation"), ("1/4294967296", "too large"), ("-1", "negative")):
        with pytest.raises(ConfigError, match=said):
            allocation_id(bad)


def test_counted_nouns_agree():
    assert plural(1, "transaction") == "1 transaction"
    assert plural(0, "transaction") == "0 transactions"
    assert plural(2, "allocation") == "2 allocations"
    assert plural(1_000, "host") == "1,000 hosts"
    cores = UNITS["cpu_millis"][1]
    assert (cores(1000), cores(250), cores(2500), cores(1004)) == ("1 core", "0.25 cores", "2.5 cores", "1 core")
    page = _operator({"address": "0xabc", "balance_wei": 10**18, "pending_transactions": 1, "low": False})
    assert "1 transaction pending" in page
