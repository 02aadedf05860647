// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract RegistryTest is Base {
    // --- constructor --------------------------------------------------------------------

    function test_constructor_setsParameters() public view {
        (uint32 minPrepaid, uint32 grace, uint16 feeBps, address treasury) = tc.parameters();
        assertEq(minPrepaid, MIN_PREPAID);
        assertEq(grace, GRACE);
        assertEq(feeBps, 0);
        assertEq(treasury, admin);
        assertEq(tc.owner(), admin);
        assertEq(tc.token(), address(token));
        assertEq(tc.periodSeconds(), PERIOD);
        assertEq(tc.currentPeriod(), 0);
        assertEq(tc.genesis(), block.timestamp);
        assertEq(tc.disputePeriods(), DISPUTE);
        assertEq(tc.reportGracePeriods(), GRACE_PERIODS);
        assertEq(tc.finalFrom(0), GRACE_PERIODS + DISPUTE + 1);
        assertEq(tc.claimClosesAt(0), GRACE_PERIODS + DISPUTE + 1 + GRACE_PERIODS + 1);
    }

    function test_constructor_revertsOnZeroTokenOrBadPeriods() public {
        IERC20 t = IERC20(address(token));
        vm.expectRevert(IRegistry.RegistryZeroAddress.selector);
        new TenantChain(admin, IERC20(address(0)), PERIOD, 0, DISPUTE, GRACE_PERIODS, 0, 0, bigQuota());
        vm.expectRevert(IRegistry.RegistryInvalidParameters.selector);
        new TenantChain(admin, t, 0, 0, DISPUTE, GRACE_PERIODS, 0, 0, bigQuota());
        vm.expectRevert(IRegistry.RegistryInvalidParameters.selector);
        new TenantChain(admin, t, PERIOD, 0, 0, GRACE_PERIODS, 0, 0, bigQuota());
        vm.expectRevert(IRegistry.RegistryInvalidParameters.selector);
        new TenantChain(admin, t, PERIOD, 0, 65, GRACE_PERIODS, 0, 0, bigQuota());
        // A period must have a grace for batches (and the ring a claim to ride on).
        vm.expectRevert(IRegistry.RegistryInvalidParameters.selector);
        new TenantChain(admin, t, PERIOD, 0, DISPUTE, 0, 0, 0, bigQuota());
        vm.expectRevert(IRegistry.RegistryInvalidParameters.selector);
        new TenantChain(admin, t, PERIOD, 0, DISPUTE, 65, 0, 0, bigQuota());
        uint16 tooHigh = tc.MAX_FEE_BPS() + 1;
        vm.expectRevert(IRegistry.RegistryInvalidParameters.selector);
        new TenantChain(admin, t, PERIOD, tooHigh, DISPUTE, GRACE_PERIODS, 0, 0, bigQuota());
    }

    // --- tenants ------------------------------------------------------------------------

    function test_registerTenant_storesAndEmits() public {
        vm.expectEmit(address(tc));
        emit IRegistry.TenantRegistered(tenant2, bytes32("meta"), "ipfs://x", small());
        vm.prank(tenant2);
        tc.registerTenant(bytes32("meta"), "ipfs://x", small());
        Tenant memory t = tc.getTenant(tenant2);
        assertEq(uint8(t.status), uint8(TenantStatus.Active));
        assertEq(t.activeAllocations, 0);
        assertTrue(eq(t.quota, bigQuota()));
    }

    function test_registerTenant_revertsWhenRegisteredOrPaused() public {
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryTenantAlreadyRegistered.selector, tenant));
        tc.registerTenant(0, "", small());

        vm.prank(admin);
        tc.pause();
        vm.prank(tenant2);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.registerTenant(0, "", small());
    }

    function test_closeTenant_closesAndEmits() public {
        vm.expectEmit(address(tc));
        emit IRegistry.TenantStatusChanged(tenant, TenantStatus.Closed);
        vm.prank(tenant);
        tc.closeTenant();
        assertEq(uint8(tc.getTenant(tenant).status), uint8(TenantStatus.Closed));
        // Funds stay withdrawable after closing.
        vm.prank(tenant);
        tc.withdraw(1 ether, tenant);
        assertEq(token.balanceOf(tenant), 1 ether);
    }

    function test_closeTenant_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryTenantNotActive.selector, stranger, TenantStatus.None));
        tc.closeTenant();

        request(tenant, small());
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryTenantHasAllocations.selector, tenant, 1));
        tc.closeTenant();
    }

    function test_setTenantStatus_suspendsAndReinstates() public {
        vm.expectEmit(address(tc));
        emit IRegistry.TenantStatusChanged(tenant, TenantStatus.Suspended);
        vm.prank(admin);
        tc.setTenantStatus(tenant, TenantStatus.Suspended);
        bytes memory err =
            abi.encodeWithSelector(IRegistry.RegistryTenantNotActive.selector, tenant, TenantStatus.Suspended);
        requestReverts(tenant, small(), err);

        vm.prank(admin);
        tc.setTenantStatus(tenant, TenantStatus.Active);
        request(tenant, small());
    }

    function test_setTenantStatus_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        tc.setTenantStatus(tenant, TenantStatus.Suspended);

        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryInvalidTenantStatus.selector, TenantStatus.Closed));
        tc.setTenantStatus(tenant, TenantStatus.Closed);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryTenantNotActive.selector, stranger, TenantStatus.None));
        tc.setTenantStatus(stranger, TenantStatus.Suspended);
        vm.stopPrank();
    }

    function test_setDelegate_allowsActingForTenant() public {
        vm.expectEmit(address(tc));
        emit IRegistry.DelegateSet(tenant, delegate, true);
        vm.prank(tenant);
        tc.setDelegate(delegate, true);
        assertTrue(tc.isDelegate(tenant, delegate));

        uint64 quote = quoteOf(hostId, small());
        vm.prank(delegate);
        uint64 id = tc.requestAllocationFor(tenant, hostId, small(), quote, metered(), specHash, spec);
        assertEq(tc.getAllocation(id).tenant, tenant);

        vm.prank(tenant);
        tc.setDelegate(delegate, false);
        vm.prank(delegate);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotTenantOrDelegate.selector, delegate, tenant));
        tc.releaseAllocation(id);
    }

    function test_setDelegate_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryTenantNotActive.selector, stranger, TenantStatus.None));
        tc.setDelegate(delegate, true);
        vm.prank(tenant);
        vm.expectRevert(IRegistry.RegistryZeroAddress.selector);
        tc.setDelegate(address(0), true);
    }

    // --- operators and hosts ------------------------------------------------------------

    function test_approveOperator_emitsAndGates() public {
        vm.expectEmit(address(tc));
        emit IRegistry.OperatorApproved(operator2, true);
        vm.prank(admin);
        tc.approveOperator(operator2, true);
        assertTrue(tc.isOperator(operator2));
        registerHost(operator2, hostCapacity());

        vm.prank(admin);
        tc.approveOperator(operator2, false);
        vm.prank(operator2);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryOperatorNotApproved.selector, operator2));
        tc.registerHost(hostCapacity(), prices(), metered(), pubKey);
    }

    function test_approveOperator_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        tc.approveOperator(stranger, true);
        vm.prank(admin);
        vm.expectRevert(IRegistry.RegistryZeroAddress.selector);
        tc.approveOperator(address(0), true);
    }

    function test_registerHost_storesAndEmits() public {
        vm.expectEmit(address(tc));
        emit IRegistry.HostRegistered(2, operator, hostCapacity(), prices(), metered(), pubKey);
        uint32 id = registerHost(operator, hostCapacity());
        assertEq(id, 2);
        assertEq(tc.hostCount(), 2);
        Host memory h = tc.getHost(id);
        assertEq(h.operator, operator);
        assertEq(uint8(h.status), uint8(HostStatus.Active));
        assertTrue(eq(h.capacity, hostCapacity()));
        assertEq(h.reservedPrices.cpuMilli, prices().cpuMilli);
        assertEq(h.meteredPrices.cpuSecond, metered().cpuSecond);
        assertEq(h.publicKey, pubKey);
    }

    function test_registerHost_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryOperatorNotApproved.selector, stranger));
        tc.registerHost(hostCapacity(), prices(), metered(), pubKey);

        vm.startPrank(operator);
        vm.expectRevert(IRegistry.RegistryInvalidPublicKey.selector);
        tc.registerHost(hostCapacity(), prices(), metered(), new bytes(33)); // prefix 0x00
        vm.expectRevert(IRegistry.RegistryInvalidPublicKey.selector);
        tc.registerHost(hostCapacity(), prices(), metered(), new bytes(65));
        vm.stopPrank();

        vm.prank(admin);
        tc.pause();
        vm.prank(operator);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.registerHost(hostCapacity(), prices(), metered(), pubKey);
    }

    function test_getHost_revertsOnUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryUnknownHost.selector, 99));
        tc.getHost(99);
    }

    function test_updateHost_changesAndEmits() public {
        Resources memory cap = res(16_000, 32_768, 400, 8192);
        ReservedPrices memory p = ReservedPrices({cpuMilli: 2e9, memoryMiB: 2e8, storageGiB: 2e9, pid: 2e6});
        MeteredPrices memory m = MeteredPrices({cpuSecond: 1, memoryGiBSecond: 2});
        vm.expectEmit(address(tc));
        emit IRegistry.HostUpdated(hostId, cap, p, m);
        vm.prank(operator);
        tc.updateHost(hostId, cap, p, m);
        Host memory h = tc.getHost(hostId);
        assertTrue(eq(h.capacity, cap));
        assertEq(h.reservedPrices.cpuMilli, 2e9);
        assertEq(h.meteredPrices.memoryGiBSecond, 2);
    }

    function test_updateHost_keepsRunningRatesAndTerms() public {
        uint64 id = request(tenant, small());
        uint64 rateBefore = tc.getAllocation(id).ratePerSecond;
        ReservedPrices memory p = ReservedPrices({cpuMilli: 5e9, memoryMiB: 5e8, storageGiB: 5e9, pid: 5e6});
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), p, MeteredPrices({cpuSecond: 7e12, memoryGiBSecond: 7e11}));
        assertEq(tc.getAllocation(id).ratePerSecond, rateBefore);
        (ReservedPrices memory reserved, MeteredPrices memory m,,) = tc.termsOf(id);
        assertEq(reserved.cpuMilli, prices().cpuMilli);
        assertEq(m.cpuSecond, metered().cpuSecond);
        assertEq(m.memoryGiBSecond, metered().memoryGiBSecond);
        assertEq(tc.allocationMeteredCost(id, 1000, 1024), metered().cpuSecond + metered().memoryGiBSecond);
    }

    function test_updateHost_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, stranger, hostId));
        tc.updateHost(hostId, hostCapacity(), prices(), metered());

        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryUnknownHost.selector, 42));
        tc.updateHost(42, hostCapacity(), prices(), metered());

        request(tenant, res(4000, 1024, 10, 100));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryCapacityBelowUse.selector, hostId));
        tc.updateHost(hostId, res(3999, 16_384, 200, 4096), prices(), metered());
    }

    function test_updateHost_revertsWhenRetired() public {
        vm.startPrank(operator);
        tc.setHostStatus(hostId, HostStatus.Retired);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryHostNotActive.selector, hostId, HostStatus.Retired));
        tc.updateHost(hostId, hostCapacity(), prices(), metered());
        vm.stopPrank();
    }

    function test_rotateHostKey_replacesAndEmits() public {
        bytes memory key = abi.encodePacked(bytes1(0x03), keccak256("new key"));
        vm.expectEmit(address(tc));
        emit IRegistry.HostKeyRotated(hostId, key);
        vm.prank(operator);
        tc.rotateHostKey(hostId, key);
        assertEq(tc.getHost(hostId).publicKey, key);
    }

    function test_rotateHostKey_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, stranger, hostId));
        tc.rotateHostKey(hostId, pubKey);
        vm.prank(operator);
        vm.expectRevert(IRegistry.RegistryInvalidPublicKey.selector);
        tc.rotateHostKey(hostId, hex"02");
    }

    function test_setHostApi_emitsAndChecksTheUrl() public {
        bytes32 fingerprint = sha256("certificate");
        vm.expectEmit(address(tc));
        emit IRegistry.HostApiSet(hostId, "https://host.example:8443", fingerprint);
        vm.prank(operator);
        tc.setHostApi(hostId, "https://host.example:8443", fingerprint);
        vm.startPrank(operator);
        vm.expectRevert(IRegistry.RegistryInvalidApiUrl.selector);
        tc.setHostApi(hostId, "", fingerprint);
        vm.expectRevert(IRegistry.RegistryInvalidApiUrl.selector);
        tc.setHostApi(hostId, string(new bytes(257)), fingerprint);
        vm.stopPrank();
    }

    function test_setHostStatus_drainingRefusesNewAllocations() public {
        uint64 id = request(tenant, small());
        vm.expectEmit(address(tc));
        emit IRegistry.HostStatusChanged(hostId, HostStatus.Draining);
        vm.prank(operator);
        tc.setHostStatus(hostId, HostStatus.Draining);
        requestReverts(
            tenant, small(), abi.encodeWithSelector(IRegistry.RegistryHostNotActive.selector, hostId, HostStatus.Draining)
        );
        // Running allocations continue and can still be released.
        vm.prank(tenant);
        tc.releaseAllocation(id);

        vm.prank(operator);
        tc.setHostStatus(hostId, HostStatus.Active);
        request(tenant, small());
    }

    function test_setHostStatus_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, stranger, hostId));
        tc.setHostStatus(hostId, HostStatus.Draining);

        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryInvalidHostStatus.selector, HostStatus.Active, HostStatus.Active));
        tc.setHostStatus(hostId, HostStatus.Active);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryInvalidHostStatus.selector, HostStatus.Active, HostStatus.None));
        tc.setHostStatus(hostId, HostStatus.None);
        vm.stopPrank();

        request(tenant, small());
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryHostInUse.selector, hostId));
        tc.setHostStatus(hostId, HostStatus.Retired);
    }

    function test_setHostStatus_retiredIsFinal() public {
        vm.startPrank(operator);
        tc.setHostStatus(hostId, HostStatus.Retired);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryInvalidHostStatus.selector, HostStatus.Retired, HostStatus.Active));
        tc.setHostStatus(hostId, HostStatus.Active);
        vm.stopPrank();
    }

    // --- administration -----------------------------------------------------------------

    function test_setQuota_customAndBackToDefault() public {
        Resources memory q = res(1000, 512, 2, 100);
        vm.expectEmit(address(tc));
        emit IRegistry.QuotaSet(tenant, q, true);
        vm.prank(admin);
        tc.setQuota(tenant, q, true);
        assertTrue(eq(tc.getTenant(tenant).quota, q));

        vm.prank(admin);
        tc.setQuota(tenant, q, false);
        assertTrue(eq(tc.getTenant(tenant).quota, bigQuota()));
    }

    function test_setDefaultQuota_appliesToTenantsWithoutCustom() public {
        Resources memory q = res(100, 100, 1, 10);
        vm.expectEmit(address(tc));
        emit IRegistry.DefaultQuotaSet(q);
        vm.prank(admin);
        tc.setDefaultQuota(q);
        assertTrue(eq(tc.getTenant(tenant).quota, q));
    }

    function test_proposeParameters_storesAndEmitsAfterTheDelay() public {
        uint32 effectiveAt = uint32(block.timestamp) + tc.PARAMETER_DELAY();
        vm.expectEmit(address(tc));
        emit IRegistry.ParametersProposed(7, 8, treasury, effectiveAt);
        vm.prank(admin);
        tc.proposeParameters(7, 8, treasury);
        (uint32 pMin, uint32 pGrace, address pTreasury, uint32 pAt) = tc.pendingParameters();
        assertEq(pMin, 7);
        assertEq(pGrace, 8);
        assertEq(pTreasury, treasury);
        assertEq(pAt, effectiveAt);
        vm.warp(effectiveAt);
        vm.expectEmit(address(tc));
        emit IRegistry.ParametersSet(7, 8, treasury);
        vm.prank(stranger); // anyone applies what is due
        tc.applyParameters();
        (uint32 minPrepaid, uint32 grace, uint16 feeBps, address t) = tc.parameters();
        assertEq(minPrepaid, 7);
        assertEq(grace, 8);
        assertEq(feeBps, 0);
        assertEq(t, treasury);
        (,,, pAt) = tc.pendingParameters();
        assertEq(pAt, 0, "nothing pending once applied");
    }

    function test_proposeParameters_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        tc.proposeParameters(0, 0, admin);
        vm.prank(admin);
        vm.expectRevert(IRegistry.RegistryZeroAddress.selector);
        tc.proposeParameters(0, 0, address(0));
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryParametersNotDue.selector, 0));
        tc.applyParameters(); // nothing pending
    }

    function test_pause_blocksEntriesAndOperatorMoneyNotTenantExits() public {
        uint64 id = request(tenant, small());
        vm.expectEmit(address(tc));
        emit IRegistry.Paused(admin);
        vm.prank(admin);
        tc.pause();
        assertTrue(tc.paused());

        uint64 quote = quoteOf(hostId, small());
        vm.startPrank(tenant);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.requestAllocation(hostId, small(), quote, metered(), specHash, spec);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.resizeAllocation(id, small(), quote);
        vm.stopPrank();
        // Money comes in; tenants get out.
        fund(tenant, 1 ether);
        vm.warp(block.timestamp + 10);
        tc.settle(id);
        vm.startPrank(tenant);
        tc.releaseAllocation(id);
        tc.withdraw(1 ether, tenant);
        vm.stopPrank();
        // Nothing leaves to an operator.
        vm.prank(operator);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.withdrawEarnings(hostId, operator);

        vm.expectEmit(address(tc));
        emit IRegistry.Unpaused(admin);
        vm.prank(admin);
        tc.unpause();
        assertFalse(tc.paused());
        vm.prank(operator);
        assertEq(tc.withdrawEarnings(hostId, operator), rateOf(small()) * 10);
    }

    function test_pause_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        tc.pause();
        vm.prank(admin);
        vm.expectRevert(IRegistry.RegistryNotPaused.selector);
        tc.unpause();
        vm.prank(admin);
        tc.pause();
        vm.prank(admin);
        vm.expectRevert(IRegistry.RegistryPaused.selector);
        tc.pause();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        tc.unpause();
    }

    function test_adminTransfer_isTwoStep() public {
        address next = makeAddr("nextAdmin");
        vm.prank(admin);
        tc.transferOwnership(next);
        assertEq(tc.owner(), admin);
        assertEq(tc.pendingOwner(), next);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        tc.acceptOwnership();
        vm.prank(next);
        tc.acceptOwnership();
        assertEq(tc.owner(), next);
    }
}
