// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";

/// @notice The utilisation surcharge: the last free capacity of a host costs more than the first.
contract PricingTest is Base {
    function setUp() public override {
        super.setUp();
        vm.prank(admin);
        tc.setMaxSurcharge(200);
        fund(tenant, 1_000_000 ether);
    }

    function test_setSurcharge_boundedByTheAdmin() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistrySurchargeTooHigh.selector, 201, 200));
        tc.setSurcharge(hostId, 201);
        vm.expectEmit(address(tc));
        emit IRegistry.SurchargeSet(hostId, 100);
        vm.prank(operator);
        tc.setSurcharge(hostId, 100);
        (uint8 pct,,) = tc.hostRecordOf(hostId);
        assertEq(pct, 100);
    }

    function test_noSurcharge_isTheBaseRate() public {
        uint64 id = request(tenant, small());
        assertEq(tc.getAllocation(id).ratePerSecond, rateOf(small()));
    }

    /// With 100%: the first quarter of the CPU costs base x (1 + 0.25^2/3), the last quarter
    /// base x (1 + (0.75^2 + 0.75 + 1)/3), per unit price rounded down (the terms the allocation keeps).
    function test_lastCapacityCostsMoreThanFirst() public {
        vm.prank(operator);
        tc.setSurcharge(hostId, 100);
        Resources memory quarter = res(2000, 1024, 1, 64);
        uint256 firstRate = surcharged(quarter, 625, 30_000); // (0 + 0 + 0.25^2) / 3
        uint256 lastRate = surcharged(quarter, 23_125, 30_000); // (0.75^2 + 0.75 + 1) / 3
        assertEq(tc.rateOf(hostId, quarter), firstRate);
        uint64 first = request(tenant, quarter);
        request(tenant, quarter);
        request(tenant, quarter);
        uint64 last = request(tenant, quarter);
        assertEq(tc.getAllocation(first).ratePerSecond, firstRate);
        assertEq(tc.getAllocation(last).ratePerSecond, lastRate);
        assertGt(tc.getAllocation(last).ratePerSecond, tc.getAllocation(first).ratePerSecond);
        uint256 base = rateOf(quarter);
        assertApproxEqAbs(lastRate, base + base * 23_125 / 30_000, 4 * 2000, "within the per-unit rounding");
        (ReservedPrices memory terms,,,) = tc.termsOf(last);
        assertEq(terms.cpuMilli, uint256(prices().cpuMilli) * (30_000 + 23_125) / 30_000);
    }

    /// `r` at the base prices times (1 + num/den), each unit price rounded down.
    function surcharged(Resources memory r, uint256 num, uint256 den) internal pure returns (uint256) {
        ReservedPrices memory p = prices();
        return uint256(r.cpuMillis) * (uint256(p.cpuMilli) * (den + num) / den)
            + uint256(r.memoryMiB) * (uint256(p.memoryMiB) * (den + num) / den)
            + uint256(r.storageGiB) * (uint256(p.storageGiB) * (den + num) / den)
            + uint256(r.pids) * (uint256(p.pid) * (den + num) / den);
    }

    /// Asking in parts costs what asking at once costs (the mean price over the span), up to rounding.
    function testFuzz_splittingDoesNotPay(uint24 cpu, uint8 pct) public {
        cpu = uint24(bound(cpu, 2, 4000));
        vm.prank(admin);
        tc.setMaxSurcharge(255);
        vm.prank(operator);
        tc.setSurcharge(hostId, pct);
        uint256 snap = vm.snapshotState();
        uint64 whole = request(tenant, res(cpu * 2, 256, 1, 64));
        uint256 once = tc.getAllocation(whole).ratePerSecond;
        vm.revertToState(snap);
        uint64 a = request(tenant, res(cpu, 128, 0, 32));
        uint64 b = request(tenant, res(cpu, 128, 1, 32));
        uint256 parts = tc.getAllocation(a).ratePerSecond + tc.getAllocation(b).ratePerSecond;
        assertApproxEqRel(parts, once, 0.002e18);
    }

    /// A resize is priced at the utilisation it spans, its own share counted as free.
    function test_resize_repricesAtCurrentUtilisation() public {
        vm.prank(operator);
        tc.setSurcharge(hostId, 100);
        uint64 id = request(tenant, small());
        uint256 admitted = tc.getAllocation(id).ratePerSecond;
        request(tenant, res(6000, 8192, 1, 64)); // the host fills up
        resize(tenant, id, small());
        assertGt(tc.getAllocation(id).ratePerSecond, admitted);
        (ReservedPrices memory terms,,,) = tc.termsOf(id);
        assertGt(terms.cpuMilli, prices().cpuMilli, "the tenant's resize takes the quote of the moment");
    }
}
