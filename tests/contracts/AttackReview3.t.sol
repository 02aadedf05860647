// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {BondedBase} from "./utils/BondedBase.t.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";

/// @notice Third adversarial review of the money-safety contracts (main at de0fa3e). Each test reproduces
/// an attack that still works and asserts the safe behaviour, so each FAILS on de0fa3e; the report that
/// goes with this file classifies them and suggests fixes.
contract AttackReview3Test is BondedBase {
    // --- H: an operator's own slash with a near-exact receipt pre-empts the tenant's ----------

    /// The operator overcharges a line (30,000 CPU-ms reported, 1,000 used and signed for). When the
    /// tenant's slash shows up (mempool), the operator front-runs it with a slash of its own, on a receipt
    /// it signs just now for one CPU-ms less than the line: the penalty is 2x one CPU-ms, the line is
    /// voided, and the tenant's real slash then reverts (voidLine: UsageLineVoided). The deterrent the
    /// bond exists for is gone: the tenant should be paid half of 2x the true overcharge.
    function test_operatorSelfSlashWithNearExactReceipt_preemptsTenantsSlash() public {
        (uint64 id, uint256[] memory lines) = reportedOvercharge();
        (IMarket.UsageReceipt memory honest, bytes memory honestSig) = signed(opKey, id, 0, 1_000, 0);

        // The front-run: a receipt for the line minus one CPU-ms, submitted by the operator itself.
        (IMarket.UsageReceipt memory nearly, bytes memory nearlySig) = signed(opKey, id, 0, 29_999, 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotTenant.selector, operator, id));
        market.slashWithReceipt(hostId, 0, lines, 0, nearly, nearlySig);

        // The tenant's slash with the receipt for what it really used.
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, honest, honestSig);

        uint256 trueOvercharge = cost(30_000, 0) - cost(1_000, 0);
        assertGe(market.payoutOf(tenant), trueOvercharge, "the tenant is paid for the overcharge it proved");
        assertGe(market.reputationOf(hostId).slashed, 2 * trueOvercharge, "the bond pays 2x the true overcharge");
    }

    /// Same lever against a dispute: the tenant disputes an inflated line (no receipt at hand), and the
    /// operator closes the dispute at once with its own near-exact receipt (status Receipt, penalty 2x one
    /// CPU-ms); the arbiter can no longer uphold it (MarketDisputeNotOpen) and slash 2x the line.
    function test_operatorSelfSlashWithNearExactReceipt_closesOpenDisputeBeforeTheArbiter() public {
        (uint64 id, uint256[] memory lines) = reportedOvercharge();
        vm.warp(startOf(GRACE_PERIODS + 1)); // the report is closed to batches
        vm.prank(tenant);
        uint256 disputeId = market.openDispute(hostId, 0, lines, 0);

        (IMarket.UsageReceipt memory nearly, bytes memory nearlySig) = signed(opKey, id, 0, 29_999, 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotTenant.selector, operator, id));
        market.slashWithReceipt(hostId, 0, lines, 0, nearly, nearlySig);

        assertEq(
            uint8(market.disputeOf(disputeId).status),
            uint8(IMarket.DisputeStatus.Open),
            "the operator must not be able to end a dispute against itself for a token penalty"
        );
        vm.prank(arbiter);
        try market.rule(disputeId, true) {} catch {}
        assertGe(market.reputationOf(hostId).slashed, 2 * cost(30_000, 0), "an upheld dispute slashes 2x the line");
    }

    // --- M/L: a fold after the window loosens the aggregate bound of an unslashable line -----

    /// Admitted half-way through period 0, the allocation held 15,000 CPU-ms in it. The operator reports
    /// 30,000 (its peak for a whole period): above what was held, so during the window lineCost refuses it
    /// and the tenant's receipt can't slash it (MarketLineNotChargeable). After the window the operator
    /// auto-resizes the allocation to the same size (any fold does it: a tenant's resize or release too):
    /// `_heldUntil(end of period 0)` then returns what was held until the fold, the line fits, and the
    /// claim charges 30,000 CPU-ms for a period in which 15,000 were held and 1,000 used, with no penalty
    /// risk. SECURITY.md/trust-design: "everything claimed ... under what it held until the line's period
    /// ended".
    function test_foldAfterWindow_unslashableLineAboveHeldChargedAtClaim() public {
        vm.warp(startOf(0) + PERIOD / 2);
        uint64 id = request(tenant, small());
        vm.prank(tenant);
        tc.setScalingPolicy(id, small(), res(1000, 512, 2, 128), type(uint64).max);

        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 30_000, 0);
        reportOnly(0, lines);
        (bool chargeable,) = tc.lineCost(hostId, 0, lines[0]);
        assertFalse(chargeable, "above what was held in period 0: not chargeable in the window");
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 1_000, 0);
        vm.warp(startOf(GRACE_PERIODS + 1));
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineNotChargeable.selector, id, 0));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);

        vm.warp(finalAt(0)); // the window is over: nobody can void or slash any more
        vm.prank(operator);
        tc.autoResizeAllocation(id, small()); // same size: only the meter is folded
        uint256 before = tc.accountOf(tenant).balance;
        claim(0, lines);
        uint256 charged = before - tc.accountOf(tenant).balance;
        uint256 heldInPeriod = uint256(small().cpuMillis) * (PERIOD / 2);
        assertLe(charged, cost(uint64(heldInPeriod), 0), "a line is charged at most what was held in its period");
    }

    // --- L: the suspension mark outlives the tenant's solvency ---------------------------------

    /// A tenant's escrow runs out (suspension marked); it tops up for its small allocation, not for both,
    /// and releases the big one: its escrow now covers the small one for two hours beyond the minimum
    /// prepaid period, but the mark stays (only a deposit or a rate of 0 clears it), so once the grace is
    /// over any keeper expires the funded allocation as OutOfFunds.
    function test_suspensionMarkOutlivesSolvency_keeperExpiresFundedAllocation() public {
        Resources memory large = res(4000, 8192, 10, 1000);
        Resources memory smallR = small();
        uint256 rA = rateOf(large);
        uint256 rB = rateOf(smallR);
        registerAndFund(
            tenant2, (rA + rB) * MIN_PREPAID + (meteredRateOf(large) + meteredRateOf(smallR)) * exposureSeconds()
        );
        uint64 a = request(tenant2, large);
        uint64 b = request(tenant2, smallR);

        uint256 paidThrough = tc.accountOf(tenant2).paidThrough;
        vm.warp(paidThrough + 1);
        tc.settle(a); // marks the suspension
        assertEq(tc.accountOf(tenant2).suspendedAt, paidThrough);

        // Enough for the debt and the small allocation's prepaid period twice over, not for both.
        fund(tenant2, (rA + rB) * (block.timestamp - paidThrough) + 2 * rB * MIN_PREPAID);
        vm.prank(tenant2);
        tc.releaseAllocation(a);
        assertGe(tc.accountOf(tenant2).paidThrough, block.timestamp + MIN_PREPAID, "solvent beyond the prepaid period");

        vm.warp(paidThrough + GRACE);
        assertGt(tc.accountOf(tenant2).paidThrough, block.timestamp, "still funded");
        vm.prank(stranger);
        try tc.expireAllocation(b) {} catch {}
        assertEq(uint8(tc.getAllocation(b).status), uint8(AllocationStatus.Active), "a funded allocation doesn't expire");
    }
}
