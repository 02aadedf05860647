// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {TenantChainMarket} from "../../contracts/TenantChainMarket.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {ITypes} from "../../contracts/interfaces/ITypes.sol";
import {ITenantChain} from "../../contracts/interfaces/ITenantChain.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {InvariantHandler} from "./InvariantHandler.t.sol";

/// @title Money-safety invariants (issue 21) under an adversarial handler.
/// @notice The handler (InvariantHandler) asserts, on every action, what each action may do: claims only
/// final periods with a full window after the last batch, never charge a voided, rejected, foreign or
/// out-of-life line, never above a line's cost at the agreed prices, the static bound, or the resources held;
/// an honest operator's lines are charged in full and never dropped, and a receipt never slashes it; a valid
/// receipt or dispute is never refused; bounds on requests and resizes hold. The invariants below check the
/// books between actions.
contract InvariantTest is Test, ITypes {
    ITenantChain internal tc;
    TenantChainMarket internal market;
    TestToken internal token;
    InvariantHandler internal handler;
    address internal admin = makeAddr("admin");
    uint256 internal immutable FULL_CHECK_EVERY = vm.envOr("INVARIANT_FULL_CHECK_EVERY", uint256(1));

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TestToken();
        tc = ITenantChain(
            address(
                new TenantChain(
                    admin, IERC20(address(token)), 60, 300, 1, 2, 600, 600, Resources(1e6, 1e9, 1e6, 1e6)
                )
            )
        );
        // Bonds of 10 minutes of full income; unbonding just over the last claim window; rulings in 30 min.
        market = new TenantChainMarket(
            admin, tc, IMarket.Parameters(600, 480, 1800, 1000, 1e15, makeAddr("arbiter"), makeAddr("treasury"))
        );
        vm.startPrank(admin);
        tc.setMarket(address(market));
        tc.setMaxSurcharge(100);
        vm.stopPrank();
        handler = new InvariantHandler(tc, market, token, admin);
        assertEq(handler.PERIOD(), tc.periodSeconds());
        assertEq(handler.D(), tc.disputePeriods());
        assertEq(handler.G(), tc.reportGracePeriods());
        targetContract(address(handler));
    }

    /// @notice Random walks like the fuzzer's (fresh state, 50 uniform calls each) reach every path the
    /// invariants are about: claims that charge, slashes, disputes, automatic resizes, expiries.
    function test_randomWalksReachEveryPath() public {
        bytes4[27] memory actions = [
            handler.chaosReport.selector, handler.chaosClaim.selector, handler.updateHost.selector,
            handler.setSurcharge.selector, handler.autoResize.selector, handler.reject.selector,
            handler.withdrawEarnings.selector, handler.setHostStatus.selector, handler.rotateOperator.selector,
            handler.unbond.selector, handler.addBond.selector, handler.deposit.selector, handler.request.selector,
            handler.resize.selector, handler.release.selector, handler.withdraw.selector,
            handler.setScalingPolicy.selector, handler.slash.selector, handler.openDispute.selector,
            handler.settle.selector, handler.expire.selector, handler.rule.selector, handler.expireDispute.selector,
            handler.withdrawPayout.selector, handler.pause.selector, handler.unpause.selector, handler.warp.selector
        ];
        uint256[8] memory totals;
        for (uint256 walk; walk < 16; ++walk) {
            uint256 snapshot = vm.snapshotState();
            for (uint256 i; i < 50; ++i) {
                uint256 r = uint256(keccak256(abi.encode(walk, i)));
                bytes memory data = abi.encodePacked(actions[r % actions.length]);
                for (uint256 j; j < 6; ++j) data = bytes.concat(data, keccak256(abi.encode(r, j)));
                (bool ok, bytes memory err) = address(handler).call(data);
                if (!ok) {
                    assembly ("memory-safe") {
                        revert(add(err, 32), mload(err))
                    }
                }
            }
            totals[0] += handler.claims();
            totals[1] += handler.chargedLines();
            totals[2] += handler.slashes();
            totals[3] += handler.disputesOpened();
            totals[4] += handler.autoResizes();
            totals[5] += handler.expiries();
            totals[6] += handler.allocationCount();
            totals[7] += tc.currentPeriod();
            vm.revertToState(snapshot);
        }
        for (uint256 i; i < 8; ++i) emit log_uint(totals[i]);
    }

    /// @notice Every invariant, after every call of every run. One campaign for all of them: forge runs one
    /// campaign per invariant function, and the handler's work (not the checks) is most of each call's cost.
    /// The end-to-end check (close everything, claim, withdraw everything, in a snapshot) runs on every
    /// `FULL_CHECK_EVERY`th state and on each run's last one.
    function invariant_moneySafety() public {
        if (vm.envOr("SKIP", false)) return;
        _checkAgreedTermsNeverChange();
        _checkChargesWithinAgreedTermsAndResourcesHeld();
        _checkWithdrawalsKeepTheExposure();
        _checkTokensConservedInTenantChain();
        _checkTokensConservedInMarket();
        _checkBondsSlashesAndDisputes();
        _checkNoHostOverCapacityAndUseMatchesAllocations();
        if (handler.calls() % FULL_CHECK_EVERY == 0) _checkNothingLeftOwingAndEveryoneCanWithdraw();
    }

    /// @notice Each run did something, and nothing is left owing in its last state.
    function afterInvariant() public {
        assertGt(handler.calls(), 0);
        _checkNothingLeftOwingAndEveryoneCanWithdraw();
        if (vm.envOr("DEBUG_COUNTERS", false)) {
            emit log_named_uint("allocations", handler.allocationCount());
            emit log_named_uint("claims", handler.claims());
            emit log_named_uint("chargedLines", handler.chargedLines());
            emit log_named_uint("slashes", handler.slashes());
            emit log_named_uint("refusedSlashes", handler.refusedSlashes());
            emit log_named_uint("disputes", handler.disputesOpened());
            emit log_named_uint("autoResizes", handler.autoResizes());
            emit log_named_uint("expiries", handler.expiries());
            emit log_named_uint("period", tc.currentPeriod());
            revert("counters");
        }
    }

    /// @notice Agreed terms never change: metered from admission, reserved from admission or the tenant's or the
    /// policy's resize; the rate is the resources at them (updateHost and setSurcharge move neither).
    function _checkAgreedTermsNeverChange() internal view {
        handler.checkTerms();
    }

    /// @notice Metered charges come from claims only, within agreed prices x resources held (the handler's
    /// integral of size over time, equal to the contract's meter); reserved charges within agreed rates x time.
    function _checkChargesWithinAgreedTermsAndResourcesHeld() internal view {
        handler.checkCharges();
    }

    /// @notice Withdrawable never exceeds the balance less the minimum prepaid period and the exposure, and the
    /// exposure covers every charge claims may still bring.
    function _checkWithdrawalsKeepTheExposure() internal view {
        handler.checkExposure();
    }

    /// @dev What a tenant really holds: its raw `funded` minus the settled-time terms of its active allocations.
    function _escrowOf(address t) internal view returns (uint256 escrow) {
        escrow = tc.accountOf(t).funded;
        for (uint256 i; i < handler.allocationCount(); ++i) {
            Allocation memory a = tc.getAllocation(handler.allocations(i));
            if (a.tenant == t && a.status == AllocationStatus.Active) escrow -= uint256(a.ratePerSecond) * a.lastSettled;
        }
    }

    /// @notice TenantChain holds exactly escrows + earnings + fees.
    function _checkTokensConservedInTenantChain() internal view {
        uint256 sum = tc.feesAccrued();
        for (uint256 i; i < handler.tenantCount(); ++i) sum += _escrowOf(handler.tenants(i));
        for (uint256 i; i < 3; ++i) sum += tc.earningsOf(handler.hosts(i));
        assertEq(token.balanceOf(address(tc)), sum);
    }

    /// @notice The market holds exactly what it owes: bonds, open dispute bonds and payouts.
    function _checkTokensConservedInMarket() internal view {
        uint256 sum;
        for (uint256 i; i < 3; ++i) sum += market.bondOf(handler.hosts(i)).amount;
        for (uint256 i; i < handler.disputeCount(); ++i) {
            IMarket.Dispute memory d = market.disputeOf(handler.disputes(i));
            if (d.status == IMarket.DisputeStatus.Open) sum += d.bond;
        }
        address[] memory payees = handler.payees();
        for (uint256 i; i < payees.length; ++i) sum += market.payoutOf(payees[i]);
        assertEq(token.balanceOf(address(market)), sum);
        assertEq(market.owed(), sum);
    }

    /// @notice A bond leaves only by a slash or a withdrawal; open disputes are counted per host; the honest
    /// host is never slashed and none of its lines is ever dropped; a host whose bond is short admits nothing.
    function _checkBondsSlashesAndDisputes() internal view {
        for (uint256 i; i < 3; ++i) {
            uint32 h = handler.hosts(i);
            IMarket.Bond memory b = market.bondOf(h);
            IMarket.Reputation memory r = market.reputationOf(h);
            assertEq(b.amount + r.slashed + handler.withdrawnBond(h), handler.bonded(h), "bond accounting");
            assertEq(b.openDisputes, handler.openDisputes(h), "open disputes");
            if (!handler.retired(h)) assertEq(tc.hostBondShort(h), b.amount < b.required, "bond short flag");
        }
        uint32 honest = handler.HONEST();
        assertEq(market.reputationOf(honest).slashed, 0, "the honest host was slashed");
        assertEq(market.reputationOf(honest).disputesLost, 0, "the honest host lost a dispute");
        (,, uint32 dropped) = tc.hostRecordOf(honest);
        assertEq(dropped, 0, "an honest line was dropped");
    }

    function _checkNoHostOverCapacityAndUseMatchesAllocations() internal view {
        for (uint256 h; h < 3; ++h) {
            uint32 hostId = handler.hosts(h);
            Host memory host = tc.getHost(hostId);
            assertLe(host.used.cpuMillis, host.capacity.cpuMillis);
            assertLe(host.used.memoryMiB, host.capacity.memoryMiB);
            uint256 cpu;
            uint256 mem;
            for (uint256 i; i < handler.allocationCount(); ++i) {
                Allocation memory a = tc.getAllocation(handler.allocations(i));
                if (a.hostId == hostId && a.status == AllocationStatus.Active) {
                    cpu += a.resources.cpuMillis;
                    mem += a.resources.memoryMiB;
                }
            }
            assertEq(host.used.cpuMillis, cpu);
            assertEq(host.used.memoryMiB, mem);
        }
    }

    /// @notice No tenant leaves owing, and everyone can take back what is theirs. In a snapshot: every tenant
    /// ends its allocations and withdraws all it may (the worst case for the hosts); then every period still
    /// held is claimed once final, and each charge on a tenant whose escrow covered its exposure is collected
    /// in full; once every claim window has passed, each tenant withdraws its whole escrow, each host its
    /// earnings, the treasury its fees, each payee its payout: TenantChain is left with nothing.
    function _checkNothingLeftOwingAndEveryoneCanWithdraw() internal {
        uint256 snapshot = vm.snapshotState();
        uint256 n = handler.allocationCount();
        for (uint256 i; i < n; ++i) {
            uint64 id = handler.allocations(i);
            Allocation memory a = tc.getAllocation(id);
            if (a.status == AllocationStatus.Active) {
                vm.prank(a.tenant);
                tc.releaseAllocation(id);
            } else {
                tc.settle(id);
            }
        }
        bool[] memory covered = new bool[](handler.tenantCount());
        for (uint256 i; i < covered.length; ++i) {
            address t = handler.tenants(i);
            ITypes.Escrow memory e = tc.accountOf(t);
            covered[i] = e.funded >= tc.exposureOf(t) && _pendingOf(t) == 0;
            if (e.withdrawable != 0) {
                vm.prank(t);
                tc.withdraw(e.withdrawable, t);
            }
        }
        _claimEverythingHeld();
        for (uint256 i; i < covered.length; ++i) {
            if (covered[i]) assertEq(_pendingOf(handler.tenants(i)), 0, "a tenant left owing");
        }
        vm.warp(tc.genesis() + uint256(tc.claimClosesAt(tc.currentPeriod())) * 60);
        for (uint256 i; i < covered.length; ++i) {
            address t = handler.tenants(i);
            uint256 escrow = tc.accountOf(t).funded;
            assertEq(tc.accountOf(t).withdrawable, escrow, "escrow held back after every window");
            if (escrow != 0) {
                uint256 before = token.balanceOf(t);
                vm.prank(t);
                tc.withdraw(escrow, t);
                assertEq(token.balanceOf(t), before + escrow);
            }
        }
        if (tc.paused()) {
            vm.prank(admin);
            tc.unpause();
        }
        for (uint256 h; h < 3; ++h) {
            uint32 hostId = handler.hosts(h);
            if (tc.earningsOf(hostId) != 0) {
                vm.prank(handler.operatorOf(hostId));
                tc.withdrawEarnings(hostId, address(0xBEEF));
            }
        }
        if (tc.feesAccrued() != 0) {
            vm.prank(admin);
            tc.withdrawFees();
        }
        assertEq(token.balanceOf(address(tc)), 0, "nothing left behind");
        address[] memory payees = handler.payees();
        for (uint256 i; i < payees.length; ++i) {
            if (market.payoutOf(payees[i]) != 0) {
                vm.prank(payees[i]);
                market.withdrawPayout(payees[i]);
            }
        }
        vm.revertToState(snapshot);
    }

    /// @dev Claim every period the hosts' slots hold, oldest first, each once final and before its claim closes.
    function _claimEverythingHeld() internal {
        uint32[9] memory hs;
        uint32[9] memory qs;
        uint256 k;
        for (uint256 i; i < 3; ++i) {
            uint32 h = handler.hosts(i);
            for (uint32 s; s < handler.RING(); ++s) {
                if (handler.slotHeld(h, s)) (hs[k], qs[k++]) = (h, handler.slotPeriod(h, s));
            }
        }
        for (uint256 i = 1; i < k; ++i) {
            for (uint256 j = i; j > 0 && qs[j - 1] > qs[j]; --j) {
                (qs[j - 1], qs[j]) = (qs[j], qs[j - 1]);
                (hs[j - 1], hs[j]) = (hs[j], hs[j - 1]);
            }
        }
        for (uint256 i; i < k; ++i) {
            uint32 finalFrom = tc.finalFrom(qs[i]);
            if (tc.currentPeriod() < finalFrom) vm.warp(tc.genesis() + uint256(finalFrom) * 60);
            if (tc.currentPeriod() >= tc.claimClosesAt(qs[i])) continue;
            uint256[] memory lines = handler.linesOf(hs[i], qs[i]);
            vm.prank(handler.operatorOf(hs[i]));
            tc.claimUsage(hs[i], qs[i], lines);
        }
    }

    function _pendingOf(address t) internal view returns (uint256 pending) {
        for (uint256 i; i < handler.allocationCount(); ++i) {
            Allocation memory a = tc.getAllocation(handler.allocations(i));
            if (a.tenant == t) pending += a.pendingMetered;
        }
    }
}
