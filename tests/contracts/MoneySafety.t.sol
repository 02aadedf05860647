// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {FeeToken} from "./utils/FeeToken.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {TenantChainMarket} from "../../contracts/TenantChainMarket.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {ITenantChain} from "../../contracts/interfaces/ITenantChain.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";
import {IAllocation} from "../../contracts/interfaces/IAllocation.sol";
import {IBilling} from "../../contracts/interfaces/IBilling.sol";
import {IUsage} from "../../contracts/interfaces/IUsage.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Regression tests for the audit of `f151579` (issue 21): one per numbered finding, named for the
/// attack, each reproducing the attack's steps and asserting that it now fails or is harmless (on
/// `f151579` every one of them worked), then the "also found" items and the mechanisms that fix them.
/// SECURITY.md maps each attack class to the test here that shows what stops it.
contract MoneySafetyTest is Base {
    uint32 internal constant BOND_SECONDS = 3600;
    uint256 internal opKey;
    uint256[] internal noLines;

    function setUp() public override {
        opKey = deployBonded(BOND_SECONDS);
        vm.prank(tenant);
        token.approve(address(market), type(uint256).max);
    }

    // --- helpers ------------------------------------------------------------------------

    /// @dev Period 0 can no longer be reported (its grace is over) nor claimed (nothing is held for it).
    function periodZeroIsClosed(uint256[] memory lines) internal {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageReportTooLate.selector, 0, GRACE_PERIODS + 1));
        tc.reportUsage(hostId, 0, lines, noLines);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageNothingToClaim.selector, hostId, 0));
        tc.claimUsage(hostId, 0, lines);
    }

    function claim(uint32 period, uint256[] memory lines) internal {
        vm.prank(operator);
        tc.claimUsage(hostId, period, lines);
    }

    function two(uint256 a, uint256 b) internal pure returns (uint256[] memory lines) {
        lines = new uint256[](2);
        (lines[0], lines[1]) = (a, b);
    }

    function times(ReservedPrices memory p, uint64 k) internal pure returns (ReservedPrices memory) {
        return ReservedPrices(p.cpuMilli * k, p.memoryMiB * k, p.storageGiB * k, p.pid * k);
    }

    function maxCpu(Resources memory r) internal pure returns (uint64) {
        return uint64(uint256(r.cpuMillis) * PERIOD);
    }

    function maxMem(Resources memory r) internal pure returns (uint64) {
        return uint64(uint256(r.memoryMiB) * PERIOD);
    }

    // --- finding 1: metered prices set at claim time ------------------------------------

    /// Report honest lines, wait out the window, raise the metered price to 1e30, claim, settle, withdraw:
    /// on f151579 this emptied the escrow. The claim now prices lines at the allocation's agreed terms.
    function test_finding1_operatorRaisesMeteredPriceBeforeClaim_chargesAgreedPrice() public {
        uint64 id = request(tenant, small());
        uint256 t0 = block.timestamp;
        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 15_000, 256 * 30);
        reportOnly(0, lines); // honest: receipts match, nothing to dispute
        vm.warp(finalAt(0));
        deal(address(token), operator, 1e36); // the bond covers metered income: a 1e30 price locks ~8.6e34
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), MeteredPrices({cpuSecond: 1e30, memoryGiBSecond: 1e30}));
        claim(0, lines);
        uint256 agreed = cost(15_000, 256 * 30);
        assertEq(tc.getAllocation(id).pendingMetered, 0, "collected at once");
        vm.prank(operator);
        uint256 paid = tc.withdrawEarnings(hostId, operator);
        uint256 reserved = rateOf(small()) * (block.timestamp - t0);
        assertEq(paid, reserved + agreed);
        assertEq(tc.accountOf(tenant).balance, 1_000 ether - reserved - agreed);
        (, MeteredPrices memory terms,,) = tc.termsOf(id);
        assertEq(terms.cpuSecond, metered().cpuSecond);
    }

    /// The same lever against receipts: metered prices at 0 during the window made a slash revert
    /// MarketNoOvercharge, and the price came back for the claim. The market prices at the agreed terms.
    function test_finding1_operatorZeroesMeteredPriceDuringWindow_receiptStillSlashes() public {
        (uint64 id, uint256[] memory lines) = reportedOvercharge(); // the host signed for 10,000
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), MeteredPrices(0, 0));
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 10_000, 0);
        uint256 overcharge = cost(30_000, 0) - cost(10_000, 0);
        assertGt(overcharge, 0);
        vm.expectEmit(address(market));
        emit IMarket.Slashed(hostId, id, 0, overcharge, 2 * overcharge, overcharge, overcharge / 2, overcharge / 2);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), metered()); // the price comes back for the claim
        vm.warp(finalAt(0));
        claim(0, lines);
        assertEq(tc.getAllocation(id).pendingMetered, 0, "the slashed line is void");
        assertEq(market.payoutOf(tenant), overcharge);
    }

    // --- finding 2: a late report skipped the dispute window ----------------------------

    /// Report period p after p + disputePeriods + 1 at the physical maximum and claim it in the same block:
    /// refused (UsageReportTooLate). A report at the last moment allowed still leaves a full window.
    function test_finding2_lateReportSkipsTheWindow_refusedAndTheLastReportStillHasAWindow() public {
        uint64 id = request(tenant, small());
        uint256[] memory atMax = line(id, maxCpu(small()), maxMem(small()));
        vm.warp(startOf(DISPUTE + 1)); // f151579 counted finality from the period: final already
        periodZeroIsClosed(atMax);

        // The latest report of period p (the last second of its grace) ...
        uint32 p = tc.currentPeriod();
        vm.warp(startOf(p + GRACE_PERIODS + 1) - 1);
        reportOnly(p, atMax);
        uint32 finalFrom = tc.finalFrom(p);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageNotFinal.selector, p, finalFrom));
        tc.claimUsage(hostId, p, atMax);
        // ... stays open to receipts and disputes for disputePeriods full periods after it.
        assertGt(finalAt(p) - block.timestamp, uint256(DISPUTE) * PERIOD);
        vm.warp(finalAt(p) - 1);
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, p, 0, 0);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, p, atMax, 0, r, sig);
        vm.warp(finalAt(p));
        claim(p, atMax);
        assertEq(tc.getAllocation(id).pendingMetered, 0);
    }

    // --- finding 3: an empty report reset the slot ---------------------------------------

    /// A disputed line, then slot rewrites (an empty batch, a further batch, the slot's next period
    /// reported empty: digest 0), then the disputed period re-reported and claimed: on f151579 the voids
    /// flag was dropped and the tenant charged. The voided line is never charged; the period can't return.
    function test_finding3_emptyReportThenReReportOfDisputedPeriod_voidedLineNeverCharged() public {
        uint64 id = request(tenant, small());
        uint64 id2 = request(tenant, small());
        vm.warp(startOf(1));
        uint256[] memory disputed = line(id, 20_000, 0);
        reportOnly(0, disputed);
        vm.prank(tenant);
        market.openDispute(hostId, 0, disputed, 0);
        assertTrue(tc.isVoided(id, 0));

        reportOnly(0, noLines); // an empty batch
        reportOnly(0, line(id2, 5_000, 0)); // a further batch: the voids flag stays
        uint256[] memory all = two(disputed[0], pack(id2, 5_000, 0));
        assertEq(tc.usageDigestOf(hostId, 0), market.digestOf(0, all));

        vm.warp(finalAt(0));
        uint256 before = tc.accountOf(tenant).balance;
        uint32 next = GRACE_PERIODS + DISPUTE; // the same slot's next period, reported empty (digest 0)
        vm.prank(operator);
        tc.reportUsage(hostId, next, noLines, all); // claims period 0 on the way
        periodZeroIsClosed(disputed);

        assertEq(tc.getAllocation(id).pendingMetered, 0, "the voided line is never charged");
        assertEq(tc.getAllocation(id2).pendingMetered, 0, "collected at once");
        assertEq(before - tc.accountOf(tenant).balance, cost(5_000, 0), "the claim did run: id2's line only");
    }

    // --- finding 4: a tenant could leave owing --------------------------------------------

    /// Use the allocation at the physical maximum, release, withdraw everything withdrawable before the
    /// claims arrive: on f151579 the claims could never be collected. The exposure stays in the escrow,
    /// the late claims are collected in full, and the rest is withdrawable once nothing can be claimed.
    function test_finding4_releaseThenWithdrawAll_lateClaimCollectedInFull() public {
        registerAndFund(tenant2, 10 ether);
        uint64 id = request(tenant2, small());
        uint256[] memory atMax = line(id, maxCpu(small()), maxMem(small()));
        vm.warp(startOf(1));
        reportOnly(0, atMax);
        vm.warp(startOf(2));
        reportOnly(1, atMax);
        vm.prank(tenant2);
        tc.releaseAllocation(id);

        uint256 exposure = meteredRateOf(small()) * exposureSeconds();
        assertEq(tc.exposureOf(tenant2), exposure);
        uint256 all = tc.accountOf(tenant2).withdrawable;
        vm.prank(tenant2);
        tc.withdraw(all, tenant2);
        assertEq(tc.accountOf(tenant2).balance, exposure, "withdraw-all leaves the exposure");
        vm.prank(tenant2);
        vm.expectRevert(abi.encodeWithSelector(IBilling.BillingInsufficientBalance.selector, tenant2, 1, 0));
        tc.withdraw(1, tenant2);

        uint256 lineCost = cost(maxCpu(small()), maxMem(small()));
        vm.warp(finalAt(0));
        claim(0, atMax);
        vm.warp(finalAt(1));
        claim(1, atMax);
        assertEq(tc.getAllocation(id).pendingMetered, 0, "collected at once, in full");
        assertEq(tc.earningsOf(hostId), rateOf(small()) * 2 * PERIOD + 2 * lineCost);
        uint256 rest = exposure - 2 * lineCost;
        assertEq(tc.accountOf(tenant2).balance, rest);

        uint256 closedUntil = startOf(tc.claimClosesAt(2)); // released in period 2
        vm.warp(closedUntil - 1);
        assertEq(tc.accountOf(tenant2).withdrawable, 0);
        vm.warp(closedUntil);
        assertEq(tc.accountOf(tenant2).withdrawable, rest);
        assertEq(tc.exposureOf(tenant2), 0);
        vm.prank(tenant2);
        tc.withdraw(rest, tenant2);
        assertEq(token.balanceOf(tenant2), all + rest);
    }

    // --- finding 5: auto-resize re-priced what the tenant already held --------------------

    /// @dev An allocation of `start` with a scaling policy, its agreed rate and prices; then the host's
    /// prices nine times higher and the surcharge at 200%.
    function autoScaledThenSpiked()
        internal
        returns (uint64 id, Resources memory start, uint64 agreedRate, ReservedPrices memory agreed)
    {
        vm.prank(admin);
        tc.setMaxSurcharge(200);
        start = res(250, 256, 1, 64);
        id = request(tenant, start);
        vm.prank(tenant);
        tc.setScalingPolicy(id, res(250, 128, 1, 64), res(1000, 1024, 1, 64), type(uint64).max);
        agreedRate = tc.getAllocation(id).ratePerSecond;
        (agreed,,,) = tc.termsOf(id);
        vm.startPrank(operator);
        tc.updateHost(hostId, hostCapacity(), times(prices(), 9), metered());
        tc.setSurcharge(hostId, 200);
        vm.stopPrank();
    }

    /// Raise prices and the surcharge, auto-resize to the same size, restore: on f151579 the tenant paid up
    /// to its ceiling for its minimum. Kept units stay at the agreed price; added units are priced at the
    /// quote for them alone, but never above the agreed price (an operator's action never raises a unit).
    function test_finding5_priceRiseThenAutoResize_keptPartStaysAtAgreedPrice() public {
        (uint64 id, Resources memory start, uint64 agreedRate, ReservedPrices memory agreed) = autoScaledThenSpiked();
        vm.prank(operator);
        tc.autoResizeAllocation(id, start); // the same size
        assertEq(tc.getAllocation(id).ratePerSecond, agreedRate, "the same size keeps its rate");
        (ReservedPrices memory after_,,,) = tc.termsOf(id);
        assertEq(after_.cpuMilli, agreed.cpuMilli);

        // Growth: only the added 250 millicores at the quote for them alone, beside everything in use.
        vm.warp(block.timestamp + PERIOD / 2);
        uint256 addedPrice = tc.rateOf(hostId, res(250, 0, 0, 0)) / 250;
        assertGt(addedPrice, 9 * uint256(agreed.cpuMilli));
        vm.prank(operator);
        tc.autoResizeAllocation(id, res(500, 256, 1, 64));
        uint256 cpuPrice = agreed.cpuMilli; // min(quote, agreed) for the added 250: the agreed price
        (ReservedPrices memory grown,,,) = tc.termsOf(id);
        assertEq(grown.cpuMilli, cpuPrice);
        assertEq(grown.memoryMiB, agreed.memoryMiB);
        assertEq(grown.pid, agreed.pid);
        uint256 expected =
            500 * cpuPrice + 256 * uint256(agreed.memoryMiB) + uint256(agreed.storageGiB) + 64 * uint256(agreed.pid);
        assertEq(tc.getAllocation(id).ratePerSecond, expected);
        assertLt(expected, tc.rateOf(hostId, res(500, 256, 1, 64)), "not the whole at the quote");
    }

    // --- finding 6: no slippage bound ----------------------------------------------------

    /// The operator front-runs a request with prices x9 and capacity cut so no extra bond is due: on
    /// f151579 the tenant was admitted at 9x. The request carries its quote and is refused above it.
    function test_finding6_frontRunPriceRise_requestRevertsAboveMax() public {
        uint64 quote = quoteOf(hostId, small());
        uint256 bond = market.bondOf(hostId).amount;
        vm.prank(operator);
        tc.updateHost(hostId, res(888, 1820, 22, 455), times(prices(), 9), metered());
        assertEq(market.bondOf(hostId).amount, bond, "no extra bond was due");
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationRateAboveMax.selector, 9 * rateOf(small()), quote));
        tc.requestAllocation(hostId, small(), quote, metered(), specHash, spec);
        assertEq(tc.getTenant(tenant).activeAllocations, 0);
    }

    /// Slippage on the other bounds: metered prices raised before a request, reserved prices before a resize.
    function test_slippage_meteredRiseRefusesRequest_priceRiseRefusesResize() public {
        uint64 quote = quoteOf(hostId, small());
        MeteredPrices memory dear = MeteredPrices(metered().cpuSecond * 9, metered().memoryGiBSecond);
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), dear);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationMeteredAboveMax.selector, dear, metered()));
        tc.requestAllocation(hostId, small(), quote, metered(), specHash, spec);

        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), metered());
        uint64 id = request(tenant, small());
        Resources memory bigger = res(1000, 512, 2, 128);
        uint64 resizeQuote = quoteOf(hostId, bigger);
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), times(prices(), 2), metered());
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(IAllocation.AllocationRateAboveMax.selector, 2 * rateOf(bigger), resizeQuote)
        );
        tc.resizeAllocation(id, bigger, resizeQuote);
        assertTrue(eq(tc.getAllocation(id).resources, small()));
    }

    // --- finding 7: the physical bound at claim time ---------------------------------------

    /// Shrink after an honest period at full size: on f151579 the claim checked the line against the new
    /// size, dropped it and counted it against the host. The bound is what was held during the period.
    function test_finding7_shrinkBeforeClaim_honestLineStillCharged() public {
        Resources memory big = res(2000, 1024, 1, 64);
        uint64 id = request(tenant, big);
        vm.warp(startOf(1));
        uint256[] memory atMax = line(id, maxCpu(big), maxMem(big));
        reportOnly(0, atMax);
        resize(tenant, id, small());
        // Lines of the larger size may still come: the exposure stays at the peak.
        assertEq(tc.exposureOf(tenant), meteredRateOf(big) * exposureSeconds());
        vm.warp(finalAt(0));
        uint256 before = tc.accountOf(tenant).balance;
        claim(0, atMax);
        assertEq(tc.getAllocation(id).pendingMetered, 0, "collected at once");
        assertEq(before - tc.accountOf(tenant).balance, cost(maxCpu(big), maxMem(big)), "charged in full");
        (,, uint32 dropped) = tc.hostRecordOf(hostId);
        assertEq(dropped, 0);
    }

    /// Grow before the claim: on f151579 a line above what was reserved during the period was charged at
    /// the new size. Everything charged must fit in what was held until the period's end.
    function test_finding7_growBeforeClaim_lineAboveWhatWasHeldDropped() public {
        uint64 id = request(tenant, small());
        Resources memory big = res(2000, 1024, 1, 64);
        vm.warp(startOf(1));
        uint256[] memory over = line(id, maxCpu(big), 0); // 4x what the period held
        reportOnly(0, over);
        resize(tenant, id, big);
        (bool chargeable,) = tc.lineCost(hostId, 0, over[0]);
        assertFalse(chargeable, "within the new peak, above what was held: the aggregate bound refuses it");
        vm.warp(finalAt(0));
        vm.expectEmit(address(tc));
        emit IUsage.UsageLineDropped(id, 0);
        claim(0, over);
        assertEq(tc.getAllocation(id).pendingMetered, 0);
        (,, uint32 dropped) = tc.hostRecordOf(hostId);
        assertEq(dropped, 1);
    }

    // --- finding 8: pause blocked top-ups but not expiry ----------------------------------

    /// While paused a tenant could not top up, and keepers expired its allocations. Expiry is refused while
    /// paused, deposits work (and resume the tenant), so nothing is lost to the emergency stop.
    function test_finding8_pauseBlocksTopUp_expiryRefusedDepositResumes() public {
        uint256 rate = rateOf(small());
        registerAndFund(tenant2, rate * (MIN_PREPAID + 100) + meteredRateOf(small()) * exposureSeconds());
        uint64 id = request(tenant2, small());
        uint256 paidThrough = tc.accountOf(tenant2).paidThrough;
        vm.prank(admin);
        tc.pause();
        vm.warp(paidThrough + GRACE);
        tc.settle(id); // settlement works: marks the tenant suspended
        assertEq(tc.accountOf(tenant2).suspendedAt, paidThrough);
        vm.prank(stranger);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.expireAllocation(id);

        uint256 topUp = rate * (MIN_PREPAID + GRACE);
        token.mint(tenant2, topUp);
        vm.startPrank(tenant2);
        token.approve(address(tc), topUp);
        vm.expectEmit(address(tc));
        emit IBilling.TenantResumed(tenant2);
        tc.deposit(tenant2, topUp); // money comes in while paused
        vm.stopPrank();
        vm.prank(admin);
        tc.unpause();
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationNotExpired.selector, id, type(uint256).max));
        tc.expireAllocation(id);
        assertEq(uint8(tc.getAllocation(id).status), uint8(AllocationStatus.Active));
    }

    // --- finding 9: an appended batch front-ran each slash ----------------------------------

    /// Every appended batch changed the digest, so the operator could front-run each slash with a one-line
    /// batch until the window closed. After the grace the digest is closed, and the window is still open.
    function test_finding9_appendedBatchFrontRunsSlash_digestClosedAfterGrace() public {
        uint64 id = request(tenant, small());
        uint64 id2 = request(tenant, small());
        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 30_000, 0);
        reportOnly(0, lines);
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 10_000, 0);
        reportOnly(0, line(id2, 1, 0)); // the front-run: within the grace it still works once
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReportMismatch.selector, hostId, 0));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);

        uint256 closedAt = startOf(GRACE_PERIODS + 1);
        vm.warp(closedAt);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageReportTooLate.selector, 0, GRACE_PERIODS + 1));
        tc.reportUsage(hostId, 0, line(id2, 2, 0), noLines);
        assertEq(finalAt(0) - closedAt, uint256(DISPUTE) * PERIOD, "a full window after the last batch");
        vm.warp(finalAt(0) - 1);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, two(lines[0], pack(id2, 1, 0)), 0, r, sig);
        assertTrue(tc.isVoided(id, 0));
        assertEq(market.reputationOf(hostId).slashes, 1);
    }

    // --- finding 10: a rejected allocation was charged metered usage ------------------------

    /// Report a line for an allocation, then reject it: on f151579 the claim still charged the line.
    function test_finding10_rejectedAllocationReported_lineDroppedNothingCharged() public {
        uint64 id = request(tenant, small());
        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 10_000, 0);
        reportOnly(0, lines);
        vm.prank(operator);
        tc.rejectAllocation(id, 5);
        (bool chargeable,) = tc.lineCost(hostId, 0, lines[0]);
        assertFalse(chargeable);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineNotChargeable.selector, id, 0));
        market.openDispute(hostId, 0, lines, 0);
        vm.warp(finalAt(0));
        claim(0, lines);
        assertEq(tc.getAllocation(id).pendingMetered, 0);
        assertEq(tc.earningsOf(hostId), 0);
        assertEq(tc.accountOf(tenant).balance, 1_000 ether, "rejection promises nothing charged");
        assertEq(tc.exposureOf(tenant), 0);
    }

    // --- finding 11: the market's own line rules -------------------------------------------

    /// A line 10x the physical bound (which the claim drops) could be disputed, and on expiry the operator
    /// was paid its face value. The market refuses lines the claim would not charge, and prices the rest at
    /// the allocation's terms whatever the host's prices are now.
    function test_finding11_disputeOfALineTheClaimDrops_refusedNotChargeable() public {
        uint64 id = request(tenant, small());
        uint64 id2 = request(tenant, small());
        vm.warp(startOf(1));
        uint256[] memory lines = two(pack(id, 10 * maxCpu(small()), 0), pack(id2, 20_000, 0));
        reportOnly(0, lines);
        uint256 before = token.balanceOf(tenant);
        vm.startPrank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineNotChargeable.selector, id, 0));
        market.openDispute(hostId, 0, lines, 0);
        vm.stopPrank();
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineNotChargeable.selector, id, 0));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);

        // A chargeable line is weighed at the agreed price, not the host's price of the moment.
        deal(address(token), operator, 1e26); // the bond covers metered income: the raise locks ~8.6e24
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), MeteredPrices(1e20, 1e20));
        vm.prank(tenant);
        uint256 disputeId = market.openDispute(hostId, 0, lines, 1);
        assertEq(market.disputeOf(disputeId).lineCost, cost(20_000, 0));
        vm.warp(block.timestamp + 1 days + 1);
        market.expireDispute(disputeId);
        assertEq(market.payoutOf(operator), cost(20_000, 0), "the face value at the agreed price");
        assertEq(before - token.balanceOf(tenant), market.disputeOf(disputeId).bond);

        vm.warp(finalAt(0));
        claim(0, lines);
        assertEq(tc.getAllocation(id).pendingMetered, 0, "dropped");
        assertEq(tc.getAllocation(id2).pendingMetered, 0, "voided by the dispute, paid through the market");
    }

    // --- also found: bonds gate admission -------------------------------------------------

    /// A host slashed below the bond its capacity requires admits nothing until it is topped up.
    function test_bondShort_slashedHostAdmitsNothing_untilAddBond() public {
        (uint64 id, uint256[] memory lines) = reportedOvercharge();
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 10_000, 0);
        vm.expectEmit(address(tc));
        emit IRegistry.HostBondStatusSet(hostId, true);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);
        assertTrue(tc.hostBondShort(hostId));
        requestReverts(tenant, small(), abi.encodeWithSelector(IAllocation.AllocationHostBondShort.selector, hostId));

        IMarket.Bond memory b = market.bondOf(hostId);
        uint256 missing = b.required - b.amount;
        token.mint(stranger, missing);
        vm.startPrank(stranger); // anyone may top a bond up
        token.approve(address(market), missing);
        market.addBond(hostId, missing - 1);
        assertTrue(tc.hostBondShort(hostId), "one short is short");
        vm.expectEmit(address(tc));
        emit IRegistry.HostBondStatusSet(hostId, false);
        market.addBond(hostId, 1);
        vm.stopPrank();
        assertFalse(tc.hostBondShort(hostId));
        request(tenant, small());
    }

    // --- also found: retired hosts --------------------------------------------------------

    /// A retired host reports the periods it served, no later one; once its bond is out, nothing at all.
    function test_retiredHost_cannotReportLaterPeriods() public {
        uint64 id = request(tenant, small());
        vm.warp(startOf(1) + 10);
        reportOnly(0, line(id, 1000, 0));
        vm.prank(tenant);
        tc.releaseAllocation(id);
        vm.prank(operator);
        tc.setHostStatus(hostId, HostStatus.Retired); // in period 1
        vm.warp(startOf(2));
        reportOnly(1, line(id, 500, 0)); // it served period 1
        vm.warp(startOf(3));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageHostRetired.selector, hostId, 2, 1));
        tc.reportUsage(hostId, 2, line(id, 1000, 0), noLines);
        claim(0, line(id, 1000, 0));
        vm.warp(finalAt(1));
        claim(1, line(id, 500, 0));
        assertEq(tc.earningsOf(hostId), rateOf(small()) * (PERIOD + 10) + cost(1500, 0));

        vm.prank(operator);
        market.startUnbonding(hostId);
        vm.warp(market.bondOf(hostId).unbondingEndsAt);
        vm.prank(operator);
        market.withdrawBond(hostId, operator);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageReportTooLate.selector, 1, 1 + GRACE_PERIODS + 1));
        tc.reportUsage(hostId, 1, line(id, 1000, 0), noLines);
    }

    // --- also found: the emergency stop ---------------------------------------------------

    /// While paused money comes in and goes back to tenants; nothing expires and nothing leaves to an
    /// operator (earnings, bonds) until the stop is lifted.
    function test_pause_depositWorks_expiryAndOperatorWithdrawalsRefused_releaseAndWithdrawWork() public {
        uint64 id = request(tenant, small());
        vm.warp(block.timestamp + 100);
        vm.prank(admin);
        tc.pause();
        fund(tenant, 1 ether);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.expireAllocation(id);
        vm.prank(tenant);
        tc.releaseAllocation(id);
        uint256 withdrawable = tc.accountOf(tenant).withdrawable;
        vm.prank(tenant);
        tc.withdraw(withdrawable, tenant);
        assertEq(tc.accountOf(tenant).withdrawable, 0);
        vm.prank(operator);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.withdrawEarnings(hostId, operator);

        vm.prank(operator);
        tc.setHostStatus(hostId, HostStatus.Retired);
        vm.prank(operator);
        market.startUnbonding(hostId);
        vm.warp(market.bondOf(hostId).unbondingEndsAt);
        vm.prank(operator);
        vm.expectRevert(IMarket.MarketPaused.selector);
        market.withdrawBond(hostId, operator);

        vm.prank(admin);
        tc.unpause();
        uint256 bond = market.bondOf(hostId).amount;
        uint256 before = token.balanceOf(operator);
        vm.startPrank(operator);
        market.withdrawBond(hostId, operator);
        tc.withdrawEarnings(hostId, operator);
        vm.stopPrank();
        assertEq(token.balanceOf(operator), before + bond + rateOf(small()) * 100);
    }

    // --- also found: admin power with notice ------------------------------------------------

    function test_adminDelay_tenantChainParametersApplyOnlyAfterTheDelay() public {
        uint32 effectiveAt = uint32(block.timestamp) + tc.PARAMETER_DELAY();
        vm.prank(admin);
        tc.proposeParameters(2 * MIN_PREPAID, 60, stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryParametersNotDue.selector, effectiveAt));
        tc.applyParameters();
        vm.warp(effectiveAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryParametersNotDue.selector, effectiveAt));
        tc.applyParameters();
        (uint32 minPrepaid, uint32 grace,, address t) = tc.parameters();
        assertEq(minPrepaid, MIN_PREPAID, "the old parameters hold until applied");
        assertEq(grace, GRACE);
        assertEq(t, admin);
        vm.warp(effectiveAt);
        tc.applyParameters();
        (minPrepaid, grace,, t) = tc.parameters();
        assertEq(minPrepaid, 2 * MIN_PREPAID);
        assertEq(grace, 60);
        assertEq(t, stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryParametersNotDue.selector, 0));
        tc.applyParameters();
    }

    function test_adminDelay_marketParametersApplyOnlyAfterTheDelay() public {
        IMarket.Parameters memory p = marketParams(2 * BOND_SECONDS);
        p.arbiter = stranger;
        uint32 effectiveAt = uint32(block.timestamp) + market.PARAMETER_DELAY();
        vm.expectEmit(address(market));
        emit IMarket.ParametersProposed(p, effectiveAt);
        vm.prank(admin);
        market.proposeParameters(p);
        (IMarket.Parameters memory pending, uint32 at) = market.pendingParameters();
        assertEq(at, effectiveAt);
        assertEq(pending.arbiter, stranger);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketParametersNotDue.selector, effectiveAt));
        market.applyParameters();
        vm.warp(effectiveAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketParametersNotDue.selector, effectiveAt));
        market.applyParameters();
        assertEq(market.parameters().arbiter, arbiter, "the old arbiter rules until applied");
        vm.warp(effectiveAt);
        vm.prank(stranger);
        market.applyParameters();
        assertEq(market.parameters().arbiter, stranger);
        assertEq(market.parameters().bondSeconds, 2 * BOND_SECONDS);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketParametersNotDue.selector, 0));
        market.applyParameters();
    }

    // --- also found: the token --------------------------------------------------------------

    /// A chain and market on a token that charges a fee on transfer, set up with the fee off.
    function deployOnFeeToken() internal returns (FeeToken fee, uint64 id) {
        fee = new FeeToken();
        tc = ITenantChain(
            address(
                new TenantChain(
                    admin, IERC20(address(fee)), PERIOD, 0, DISPUTE, GRACE_PERIODS, MIN_PREPAID, GRACE, bigQuota()
                )
            )
        );
        market = new TenantChainMarket(admin, tc, marketParams(BOND_SECONDS));
        vm.startPrank(admin);
        tc.setMarket(address(market));
        tc.approveOperator(operator, true);
        vm.stopPrank();
        fee.mint(operator, 1_000_000 ether);
        fee.mint(tenant, 1_000 ether);
        vm.prank(operator);
        fee.approve(address(market), type(uint256).max);
        hostId = registerHost(operator, hostCapacity());
        vm.startPrank(tenant);
        fee.approve(address(tc), type(uint256).max);
        fee.approve(address(market), type(uint256).max);
        tc.registerTenant(0, "", small());
        tc.deposit(tenant, 100 ether);
        vm.stopPrank();
        id = request(tenant, small());
    }

    function test_feeOnTransferToken_refusedAtDeposit() public {
        (FeeToken fee,) = deployOnFeeToken();
        fee.setFee(100); // 1%
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IBilling.BillingTokenAmountMismatch.selector, 10 ether, 9.9 ether));
        tc.deposit(tenant, 10 ether);
        assertEq(tc.accountOf(tenant).funded, 100 ether + tc.accountOf(tenant).ratePerSecond * block.timestamp);
    }

    function test_feeOnTransferToken_refusedAtAddBondAndOpenDispute() public {
        (FeeToken fee, uint64 id) = deployOnFeeToken();
        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 20_000, 0);
        reportOnly(0, lines);
        fee.setFee(100);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketTokenAmountMismatch.selector, 1 ether, 0.99 ether));
        market.addBond(hostId, 1 ether);
        uint256 bond = market.disputeBondFor(cost(20_000, 0));
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(IMarket.MarketTokenAmountMismatch.selector, bond, bond - bond * 100 / 10_000)
        );
        market.openDispute(hostId, 0, lines, 0);
        assertFalse(tc.isVoided(id, 0));
        assertEq(market.owed(), fee.balanceOf(address(market)), "the books match the tokens held");
    }

    function test_constructor_refusesATokenWithoutCode() public {
        address eoa = makeAddr("not a token");
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryInvalidToken.selector, eoa));
        new TenantChain(admin, IERC20(eoa), PERIOD, 0, DISPUTE, GRACE_PERIODS, MIN_PREPAID, GRACE, bigQuota());
        // Code, but not a token: it doesn't answer totalSupply.
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryInvalidToken.selector, address(market)));
        new TenantChain(
            admin, IERC20(address(market)), PERIOD, 0, DISPUTE, GRACE_PERIODS, MIN_PREPAID, GRACE, bigQuota()
        );
    }

    // --- also found: operator key rotation --------------------------------------------------

    /// Two steps (propose, accept by the approved new operator); receipts the old key signed for periods up
    /// to the rotation still slash, later ones are forgeries.
    function test_operatorRotation_oldKeyReceiptForPreRotationPeriodStillSlashes() public {
        (address next, uint256 nextKey) = makeAddrAndKey("next operator");
        uint64 id = request(tenant, small());
        vm.warp(startOf(1));
        uint256[] memory lines = line(id, 30_000, 0);
        reportOnly(0, lines); // by the old operator

        vm.expectEmit(address(tc));
        emit IRegistry.HostOperatorProposed(hostId, next);
        vm.prank(operator);
        tc.proposeHostOperator(hostId, next);
        assertEq(tc.pendingOperatorOf(hostId), next);
        vm.prank(next);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryOperatorNotApproved.selector, next));
        tc.acceptHostOperator(hostId);
        vm.prank(admin);
        tc.approveOperator(next, true);
        vm.expectEmit(address(tc));
        emit IRegistry.HostOperatorChanged(hostId, operator, next);
        vm.prank(next);
        tc.acceptHostOperator(hostId); // in period 1
        assertEq(tc.getHost(hostId).operator, next);
        assertEq(tc.pendingOperatorOf(hostId), address(0));
        assertTrue(tc.isHostSigner(hostId, operator, 1));
        assertFalse(tc.isHostSigner(hostId, operator, 2));
        assertTrue(tc.isHostSigner(hostId, next, 0));

        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 10_000, 0);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig);
        assertTrue(tc.isVoided(id, 0));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, operator, hostId));
        tc.reportUsage(hostId, 1, lines, noLines);

        vm.warp(startOf(3));
        uint256[] memory later = line(id, 30_000, 0);
        vm.prank(next);
        tc.reportUsage(hostId, 2, later, noLines);
        (r, sig) = signed(opKey, id, 2, 10_000, 0);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketForgedReceipt.selector, operator, next));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 2, later, 0, r, sig);
        (r, sig) = signed(nextKey, id, 2, 10_000, 0);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 2, later, 0, r, sig);
        assertEq(market.reputationOf(hostId).slashes, 2);
    }

    /// The next rotation waits until the last one's periods can no longer be claimed (so that only one
    /// previous key is ever valid).
    function test_operatorRotation_secondRotationTooSoonRefused() public {
        address next = makeAddr("next operator");
        address third = makeAddr("third operator");
        vm.startPrank(admin);
        tc.approveOperator(next, true);
        tc.approveOperator(third, true);
        vm.stopPrank();
        vm.warp(startOf(1));
        vm.prank(operator);
        tc.proposeHostOperator(hostId, next);
        vm.prank(next);
        tc.acceptHostOperator(hostId); // period 1
        vm.prank(next);
        tc.proposeHostOperator(hostId, third);
        uint32 due = tc.claimClosesAt(1);
        vm.prank(third);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryRotationTooSoon.selector, hostId, due));
        tc.acceptHostOperator(hostId);
        vm.warp(startOf(due) - 1);
        vm.prank(third);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryRotationTooSoon.selector, hostId, due));
        tc.acceptHostOperator(hostId);
        vm.warp(startOf(due));
        vm.prank(third);
        tc.acceptHostOperator(hostId);
        assertEq(tc.getHost(hostId).operator, third);
        assertTrue(tc.isHostSigner(hostId, next, due));
        assertFalse(tc.isHostSigner(hostId, operator, 0), "two rotations back: no longer a signer");
    }

    // --- the attacker review of e3d6be1 ---------------------------------------------------

    /// H1: a line above the allocation's peak can't be disputed (not chargeable), but growing the
    /// allocation before the claim made it chargeable (before lines were bounded by their own period). Anyone voids it within its window, and it is never
    /// charged, even once the allocation has grown; an honest line can't be voided.
    function test_review_H1_lineAbovePeakVoidedByAnyone_neverChargedAfterGrowth() public {
        uint64 id = request(tenant, small());
        uint64 id2 = request(tenant, small());
        Resources memory big = res(2000, 1024, 1, 64);
        vm.warp(startOf(6));
        // 4x small's peak, but within what it held since admission (nothing claimed so far).
        uint256[] memory lines = two(pack(id, maxCpu(big), 0), pack(id2, 10_000, 0));
        reportOnly(5, lines);
        (bool chargeable,) = tc.lineCost(hostId, 5, lines[0]);
        assertFalse(chargeable, "above the peak");

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineChargeable.selector, id2, 5));
        market.voidUnchargeable(hostId, 5, lines, 1);
        assertFalse(tc.isVoided(id2, 5));
        vm.expectEmit(address(market));
        emit IMarket.UnchargeableLineVoided(hostId, id, 5);
        vm.prank(stranger);
        market.voidUnchargeable(hostId, 5, lines, 0);
        assertTrue(tc.isVoided(id, 5));

        resize(tenant, id, big);
        (chargeable,) = tc.lineCost(hostId, 5, lines[0]);
        // Since the fifth review a line must fit what was held in its own period: a later growth can't
        // make it chargeable any more (it once did, and only the void stopped it).
        assertFalse(chargeable, "a growth after its period doesn't make it chargeable");
        vm.warp(finalAt(5));
        uint256 before = tc.accountOf(tenant).balance;
        claim(5, lines);
        assertEq(before - tc.accountOf(tenant).balance, cost(10_000, 0), "only the honest line is charged");
        assertEq(tc.getAllocation(id).pendingMetered, 0);
        assertEq(market.reputationOf(hostId).slashes, 0, "nobody is slashed for an unchargeable line");
    }

    /// H2: prices spiked, a 1-unit automatic growth blended the spiked quote into every kept unit, and a
    /// shrink back kept the blended price. Added units are never priced above the agreed price.
    function test_review_H2_spikedQuoteOneUnitAutoResizeThenShrink_keepsAgreedUnitPrice() public {
        (uint64 id, Resources memory start, uint64 agreedRate, ReservedPrices memory agreed) = autoScaledThenSpiked();
        assertGt(tc.rateOf(hostId, res(1, 0, 0, 0)), 9 * uint256(agreed.cpuMilli), "the quote spiked");
        vm.prank(operator);
        tc.autoResizeAllocation(id, res(251, 256, 1, 64)); // one unit more
        (ReservedPrices memory grown,,,) = tc.termsOf(id);
        assertEq(grown.cpuMilli, agreed.cpuMilli, "the added unit at min(quote, agreed)");
        assertEq(tc.getAllocation(id).ratePerSecond, agreedRate + agreed.cpuMilli);

        vm.warp(block.timestamp + PERIOD / 2); // the cooldown
        vm.prank(operator);
        tc.autoResizeAllocation(id, start); // and back
        (ReservedPrices memory shrunk,,,) = tc.termsOf(id);
        assertEq(shrunk.cpuMilli, agreed.cpuMilli);
        assertEq(shrunk.memoryMiB, agreed.memoryMiB);
        assertEq(tc.getAllocation(id).ratePerSecond, agreedRate, "the same size at the same rate");
    }

    /// H3: a released allocation's exposure is held back from withdrawals, but a new admission could
    /// count it as prepaid cover and spend it. Admission requires the exposure on top of the minimum.
    function test_review_H3_admissionCannotSpendReleasedAllocationsExposure() public {
        uint256 rate = rateOf(small());
        uint256 ownExposure = meteredRateOf(small()) * exposureSeconds();
        uint256 amount = rate * MIN_PREPAID + ownExposure; // exactly one allocation's admission
        registerAndFund(tenant2, amount);
        uint64 id = request(tenant2, small());
        vm.prank(tenant2);
        tc.releaseAllocation(id);
        uint256 held = tc.exposureOf(tenant2);
        assertEq(held, ownExposure, "the released allocation's exposure is still held");
        assertEq(tc.accountOf(tenant2).balance, amount);
        assertGe(amount, rate * MIN_PREPAID, "the minimum prepaid alone is covered");

        requestReverts(
            tenant2,
            small(),
            abi.encodeWithSelector(
                IBilling.BillingInsufficientPrepaid.selector, tenant2, rate * MIN_PREPAID + held + ownExposure, amount
            )
        );
        assertEq(tc.getTenant(tenant2).activeAllocations, 0);

        // Once nothing can be claimed for the released allocation, the same admission goes through.
        vm.warp(startOf(tc.claimClosesAt(tc.currentPeriod())));
        assertEq(tc.exposureOf(tenant2), 0);
        request(tenant2, small());
        assertEq(tc.getTenant(tenant2).activeAllocations, 1);
    }

    /// L1: while TenantChain is paused an approved operator's market payout is refused; a tenant's is paid.
    function test_review_L1_pausedMarketPayout_operatorRefused_tenantPaid() public {
        uint64 id = request(tenant, small());
        uint64 id2 = request(tenant, small());
        vm.warp(startOf(1));
        uint256[] memory lines = two(pack(id, 30_000, 0), pack(id2, 20_000, 0));
        reportOnly(0, lines);
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 0, 10_000, 0);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, 0, lines, 0, r, sig); // the tenant's share of the slash
        assertEq(market.payoutOf(tenant), cost(30_000, 0) - cost(10_000, 0));
        vm.prank(tenant);
        uint256 disputeId = market.openDispute(hostId, 0, lines, 1);
        vm.warp(block.timestamp + 1 days + 1);
        market.expireDispute(disputeId); // the operator's payout (and the rest of the bond to the tenant)
        uint256 toOperator = market.payoutOf(operator);
        assertEq(toOperator, cost(20_000, 0));
        uint256 toTenant = market.payoutOf(tenant);
        assertEq(toTenant, cost(30_000, 0) - cost(10_000, 0) + market.disputeOf(disputeId).bond - cost(20_000, 0));

        vm.prank(admin);
        tc.pause();
        vm.prank(operator);
        vm.expectRevert(IMarket.MarketPaused.selector);
        market.withdrawPayout(operator);
        uint256 before = token.balanceOf(tenant);
        vm.prank(tenant);
        assertEq(market.withdrawPayout(tenant), toTenant);
        assertEq(token.balanceOf(tenant), before + toTenant);
        assertEq(market.payoutOf(operator), toOperator, "kept for after the stop");

        vm.prank(admin);
        tc.unpause();
        before = token.balanceOf(operator);
        vm.prank(operator);
        market.withdrawPayout(operator);
        assertEq(token.balanceOf(operator), before + toOperator);
    }

    /// L3: the bond covered reserved income only, so raising metered prices alone needed no more bond.
    /// The bond covers the capacity's metered income too.
    function test_review_L3_meteredOnlyPriceRise_raisesTheBond() public {
        Resources memory cap = hostCapacity();
        IMarket.Bond memory b = market.bondOf(hostId);
        assertEq(b.required, uint256(BOND_SECONDS) * (rateOf(cap) + meteredRateOf(cap)));
        assertEq(b.amount, b.required);

        MeteredPrices memory dear = MeteredPrices(3 * metered().cpuSecond, metered().memoryGiBSecond);
        uint256 required = uint256(BOND_SECONDS)
            * (rateOf(cap)
                + (uint256(cap.cpuMillis) * dear.cpuSecond + 999)
                / 1000
                + (uint256(cap.memoryMiB) * dear.memoryGiBSecond + 1023)
                / 1024);
        assertGt(required, b.required);
        uint256 before = token.balanceOf(operator);
        vm.prank(operator);
        tc.updateHost(hostId, cap, prices(), dear); // reserved prices unchanged
        b = market.bondOf(hostId);
        assertEq(b.required, required);
        assertEq(b.amount, required, "locked at the update");
        assertEq(
            before - token.balanceOf(operator), required - uint256(BOND_SECONDS) * (rateOf(cap) + meteredRateOf(cap))
        );
        assertFalse(tc.hostBondShort(hostId));
    }

    /// L4: a bondSeconds increase left bonded hosts admitting on a bond now short. Anyone syncs the
    /// status, and the host refuses admissions until the bond is topped up.
    function test_review_L4_syncBondStatusAfterBondSecondsIncrease_refusesAdmissions() public {
        vm.prank(admin);
        market.proposeParameters(marketParams(2 * BOND_SECONDS));
        vm.warp(block.timestamp + market.PARAMETER_DELAY());
        market.applyParameters();
        IMarket.Bond memory b = market.bondOf(hostId);
        assertEq(b.required, 2 * b.amount);
        assertFalse(tc.hostBondShort(hostId), "not yet synced");

        vm.expectEmit(address(tc));
        emit IRegistry.HostBondStatusSet(hostId, true);
        vm.prank(stranger);
        market.syncBondStatus(hostId);
        assertTrue(tc.hostBondShort(hostId));
        requestReverts(tenant, small(), abi.encodeWithSelector(IAllocation.AllocationHostBondShort.selector, hostId));

        vm.prank(operator);
        market.addBond(hostId, b.required - b.amount);
        assertFalse(tc.hostBondShort(hostId));
        request(tenant, small());
    }

    /// An allocation at reserved rate 0 never runs its escrow out, so it can't be suspended or expired
    /// while its metered use is claimed: refused.
    function test_review_zeroRateAllocationRefused() public {
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), ReservedPrices(0, 0, 0, 0), metered());
        assertEq(tc.rateOf(hostId, small()), 0);
        requestReverts(tenant, small(), abi.encodeWithSelector(IAllocation.AllocationZeroRate.selector));
        assertEq(tc.getTenant(tenant).activeAllocations, 0);
    }
}
