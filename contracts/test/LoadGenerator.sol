// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITenantChain} from "../interfaces/ITenantChain.sol";
import {ITypes} from "../interfaces/ITypes.sol";

/// @title LoadGenerator
/// @notice A tenant contract that makes many TenantChain events per transaction, so that the
/// catch-up benchmark can build a chain of 100,000 events in seconds. Never part of a deployment.
contract LoadGenerator {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @dev Only the account that deployed this generator may drive it.
    error LoadGeneratorNotOwner(address caller);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    address public immutable chain;
    address public immutable owner;

    constructor(address chain_) {
        chain = chain_;
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert LoadGeneratorNotOwner(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                                  LOAD
    //////////////////////////////////////////////////////////////*/

    /// @notice Register this contract as a tenant (fund it with `deposit(address(this), ...)`).
    function register() external onlyOwner {
        ITenantChain(chain).registerTenant(bytes32(0), "", ITypes.Resources(0, 0, 0, 0));
    }

    /// @notice `n` allocations on `hostId`, each requested, resized to `larger` and released:
    /// six events each (terms, requested, settled, terms, resized, closed).
    function lifecycles(
        uint32 hostId,
        uint256 n,
        ITypes.Resources calldata resources,
        ITypes.Resources calldata larger,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external onlyOwner {
        for (uint256 i; i < n; ++i) {
            uint64 id = _request(hostId, resources, specHash, encryptedSpec);
            ITenantChain(chain).resizeAllocation(id, larger, type(uint64).max);
            ITenantChain(chain).releaseAllocation(id);
        }
    }

    /// @notice One allocation on `hostId`, resized `n` times between `larger` and `resources`, then
    /// released: three events per resize (settled, terms, resized), four more for the request and release.
    function resizes(
        uint32 hostId,
        uint256 n,
        ITypes.Resources calldata resources,
        ITypes.Resources calldata larger,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external onlyOwner {
        uint64 id = _request(hostId, resources, specHash, encryptedSpec);
        for (uint256 i; i < n; ++i) {
            ITenantChain(chain).resizeAllocation(id, i % 2 == 0 ? larger : resources, type(uint64).max);
        }
        ITenantChain(chain).releaseAllocation(id);
    }

    /// @notice `n` settlements of `allocationId`: `n` {Settled} events.
    function settlements(uint64 allocationId, uint256 n) external onlyOwner {
        for (uint256 i; i < n; ++i) {
            ITenantChain(chain).settle(allocationId);
        }
    }

    /// @dev No slippage bound: this is load, not a tenant that quotes.
    function _request(uint32 hostId, ITypes.Resources calldata resources, bytes32 specHash, bytes calldata encryptedSpec)
        internal
        returns (uint64)
    {
        return ITenantChain(chain).requestAllocation(
            hostId, resources, type(uint64).max, ITypes.MeteredPrices(type(uint128).max, type(uint128).max), specHash, encryptedSpec
        );
    }
}
