// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";
import {IBilling} from "../../contracts/interfaces/IBilling.sol";
import {IUsage} from "../../contracts/interfaces/IUsage.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice Every mutating function, called by each wrong role, reverts with the role's error.
/// deposit, settle, expireAllocation and applyParameters (after the delay) are open to anyone by design
/// (top-ups and keepers);
/// registerTenant to anyone not yet registered; withdraw pays only the caller's own escrow.
contract AccessControlTest is Base {
    uint64 internal id;
    uint32 internal otherHost;
    address[] internal wrong;

    function setUp() public override {
        super.setUp();
        vm.prank(admin);
        tc.approveOperator(operator2, true);
        otherHost = registerHost(operator2, hostCapacity());
        registerAndFund(tenant2, 10 ether);
        id = request(tenant, small());
        wrong.push(stranger);
        wrong.push(operator2); // an approved operator of another host
        wrong.push(tenant2); // another tenant
    }

    function _expectOwnable(address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller));
    }

    function test_adminFunctions_rejectEveryoneButTheOwner() public {
        wrong.push(operator);
        wrong.push(tenant);
        for (uint256 i; i < wrong.length; ++i) {
            address c = wrong[i];
            vm.startPrank(c);
            _expectOwnable(c);
            tc.setTenantStatus(tenant, TenantStatus.Suspended);
            _expectOwnable(c);
            tc.approveOperator(c, true);
            _expectOwnable(c);
            tc.setQuota(c, bigQuota(), true);
            _expectOwnable(c);
            tc.setDefaultQuota(bigQuota());
            _expectOwnable(c);
            tc.proposeParameters(0, 0, c);
            _expectOwnable(c);
            tc.setMaxSurcharge(1);
            _expectOwnable(c);
            market.proposeParameters(marketParams(0));
            _expectOwnable(c);
            tc.pause();
            _expectOwnable(c);
            tc.unpause();
            _expectOwnable(c);
            tc.transferOwnership(c);
            vm.stopPrank();
        }
    }

    function test_hostFunctions_rejectEveryoneButTheHostsOperator() public {
        wrong.push(admin);
        wrong.push(tenant);
        uint256[] memory none = new uint256[](0);
        for (uint256 i; i < wrong.length; ++i) {
            address c = wrong[i];
            bytes memory err = abi.encodeWithSelector(IRegistry.RegistryNotHostOperator.selector, c, hostId);
            vm.startPrank(c);
            vm.expectRevert(err);
            tc.updateHost(hostId, hostCapacity(), prices(), metered());
            vm.expectRevert(err);
            tc.rotateHostKey(hostId, pubKey);
            vm.expectRevert(err);
            tc.setHostApi(hostId, "https://x", bytes32(0));
            vm.expectRevert(err);
            tc.setHostStatus(hostId, HostStatus.Draining);
            vm.expectRevert(err);
            tc.rejectAllocation(id, 1);
            vm.expectRevert(err);
            tc.reportUsage(hostId, 0, none, none);
            vm.expectRevert(err);
            tc.claimUsage(hostId, 0, none);
            vm.expectRevert(err);
            tc.setSurcharge(hostId, 0);
            vm.expectRevert(err);
            tc.withdrawEarnings(hostId, c);
            vm.expectRevert(err);
            tc.proposeHostOperator(hostId, c);
            vm.expectRevert(err);
            tc.autoResizeAllocation(id, small());
            vm.stopPrank();
        }
    }

    function test_registerHost_rejectsUnapprovedCallers() public {
        address[3] memory callers = [stranger, tenant, admin];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryOperatorNotApproved.selector, callers[i]));
            tc.registerHost(hostCapacity(), prices(), metered(), pubKey);
        }
    }

    function test_tenantFunctions_rejectEveryoneButTenantAndDelegates() public {
        wrong.push(admin);
        wrong.push(operator);
        for (uint256 i; i < wrong.length; ++i) {
            address c = wrong[i];
            bytes memory err = abi.encodeWithSelector(IRegistry.RegistryNotTenantOrDelegate.selector, c, tenant);
            vm.startPrank(c);
            vm.expectRevert(err);
            tc.requestAllocationFor(tenant, hostId, small(), type(uint64).max, metered(), specHash, spec);
            vm.expectRevert(err);
            tc.resizeAllocation(id, small(), type(uint64).max);
            vm.expectRevert(err);
            tc.setScalingPolicy(id, small(), small(), type(uint64).max);
            vm.expectRevert(err);
            tc.releaseAllocation(id);
            vm.stopPrank();
        }
    }

    function test_withdrawFees_rejectsEveryoneButTheTreasury() public {
        setParameters(MIN_PREPAID, GRACE, treasury);
        wrong.push(admin);
        wrong.push(operator);
        wrong.push(tenant);
        for (uint256 i; i < wrong.length; ++i) {
            vm.prank(wrong[i]);
            vm.expectRevert(abi.encodeWithSelector(IBilling.BillingNotTreasury.selector, wrong[i]));
            tc.withdrawFees();
        }
    }

    /// Only the market says whether a host's bond is short; only the proposed operator takes a host over.
    function test_marketHooksAndRotation_rejectEveryoneElse() public {
        wrong.push(admin);
        wrong.push(operator);
        wrong.push(tenant);
        vm.prank(operator);
        tc.proposeHostOperator(hostId, operator2);
        for (uint256 i; i < wrong.length; ++i) {
            address c = wrong[i];
            if (c == operator2) continue; // the one proposed
            vm.startPrank(c);
            vm.expectRevert(abi.encodeWithSelector(IUsage.UsageNotMarket.selector, c));
            tc.setHostBondShort(hostId, true);
            vm.expectRevert(abi.encodeWithSelector(IUsage.UsageNotMarket.selector, c));
            tc.voidLine(hostId, id, 0);
            vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryNoPendingOperator.selector, hostId));
            tc.acceptHostOperator(hostId);
            vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotTenantChain.selector, c));
            market.lockBond(hostId, c, 1);
            vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotArbiter.selector, c));
            market.rule(0, true);
            vm.stopPrank();
        }
        assertEq(tc.getHost(hostId).operator, operator);
        assertFalse(tc.hostBondShort(hostId));
    }

    function test_withdraw_onlyTouchesTheCallersEscrow() public {
        uint256 before = tc.accountOf(tenant).balance;
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IBilling.BillingInsufficientBalance.selector, stranger, 1 ether, 0));
        tc.withdraw(1 ether, stranger);
        vm.prank(tenant2);
        tc.withdraw(10 ether, tenant2);
        assertEq(tc.accountOf(tenant).balance, before);
    }
}
