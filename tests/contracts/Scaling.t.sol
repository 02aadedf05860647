// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IScaling} from "../../contracts/interfaces/IScaling.sol";
import {IAllocation} from "../../contracts/interfaces/IAllocation.sol";
import {IBilling} from "../../contracts/interfaces/IBilling.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";

/// @dev The tenant's consent on-chain (bounds, rate ceiling) and the operator's automatic resizes in it.
contract ScalingTest is Base {
    uint64 internal id;
    Resources internal lo;
    Resources internal hi;

    function setUp() public override {
        super.setUp();
        id = request(tenant, res(250, 256, 1, 64));
        lo = res(250, 128, 1, 64);
        hi = res(1000, 1024, 1, 64);
    }

    function _policy(uint64 ceiling) internal {
        vm.prank(tenant);
        tc.setScalingPolicy(id, lo, hi, ceiling);
    }

    function _auto(Resources memory r) internal {
        vm.prank(operator);
        tc.autoResizeAllocation(id, r);
    }

    function test_operatorResizesWithinThePolicyAndSaysWhichWay() public {
        vm.expectEmit(true, true, false, true);
        emit IScaling.ScalingPolicySet(uint32(id >> 32), id, lo, hi, uint64(rateOf(hi)));
        _policy(uint64(rateOf(hi)));
        Resources memory up = res(500, 256, 1, 64);
        vm.expectEmit(true, true, false, true);
        emit IAllocation.AllocationResized(uint32(id >> 32), id, up, uint64(rateOf(up)));
        vm.expectEmit(true, true, false, true);
        emit IScaling.AllocationAutoResized(uint32(id >> 32), id, res(250, 256, 1, 64), up);
        _auto(up);
        assertTrue(eq(tc.getAllocation(id).resources, up));
        (,,, uint32 last) = tc.scalingPolicyOf(id);
        assertEq(last, block.timestamp);
        assertEq(tc.accountOf(tenant).ratePerSecond, rateOf(up));
    }

    function test_cooldownIsHalfAPeriod() public {
        _policy(uint64(rateOf(hi)));
        _auto(res(500, 256, 1, 64));
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingCooldown.selector, id, block.timestamp + PERIOD / 2));
        _auto(res(1000, 256, 1, 64));
        vm.warp(block.timestamp + PERIOD / 2);
        _auto(res(1000, 256, 1, 64));
        assertEq(tc.getAllocation(id).resources.cpuMillis, 1000);
    }

    function test_outsideTheBoundsOrAboveTheCeilingIsRefused() public {
        _policy(uint64(rateOf(res(750, 1024, 1, 64))));
        Resources memory above = res(1001, 256, 1, 64);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingOutOfBounds.selector, id, above));
        _auto(above);
        Resources memory below = res(250, 64, 1, 64);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingOutOfBounds.selector, id, below));
        _auto(below);
        Resources memory pricey = res(1000, 1024, 1, 64);
        vm.expectRevert(
            abi.encodeWithSelector(
                IScaling.ScalingRateAboveCeiling.selector, id, rateOf(pricey), rateOf(res(750, 1024, 1, 64))
            )
        );
        _auto(pricey);
    }

    function test_onlyTheHostsOperatorResizesAndOnlyWithAPolicy() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingNoPolicy.selector, id));
        tc.autoResizeAllocation(id, res(500, 256, 1, 64));
        _policy(uint64(rateOf(hi)));
        vm.prank(tenant); // not even the tenant: it has resizeAllocation
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, tenant, hostId));
        tc.autoResizeAllocation(id, res(500, 256, 1, 64));
    }

    function test_turningThePolicyOffReturnsControlToTheTenant() public {
        _policy(uint64(rateOf(hi)));
        vm.prank(tenant);
        tc.setScalingPolicy(id, res(0, 0, 0, 0), res(0, 0, 0, 0), 0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingNoPolicy.selector, id));
        tc.autoResizeAllocation(id, res(500, 256, 1, 64));
        resize(tenant, id, res(300, 256, 1, 64));
    }

    function test_badPoliciesAreRefused() public {
        vm.startPrank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingInvalidBounds.selector, hi, lo)); // min > max
        tc.setScalingPolicy(id, hi, lo, type(uint64).max);
        Resources memory zero = res(0, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingInvalidBounds.selector, zero, hi)); // empty min
        tc.setScalingPolicy(id, zero, hi, type(uint64).max);
        vm.expectRevert(abi.encodeWithSelector(IScaling.ScalingRateAboveCeiling.selector, id, rateOf(lo), 1));
        tc.setScalingPolicy(id, lo, hi, 1); // the floor alone costs more than the ceiling
        vm.stopPrank();

        vm.prank(admin);
        tc.setQuota(tenant, res(800, 100_000, 100, 10_000), true);
        vm.prank(tenant);
        vm.expectPartialRevert(IAllocation.AllocationQuotaExceeded.selector); // a max above the quota
        tc.setScalingPolicy(id, lo, hi, type(uint64).max);

        vm.prank(stranger); // someone else's allocation
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotTenantOrDelegate.selector, stranger, tenant));
        tc.setScalingPolicy(id, lo, hi, type(uint64).max);
    }

    function test_aDelegateMaySetThePolicy() public {
        vm.prank(tenant);
        tc.setDelegate(delegate, true);
        vm.prank(delegate);
        tc.setScalingPolicy(id, lo, hi, type(uint64).max);
        (Resources memory min, Resources memory max, uint64 ceiling,) = tc.scalingPolicyOf(id);
        assertTrue(eq(min, lo) && eq(max, hi));
        assertEq(ceiling, type(uint64).max);
    }

    function test_theEscrowAndTheHostStillBind() public {
        _policy(type(uint64).max);
        // A second allocation fills the host up to 300 free millicores.
        request(tenant, res(7250, 256, 1, 64));
        vm.expectPartialRevert(IAllocation.AllocationInsufficientCapacity.selector);
        _auto(res(1000, 256, 1, 64));
        // An escrow that can't prepay the bigger size refuses it too.
        uint64 poor = request(tenant2Funded(), res(250, 256, 1, 64));
        vm.prank(tenant2);
        tc.setScalingPolicy(poor, lo, res(300, 1024, 1, 64), type(uint64).max);
        vm.prank(operator);
        vm.expectPartialRevert(IBilling.BillingInsufficientPrepaid.selector);
        tc.autoResizeAllocation(poor, res(300, 1024, 1, 64));
    }

    function tenant2Funded() internal returns (address) {
        // Exactly the admission: the minimum prepaid period and the metered exposure.
        Resources memory r = res(250, 256, 1, 64);
        registerAndFund(tenant2, rateOf(r) * MIN_PREPAID + meteredRateOf(r) * exposureSeconds());
        return tenant2;
    }

    /// Whatever the operator asks, a resize that passes stays in the bounds, the ceiling and the host.
    function testFuzz_anAutomaticResizeNeverLeavesThePolicy(uint24 cpu, uint32 mem, uint64 ceiling) public {
        ceiling = uint64(bound(ceiling, rateOf(lo), rateOf(hi)));
        _policy(ceiling);
        Resources memory r = res(uint24(bound(cpu, 1, 2000)), uint32(bound(mem, 1, 2048)), 1, 64);
        vm.prank(operator);
        try tc.autoResizeAllocation(id, r) {
            Allocation memory a = tc.getAllocation(id);
            assertTrue(a.resources.cpuMillis >= lo.cpuMillis && a.resources.cpuMillis <= hi.cpuMillis);
            assertTrue(a.resources.memoryMiB >= lo.memoryMiB && a.resources.memoryMiB <= hi.memoryMiB);
            assertLe(a.ratePerSecond, ceiling);
        } catch {
            assertTrue(eq(tc.getAllocation(id).resources, res(250, 256, 1, 64))); // nothing half-applied
        }
    }
}
