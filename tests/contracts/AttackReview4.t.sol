// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {BondedBase} from "./utils/BondedBase.t.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";

/// @notice Fourth adversarial review, of commit 1671bf0 only (tenant-only receipt slashes, PriorFold,
/// _resumeIfSolvent). Each test asserts the safe behaviour and failed on 1671bf0.
contract AttackReview4Test is BondedBase {
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

    // --- M: two operator folds after the window re-loosened the bound of a refused line ---------------

    /// The third review's "fold after the window" with two folds instead of one, both by the operator alone:
    /// the tenant set a scaling policy, the cooldown is half a period, so the operator auto-resizes (same
    /// size) at finalAt(0) and again half a period later, then claims. With one `PriorFold` the bound of
    /// period 0 was what was held until the first fold: the refused line (30,000 CPU-ms for a period in
    /// which 15,000 were held) was charged. The meter's marks (one per period with a fold) keep it exact.
    function test_twoOperatorFoldsAfterWindow_refusedLineCharged() public {
        vm.warp(startOf(0) + PERIOD / 2);
        uint64 id = request(tenant, small());
        vm.prank(tenant);
        tc.setScalingPolicy(id, small(), res(1000, 512, 2, 128), type(uint64).max);

        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 30_000, 0);
        reportOnly(0, lines);
        (bool chargeable,) = tc.lineCost(hostId, 0, lines[0]);
        assertFalse(chargeable, "above what was held in period 0: not chargeable in the window");

        vm.warp(finalAt(0));
        vm.prank(operator);
        tc.autoResizeAllocation(id, small());
        vm.warp(block.timestamp + PERIOD / 2);
        vm.prank(operator);
        tc.autoResizeAllocation(id, small());

        uint256 before = tc.accountOf(tenant).balance;
        claim(0, lines);
        uint256 charged = before - tc.accountOf(tenant).balance;
        uint256 heldInPeriod = uint256(small().cpuMillis) * (PERIOD / 2);
        assertLe(charged, cost(uint64(heldInPeriod), 0), "a line is charged at most what was held in its period");
    }

    /// Folds in many periods after a line's period, in several periods each: the bound stays what was held
    /// until the period's end, and an honest line exactly at it is still charged in full (not a lower bound).
    function test_manyFoldsAfterWindow_boundStaysExact() public {
        vm.warp(startOf(0) + PERIOD / 2);
        uint64 id = request(tenant, small());
        vm.warp(startOf(1));
        uint256 heldInPeriod = uint256(small().cpuMillis) * (PERIOD / 2);
        uint256[] memory above = line(id, uint64(heldInPeriod) + 1, 0);
        uint256[] memory exact = line(id, uint64(heldInPeriod), 0);
        reportOnly(0, exact);
        uint32 last = tc.claimClosesAt(0) - 1;
        for (uint32 p = 1; p <= last; ++p) {
            vm.warp(startOf(p) + PERIOD / 3);
            resize(tenant, id, p % 2 == 0 ? res(1000, 512, 2, 128) : small());
            vm.warp(startOf(p) + (2 * PERIOD) / 3);
            resize(tenant, id, small());
        }
        (bool chargeable,) = tc.lineCost(hostId, 0, above[0]);
        assertFalse(chargeable, "one CPU-ms above what was held in period 0");
        (chargeable,) = tc.lineCost(hostId, 0, exact[0]);
        assertTrue(chargeable, "exactly what was held in period 0");
        uint256 before = tc.accountOf(tenant).balance;
        claim(0, exact);
        assertEq(before - tc.accountOf(tenant).balance, cost(uint64(heldInPeriod), 0), "the honest line charged in full");
    }
}
