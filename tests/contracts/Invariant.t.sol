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
/// @notice The handler (InvariantHandler) asserts, on every action, what the action may do: a claim charges only
/// a final period, a full window after its last batch; never a voided, rejected, foreign or out-of-life line,
/// never above a line's cost at the agreed prices, the static bound, or the resources held; an honest operator's
/// lines are charged in full and never dropped, and no receipt slashes it; a valid receipt or dispute is never
/// refused, a forged one never accepted; requests and resizes stay within the tenant's bounds. The invariant
/// below checks the books between actions.
contract InvariantTest is Test, ITypes {
    uint32 internal constant PERIOD = 60;

    ITenantChain internal tc;
    TenantChainMarket internal market;
    TestToken internal token;
    InvariantHandler internal handler;
    address internal admin = makeAddr("admin");
    address[] internal tenants;
    uint32[] internal hosts;
    address[] internal payees;
    /// @dev The end-to-end check (a snapshot: close, claim and withdraw everything) costs about half as much as
    /// the rest together: it runs on every `FULL_CHECK_EVERY`th state (and every run's last one).
    uint256 internal immutable FULL_CHECK_EVERY = vm.envOr("INVARIANT_FULL_CHECK_EVERY", uint256(4));

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TestToken();
        // Periods of a minute, one dispute period, two of grace: final 4 periods on, claimable until 7.
        tc = ITenantChain(
            address(
                new TenantChain(
                    admin, IERC20(address(token)), PERIOD, 300, 1, 2, 600, 600, Resources(1e6, 1e9, 1e6, 1e6)
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
        for (uint256 i; i < handler.tenantCount(); ++i) {
            tenants.push(handler.tenants(i));
        }
        for (uint256 i; i < 3; ++i) {
            hosts.push(handler.hosts(i));
        }
        payees = handler.payees();
        targetContract(address(handler));
    }

    /*//////////////////////////////////////////////////////////////
                                 INVARIANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Every money-safety invariant after every call. One campaign for all: forge runs a campaign per
    /// invariant function, and the handler's calls are most of a campaign's cost.
    function invariant_moneySafety() public {
        // Agreed terms never change; charges within agreed terms x resources held; withdrawals keep the exposure.
        Allocation[] memory all = handler.checkAllocations();
        _checkTokensConservedInTenantChain(all);
        _checkTokensConservedInMarket();
        _checkBondsSlashesAndDisputes();
        _checkHostsWithinCapacity(all);
        if (handler.calls() % FULL_CHECK_EVERY == 0) _checkNothingLeftOwingAndEveryoneCanWithdraw();
    }

    /// @notice Each run did something, and its last state leaves nothing owing.
    function afterInvariant() public {
        assertGt(handler.calls(), 0);
        _checkNothingLeftOwingAndEveryoneCanWithdraw();
    }

    /// @notice TenantChain holds exactly escrows + earnings + fees, an escrow being the raw `funded` less the
    /// settled-time terms of the tenant's active allocations.
    function _checkTokensConservedInTenantChain(Allocation[] memory all) internal view {
        uint256 sum = tc.feesAccrued();
        for (uint256 i; i < tenants.length; ++i) {
            sum += tc.accountOf(tenants[i]).funded;
        }
        for (uint256 i; i < all.length; ++i) {
            if (all[i].status == AllocationStatus.Active) sum -= uint256(all[i].ratePerSecond) * all[i].lastSettled;
        }
        for (uint256 i; i < hosts.length; ++i) {
            sum += tc.earningsOf(hosts[i]);
        }
        assertEq(token.balanceOf(address(tc)), sum, "TenantChain's tokens");
    }

    /// @notice The market holds exactly what it owes: bonds, open dispute bonds and payouts.
    function _checkTokensConservedInMarket() internal view {
        uint256 sum;
        for (uint256 i; i < hosts.length; ++i) {
            sum += market.bondOf(hosts[i]).amount;
        }
        uint256[] memory ds = handler.disputeIds();
        for (uint256 i; i < ds.length; ++i) {
            IMarket.Dispute memory d = market.disputeOf(ds[i]);
            if (d.status == IMarket.DisputeStatus.Open) sum += d.bond;
        }
        for (uint256 i; i < payees.length; ++i) {
            sum += market.payoutOf(payees[i]);
        }
        assertEq(token.balanceOf(address(market)), sum, "the market's tokens");
        assertEq(market.owed(), sum, "the market's owed total");
    }

    /// @notice A bond leaves only by a slash or a withdrawal; open disputes are counted per host; a host is
    /// flagged short exactly when its bond is below what its capacity requires (and then admits nothing: the
    /// handler checks each admission); the honest host is never slashed, never loses a dispute, and none of its
    /// lines is ever dropped.
    function _checkBondsSlashesAndDisputes() internal view {
        for (uint256 i; i < hosts.length; ++i) {
            uint32 h = hosts[i];
            IMarket.Bond memory b = market.bondOf(h);
            IMarket.Reputation memory r = market.reputationOf(h);
            assertEq(b.amount + r.slashed + handler.withdrawnBond(h), handler.bonded(h), "bond accounting");
            assertEq(b.openDisputes, handler.openDisputes(h), "open disputes");
            if (!handler.retired(h)) assertEq(tc.hostBondShort(h), b.amount < b.required, "bond short flag");
        }
        uint32 honest = handler.HONEST();
        IMarket.Reputation memory hr = market.reputationOf(honest);
        assertEq(hr.slashed, 0, "the honest host was slashed");
        assertEq(hr.disputesLost, 0, "the honest host lost a dispute");
        (,, uint32 dropped) = tc.hostRecordOf(honest);
        assertEq(dropped, 0, "an honest line was dropped");
    }

    /// @notice No host over capacity, and its use is the sum of its active allocations.
    function _checkHostsWithinCapacity(Allocation[] memory all) internal view {
        for (uint256 h; h < hosts.length; ++h) {
            Host memory host = tc.getHost(hosts[h]);
            assertLe(host.used.cpuMillis, host.capacity.cpuMillis);
            assertLe(host.used.memoryMiB, host.capacity.memoryMiB);
            uint256 cpu;
            uint256 mem;
            for (uint256 i; i < all.length; ++i) {
                if (all[i].hostId == hosts[h] && all[i].status == AllocationStatus.Active) {
                    cpu += all[i].resources.cpuMillis;
                    mem += all[i].resources.memoryMiB;
                }
            }
            assertEq(host.used.cpuMillis, cpu, "host cpu in use");
            assertEq(host.used.memoryMiB, mem, "host memory in use");
        }
    }

    /// @notice No tenant leaves owing, and everyone can take back what is theirs. In a snapshot: every tenant
    /// ends its allocations and withdraws all it may (the worst case for the hosts); then every period still
    /// held is claimed once final, and every charge on a tenant whose escrow covered its exposure is collected
    /// in full; once every claim window has passed, each tenant withdraws its whole escrow, each host its
    /// earnings, the treasury its fees, each payee its payout: TenantChain is left with nothing.
    function _checkNothingLeftOwingAndEveryoneCanWithdraw() internal {
        uint256 snapshot = vm.snapshotState();
        uint64[] memory ids = handler.allocationIds();
        for (uint256 i; i < ids.length; ++i) {
            Allocation memory a = tc.getAllocation(ids[i]);
            if (a.status == AllocationStatus.Active) {
                vm.prank(a.tenant);
                tc.releaseAllocation(ids[i]); // works paused or not
            } else {
                tc.settle(ids[i]);
            }
        }
        bool[] memory covered = new bool[](tenants.length);
        for (uint256 i; i < tenants.length; ++i) {
            Escrow memory e = tc.accountOf(tenants[i]);
            covered[i] = e.funded >= tc.exposureOf(tenants[i]) && _pendingOf(tenants[i], ids) == 0;
            if (e.withdrawable != 0) {
                vm.prank(tenants[i]);
                tc.withdraw(e.withdrawable, tenants[i]);
            }
        }
        _claimEverythingHeld();
        for (uint256 i; i < tenants.length; ++i) {
            if (covered[i]) assertEq(_pendingOf(tenants[i], ids), 0, "a tenant left owing");
        }
        vm.warp(tc.genesis() + uint256(tc.claimClosesAt(tc.currentPeriod())) * PERIOD);
        for (uint256 i; i < tenants.length; ++i) {
            address t = tenants[i];
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
        for (uint256 h; h < hosts.length; ++h) {
            if (tc.earningsOf(hosts[h]) != 0) {
                address op = handler.operatorOf(hosts[h]);
                vm.prank(op);
                tc.withdrawEarnings(hosts[h], address(0xBEEF));
            }
        }
        if (tc.feesAccrued() != 0) {
            vm.prank(admin);
            tc.withdrawFees();
        }
        assertEq(token.balanceOf(address(tc)), 0, "nothing left behind");
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
        uint32 ring = handler.RING();
        uint32[] memory hs = new uint32[](hosts.length * ring);
        uint32[] memory qs = new uint32[](hosts.length * ring);
        uint256 k;
        for (uint256 i; i < hosts.length; ++i) {
            for (uint32 s; s < ring; ++s) {
                if (handler.slotHeld(hosts[i], s)) (hs[k], qs[k++]) = (hosts[i], handler.slotPeriod(hosts[i], s));
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
            if (tc.currentPeriod() < finalFrom) vm.warp(tc.genesis() + uint256(finalFrom) * PERIOD);
            if (tc.currentPeriod() >= tc.claimClosesAt(qs[i])) continue;
            uint256[] memory lines = handler.linesOf(hs[i], qs[i]);
            address op = handler.operatorOf(hs[i]);
            vm.prank(op);
            tc.claimUsage(hs[i], qs[i], lines);
        }
    }

    function _pendingOf(address t, uint64[] memory ids) internal view returns (uint256 pending) {
        for (uint256 i; i < ids.length; ++i) {
            Allocation memory a = tc.getAllocation(ids[i]);
            if (a.tenant == t) pending += a.pendingMetered;
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 THE HANDLER
    //////////////////////////////////////////////////////////////*/

    /// @notice Random walks like the fuzzer's (fresh state, 50 uniform calls each) reach every path the
    /// invariants are about: claims that charge, slashes, disputes, automatic resizes, expiries, honest lines
    /// charged, claims that meet voided lines, dropped lines, late reports refused.
    function test_randomWalksReachEveryPath() public {
        bytes4[27] memory actions = [
            handler.chaosReport.selector,
            handler.chaosClaim.selector,
            handler.updateHost.selector,
            handler.setSurcharge.selector,
            handler.autoResize.selector,
            handler.reject.selector,
            handler.withdrawEarnings.selector,
            handler.setHostStatus.selector,
            handler.rotateOperator.selector,
            handler.unbond.selector,
            handler.addBond.selector,
            handler.deposit.selector,
            handler.request.selector,
            handler.resize.selector,
            handler.release.selector,
            handler.withdraw.selector,
            handler.setScalingPolicy.selector,
            handler.slash.selector,
            handler.openDispute.selector,
            handler.settle.selector,
            handler.expire.selector,
            handler.rule.selector,
            handler.expireDispute.selector,
            handler.withdrawPayout.selector,
            handler.pause.selector,
            handler.unpause.selector,
            handler.warp.selector
        ];
        uint256[10] memory totals;
        for (uint256 walk; walk < 16; ++walk) {
            uint256 snapshot = vm.snapshotState();
            for (uint256 i; i < 50; ++i) {
                uint256 r = uint256(keccak256(abi.encode(walk, i)));
                bytes memory data = abi.encodePacked(actions[r % actions.length]);
                for (uint256 j; j < 6; ++j) {
                    data = bytes.concat(data, keccak256(abi.encode(r, j)));
                }
                (bool ok, bytes memory err) = address(handler).call(data);
                if (!ok) {
                    assembly ("memory-safe") {
                        revert(add(err, 32), mload(err))
                    }
                }
            }
            totals[0] += handler.chargedLines();
            totals[1] += handler.slashes();
            totals[2] += handler.disputesOpened();
            totals[3] += handler.autoResizes();
            totals[4] += handler.expiries();
            totals[5] += handler.claims();
            totals[6] += handler.honestLinesCharged();
            totals[7] += handler.voidedLinesClaimed();
            totals[8] += handler.linesDropped();
            totals[9] += handler.lateReportsRefused();
            vm.revertToState(snapshot);
        }
        for (uint256 i; i < totals.length; ++i) {
            emit log_uint(totals[i]);
            assertGt(totals[i], 0);
        }
    }
}
