// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";
import {IAllocation} from "../../contracts/interfaces/IAllocation.sol";
import {IBilling} from "../../contracts/interfaces/IBilling.sol";

contract AllocationTest is Base {
    // --- request ------------------------------------------------------------------------

    function test_request_admitsStoresAndEmits() public {
        Resources memory r = small();
        uint64 expectedId = (uint64(hostId) << 32) | 1;
        vm.expectEmit(address(tc));
        emit IAllocation.AllocationRequested(hostId, expectedId, tenant, r, uint64(rateOf(r)), specHash, spec);
        uint64 id = request(tenant, r);
        assertEq(id, expectedId);

        Allocation memory a = tc.getAllocation(id);
        assertEq(a.tenant, tenant);
        assertEq(a.hostId, hostId);
        assertEq(uint8(a.status), uint8(AllocationStatus.Active));
        assertTrue(eq(a.resources, r));
        assertEq(a.ratePerSecond, rateOf(r));
        assertEq(a.lastSettled, block.timestamp);
        assertEq(a.nextReportPeriod, tc.currentPeriod());

        (ReservedPrices memory rt, MeteredPrices memory mt, uint24 peakCpu, uint32 peakMem) = tc.termsOf(id);
        assertEq(rt.cpuMilli, prices().cpuMilli);
        assertEq(rt.pid, prices().pid);
        assertEq(mt.cpuSecond, metered().cpuSecond);
        assertEq(mt.memoryGiBSecond, metered().memoryGiBSecond);
        assertEq(peakCpu, r.cpuMillis);
        assertEq(peakMem, r.memoryMiB);
        assertEq(tc.exposureOf(tenant), meteredRateOf(r) * exposureSeconds());

        assertTrue(eq(tc.getHost(hostId).used, r));
        assertEq(tc.getHost(hostId).allocationCount, 1);
        assertTrue(eq(tc.getTenant(tenant).used, r));
        assertEq(tc.getTenant(tenant).activeAllocations, 1);
        assertEq(tc.accountOf(tenant).ratePerSecond, rateOf(r));
        assertEq(tc.rateOf(hostId, r), rateOf(r));
    }

    function test_request_idsCountPerHost() public {
        assertEq(request(tenant, small()), (uint64(hostId) << 32) | 1);
        assertEq(request(tenant, small()), (uint64(hostId) << 32) | 2);
    }

    function test_request_revertsOnEmptyResources() public {
        requestReverts(
            tenant, res(0, 256, 1, 64), abi.encodeWithSelector(IAllocation.AllocationEmptyResources.selector)
        );
        requestReverts(
            tenant, res(500, 0, 1, 64), abi.encodeWithSelector(IAllocation.AllocationEmptyResources.selector)
        );
        requestReverts(
            tenant, res(500, 256, 1, 0), abi.encodeWithSelector(IAllocation.AllocationEmptyResources.selector)
        );
    }

    function test_request_revertsForUnregisteredTenant() public {
        requestReverts(
            stranger,
            small(),
            abi.encodeWithSelector(IRegistry.RegistryTenantNotActive.selector, stranger, TenantStatus.None)
        );
    }

    function test_request_revertsOnUnknownHost() public {
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryHostNotActive.selector, 77, HostStatus.None));
        tc.requestAllocation(77, small(), type(uint64).max, metered(), specHash, spec);
    }

    function test_request_revertsOverCapacityWithNumbers() public {
        request(tenant, res(6000, 1024, 10, 100));
        Resources memory want = res(3000, 1024, 10, 100);
        Resources memory free = res(2000, 16_384 - 1024, 190, 3996);
        requestReverts(
            tenant,
            want,
            abi.encodeWithSelector(IAllocation.AllocationInsufficientCapacity.selector, hostId, want, free)
        );
    }

    function test_request_revertsOverQuotaWithNumbers() public {
        Resources memory quota = res(1000, 1024, 5, 200);
        vm.prank(admin);
        tc.setQuota(tenant, quota, true);
        request(tenant, small());
        Resources memory want = res(600, 256, 1, 64);
        Resources memory left = res(500, 768, 4, 136);
        requestReverts(
            tenant, want, abi.encodeWithSelector(IAllocation.AllocationQuotaExceeded.selector, tenant, want, left)
        );
    }

    function test_request_revertsWithoutPrepaid() public {
        registerAndFund(tenant2, 0);
        // The minimum prepaid period plus the metered exposure the new allocation brings.
        uint256 required = rateOf(small()) * MIN_PREPAID + meteredRateOf(small()) * exposureSeconds();
        requestReverts(
            tenant2, small(), abi.encodeWithSelector(IBilling.BillingInsufficientPrepaid.selector, tenant2, required, 0)
        );

        fund(tenant2, required - 1);
        requestReverts(
            tenant2,
            small(),
            abi.encodeWithSelector(IBilling.BillingInsufficientPrepaid.selector, tenant2, required, required - 1)
        );
        fund(tenant2, 1);
        request(tenant2, small()); // exactly the minimum is enough
    }

    function test_request_revertsWhenRateTooHigh() public {
        vm.prank(operator);
        tc.updateHost(
            hostId,
            hostCapacity(),
            ReservedPrices({cpuMilli: type(uint64).max, memoryMiB: 0, storageGiB: 0, pid: 0}),
            metered()
        );
        uint256 rate = uint256(type(uint64).max) * 500;
        requestReverts(tenant, small(), abi.encodeWithSelector(IAllocation.AllocationRateTooHigh.selector, rate));
    }

    function test_request_revertsWhenSuspendedForFunds() public {
        uint64 id = request(tenant, small());
        vm.warp(tc.accountOf(tenant).paidThrough + 1);
        tc.settle(id);
        requestReverts(tenant, small(), abi.encodeWithSelector(IBilling.BillingTenantSuspended.selector, tenant));
    }

    function test_requestFor_revertsForNonDelegate() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotTenantOrDelegate.selector, stranger, tenant));
        tc.requestAllocationFor(tenant, hostId, small(), type(uint64).max, metered(), specHash, spec);
    }

    // --- resize -------------------------------------------------------------------------

    function test_resize_upAndDownInPlace() public {
        uint64 id = request(tenant, small());
        vm.warp(block.timestamp + 100);
        Resources memory bigger = res(2000, 1024, 4, 128);
        vm.expectEmit(address(tc));
        emit IBilling.Settled(id, uint32(block.timestamp - 100), uint32(block.timestamp), rateOf(small()) * 100, 0);
        vm.expectEmit(address(tc));
        emit IAllocation.AllocationResized(uint32(id >> 32), id, bigger, uint64(rateOf(bigger)));
        resize(tenant, id, bigger);
        assertTrue(eq(tc.getAllocation(id).resources, bigger));
        assertTrue(eq(tc.getHost(hostId).used, bigger));
        assertTrue(eq(tc.getTenant(tenant).used, bigger));
        assertEq(tc.accountOf(tenant).ratePerSecond, rateOf(bigger));

        resize(tenant, id, small());
        assertTrue(eq(tc.getHost(hostId).used, small()));
        assertEq(tc.accountOf(tenant).ratePerSecond, rateOf(small()));
    }

    function test_resize_checksCapacityQuotaAndPrepaid() public {
        uint64 id = request(tenant, small());
        Resources memory tooBig = res(9000, 256, 1, 64);
        Resources memory free = res(8000, 16_384, 200, 4096); // its own share counts as free
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(IAllocation.AllocationInsufficientCapacity.selector, hostId, tooBig, free)
        );
        tc.resizeAllocation(id, tooBig, type(uint64).max);

        vm.prank(admin);
        tc.setQuota(tenant, res(1000, 1024, 5, 200), true);
        Resources memory overQuota = res(1001, 256, 1, 64);
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAllocation.AllocationQuotaExceeded.selector, tenant, overQuota, res(1000, 1024, 5, 200)
            )
        );
        tc.resizeAllocation(id, overQuota, type(uint64).max);

        vm.prank(admin);
        tc.setQuota(tenant, bigQuota(), false);
        uint32 longPrepaid = 4_000_000_000;
        setParameters(longPrepaid, GRACE, admin);
        Resources memory pricey = res(8000, 16_384, 200, 4096);
        uint256 balance = tc.accountOf(tenant).balance;
        // The prepaid period and the metered exposure at the new peak (read before the prank binds).
        uint256 needed = rateOf(pricey) * longPrepaid + meteredRateOf(pricey) * exposureSeconds();
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IBilling.BillingInsufficientPrepaid.selector, tenant, needed, balance));
        tc.resizeAllocation(id, pricey, type(uint64).max);
    }

    function test_resize_reverts() public {
        uint64 id = request(tenant, small());
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotTenantOrDelegate.selector, stranger, tenant));
        tc.resizeAllocation(id, small(), type(uint64).max);
        vm.prank(tenant);
        vm.expectRevert(IAllocation.AllocationEmptyResources.selector);
        tc.resizeAllocation(id, res(0, 1, 1, 1), type(uint64).max);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationUnknown.selector, 5));
        tc.resizeAllocation(5, small(), type(uint64).max);
        vm.prank(admin);
        tc.setTenantStatus(tenant, TenantStatus.Suspended);
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.RegistryTenantNotActive.selector, tenant, TenantStatus.Suspended)
        );
        tc.resizeAllocation(id, small(), type(uint64).max);
        vm.prank(admin);
        tc.setTenantStatus(tenant, TenantStatus.Active);
        vm.prank(tenant);
        tc.releaseAllocation(id);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationNotActive.selector, id));
        tc.resizeAllocation(id, small(), type(uint64).max);
    }

    // --- release, reject, expire --------------------------------------------------------

    function test_release_settlesReturnsCapacityAndEmits() public {
        uint64 id = request(tenant, small());
        uint256 before = tc.accountOf(tenant).balance;
        vm.warp(block.timestamp + 500);
        uint256 due = rateOf(small()) * 500;
        vm.expectEmit(address(tc));
        emit IBilling.Settled(id, uint32(block.timestamp - 500), uint32(block.timestamp), due, 0);
        vm.expectEmit(address(tc));
        emit IAllocation.AllocationClosed(uint32(id >> 32), id, CloseReason.Released, 0);
        vm.prank(tenant);
        tc.releaseAllocation(id);

        Allocation memory a = tc.getAllocation(id);
        assertEq(uint8(a.status), uint8(AllocationStatus.Closed));
        assertEq(uint8(a.closeReason), uint8(CloseReason.Released));
        assertTrue(eq(tc.getHost(hostId).used, res(0, 0, 0, 0)));
        assertTrue(eq(tc.getTenant(tenant).used, res(0, 0, 0, 0)));
        assertEq(tc.getTenant(tenant).activeAllocations, 0);
        assertEq(tc.earningsOf(hostId), due);
        Escrow memory e = tc.accountOf(tenant);
        assertEq(e.balance, before - due);
        assertEq(e.ratePerSecond, 0);
        // Lines of the periods it ran in may still be claimed: their physical bound stays held back.
        uint256 exposure = meteredRateOf(small()) * exposureSeconds();
        assertEq(tc.exposureOf(tenant), exposure);
        assertEq(e.withdrawable, before - due - exposure);
        // No more charges after the end.
        vm.warp(block.timestamp + 10_000);
        assertEq(tc.accountOf(tenant).balance, before - due);
    }

    function test_release_reverts() public {
        uint64 id = request(tenant, small());
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotTenantOrDelegate.selector, stranger, tenant));
        tc.releaseAllocation(id);
        vm.prank(tenant);
        tc.releaseAllocation(id);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationNotActive.selector, id));
        tc.releaseAllocation(id);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationUnknown.selector, 12345));
        tc.releaseAllocation(12345);
    }

    function test_reject_refundsAndFreesCapacity() public {
        uint256 before = tc.accountOf(tenant).balance;
        uint64 id = request(tenant, small());
        vm.warp(block.timestamp + 30);
        vm.expectEmit(address(tc));
        emit IAllocation.AllocationClosed(uint32(id >> 32), id, CloseReason.Rejected, 5);
        vm.prank(operator);
        tc.rejectAllocation(id, 5);
        assertEq(uint8(tc.getAllocation(id).closeReason), uint8(CloseReason.Rejected));
        assertEq(tc.accountOf(tenant).balance, before); // nothing charged
        assertEq(tc.earningsOf(hostId), 0);
        assertTrue(eq(tc.getHost(hostId).used, res(0, 0, 0, 0)));
        assertEq(tc.exposureOf(tenant), 0); // never charged: nothing held back
        assertEq(tc.accountOf(tenant).withdrawable, before);
    }

    function test_reject_reverts() public {
        uint64 id = request(tenant, small());
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, tenant, hostId));
        tc.rejectAllocation(id, 1);
        vm.prank(operator);
        tc.rejectAllocation(id, 1);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationNotActive.selector, id));
        tc.rejectAllocation(id, 1);
    }

    function test_expire_afterGraceReleasesWithOutOfFunds() public {
        uint64 id = request(tenant, small());
        uint256 paidThrough = tc.accountOf(tenant).paidThrough;
        vm.warp(paidThrough + GRACE);
        vm.expectEmit(address(tc));
        emit IBilling.TenantSuspended(tenant, uint32(paidThrough), uint32(paidThrough + GRACE));
        vm.expectEmit(address(tc));
        emit IAllocation.AllocationClosed(uint32(id >> 32), id, CloseReason.OutOfFunds, 0);
        vm.prank(stranger); // a keeper
        tc.expireAllocation(id);
        assertEq(uint8(tc.getAllocation(id).closeReason), uint8(CloseReason.OutOfFunds));
        assertTrue(eq(tc.getHost(hostId).used, res(0, 0, 0, 0)));
        assertEq(tc.accountOf(tenant).suspendedAt, 0); // nothing left suspended
    }

    function test_expire_revertsWhileFundedOrInGrace() public {
        uint64 id = request(tenant, small());
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationNotExpired.selector, id, type(uint256).max));
        tc.expireAllocation(id);
        uint256 paidThrough = tc.accountOf(tenant).paidThrough;
        vm.warp(paidThrough + GRACE - 1);
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationNotExpired.selector, id, paidThrough + GRACE));
        tc.expireAllocation(id);
    }

    // --- views --------------------------------------------------------------------------

    function test_getAllocation_revertsOnUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IAllocation.AllocationUnknown.selector, 1));
        tc.getAllocation(1);
    }
}
