// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";

/// @notice Fourth adversarial review, of commit 1671bf0 only (tenant-only receipt slashes, PriorFold,
/// _resumeIfSolvent). Each test asserts the safe behaviour and failed on 1671bf0. (Its second finding, two operator
/// folds after the window, is a documented residual: SECURITY.md, attack class 5.)
contract AttackReview4Test is Base {
    uint32 internal constant BOND_SECONDS = 3600;
    uint256 internal opKey;

    function setUp() public override {
        opKey = deployBonded(BOND_SECONDS);
        vm.prank(tenant);
        token.approve(address(market), type(uint256).max);
    }

    function claim(uint32 period, uint256[] memory lines) internal {
        vm.prank(operator);
        tc.claimUsage(hostId, period, lines);
    }

    // --- L/M: a tenant's delegate (the party running the workload, holding the receipts) can no longer slash

    /// The tenant manages its allocations through a delegate (requestAllocationFor, resize, release are all
    /// open to delegates): for a contract tenant (a multisig/DAO treasury that cannot call the market
    /// itself) the delegate is the only party that sees receipts. Before 1671bf0 anyone could submit the
    /// receipt (the tenant is paid). Now only `msg.sender == tenant` may, while openDispute was already
    /// tenant-only: such a tenant has no way left to answer a receipt-proved overcharge, and the line is
    /// charged in full at the claim. Suggested fix: accept the tenant's delegates (isDelegate) as callers.
    function test_delegateSlashWithReceipt_refusedSoOverchargeIsCharged() public {
        address delegate = makeAddr("delegate");
        vm.prank(tenant);
        tc.setDelegate(delegate, true);
        (uint64 id, uint256[] memory lines) = reportedOvercharge();
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 1_000, 0);

        vm.prank(delegate);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);

        vm.warp(finalAt(0));
        claim(0, lines);
        assertGt(market.reputationOf(hostId).slashed, 0, "the tenant's delegate proves the overcharge: the bond pays");
        assertTrue(tc.isVoided(id, 0), "the receipt-proved overcharge is not charged");
        assertEq(tc.getAllocation(id).pendingMetered, 0, "nothing claimed for the voided line");
    }
}
