// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IAllocation} from "../../contracts/interfaces/IAllocation.sol";
import {ResourcesLib} from "../../contracts/libraries/ResourcesLib.sol";

/// @notice Fuzzing the pricing and settlement math.
contract BillingFuzzTest is Base {
    /// The provider (and the fee) never get more than the tenant paid, and the tenant never pays
    /// more than it deposited, whatever the resources, prices, deposit, reports and timing.
    function testFuzz_providerNeverEarnsMoreThanTenantPaid(
        uint24 cpu,
        uint32 mem,
        uint96 extra,
        uint32 elapsed1,
        uint32 elapsed2,
        uint64 cpuMs,
        uint16 feeBps
    ) public {
        Resources memory r = res(uint24(bound(cpu, 1, 8000)), uint32(bound(mem, 1, 16_384)), 1, 10);
        uint256 rate = rateOf(r);
        deployWithFee(uint16(bound(feeBps, 0, 1000)));
        // Admission: the minimum prepaid period and the metered exposure.
        uint256 deposit = rate * MIN_PREPAID + meteredRateOf(r) * exposureSeconds() + bound(extra, 0, 100 ether);
        registerAndFund(tenant2, deposit);
        uint64 id = request(tenant2, r);
        uint32 period = tc.currentPeriod();

        // Reported within the period's grace (later reports are refused), charged once final.
        vm.warp(startOf(period + 1) + bound(elapsed1, 0, uint256(GRACE_PERIODS) * PERIOD - 1));
        report(period, id, uint64(bound(cpuMs, 0, uint256(r.cpuMillis) * PERIOD)), 0);
        tc.settle(id);
        vm.warp(block.timestamp + bound(elapsed2, 0, 30 days));
        vm.prank(tenant2);
        tc.releaseAllocation(id);

        uint256 paid = deposit - tc.accountOf(tenant2).balance;
        assertEq(tc.earningsOf(hostId) + tc.feesAccrued(), paid, "earnings + fees == what the tenant paid");
        assertLe(paid, deposit, "never more than deposited");
        assertEq(token.balanceOf(address(tc)), 1_000 ether + deposit, "tokens stay put until withdrawn");
    }

    /// Each metered line rounds down (the tenant's favour) by less than one unit.
    function testFuzz_meteredCostRoundsDownByLessThanOneUnit(uint64 cpuMs, uint64 memMiBs, uint128 pc, uint128 pm)
        public
        view
    {
        uint256 cpuLine = tc.meteredCost(cpuMs, 0, MeteredPrices({cpuSecond: pc, memoryGiBSecond: 0}));
        uint256 memLine = tc.meteredCost(0, memMiBs, MeteredPrices({cpuSecond: 0, memoryGiBSecond: pm}));
        // exact = cpuMs * pc / 1000; floor(exact) <= exact < floor(exact) + 1
        assertLe(cpuLine * 1000, uint256(cpuMs) * pc);
        assertLt(uint256(cpuMs) * pc - cpuLine * 1000, 1000);
        assertLe(memLine * 1024, uint256(memMiBs) * pm);
        assertLt(uint256(memMiBs) * pm - memLine * 1024, 1024);
        assertEq(tc.meteredCost(cpuMs, memMiBs, MeteredPrices({cpuSecond: pc, memoryGiBSecond: pm})), cpuLine + memLine);
    }

    /// Reserved charges are exact per second; when the escrow runs out, what is paid never exceeds
    /// the escrow and leaves less than one second's charge behind.
    function testFuzz_reservedChargeExactAndBoundedByEscrow(uint24 cpu, uint96 extra, uint32 elapsed) public {
        Resources memory r = res(uint24(bound(cpu, 1, 8000)), 128, 1, 10);
        uint256 rate = rateOf(r);
        uint256 deposit = rate * MIN_PREPAID + meteredRateOf(r) * exposureSeconds() + bound(extra, 0, rate * 10_000);
        registerAndFund(tenant2, deposit);
        uint64 id = request(tenant2, r);
        uint256 t0 = block.timestamp;
        uint256 dt = bound(elapsed, 0, 365 days);
        vm.warp(t0 + dt);
        tc.settle(id);
        uint256 earned = tc.earningsOf(hostId);
        uint256 paidSeconds = tc.getAllocation(id).lastSettled - t0;
        assertEq(earned, rate * paidSeconds, "exact per-second charge");
        assertLe(earned, deposit, "never more than the escrow");
        if (paidSeconds < dt) assertLt(deposit - earned, rate, "ran out: less than one second's charge left");
    }

    /// The widest resources at the highest prices fail with a clear error, never an overflow panic;
    /// the largest admissible rate settles over decades without overflow.
    function testFuzz_largeValuesDoNotOverflow(uint24 cpu, uint32 mem, uint24 sto, uint24 pids, uint64 price) public {
        price = uint64(bound(price, 1, type(uint64).max));
        Resources memory r = res(cpu, mem, sto, pids);
        ReservedPrices memory p = ReservedPrices({cpuMilli: price, memoryMiB: price, storageGiB: price, pid: price});
        uint256 rate = ResourcesLib.rate(ResourcesLib.pack(r), p); // 4 x (2^32 * 2^64) < 2^256: can't overflow
        assertEq(rate, (uint256(cpu) + mem + sto + pids) * price);

        vm.prank(operator);
        tc.updateHost(hostId, res(type(uint24).max, type(uint32).max, type(uint24).max, type(uint24).max), p, metered());
        vm.prank(admin);
        tc.setQuota(tenant2, res(type(uint24).max, type(uint32).max, type(uint24).max, type(uint24).max), true);
        registerAndFund(tenant2, 0);
        if (cpu == 0 || mem == 0 || pids == 0) {
            requestReverts(tenant2, r, abi.encodeWithSelector(IAllocation.AllocationEmptyResources.selector));
            return;
        }
        if (rate > type(uint64).max) {
            requestReverts(tenant2, r, abi.encodeWithSelector(IAllocation.AllocationRateTooHigh.selector, rate));
            return;
        }
        uint256 amount = rate * (MIN_PREPAID + 50 * 365 days) + meteredRateOf(r) * exposureSeconds();
        deal(address(token), tenant2, amount); // beyond the faucet's cap
        vm.startPrank(tenant2);
        token.approve(address(tc), amount);
        tc.deposit(tenant2, amount);
        vm.stopPrank();
        uint64 id = request(tenant2, r);
        vm.warp(block.timestamp + 50 * 365 days);
        tc.settle(id);
        assertEq(tc.earningsOf(hostId), rate * 50 * 365 days);
    }
}
