// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {TenantChain} from "../../contracts/TenantChain.sol";
import {TenantChainMarket} from "../../contracts/TenantChainMarket.sol";
import {ITenantChain} from "../../contracts/interfaces/ITenantChain.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";
import {ITypes} from "../../contracts/interfaces/ITypes.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ReentrantToken} from "./utils/ReentrantToken.sol";

/// @notice A token that re-enters on every transfer gains nothing: the re-entry is refused and
/// exactly one payment leaves the contract.
contract ReentrancyTest is Test, ITypes {
    ITenantChain internal tc;
    ReentrantToken internal token;
    address internal admin = makeAddr("admin");
    address internal operator = makeAddr("operator");
    Attacker internal attacker;
    uint32 internal hostId;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new ReentrantToken();
        tc = ITenantChain(
            address(new TenantChain(admin, IERC20(address(token)), 60, 0, 1, 1, 600, 600, Resources(1e6, 1e9, 1e6, 1e6)))
        );
        TenantChainMarket market =
            new TenantChainMarket(admin, tc, IMarket.Parameters(0, 1 days, 1 days, 1000, 0, admin, admin));
        vm.prank(admin);
        tc.setMarket(address(market));
        attacker = new Attacker(tc, token);
        token.mint(address(attacker), 100 ether);
        attacker.registerAndDeposit(100 ether);
    }

    function _assertRefused() internal view {
        assertEq(token.attempts(), 1, "the hook re-entered");
        assertEq(token.successes(), 0, "the re-entry was refused");
        assertEq(bytes4(token.lastError()), ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
    }

    function test_withdraw_reenteringWithdrawGainsNothing() public {
        token.arm(address(attacker), abi.encodeCall(Attacker.withdraw, (10 ether)));
        attacker.withdraw(10 ether);
        _assertRefused();
        assertEq(token.balanceOf(address(attacker)), 10 ether);
        assertEq(tc.accountOf(address(attacker)).balance, 90 ether);
        assertEq(token.balanceOf(address(tc)), 90 ether);
    }

    function test_deposit_reenteringWithdrawGainsNothing() public {
        token.mint(address(attacker), 5 ether);
        token.arm(address(attacker), abi.encodeCall(Attacker.withdraw, (50 ether)));
        attacker.deposit(5 ether);
        _assertRefused();
        assertEq(tc.accountOf(address(attacker)).balance, 105 ether);
        assertEq(token.balanceOf(address(tc)), 105 ether);
    }

    function test_withdrawEarnings_reenteringGainsNothing() public {
        vm.prank(admin);
        tc.approveOperator(address(attacker), true);
        hostId = attacker.registerHost();
        uint64 id = attacker.request(hostId);
        vm.warp(block.timestamp + 100);
        tc.settle(id);
        uint256 earned = tc.earningsOf(hostId);
        assertGt(earned, 0);
        uint256 before = token.balanceOf(address(attacker));
        token.arm(address(attacker), abi.encodeCall(Attacker.withdrawEarnings, (hostId)));
        attacker.withdrawEarnings(hostId);
        _assertRefused();
        assertEq(token.balanceOf(address(attacker)), before + earned);
        assertEq(tc.earningsOf(hostId), 0);
    }
}

/// @dev Tenant and operator in one: the hostile token's hook calls back through it.
contract Attacker is ITypes {
    ITenantChain internal tc;
    ReentrantToken internal token;

    constructor(ITenantChain tc_, ReentrantToken token_) {
        tc = tc_;
        token = token_;
    }

    function registerAndDeposit(uint256 amount) external {
        tc.registerTenant(0, "", Resources(0, 0, 0, 0));
        token.approve(address(tc), type(uint256).max);
        tc.deposit(address(this), amount);
    }

    function deposit(uint256 amount) external {
        tc.deposit(address(this), amount);
    }

    function withdraw(uint256 amount) external {
        tc.withdraw(amount, address(this));
    }

    function registerHost() external returns (uint32) {
        return tc.registerHost(
            Resources(1000, 1000, 10, 100), ReservedPrices(1e9, 0, 0, 0), MeteredPrices(0, 0),
            abi.encodePacked(bytes1(0x02), bytes32(uint256(1)))
        );
    }

    function request(uint32 hostId) external returns (uint64) {
        return tc.requestAllocation(
            hostId, Resources(100, 10, 1, 10), type(uint64).max, MeteredPrices(0, 0), bytes32(0), ""
        );
    }

    function withdrawEarnings(uint32 hostId) external {
        tc.withdrawEarnings(hostId, address(this));
    }
}
