// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {BondedBase} from "./utils/BondedBase.t.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {IBilling} from "../../contracts/interfaces/IBilling.sol";
import {IUsage} from "../../contracts/interfaces/IUsage.sol";
import {ITenantChain} from "../../contracts/interfaces/ITenantChain.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {TenantChainMarket} from "../../contracts/TenantChainMarket.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

/// @notice Sixth adversarial review, of commit bab0409 (each line must fit what the allocation held in its
/// own period: `_heldIn` / `heldIn`; `_heldUntil` no longer clamped to now; saturating used totals) and the
/// MeterMark ring it relies on. No hole was found: every test here is a `testPin_*` of a tricky case that
/// is safe on c020a9a (they pass), so that a later change that breaks one of them fails loudly.
contract AttackReview6Test is BondedBase {
    function charge(uint32 period, uint256[] memory lines) internal returns (uint256 charged) {
        uint256 before = tc.accountOf(tenant).balance;
        claimAsFinal(period, lines);
        charged = before - tc.accountOf(tenant).balance;
    }

    // =====================================================================================================
    // The removed clamp: a running period's bound is a projection, and nothing on-chain can use it.
    // =====================================================================================================

    /// Safe (pin): without the clamp, `heldIn` and `lineCost` of the running period answer what the
    /// allocation will have held by its end if nothing changes (a full-period line is "chargeable"), but
    /// no path can act on it: the period can't be reported (BillingPeriodNotEnded), so it has no digest
    /// for the market (MarketReportMismatch for disputes, voids and receipts) and nothing to claim
    /// (UsageNothingToClaim). A release before the end lowers the projection to the truth, which is what
    /// the claim then uses: the projected line is dropped, the true one charged in full.
    /// (Off-chain note: a reader of `heldIn(p)` must read at a block stamped at or after p's end, or a
    /// fold in p's last block lowers the cap after it was read; reporter.py reads at "latest".)
    function testPin_runningPeriod_projectionUsableByNothing() public {
        vm.warp(startOf(0) + 10);
        uint64 id = request(tenant, small());
        vm.warp(startOf(0) + 30);
        uint64 projected = uint64(small().cpuMillis) * (PERIOD - 10);
        (uint256 heldCpu,) = tc.heldIn(id, 0);
        assertEq(heldCpu, projected, "running period: what it will have held by its end");
        uint256[] memory lines = line(id, projected, 0);
        (bool ok,) = tc.lineCost(hostId, 0, lines[0]);
        assertTrue(ok, "the projection is 'chargeable' in the view");

        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBilling.BillingPeriodNotEnded.selector, uint32(0), uint32(0)));
        tc.reportUsage(hostId, 0, lines, new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReportMismatch.selector, hostId, uint32(0)));
        market.voidUnchargeable(hostId, 0, lines, 0);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReportMismatch.selector, hostId, uint32(0)));
        market.openDispute(hostId, 0, lines, 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageNothingToClaim.selector, hostId, uint32(0)));
        tc.claimUsage(hostId, 0, lines);

        vm.prank(tenant);
        tc.releaseAllocation(id); // 20 s held in period 0
        uint64 truth = uint64(small().cpuMillis) * 20;
        (heldCpu,) = tc.heldIn(id, 0);
        assertEq(heldCpu, truth, "after the release: the truth");
        vm.warp(startOf(1));
        uint256[] memory both = new uint256[](2);
        both[0] = lines[0]; // the projection read before the release: dropped
        both[1] = pack(id, truth, 0); // the truth: charged
        reportOnly(0, both);
        assertEq(charge(0, both), cost(truth, 0), "the projected line dropped, the true one charged");
    }

    // =====================================================================================================
    // Boundaries: a period's bound is fixed once it ended, whatever folds come after.
    // =====================================================================================================

    /// Safe (pin): a shrink in the last second of period 0, then a resize at the exact first second of
    /// period 1, a fold mid period 2 and a release at the first second of period 3: `heldIn(0)` is
    /// the same after each, the line at exactly it is charged in full and one unit more is refused; the
    /// release period 3 holds 0 (a zero line is all it takes) and period 2 its partial sizes.
    function testPin_boundaryFolds_heldInFixedOnceEnded() public {
        uint64 id = request(tenant, big()); // start of period 0
        vm.warp(startOf(1) - 1);
        resize(tenant, id, small()); // 59 s big, 1 s small
        uint64 held0 = uint64(uint256(big().cpuMillis) * 59 + small().cpuMillis);
        uint64 mem0 = uint64(uint256(big().memoryMiB) * 59 + small().memoryMiB);
        (uint256 c, uint256 m) = tc.heldIn(id, 0);
        assertEq(c, held0);
        assertEq(m, mem0);

        vm.warp(startOf(1));
        resize(tenant, id, big()); // exact boundary: period 1 all big
        (c, m) = tc.heldIn(id, 0);
        assertEq(c, held0, "a fold at the next period's first second leaves period 0 alone");
        uint256[] memory lines0 = line(id, held0, mem0);
        reportOnly(0, lines0);

        vm.warp(startOf(2) + 25);
        resize(tenant, id, small());
        uint256[] memory lines1 = line(id, uint64(big().cpuMillis) * PERIOD, uint64(big().memoryMiB) * PERIOD);
        reportOnly(1, lines1);
        vm.warp(startOf(3));
        vm.prank(tenant);
        tc.releaseAllocation(id); // exact first second of period 3: nothing held in period 3
        (c, m) = tc.heldIn(id, 0);
        assertEq(c, held0, "nor later folds and the release");
        assertEq(m, mem0);
        uint64 held2 = uint64(uint256(big().cpuMillis) * 25 + uint256(small().cpuMillis) * 35);
        (c,) = tc.heldIn(id, 2);
        assertEq(c, held2, "period 2: 25 s big, 35 s small");
        (c, m) = tc.heldIn(id, 3);
        assertEq(c + m, 0, "period 3: released at its first second");

        (bool ok,) = tc.lineCost(hostId, 0, lines0[0] + (uint256(1) << 64));
        assertFalse(ok, "period 0: one CPU-ms above");
        (ok,) = tc.lineCost(hostId, 0, lines0[0] + 1);
        assertFalse(ok, "period 0: one MiB-second above");
        assertEq(charge(0, lines0), cost(held0, mem0), "period 0 in full");
        uint256[] memory lines2 = line(id, held2, 0);
        reportOnly(2, lines2);
        assertEq(charge(1, lines1), cost(uint64(lines1[0] >> 64), uint64(lines1[0])), "period 1 in full");
        uint256[] memory lines3 = new uint256[](2);
        lines3[0] = pack(id, 1, 0); // one CPU-ms in a period not held: dropped
        lines3[1] = pack(id, 0, 0);
        vm.warp(startOf(4));
        reportOnly(3, lines3);
        assertEq(charge(2, lines2), cost(held2, 0), "period 2 in full");
        (ok,) = tc.lineCost(hostId, 3, lines3[0]);
        assertFalse(ok, "period 3: nothing held, nothing chargeable");
        assertEq(charge(3, lines3), 0);
        (,, uint256 used,) = tc.meterOf(id);
        assertEq(used, uint256(held0) + uint64(lines1[0] >> 64) + held2, "every honest line charged, nothing more");
    }

    // =====================================================================================================
    // Market paths: a line above what was held in its period can't be paid through a dispute.
    // =====================================================================================================

    /// Safe (pin): the fifth review's slack line (period 1 reported at the old peak after a shrink,
    /// within the aggregate but above what period 1 held) can't be disputed (so an arbiter's silence can't
    /// pay it through expireDispute) nor slashed with a receipt (MarketLineNotChargeable); anyone voids it;
    /// the claim charges nothing for it. The honest line of the same period, beside it, is charged.
    function testPin_slackLine_marketRefusesDisputeAndReceipt_voidable() public {
        uint64 id = request(tenant, big());
        vm.warp(startOf(1));
        uint256[] memory lines0 = line(id, 1_000, 0);
        reportOnly(0, lines0);
        resize(tenant, id, small());
        vm.warp(startOf(2));
        uint64 atPeak = uint64(big().cpuMillis) * PERIOD;
        uint256[] memory lines1 = line(id, atPeak, 0);
        reportOnly(1, lines1);

        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineNotChargeable.selector, id, uint32(1)));
        market.openDispute(hostId, 1, lines1, 0);
        (IMarket.UsageReceipt memory r, bytes memory sig) = signed(opKey, id, 1, 1, 0);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineNotChargeable.selector, id, uint32(1)));
        market.slashWithReceipt(hostId, 1, lines1, 0, r, sig);
        vm.prank(stranger);
        market.voidUnchargeable(hostId, 1, lines1, 0);
        assertTrue(tc.isVoided(id, 1));

        assertEq(charge(0, lines0), cost(1_000, 0));
        assertEq(charge(1, lines1), 0, "nothing for the slack line");
    }

    // =====================================================================================================
    // Gas: both walks of a line (by the end of p and by the end of p - 1) are bounded by the window.
    // =====================================================================================================

    /// Safe (pin): with the production window (D = 24, grace 2), a line of period 1 after folds in every
    /// period from 3 to the last claimable one (none in 1 and 2: both of its lookups walk back through
    /// every mark) costs below 250k gas to claim; the second walk reads warm slots. The honest line is
    /// charged in full.
    function testPin_twoWalksPerLine_gasBounded() public {
        vm.warp(1_700_000_000);
        deployWindow(24, 2);
        vm.warp(startOf(0) + 5);
        uint64 id = request(tenant, small());
        vm.warp(startOf(2));
        uint256[] memory lines1 = line(id, uint64(small().cpuMillis) * PERIOD, uint64(small().memoryMiB) * PERIOD);
        reportOnly(1, lines1);
        uint32 closes = tc.claimClosesAt(1);
        for (uint32 p = 3; p < closes; ++p) {
            vm.warp(startOf(p) + 1);
            resize(tenant, id, p % 2 == 0 ? big() : small());
        }
        vm.warp(startOf(closes - 1) + 2);
        vm.prank(operator);
        uint256 g = gasleft();
        tc.claimUsage(hostId, 1, lines1);
        g -= gasleft();
        emit log_named_uint("claim gas, one line of period 1, both lookups walking every mark", g);
        (,, uint256 used,) = tc.meterOf(id);
        assertEq(used, uint256(small().cpuMillis) * PERIOD, "the honest line charged after every fold");
        assertLt(g, 250_000, "two walks per line, bounded by the window");
    }

    /// A fresh deployment with dispute window `d` and report grace `g` (no bond), one host and a funded tenant.
    function deployWindow(uint32 d, uint32 g) internal {
        token = new TestToken();
        tc = ITenantChain(
            address(
                new TenantChain(admin, IERC20(address(token)), PERIOD, 0, d, g, MIN_PREPAID, GRACE, bigQuota())
            )
        );
        market = new TenantChainMarket(admin, tc, marketParams(0));
        vm.startPrank(admin);
        tc.setMarket(address(market));
        tc.approveOperator(operator, true);
        vm.stopPrank();
        hostId = registerHost(operator, hostCapacity());
        registerAndFund(tenant, 1_000 ether);
    }
}
