// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {TenantChain} from "../../../contracts/TenantChain.sol";
import {TenantChainMarket} from "../../../contracts/TenantChainMarket.sol";
import {ITenantChain} from "../../../contracts/interfaces/ITenantChain.sol";
import {IMarket} from "../../../contracts/interfaces/IMarket.sol";
import {TestToken} from "../../../contracts/test/TestToken.sol";
import {ITypes} from "../../../contracts/interfaces/ITypes.sol";
import {IRegistry} from "../../../contracts/interfaces/IRegistry.sol";
import {IAllocation} from "../../../contracts/interfaces/IAllocation.sol";
import {IBilling} from "../../../contracts/interfaces/IBilling.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev A deployed TenantChain with one approved operator, one host and one funded tenant.
abstract contract Base is Test, ITypes {
    uint32 internal constant PERIOD = 60;
    uint32 internal constant MIN_PREPAID = 3600;
    uint32 internal constant GRACE = 1800;
    uint32 internal constant DISPUTE = 1; // periods in the dispute window
    uint32 internal constant GRACE_PERIODS = 1; // periods after its end during which a period can be reported

    ITenantChain internal tc;
    TenantChainMarket internal market;
    TestToken internal token;

    address internal admin = makeAddr("admin");
    address internal operator = makeAddr("operator");
    address internal operator2 = makeAddr("operator2");
    address internal tenant = makeAddr("tenant");
    address internal tenant2 = makeAddr("tenant2");
    address internal delegate = makeAddr("delegate");
    address internal stranger = makeAddr("stranger");
    address internal arbiter = makeAddr("arbiter");
    address internal treasury = makeAddr("treasury");

    bytes internal pubKey = abi.encodePacked(bytes1(0x02), keccak256("host key"));
    bytes internal spec = new bytes(256);
    bytes32 internal specHash = keccak256("spec");
    uint32 internal hostId;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        token = new TestToken();
        deployWithFee(0);
    }

    /// @dev A fresh TenantChain with protocol fee `feeBps` and its market (no bond asked: `bondSeconds`
    /// 0, see marketParams), one host, one tenant with 1,000 tokens.
    function deployWithFee(uint16 feeBps) internal {
        deployChain(feeBps, marketParams(0));
        hostId = registerHost(operator, hostCapacity());
        registerAndFund(tenant, 1_000 ether);
    }

    function deployChain(uint16 feeBps, IMarket.Parameters memory params) internal {
        tc = ITenantChain(
            address(
                new TenantChain(
                    admin, IERC20(address(token)), PERIOD, feeBps, DISPUTE, GRACE_PERIODS, MIN_PREPAID, GRACE, bigQuota()
                )
            )
        );
        market = new TenantChainMarket(admin, tc, params);
        vm.startPrank(admin);
        tc.setMarket(address(market));
        tc.approveOperator(operator, true);
        vm.stopPrank();
    }

    /// @dev A fresh deployment whose market asks `bondSeconds` of bond, with an operator that signs
    /// receipts (its key in `opKey`) and holds the bond, one host and a funded tenant with tokens and an
    /// allowance for dispute bonds.
    function deployBonded(uint32 bondSeconds) internal returns (uint256 opKey) {
        vm.warp(1_700_000_000);
        token = new TestToken();
        (operator, opKey) = makeAddrAndKey("bonded operator");
        deployChain(0, marketParams(bondSeconds));
        token.mint(operator, 1_000_000 ether);
        vm.prank(operator);
        token.approve(address(market), type(uint256).max);
        hostId = registerHost(operator, hostCapacity());
        registerAndFund(tenant, 1_000 ether);
        token.mint(tenant, 100 ether); // for dispute bonds
    }

    function marketParams(uint32 bondSeconds) internal view returns (IMarket.Parameters memory) {
        return IMarket.Parameters({
            bondSeconds: bondSeconds,
            unbondingSeconds: 7 days,
            rulingSeconds: 1 days,
            disputeBondBps: 1000,
            disputeBondFloor: 1e15,
            arbiter: arbiter,
            treasury: treasury
        });
    }

    // --- shapes -------------------------------------------------------------------------

    function res(uint24 cpu, uint32 mem, uint24 sto, uint24 pids) internal pure returns (Resources memory) {
        return Resources({cpuMillis: cpu, memoryMiB: mem, storageGiB: sto, pids: pids});
    }

    function small() internal pure returns (Resources memory) {
        return res(500, 256, 1, 64);
    }

    function hostCapacity() internal pure returns (Resources memory) {
        return res(8000, 16_384, 200, 4096);
    }

    function bigQuota() internal pure returns (Resources memory) {
        return res(100_000, 1_000_000, 10_000, 100_000);
    }

    function prices() internal pure returns (ReservedPrices memory) {
        return ReservedPrices({cpuMilli: 1e9, memoryMiB: 1e8, storageGiB: 1e9, pid: 1e6});
    }

    function metered() internal pure returns (MeteredPrices memory) {
        return MeteredPrices({cpuSecond: 2e12, memoryGiBSecond: 1e11});
    }

    function rateOf(Resources memory r) internal pure returns (uint256) {
        ReservedPrices memory p = prices();
        return uint256(r.cpuMillis) * p.cpuMilli + uint256(r.memoryMiB) * p.memoryMiB
            + uint256(r.storageGiB) * p.storageGiB + uint256(r.pids) * p.pid;
    }

    /// @dev The physical-bound metered cost per second of `r` at {metered} prices, rounded up: what
    /// withdrawals hold back per second of exposure.
    function meteredRateOf(Resources memory r) internal pure returns (uint256) {
        MeteredPrices memory m = metered();
        return (uint256(r.cpuMillis) * m.cpuSecond + 999) / 1000
            + (uint256(r.memoryMiB) * m.memoryGiBSecond + 1023) / 1024;
    }

    /// @dev How long an allocation's metered exposure is held back: every period that can still be charged.
    function exposureSeconds() internal view returns (uint256) {
        return uint256(tc.claimClosesAt(0) + 1) * PERIOD;
    }

    function eq(Resources memory a, Resources memory b) internal pure returns (bool) {
        return a.cpuMillis == b.cpuMillis && a.memoryMiB == b.memoryMiB && a.storageGiB == b.storageGiB
            && a.pids == b.pids;
    }

    // --- actions ------------------------------------------------------------------------

    function registerHost(address op, Resources memory capacity) internal returns (uint32 id) {
        vm.prank(op);
        id = tc.registerHost(capacity, prices(), metered(), pubKey);
    }

    function registerAndFund(address who, uint256 amount) internal {
        vm.prank(who);
        tc.registerTenant(keccak256(abi.encode(who)), "ipfs://tenant", small());
        if (amount != 0) fund(who, amount);
    }

    function fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(tc), amount);
        tc.deposit(who, amount);
        vm.stopPrank();
    }

    /// @dev Request `r` on the default host at the quote of the moment and the host's metered prices (what
    /// the CLI passes as the tenant's bounds).
    function request(address who, Resources memory r) internal returns (uint64 id) {
        id = requestOn(who, hostId, r);
    }

    function requestOn(address who, uint32 host, Resources memory r) internal returns (uint64 id) {
        uint64 quote = quoteOf(host, r);
        MeteredPrices memory m = tc.getHost(host).meteredPrices;
        vm.prank(who);
        id = tc.requestAllocation(host, r, quote, m, specHash, spec);
    }

    /// @dev {request} that must revert with `err` (the quote is read first: expectRevert binds the next call).
    function requestReverts(address who, Resources memory r, bytes memory err) internal {
        uint64 quote = quoteOf(hostId, r);
        MeteredPrices memory m = tc.getHost(hostId).meteredPrices;
        vm.prank(who);
        vm.expectRevert(err);
        tc.requestAllocation(hostId, r, quote, m, specHash, spec);
    }

    /// @dev Resize by the tenant, bounded by the quote of the moment ({rateOf} counts the allocation's own
    /// share as used, so it is never below the resize's own price).
    function resize(address who, uint64 id, Resources memory r) internal {
        uint64 quote = quoteOf(uint32(id >> 32), r);
        vm.prank(who);
        tc.resizeAllocation(id, r, quote);
    }

    /// @dev {rateOf}, saturated at 64 bits (a rate above is refused by the contract, not by a cast here).
    function quoteOf(uint32 host, Resources memory r) internal view returns (uint64) {
        uint256 q = tc.rateOf(host, r);
        return q > type(uint64).max ? type(uint64).max : uint64(q);
    }

    /// @dev Propose billing parameters and apply them once the delay is over (the clock moves 2 days).
    function setParameters(uint32 minPrepaid, uint32 grace, address treasury_) internal {
        vm.prank(admin);
        tc.proposeParameters(minPrepaid, grace, treasury_);
        vm.warp(block.timestamp + tc.PARAMETER_DELAY());
        tc.applyParameters();
    }

    /// @dev A usage receipt for `id` and `period`, signed with `key` (an operator's) for the market.
    function signed(uint256 key, uint64 id, uint32 period, uint64 cpuMs, uint64 memMiBs)
        internal
        view
        returns (IMarket.UsageReceipt memory r, bytes memory sig)
    {
        r = IMarket.UsageReceipt(id, period, cpuMs, memMiBs);
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(key, market.receiptDigest(r));
        sig = abi.encodePacked(rr, ss, v);
    }

    /// @dev A line's cost at the test host's metered prices (what every allocation here agreed to).
    function cost(uint64 cpuMs, uint64 memMiBs) internal view returns (uint256) {
        return tc.meteredCost(cpuMs, memMiBs, metered());
    }

    /// @dev One report line, packed as the contract takes it (ITypes).
    function pack(uint64 id, uint64 cpuMs, uint64 memMiBs) internal pure returns (uint256) {
        return (uint256(id) << 128) | (uint256(cpuMs) << 64) | memMiBs;
    }

    function line(uint64 id, uint64 cpuMs, uint64 memMiBs) internal pure returns (uint256[] memory lines) {
        lines = new uint256[](1);
        lines[0] = pack(id, cpuMs, memMiBs);
    }

    /// @dev Report one line and claim it as if the dispute window were over (see claimAsFinal).
    function report(uint32 period, uint64 id, uint64 cpuMs, uint64 memMiBs) internal {
        uint256[] memory lines = line(id, cpuMs, memMiBs);
        reportOnly(period, lines);
        claimAsFinal(period, lines);
    }

    function reportOnly(uint32 period, uint256[] memory lines) internal {
        vm.prank(operator);
        tc.reportUsage(hostId, period, lines, new uint256[](0));
    }

    /// @dev A small allocation of `tenant` whose period 0 the operator reports at 30,000 CPU-ms (the tests
    /// sign receipts for less); now is the start of period 1.
    function reportedOvercharge() internal returns (uint64 id, uint256[] memory lines) {
        id = request(tenant, small());
        vm.warp(startOf(1));
        lines = line(id, 30_000, 0);
        reportOnly(0, lines);
    }

    /// @dev Claim `period`'s lines at the end of its dispute window ({finalFrom}), then return to the
    /// present: a claim's effects don't depend on the time it runs, so tests keep their own clock.
    function claimAsFinal(uint32 period, uint256[] memory lines) internal {
        uint256 present = block.timestamp;
        uint256 finalAt_ = finalAt(period);
        if (finalAt_ > present) vm.warp(finalAt_);
        vm.prank(operator);
        tc.claimUsage(hostId, period, lines);
        vm.warp(present);
    }

    /// @dev When period `p` begins.
    function startOf(uint32 p) internal view returns (uint256) {
        return uint256(tc.genesis()) + uint256(p) * PERIOD;
    }

    /// @dev When `period`'s usage becomes final (claimable): the start of {finalFrom}.
    function finalAt(uint32 period) internal view returns (uint256) {
        return startOf(tc.finalFrom(period));
    }
}
