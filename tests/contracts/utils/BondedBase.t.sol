// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./Base.t.sol";

/// @dev Base with a bonded host whose operator signs receipts (`opKey`), a tenant that approved the market
/// (for dispute stakes), and the operator's claim: what the adversarial review suites start from.
abstract contract BondedBase is Base {
    uint32 internal constant BOND_SECONDS = 3600;
    uint256 internal opKey;

    function setUp() public virtual override {
        opKey = deployBonded(BOND_SECONDS);
        vm.prank(tenant);
        token.approve(address(market), type(uint256).max);
    }

    /// @dev Four cores and 2 GiB: an allocation that shrinks or is released leaves much slack.
    function big() internal pure returns (Resources memory) {
        return res(4000, 2048, 1, 64);
    }

    function claim(uint32 period, uint256[] memory lines) internal {
        vm.prank(operator);
        tc.claimUsage(hostId, period, lines);
    }
}
