// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {ITypes} from "../../contracts/interfaces/ITypes.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev Random tenants, operators and keepers acting on one TenantChain. Actions that would revert
/// are skipped up front, so every call the fuzzer makes does something.
contract Handler is Test, ITypes {
    TenantChain public tc;
    TestToken public token;
    address public admin;
    address[] public tenants;
    address[] public operators;
    uint32[] public hosts;
    uint64[] public allocations;
    mapping(uint32 => address) public operatorOf;
    uint256 public calls;
    uint256 public autoResizes;

    constructor(TenantChain tc_, TestToken token_, address admin_) {
        tc = tc_;
        token = token_;
        admin = admin_;
        for (uint256 i; i < 3; ++i) {
            address t = makeAddr(string.concat("tenant", vm.toString(i)));
            tenants.push(t);
            vm.prank(t);
            tc.registerTenant(0, "", Resources(0, 0, 0, 0));
        }
        for (uint256 i; i < 2; ++i) {
            address op = makeAddr(string.concat("operator", vm.toString(i)));
            operators.push(op);
            vm.prank(admin);
            tc.approveOperator(op, true);
        }
        for (uint256 i; i < 3; ++i) {
            address op = operators[i % 2];
            vm.prank(op);
            uint32 id = tc.registerHost(
                Resources(4000, 8192, 100, 1000),
                ReservedPrices(1e9 + uint64(i), 1e8, 1e9, 1e6),
                MeteredPrices(3e12, 1e11),
                abi.encodePacked(bytes1(0x02), keccak256(abi.encode(i)))
            );
            hosts.push(id);
            operatorOf[id] = op;
        }
    }

    function tenantCount() external view returns (uint256) {
        return tenants.length;
    }

    function hostCount() external view returns (uint256) {
        return hosts.length;
    }

    function allocationCount() external view returns (uint256) {
        return allocations.length;
    }

    function _alloc(uint256 seed) internal view returns (uint64 id, Allocation memory a) {
        id = allocations[seed % allocations.length];
        a = tc.getAllocation(id);
    }

    // --- actions ------------------------------------------------------------------------

    function deposit(uint256 who, uint256 amount) external {
        address t = tenants[who % tenants.length];
        amount = bound(amount, 1, 1 ether);
        token.mint(address(this), amount);
        token.approve(address(tc), amount);
        tc.deposit(t, amount); // a third-party top-up
        ++calls;
    }

    function request(uint256 who, uint256 host, uint24 cpu, uint32 mem) external {
        address t = tenants[who % tenants.length];
        uint32 h = hosts[host % hosts.length];
        Resources memory r = Resources(uint24(bound(cpu, 1, 2000)), uint32(bound(mem, 1, 4096)), 1, 10);
        Host memory hh = tc.getHost(h);
        if (hh.capacity.cpuMillis - hh.used.cpuMillis < r.cpuMillis) return;
        if (hh.capacity.memoryMiB - hh.used.memoryMiB < r.memoryMiB) return;
        if (hh.capacity.storageGiB - hh.used.storageGiB < 1 || hh.capacity.pids - hh.used.pids < 10) return;
        Escrow memory e = tc.accountOf(t);
        if (e.suspendedAt != 0) return;
        uint256 rate = tc.rateOf(h, r);
        if (e.balance < (e.ratePerSecond + rate) * 600) return;
        vm.prank(t);
        allocations.push(tc.requestAllocation(h, r, keccak256("spec"), hex"01"));
        ++calls;
    }

    function resize(uint256 seed, uint24 cpu) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        if (a.status != AllocationStatus.Active) return;
        Resources memory r = Resources(uint24(bound(cpu, 1, 2000)), a.resources.memoryMiB, 1, 10);
        Host memory h = tc.getHost(a.hostId);
        if (h.used.cpuMillis - a.resources.cpuMillis + r.cpuMillis > h.capacity.cpuMillis) return;
        Escrow memory e = tc.accountOf(a.tenant);
        if (e.suspendedAt != 0 || e.paidThrough < block.timestamp) return;
        uint256 newTotal = e.ratePerSecond - a.ratePerSecond + tc.rateOf(a.hostId, r);
        if (e.balance < newTotal * 600) return;
        vm.prank(a.tenant);
        tc.resizeAllocation(id, r);
        ++calls;
    }

    function reportUsage(uint256 seed, uint64 cpuMs) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        uint32 period = a.nextReportPeriod;
        if (period >= tc.currentPeriod()) return;
        if (a.status == AllocationStatus.Closed && period > (a.lastSettled - 1_700_000_000) / tc.periodSeconds()) return;
        UsageReport[] memory reports = new UsageReport[](1);
        reports[0] = UsageReport(id, uint64(bound(cpuMs, 0, uint256(a.resources.cpuMillis) * tc.periodSeconds())), 0);
        vm.prank(operatorOf[a.hostId]);
        tc.reportUsage(a.hostId, period, reports);
        ++calls;
    }

    function settle(uint256 seed) external {
        if (allocations.length == 0) return;
        (uint64 id,) = _alloc(seed);
        tc.settle(id);
        ++calls;
    }

    function release(uint256 seed) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        if (a.status != AllocationStatus.Active) return;
        vm.prank(a.tenant);
        tc.releaseAllocation(id);
        ++calls;
    }

    function reject(uint256 seed, uint16 code) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        if (a.status != AllocationStatus.Active) return;
        vm.prank(operatorOf[a.hostId]);
        tc.rejectAllocation(id, code);
        ++calls;
    }

    function expire(uint256 seed) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        if (a.status != AllocationStatus.Active) return;
        Escrow memory e = tc.accountOf(a.tenant);
        if (e.paidThrough >= block.timestamp || e.paidThrough + 600 > block.timestamp) return;
        if (e.suspendedAt != 0 && e.suspendedAt + 600 > block.timestamp) return;
        tc.expireAllocation(id);
        ++calls;
    }

    function withdraw(uint256 who, uint256 amount) external {
        address t = tenants[who % tenants.length];
        uint256 w = tc.accountOf(t).withdrawable;
        if (w == 0) return;
        vm.prank(t);
        tc.withdraw(bound(amount, 1, w), t);
        ++calls;
    }

    function withdrawEarnings(uint256 host) external {
        uint32 h = hosts[host % hosts.length];
        if (tc.earningsOf(h) == 0) return;
        vm.prank(operatorOf[h]);
        tc.withdrawEarnings(h, operatorOf[h]);
        ++calls;
    }

    function setScalingPolicy(uint256 seed, uint24 maxCpu) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        if (a.status != AllocationStatus.Active) return;
        vm.prank(a.tenant);
        tc.setScalingPolicy(id, Resources(1, 1, 1, 10), Resources(uint24(bound(maxCpu, 1, 2000)), 4096, 1, 10), type(uint64).max);
        ++calls;
    }

    /// The operator asks for anything; whatever passes must be inside the tenant's policy.
    function autoResize(uint256 seed, uint24 cpu, uint32 mem) external {
        if (allocations.length == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        (Resources memory lo, Resources memory hi, uint64 ceiling,) = tc.scalingPolicyOf(id);
        if (a.status != AllocationStatus.Active || ceiling == 0) return;
        Resources memory r = Resources(uint24(bound(cpu, 1, 2000)), uint32(bound(mem, 1, 4096)), 1, 10);
        vm.prank(operatorOf[a.hostId]);
        try tc.autoResizeAllocation(id, r) {
            Resources memory now_ = tc.getAllocation(id).resources;
            assertTrue(now_.cpuMillis >= lo.cpuMillis && now_.cpuMillis <= hi.cpuMillis, "cpu out of bounds");
            assertTrue(now_.memoryMiB >= lo.memoryMiB && now_.memoryMiB <= hi.memoryMiB, "memory out of bounds");
            ++autoResizes;
            ++calls;
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 hours));
        ++calls;
    }
}

contract InvariantTest is Test, ITypes {
    TenantChain internal tc;
    TestToken internal token;
    Handler internal handler;
    address internal admin = makeAddr("admin");

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TestToken();
        tc = new TenantChain(admin, IERC20(address(token)), 60, 300, 600, 600, Resources(1e6, 1e9, 1e6, 1e6));
        handler = new Handler(tc, token, admin);
        targetContract(address(handler));
    }

    /// Each run did something: the handler's guards don't skip everything.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0);
    }

    /// What a tenant really holds: its raw `funded` minus the settled-time terms of its allocations.
    function _escrowOf(address t) internal view returns (uint256 escrow) {
        escrow = tc.accountOf(t).funded;
        for (uint256 i; i < handler.allocationCount(); ++i) {
            Allocation memory a = tc.getAllocation(handler.allocations(i));
            if (a.tenant == t && a.status == AllocationStatus.Active) escrow -= uint256(a.ratePerSecond) * a.lastSettled;
        }
    }

    function invariant_tokensEqualEscrowsPlusEarningsPlusFees() public view {
        uint256 sum = tc.feesAccrued();
        for (uint256 i; i < handler.tenantCount(); ++i) sum += _escrowOf(handler.tenants(i));
        for (uint256 i; i < handler.hostCount(); ++i) sum += tc.earningsOf(handler.hosts(i));
        assertEq(token.balanceOf(address(tc)), sum);
    }

    function invariant_noHostOverCapacityAndUseMatchesAllocations() public view {
        for (uint256 h; h < handler.hostCount(); ++h) {
            uint32 hostId = handler.hosts(h);
            Host memory host = tc.getHost(hostId);
            assertLe(host.used.cpuMillis, host.capacity.cpuMillis);
            assertLe(host.used.memoryMiB, host.capacity.memoryMiB);
            assertLe(host.used.storageGiB, host.capacity.storageGiB);
            assertLe(host.used.pids, host.capacity.pids);
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

    /// Every tenant can take back all that is theirs (after ending its allocations), and every
    /// provider its earnings; tried in a snapshot, then rolled back.
    function invariant_everyoneCanWithdrawWhatIsTheirs() public {
        uint256 snapshot = vm.snapshotState();
        for (uint256 i; i < handler.allocationCount(); ++i) {
            uint64 id = handler.allocations(i);
            Allocation memory a = tc.getAllocation(id);
            if (a.status == AllocationStatus.Active) {
                vm.prank(a.tenant);
                tc.releaseAllocation(id);
            } else {
                tc.settle(id); // collect pending metered of closed ones
            }
        }
        for (uint256 i; i < handler.tenantCount(); ++i) {
            address t = handler.tenants(i);
            uint256 escrow = _escrowOf(t);
            assertEq(tc.accountOf(t).withdrawable, escrow);
            if (escrow != 0) {
                uint256 before = token.balanceOf(t);
                vm.prank(t);
                tc.withdraw(escrow, t);
                assertEq(token.balanceOf(t), before + escrow);
            }
        }
        for (uint256 h; h < handler.hostCount(); ++h) {
            uint32 hostId = handler.hosts(h);
            uint256 earned = tc.earningsOf(hostId);
            if (earned != 0) {
                vm.prank(handler.operatorOf(hostId));
                tc.withdrawEarnings(hostId, address(0xBEEF));
            }
        }
        if (tc.feesAccrued() != 0) {
            vm.prank(admin);
            tc.withdrawFees();
        }
        assertEq(token.balanceOf(address(tc)), 0, "nothing left behind");
        vm.revertToState(snapshot);
    }
}
