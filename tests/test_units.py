"""Token amounts as people read them: thousands grouped, never in scientific notation."""

from orchestrator.units import tokens


def test_amounts_below_one_are_fixed_point_with_four_significant_digits():
    assert tokens(926_912_345_678, 18, "TCT") == "0.0000009269 TCT"  # once `9.269e-7 TCT`
    assert tokens(3_696_000_000_000, 18, "TCT") == "0.000003696 TCT"
    assert tokens(1, 18, "TCT") == "0.000000000000000001 TCT"
    assert tokens(-5 * 10**11, 18, "TCT") == "-0.0000005 TCT"


def test_amounts_of_one_or_more_keep_at_most_four_decimals():
    assert tokens(0, 18, "TCT") == "0 TCT"
    assert tokens(123_456_789_012_345_678_901_234, 18, "TCT") == "123,456.789 TCT"
    assert tokens(25, 1, "TUSD") == "2.5 TUSD"
    assert tokens(None, 18, "TCT") == "-"
