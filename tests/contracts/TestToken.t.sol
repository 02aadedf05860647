// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";

contract TestTokenTest is Test {
    event Transfer(address indexed from, address indexed to, uint256 value);

    TestToken internal token;
    address internal alice = makeAddr("alice");

    function setUp() public {
        token = new TestToken();
    }

    function test_mint_creditsAndEmits() public {
        vm.expectEmit(address(token));
        emit Transfer(address(0), alice, 5 ether);
        token.mint(alice, 5 ether);
        assertEq(token.balanceOf(alice), 5 ether);
        assertEq(token.totalSupply(), 5 ether);
    }

    function test_mint_revertsAboveCap() public {
        uint256 max = token.MAX_MINT();
        vm.expectRevert(abi.encodeWithSelector(TestToken.TestTokenMintTooLarge.selector, max + 1, max));
        token.mint(alice, max + 1);
    }

    function test_transfer_revertsWithoutBalance() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 0, 1));
        token.transfer(address(this), 1);
    }

    function testFuzz_mint_neverExceedsCap(uint256 amount) public {
        amount = bound(amount, 0, token.MAX_MINT());
        token.mint(alice, amount);
        assertEq(token.balanceOf(alice), amount);
    }
}
