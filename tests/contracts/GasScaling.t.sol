// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Base} from "./utils/Base.t.sol";

/// @notice No function's gas grows with the number of tenants, hosts or allocations: the same
/// operations cost exactly the same with 1 and with 500 of each already on-chain.
contract GasScalingTest is Base {
    uint256 internal constant OPS = 12;

    /// @dev Gas of one call, with the contract's and the token's storage cooled first so that
    /// every measurement starts from the same (cold) state, as a real transaction does.
    function _gasOf(address caller, bytes memory data) internal returns (uint256 used) {
        vm.cool(address(tc));
        vm.cool(address(token));
        vm.prank(caller);
        (bool ok, bytes memory err) = address(tc).call(data);
        // The callee's own gas: the test's memory (which grows with n) doesn't count.
        used = vm.lastCallGas().gasTotalUsed;
        if (!ok) {
            assembly {
                revert(add(err, 32), mload(err))
            }
        }
    }

    function _populate(uint256 n) internal {
        vm.prank(admin);
        tc.approveOperator(operator2, true);
        for (uint256 i; i < n; ++i) {
            address t = address(uint160(0x10000 + i));
            registerAndFund(t, 10 ether);
            uint32 h = registerHost(operator2, hostCapacity());
            requestOn(t, h, small());
            requestOn(t, hostId, res(1, 1, 0, 1));
        }
    }

    /// @dev One of each operation by a fresh tenant on the shared host (which carries n others).
    function _measure() internal returns (uint256[OPS] memory g) {
        address fresh = makeAddr("fresh");
        token.mint(fresh, 100 ether);
        vm.prank(fresh);
        token.approve(address(tc), type(uint256).max);

        g[0] = _gasOf(fresh, abi.encodeCall(tc.registerTenant, (bytes32(0), "", small())));
        g[1] = _gasOf(fresh, abi.encodeCall(tc.deposit, (fresh, 50 ether)));
        g[2] = _gasOf(fresh, abi.encodeCall(tc.deposit, (fresh, 1 ether)));
        uint64 id = (uint64(hostId) << 32) | (tc.getHost(hostId).allocationCount + 1);
        uint64 quote = quoteOf(hostId, small());
        g[3] = _gasOf(
            fresh, abi.encodeCall(tc.requestAllocation, (hostId, small(), quote, metered(), specHash, spec))
        );
        uint32 period = tc.currentPeriod();
        vm.warp(block.timestamp + PERIOD);
        uint256[] memory reports = new uint256[](1);
        reports[0] = pack(id, 1000, 1000);
        g[4] = _gasOf(operator, abi.encodeCall(tc.reportUsage, (hostId, period, reports, new uint256[](0))));
        g[5] = _gasOf(stranger, abi.encodeCall(tc.settle, (id)));
        vm.warp(block.timestamp + 10);
        g[6] = _gasOf(fresh, abi.encodeCall(tc.resizeAllocation, (id, res(600, 256, 1, 64), type(uint64).max)));
        vm.warp(block.timestamp + 10);
        g[7] = _gasOf(fresh, abi.encodeCall(tc.releaseAllocation, (id)));
        g[8] = _gasOf(fresh, abi.encodeCall(tc.withdraw, (1 ether, fresh)));
        g[9] = _gasOf(operator, abi.encodeCall(tc.withdrawEarnings, (hostId, operator)));
        g[10] = _gasOf(operator, abi.encodeCall(tc.registerHost, (hostCapacity(), prices(), metered(), pubKey)));
        uint64 id2 = (uint64(hostId) << 32) | (tc.getHost(hostId).allocationCount + 1);
        _gasOf(fresh, abi.encodeCall(tc.requestAllocation, (hostId, small(), quote, metered(), specHash, spec)));
        g[11] = _gasOf(operator, abi.encodeCall(tc.rejectAllocation, (id2, 3)));
    }

    function test_gasDoesNotGrowWithTenantsHostsOrAllocations() public {
        uint256 snapshot = vm.snapshotState();
        _populate(1);
        uint256[OPS] memory one = _measure();
        vm.revertToState(snapshot);
        _populate(500);
        assertEq(tc.getHost(hostId).allocationCount, 500);
        assertEq(tc.hostCount(), 501);
        uint256[OPS] memory many = _measure();
        for (uint256 i; i < OPS; ++i) {
            assertGt(one[i], 0);
            assertEq(many[i], one[i], string.concat("operation ", vm.toString(i), " grew"));
        }
    }
}
