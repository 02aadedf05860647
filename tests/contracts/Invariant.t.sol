// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {TenantChainMarket} from "../../contracts/TenantChainMarket.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {ITypes} from "../../contracts/interfaces/ITypes.sol";
import {ITenantChain} from "../../contracts/interfaces/ITenantChain.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @dev Random tenants, operators and keepers acting on one TenantChain. Actions that would revert
/// are skipped up front, so every call the fuzzer makes does something.
/// @dev A report line as the handler remembers it (the contract takes it packed in one word).
struct Line {
    uint64 allocationId;
    uint64 cpuMs;
    uint64 memoryMiBSeconds;
}

contract Handler is Test, ITypes {
    uint32 internal constant W = 1; // dispute periods

    ITenantChain public tc;
    TenantChainMarket public market;
    TestToken public token;
    address public admin;
    address public arbiter;
    address public treasury;
    mapping(address => uint256) internal keyOf;
    // Reports, as the chain holds them: one line per host and period; `measured` is what the receipt says.
    mapping(uint32 => mapping(uint32 => Line)) internal reported;
    mapping(uint32 => mapping(uint32 => uint64)) internal measured;
    mapping(uint32 => mapping(uint32 => uint32)) internal heldPeriod; // host => slot => period
    mapping(uint32 => mapping(uint32 => bool)) internal heldLive; // reported, not claimed yet
    mapping(uint256 => bool) public voided; // allocationId << 32 | period
    uint256[] public disputes;
    mapping(uint32 => uint256) public bonded; // everything ever added to a host's bond
    mapping(uint32 => uint256) public withdrawnBond;
    uint256 public refusedWithdrawals; // a bond asked for while a dispute was open
    mapping(uint32 => uint256) public openDisputes;
    uint256 public slashes;
    uint256 public claims;
    address[] public tenants;
    address[] public operators;
    uint32[] public hosts;
    uint64[] public allocations;
    mapping(uint32 => address) public operatorOf;
    uint256 public calls;
    uint256 public autoResizes;

    constructor(ITenantChain tc_, TenantChainMarket market_, TestToken token_, address admin_) {
        tc = tc_;
        market = market_;
        token = token_;
        admin = admin_;
        arbiter = market_.parameters().arbiter;
        treasury = market_.parameters().treasury;
        for (uint256 i; i < 3; ++i) {
            address t = makeAddr(string.concat("tenant", vm.toString(i)));
            tenants.push(t);
            vm.prank(t);
            tc.registerTenant(0, "", Resources(0, 0, 0, 0));
            token.mint(t, 1 ether); // funded from the start, so that requests (and reports) come early
            vm.startPrank(t);
            token.approve(address(tc), 1 ether);
            tc.deposit(t, 1 ether);
            vm.stopPrank();
        }
        for (uint256 i; i < 2; ++i) {
            (address op, uint256 key) = makeAddrAndKey(string.concat("operator", vm.toString(i)));
            operators.push(op);
            keyOf[op] = key;
            vm.prank(admin);
            tc.approveOperator(op, true);
            token.mint(op, 1_000_000 ether);
            vm.prank(op);
            token.approve(address(market), type(uint256).max);
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
            bonded[id] = market.bondOf(id).amount;
        }
    }

    function disputeCount() external view returns (uint256) {
        return disputes.length;
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
        if (hh.status != HostStatus.Active) return;
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

    /// One line for one allocation in the last ended period, claiming what its slot held; the line may
    /// charge more than was measured (the receipt keeps the measured value), as a dishonest host would.
    function reportUsage(uint256 seed, uint64 cpuMs, uint64 extra) external {
        if (allocations.length == 0 || tc.currentPeriod() == 0) return;
        (uint64 id, Allocation memory a) = _alloc(seed);
        uint32 h = a.hostId;
        uint32 period = tc.currentPeriod() - 1;
        uint32 slot = period % W;
        if ((heldLive[h][slot] || heldPeriod[h][slot] != 0) && heldPeriod[h][slot] >= period) return;
        uint256 limit = uint256(a.resources.cpuMillis) * tc.periodSeconds();
        uint64 m = uint64(bound(cpuMs, 0, limit));
        uint64 charged = uint64(Math.min(uint256(m) + (seed % 2 == 0 ? 0 : bound(extra, 1, limit)), limit));
        uint256[] memory lines = new uint256[](1);
        lines[0] = (uint256(id) << 128) | (uint256(charged) << 64);
        uint256[] memory claimed = new uint256[](0);
        Line memory held = reported[h][heldPeriod[h][slot]];
        if (heldLive[h][slot]) claimed = _lines(h, heldPeriod[h][slot]);
        uint256 before = claimed.length == 0 ? 0 : tc.getAllocation(held.allocationId).pendingMetered;
        vm.prank(operatorOf[h]);
        tc.reportUsage(h, period, lines, claimed);
        if (claimed.length != 0) _checkClaim(h, heldPeriod[h][slot], held, before);
        reported[h][period] = Line(id, charged, 0);
        measured[h][period] = m;
        heldPeriod[h][slot] = period;
        heldLive[h][slot] = true;
        ++calls;
    }

    /// A final period that no later report claimed.
    function claimUsage(uint256 host) external {
        uint32 h = hosts[host % hosts.length];
        uint32 current = tc.currentPeriod();
        for (uint32 slot; slot < W; ++slot) {
            uint32 period = heldPeriod[h][slot];
            if (!heldLive[h][slot] || period + W >= current) continue;
            Line memory held = reported[h][period];
            uint256 before = tc.getAllocation(held.allocationId).pendingMetered;
            vm.prank(operatorOf[h]);
            tc.claimUsage(h, period, _lines(h, period));
            _checkClaim(h, period, held, before);
            heldLive[h][slot] = false;
            ++calls;
            return;
        }
    }

    /// A claim never charges a voided line, and never more than the line's cost.
    function _checkClaim(uint32 h, uint32 period, Line memory l, uint256 before) internal {
        uint256 afterClaim = tc.getAllocation(l.allocationId).pendingMetered;
        if (voided[_lineKey(l.allocationId, period)]) {
            assertEq(afterClaim, before, "a voided line was charged");
        } else {
            assertLe(afterClaim - before, tc.meteredCost(l.cpuMs, l.memoryMiBSeconds, tc.getHost(h).meteredPrices));
        }
        ++claims;
    }

    /// The tenant proves an overcharge with the host's own receipt.
    function slashWithReceipt(uint256 host) external {
        uint32 h = hosts[host % hosts.length];
        (bool ok, uint32 period) = _inWindow(h);
        if (!ok) return;
        Line memory l = reported[h][period];
        uint256 d = market.disputeOfLine(l.allocationId, period);
        if (l.cpuMs <= measured[h][period] || voided[_lineKey(l.allocationId, period)] && d == 0) return;
        if (d != 0 && market.disputeOf(d - 1).status != IMarket.DisputeStatus.Open) return;
        uint256 overcharge = tc.meteredCost(l.cpuMs, 0, tc.getHost(h).meteredPrices)
            - tc.meteredCost(measured[h][period], 0, tc.getHost(h).meteredPrices);
        if (overcharge == 0) return;
        uint256 bondBefore = market.bondOf(h).amount;
        _submitReceipt(h, period, l.allocationId);
        assertEq(bondBefore - market.bondOf(h).amount, Math.min(2 * overcharge, bondBefore), "slash size");
        if (d != 0) openDisputes[h] -= 1;
        voided[_lineKey(l.allocationId, period)] = true;
        ++slashes;
        ++calls;
    }

    function _submitReceipt(uint32 h, uint32 period, uint64 id) internal {
        IMarket.UsageReceipt memory r = IMarket.UsageReceipt(id, period, measured[h][period], 0);
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(keyOf[operatorOf[h]], market.receiptDigest(r));
        market.slashWithReceipt(h, period, _lines(h, period), 0, r, abi.encodePacked(rr, ss, v));
    }

    function openDispute(uint256 host) external {
        uint32 h = hosts[host % hosts.length];
        (bool ok, uint32 period) = _inWindow(h);
        if (!ok) return;
        Line memory l = reported[h][period];
        if (market.disputeOfLine(l.allocationId, period) != 0 || voided[_lineKey(l.allocationId, period)]) return;
        address t = tc.getAllocation(l.allocationId).tenant;
        token.mint(t, 10 ether);
        vm.startPrank(t);
        token.approve(address(market), type(uint256).max);
        disputes.push(market.openDispute(h, period, _lines(h, period), 0));
        vm.stopPrank();
        voided[_lineKey(l.allocationId, period)] = true;
        openDisputes[h] += 1;
        ++calls;
    }

    function rule(uint256 seed, bool upheld) external {
        if (disputes.length == 0) return;
        uint256 id = disputes[seed % disputes.length];
        IMarket.Dispute memory d = market.disputeOf(id);
        if (d.status != IMarket.DisputeStatus.Open || block.timestamp > d.deadline) return;
        uint32 h = uint32(d.allocationId >> 32);
        uint256 bondBefore = market.bondOf(h).amount;
        vm.prank(arbiter);
        market.rule(id, upheld);
        if (upheld) assertEq(bondBefore - market.bondOf(h).amount, Math.min(2 * d.lineCost, bondBefore), "slash size");
        openDisputes[h] -= 1;
        ++calls;
    }

    function expireDispute(uint256 seed) external {
        if (disputes.length == 0) return;
        uint256 id = disputes[seed % disputes.length];
        IMarket.Dispute memory d = market.disputeOf(id);
        if (d.status != IMarket.DisputeStatus.Open || block.timestamp <= d.deadline) return;
        market.expireDispute(id);
        openDisputes[uint32(d.allocationId >> 32)] -= 1;
        ++calls;
    }

    function addBond(uint256 host, uint256 amount) external {
        uint32 h = hosts[host % hosts.length];
        amount = bound(amount, 1, 1 ether);
        vm.prank(operatorOf[h]);
        market.addBond(h, amount);
        bonded[h] += amount;
        ++calls;
    }

    /// The operator ends a host: its tenants release what runs there, the host retires, unbonds, and
    /// asks for the bond, which must be refused while a dispute on the host is open.
    function retireAndWithdrawBond(uint256 host) external {
        uint32 h = hosts[host % hosts.length];
        if (tc.getHost(h).status != HostStatus.Retired) {
            for (uint256 i; i < allocations.length; ++i) {
                Allocation memory a = tc.getAllocation(allocations[i]);
                if (a.hostId == h && a.status == AllocationStatus.Active) {
                    vm.prank(a.tenant);
                    tc.releaseAllocation(allocations[i]);
                }
            }
            vm.startPrank(operatorOf[h]);
            tc.setHostStatus(h, HostStatus.Retired);
            market.startUnbonding(h);
            vm.stopPrank();
        }
        IMarket.Bond memory b = market.bondOf(h);
        if (b.unbondingEndsAt > block.timestamp) vm.warp(b.unbondingEndsAt);
        address op = operatorOf[h];
        if (b.openDisputes != 0) {
            vm.expectRevert(abi.encodeWithSelector(IMarket.MarketDisputesOpen.selector, h, b.openDisputes));
            vm.prank(op);
            market.withdrawBond(h, op);
            ++refusedWithdrawals;
        } else if (b.amount != 0) {
            vm.prank(op);
            market.withdrawBond(h, op);
            withdrawnBond[h] += b.amount;
        }
        ++calls;
    }

    function withdrawPayout(uint256 who) external {
        address[] memory accounts = payees();
        address a = accounts[who % accounts.length];
        if (market.payoutOf(a) == 0) return;
        vm.prank(a);
        market.withdrawPayout(a);
        ++calls;
    }

    /// Everyone the market may owe a payout to.
    function payees() public view returns (address[] memory accounts) {
        accounts = new address[](tenants.length + operators.length + 1);
        for (uint256 i; i < tenants.length; ++i) accounts[i] = tenants[i];
        for (uint256 i; i < operators.length; ++i) accounts[tenants.length + i] = operators[i];
        accounts[accounts.length - 1] = treasury;
    }

    /// A period `h` reported whose dispute window is still open.
    function _inWindow(uint32 h) internal view returns (bool, uint32) {
        uint32 current = tc.currentPeriod();
        for (uint32 slot; slot < W; ++slot) {
            uint32 period = heldPeriod[h][slot];
            if (heldLive[h][slot] && period + W + 1 > current) return (true, period);
        }
        return (false, 0);
    }

    function _lines(uint32 h, uint32 period) internal view returns (uint256[] memory lines) {
        Line memory l = reported[h][period];
        lines = new uint256[](1);
        lines[0] = (uint256(l.allocationId) << 128) | (uint256(l.cpuMs) << 64) | l.memoryMiBSeconds;
    }

    function _lineKey(uint64 id, uint32 period) internal pure returns (uint256) {
        return (uint256(id) << 32) | period;
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
    ITenantChain internal tc;
    TenantChainMarket internal market;
    TestToken internal token;
    Handler internal handler;
    address internal admin = makeAddr("admin");

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TestToken();
        tc = ITenantChain(
            address(new TenantChain(admin, IERC20(address(token)), 60, 300, 1, 600, 600, Resources(1e6, 1e9, 1e6, 1e6)))
        );
        // A bond of 10 minutes of full income; disputes ruled within 30 minutes.
        market = new TenantChainMarket(
            admin, tc, IMarket.Parameters(600, 1 days, 1800, 1000, 1e15, makeAddr("arbiter"), makeAddr("treasury"))
        );
        vm.prank(admin);
        tc.setMarket(address(market));
        handler = new Handler(tc, market, token, admin);
        targetContract(address(handler));
    }

    /// The handler's trust paths do something when driven in order (the fuzzer mixes them at random).
    function test_handlerReachesEveryTrustPath() public {
        handler.deposit(0, 1 ether);
        handler.request(0, 0, 500, 256);
        handler.warp(61);
        handler.reportUsage(1, 1000, 5000); // odd seed: over-reported
        handler.slashWithReceipt(0);
        assertEq(handler.slashes(), 1);
        handler.warp(61);
        handler.reportUsage(1, 1000, 5000); // claims the voided line: charged nothing
        assertEq(handler.claims(), 1);
        handler.openDispute(0);
        assertEq(handler.disputeCount(), 1);
        handler.rule(0, true);
        handler.warp(61);
        handler.reportUsage(0, 1000, 0);
        handler.openDispute(0);
        handler.retireAndWithdrawBond(0); // the host ends with a dispute open: its bond stays
        assertEq(handler.refusedWithdrawals(), 1);
        handler.warp(1801);
        handler.expireDispute(1);
        assertEq(uint8(market.disputeOf(1).status), uint8(IMarket.DisputeStatus.Expired));
        handler.claimUsage(0);
        assertEq(handler.claims(), 3);
        handler.withdrawPayout(0);
        handler.retireAndWithdrawBond(0); // no dispute left: the bond comes back
        assertEq(market.bondOf(handler.hosts(0)).amount, 0);
        assertGt(handler.withdrawnBond(handler.hosts(0)), 0);
        invariant_marketTokensEqualBondsPlusDisputeBondsPlusPayouts();
        invariant_slashesWithinBondsAndDisputesCounted();
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

    /// The market holds exactly what it owes: bonds, open dispute bonds and payouts.
    function invariant_marketTokensEqualBondsPlusDisputeBondsPlusPayouts() public view {
        uint256 sum;
        for (uint256 i; i < handler.hostCount(); ++i) sum += market.bondOf(handler.hosts(i)).amount;
        for (uint256 i; i < handler.disputeCount(); ++i) {
            IMarket.Dispute memory d = market.disputeOf(handler.disputes(i));
            if (d.status == IMarket.DisputeStatus.Open) sum += d.bond;
        }
        address[] memory payees = handler.payees();
        for (uint256 i; i < payees.length; ++i) sum += market.payoutOf(payees[i]);
        assertEq(token.balanceOf(address(market)), sum);
        assertEq(market.owed(), sum);
    }

    /// Slashing never takes more than was bonded; open disputes are counted per host.
    function invariant_slashesWithinBondsAndDisputesCounted() public view {
        for (uint256 i; i < handler.hostCount(); ++i) {
            uint32 h = handler.hosts(i);
            assertLe(market.reputationOf(h).slashed, handler.bonded(h));
            // A bond leaves only by a slash or a withdrawal (refused while a dispute is open: the handler
            // expects that revert).
            assertEq(market.bondOf(h).amount + market.reputationOf(h).slashed + handler.withdrawnBond(h), handler.bonded(h));
            assertEq(market.bondOf(h).openDisputes, handler.openDisputes(h));
        }
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
