// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {IRegistry} from "../../contracts/interfaces/IRegistry.sol";
import {IUsage} from "../../contracts/interfaces/IUsage.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice Bonds, receipts, disputes and reputation (TenantChainMarket) over TenantChain's usage window.
contract MarketTest is Base {
    uint32 internal constant BOND_SECONDS = 3600;
    uint256 internal opKey;
    uint64 internal id;
    uint32 internal period;

    function setUp() public override {
        opKey = deployBonded(BOND_SECONDS);
        id = request(tenant, small());
        period = tc.currentPeriod();
        vm.warp(block.timestamp + PERIOD);
    }

    /// @dev `bondSeconds` of the capacity's full income: reserved, and metered with everything in use.
    function fullBond(Resources memory capacity) internal pure returns (uint256) {
        return (rateOf(capacity) + meteredRateOf(capacity)) * BOND_SECONDS;
    }

    function receipt(uint64 cpuMs, uint64 memMiBs)
        internal
        view
        returns (IMarket.UsageReceipt memory r, bytes memory sig)
    {
        return signed(opKey, id, period, cpuMs, memMiBs);
    }

    // --- bonds --------------------------------------------------------------------------

    function test_registerHost_locksBondSizedByCapacity() public view {
        IMarket.Bond memory b = market.bondOf(hostId);
        assertEq(b.amount, fullBond(hostCapacity()));
        assertEq(b.required, b.amount);
        assertEq(token.balanceOf(address(market)), b.amount);
    }

    function test_registerHost_withoutApprovalReverts() public {
        address op2 = makeAddr("unfunded operator");
        vm.prank(admin);
        tc.approveOperator(op2, true);
        vm.prank(op2);
        vm.expectRevert(); // ERC20InsufficientAllowance from the token, through the market
        tc.registerHost(hostCapacity(), prices(), metered(), pubKey);
    }

    function test_updateHost_raisesBondOnlyUp() public {
        Resources memory bigger = res(16_000, 32_768, 400, 8192);
        vm.prank(operator);
        tc.updateHost(hostId, bigger, prices(), metered());
        assertEq(market.bondOf(hostId).amount, fullBond(bigger));
        vm.prank(operator);
        tc.updateHost(hostId, hostCapacity(), prices(), metered());
        assertEq(market.bondOf(hostId).amount, fullBond(bigger), "lowering capacity releases nothing");
    }

    function test_withdrawBond_onlyAfterRetirementAndUnbondingWithNoDisputeOpen() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketHostNotRetired.selector, hostId));
        market.startUnbonding(hostId);
        reportOnly(period, line(id, 1000, 0));
        vm.prank(tenant);
        token.approve(address(market), type(uint256).max);
        vm.prank(tenant);
        market.openDispute(hostId, period, line(id, 1000, 0), 0);
        vm.prank(tenant);
        tc.releaseAllocation(id);
        vm.prank(operator);
        tc.setHostStatus(hostId, HostStatus.Retired);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotOperator.selector, stranger, hostId));
        market.startUnbonding(hostId);
        vm.prank(operator);
        market.startUnbonding(hostId);
        uint32 endsAt = market.bondOf(hostId).unbondingEndsAt;
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketUnbonding.selector, hostId, endsAt));
        market.withdrawBond(hostId, operator);
        vm.warp(endsAt);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketDisputesOpen.selector, hostId, 1));
        market.withdrawBond(hostId, operator);
        market.expireDispute(0); // unbonding outlasts the arbiter's deadline
        uint256 bond = market.bondOf(hostId).amount;
        uint256 before = token.balanceOf(operator);
        vm.prank(operator);
        market.withdrawBond(hostId, operator);
        assertEq(token.balanceOf(operator), before + bond);
        assertEq(market.bondOf(hostId).amount, 0);
    }

    function test_lockBond_onlyTenantChain() public {
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotTenantChain.selector, address(this)));
        market.lockBond(hostId, operator, 1);
    }

    function test_parameters_onlyOwnerAndUnbondingOutlivesTheWindow() public {
        IMarket.Parameters memory p = marketParams(1);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        market.proposeParameters(p);
        // A retired host's last period is reportable, disputable and claimable until claimClosesAt.
        p.unbondingSeconds = PERIOD * tc.claimClosesAt(0) - 1;
        vm.prank(admin);
        vm.expectRevert(IMarket.MarketInvalidParameters.selector);
        market.proposeParameters(p);
        p.unbondingSeconds += 1;
        vm.prank(admin);
        market.proposeParameters(p);
    }

    // --- receipts -----------------------------------------------------------------------

    function test_slashWithReceipt_voidsTheLineAndPaysThePenalty() public {
        reportOnly(period, line(id, 30_000, 0)); // the receipt says 10,000
        (IMarket.UsageReceipt memory r, bytes memory sig) = receipt(10_000, 0);
        uint256 overcharge = cost(30_000, 0) - cost(10_000, 0);
        uint256 bond = market.bondOf(hostId).amount;
        vm.expectEmit(address(market));
        emit IMarket.Slashed(hostId, id, period, overcharge, 2 * overcharge, overcharge, overcharge / 2, overcharge / 2);
        vm.prank(tenant); // the tenant submits and is paid
        market.slashWithReceipt(hostId, period, line(id, 30_000, 0), 0, r, sig);
        assertEq(market.bondOf(hostId).amount, bond - 2 * overcharge);
        assertEq(market.payoutOf(tenant), overcharge);
        assertEq(market.payoutOf(treasury), overcharge / 2);
        assertEq(token.balanceOf(market.BURN_ADDRESS()), overcharge / 2);
        assertTrue(tc.isVoided(id, period));
        IMarket.Reputation memory rep = market.reputationOf(hostId);
        assertEq(rep.slashes, 1);
        assertEq(rep.slashed, 2 * overcharge);
        // The claim skips the voided line: the tenant pays nothing for it.
        claimAsFinal(period, line(id, 30_000, 0));
        assertEq(tc.getAllocation(id).pendingMetered, 0);
        uint256 before = token.balanceOf(tenant);
        vm.prank(tenant);
        market.withdrawPayout(tenant);
        assertEq(token.balanceOf(tenant), before + overcharge);
    }

    function test_slashWithReceipt_capsThePenaltyAtTheBond() public {
        deployChain(0, marketParams(1)); // a one-second bond
        token.mint(operator, 1 ether);
        vm.prank(operator);
        token.approve(address(market), type(uint256).max);
        hostId = registerHost(operator, hostCapacity());
        registerAndFund(tenant, 1_000 ether);
        id = request(tenant, small());
        period = tc.currentPeriod();
        vm.warp(block.timestamp + PERIOD);
        uint64 max = uint64(uint256(small().cpuMillis) * PERIOD);
        reportOnly(period, line(id, max, 0));
        (IMarket.UsageReceipt memory r, bytes memory sig) = receipt(0, 0);
        uint256 bond = market.bondOf(hostId).amount;
        assertLt(bond, 2 * cost(max, 0));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, line(id, max, 0), 0, r, sig);
        assertEq(market.bondOf(hostId).amount, 0);
        assertEq(market.reputationOf(hostId).slashed, bond);
        assertTrue(tc.hostBondShort(hostId), "below its capacity's bond: admits nothing new");
    }

    function test_slashWithReceipt_refusals() public {
        reportOnly(period, line(id, 30_000, 0));
        uint256[] memory lines = line(id, 30_000, 0);
        (IMarket.UsageReceipt memory r, bytes memory sig) = receipt(10_000, 0);

        // forged: signed by someone else
        (, uint256 otherKey) = makeAddrAndKey("forger");
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(otherKey, market.receiptDigest(r));
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketForgedReceipt.selector, vm.addr(otherKey), operator));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, lines, 0, r, abi.encodePacked(rr, ss, v));
        // for another allocation
        IMarket.UsageReceipt memory other = IMarket.UsageReceipt(id + 1, period, 10_000, 0);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReceiptMismatch.selector, id + 1, period));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, lines, 0, other, sig);
        // for another period
        IMarket.UsageReceipt memory late = IMarket.UsageReceipt(id, period + 1, 10_000, 0);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReceiptMismatch.selector, id, period + 1));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, lines, 0, late, sig);
        // for a period not reported
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReportMismatch.selector, hostId, period + 1));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period + 1, lines, 0, late, sig);
        // lines that aren't the report
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketReportMismatch.selector, hostId, period));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, line(id, 30_001, 0), 0, r, sig);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketLineIndexOutOfRange.selector, 1, 1));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, lines, 1, r, sig);
        // a receipt that doesn't show an overcharge
        (IMarket.UsageReceipt memory fair, bytes memory fairSig) = receipt(30_000, 0);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNoOvercharge.selector, id, period));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, lines, 0, fair, fairSig);
        // after the window
        vm.warp(finalAt(period));
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketWindowClosed.selector, period, tc.finalFrom(period)));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, lines, 0, r, sig);
    }

    /// An honest host (it reports what it signs) can never be slashed by its receipts.
    function testFuzz_honestHostIsNeverSlashable(uint64 cpuMs, uint64 memMiBs) public {
        cpuMs = uint64(bound(cpuMs, 0, uint256(small().cpuMillis) * PERIOD));
        memMiBs = uint64(bound(memMiBs, 0, uint256(small().memoryMiB) * PERIOD));
        reportOnly(period, line(id, cpuMs, memMiBs));
        (IMarket.UsageReceipt memory r, bytes memory sig) = receipt(cpuMs, memMiBs);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNoOvercharge.selector, id, period));
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, line(id, cpuMs, memMiBs), 0, r, sig);
    }

    /// Any overcharge the host signed against costs it at least the overcharge, at most its bond.
    function testFuzz_overchargeAlwaysSlashed(uint64 signedCpu, uint64 extra) public {
        uint64 max = uint64(uint256(small().cpuMillis) * PERIOD);
        signedCpu = uint64(bound(signedCpu, 0, max - 1000));
        extra = uint64(bound(extra, 1000, max - signedCpu));
        reportOnly(period, line(id, signedCpu + extra, 0));
        (IMarket.UsageReceipt memory r, bytes memory sig) = receipt(signedCpu, 0);
        uint256 bond = market.bondOf(hostId).amount;
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, line(id, signedCpu + extra, 0), 0, r, sig);
        uint256 overcharge = cost(signedCpu + extra, 0) - cost(signedCpu, 0);
        assertEq(bond - market.bondOf(hostId).amount, overcharge * 2 < bond ? overcharge * 2 : bond);
    }

    // --- disputes -----------------------------------------------------------------------

    function openDispute(uint64 cpuMs) internal returns (uint256 disputeId, uint256 bond) {
        reportOnly(period, line(id, cpuMs, 0));
        vm.startPrank(tenant);
        token.approve(address(market), type(uint256).max);
        disputeId = market.openDispute(hostId, period, line(id, cpuMs, 0), 0);
        vm.stopPrank();
        bond = market.disputeOf(disputeId).bond;
    }

    function test_openDispute_takesLineCostPlusStakeAndVoidsTheLine() public {
        uint256 before = token.balanceOf(tenant);
        (uint256 disputeId, uint256 bond) = openDispute(20_000);
        uint256 lineCost = cost(20_000, 0);
        uint256 stake = lineCost / 10 > 1e15 ? lineCost / 10 : 1e15; // 10%, at least the floor
        assertEq(bond, lineCost + stake);
        assertEq(token.balanceOf(tenant), before - bond);
        assertTrue(tc.isVoided(id, period));
        assertEq(market.bondOf(hostId).openDisputes, 1);
        IMarket.Dispute memory d = market.disputeOf(disputeId);
        assertEq(d.tenant, tenant);
        assertEq(d.deadline, block.timestamp + 1 days);
        claimAsFinal(period, line(id, 20_000, 0));
        assertEq(tc.getAllocation(id).pendingMetered, 0, "a frozen line is never charged by TenantChain");
    }

    function test_openDispute_refusals() public {
        reportOnly(period, line(id, 20_000, 0));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotTenant.selector, stranger, id));
        market.openDispute(hostId, period, line(id, 20_000, 0), 0);
        vm.startPrank(tenant);
        token.approve(address(market), type(uint256).max);
        market.openDispute(hostId, period, line(id, 20_000, 0), 0);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketDisputeExists.selector, id, period, 0));
        market.openDispute(hostId, period, line(id, 20_000, 0), 0);
        vm.warp(finalAt(period));
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketWindowClosed.selector, period, tc.finalFrom(period)));
        market.openDispute(hostId, period, line(id, 20_000, 0), 0);
        vm.stopPrank();
    }

    function test_rule_upheldRefundsAndSlashes() public {
        (uint256 disputeId, uint256 bond) = openDispute(20_000);
        uint256 lineCost = cost(20_000, 0);
        uint256 hostBond = market.bondOf(hostId).amount;
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IMarket.MarketNotArbiter.selector, stranger));
        market.rule(disputeId, true);
        vm.prank(arbiter);
        market.rule(disputeId, true);
        assertEq(market.bondOf(hostId).amount, hostBond - 2 * lineCost);
        assertEq(market.payoutOf(tenant), bond + lineCost);
        assertEq(market.reputationOf(hostId).disputesLost, 1);
        assertEq(market.bondOf(hostId).openDisputes, 0);
        vm.prank(arbiter);
        vm.expectRevert(
            abi.encodeWithSelector(IMarket.MarketDisputeNotOpen.selector, disputeId, IMarket.DisputeStatus.Upheld)
        );
        market.rule(disputeId, false);
    }

    function test_rule_rejectedPaysTheOperator() public {
        (uint256 disputeId, uint256 bond) = openDispute(20_000);
        vm.prank(arbiter);
        market.rule(disputeId, false);
        assertEq(market.payoutOf(operator), bond);
        assertEq(market.reputationOf(hostId).disputesWon, 1);
        assertEq(market.reputationOf(hostId).slashes, 0);
    }

    function test_expireDispute_paysTheLineAndReturnsTheStake() public {
        (uint256 disputeId, uint256 bond) = openDispute(20_000);
        uint256 lineCost = cost(20_000, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarket.MarketDeadlineNotPassed.selector, disputeId, uint32(block.timestamp + 1 days)
            )
        );
        market.expireDispute(disputeId);
        vm.warp(block.timestamp + 1 days + 1);
        vm.prank(arbiter);
        vm.expectRevert(
            abi.encodeWithSelector(IMarket.MarketDeadlinePassed.selector, disputeId, uint32(block.timestamp - 1))
        );
        market.rule(disputeId, true);
        market.expireDispute(disputeId);
        assertEq(market.payoutOf(operator), lineCost);
        assertEq(market.payoutOf(tenant), bond - lineCost);
        assertEq(uint8(market.disputeOf(disputeId).status), uint8(IMarket.DisputeStatus.Expired));
    }

    function test_receiptSettlesAnOpenDispute() public {
        (uint256 disputeId, uint256 bond) = openDispute(20_000);
        (IMarket.UsageReceipt memory r, bytes memory sig) = receipt(5_000, 0);
        vm.prank(tenant);
        market.slashWithReceipt(hostId, period, line(id, 20_000, 0), 0, r, sig);
        assertEq(uint8(market.disputeOf(disputeId).status), uint8(IMarket.DisputeStatus.Receipt));
        uint256 overcharge = cost(20_000, 0) - cost(5_000, 0);
        assertEq(market.payoutOf(tenant), bond + overcharge);
        assertEq(market.bondOf(hostId).openDisputes, 0);
    }

    function test_voidLine_onlyTheMarket() public {
        reportOnly(period, line(id, 1, 0));
        vm.expectRevert(abi.encodeWithSelector(IUsage.UsageNotMarket.selector, address(this)));
        tc.voidLine(hostId, id, period);
    }

    function test_setMarket_once() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.RegistryMarketAlreadySet.selector, address(market)));
        tc.setMarket(address(1));
    }

    // --- reputation ----------------------------------------------------------------------

    function test_rejections_countedOnTheHost() public {
        vm.prank(operator);
        tc.rejectAllocation(id, 5);
        (, uint32 rejected,) = tc.hostRecordOf(hostId);
        assertEq(rejected, 1);
    }
}
