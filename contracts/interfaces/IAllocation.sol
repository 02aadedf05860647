// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "./ITypes.sol";

/// @notice Requests, resizes and ends of allocations, checked against host capacity and tenant quota.
/// @dev Allocation ids are `hostId << 32 | n`, n counting from 1 per host: an orchestrator rebuilds
/// its host by reading ids 1..allocationCount; a tenant lists its own by the `tenant` topic. Every
/// event of an allocation that an orchestrator follows (here and in IScaling) has the host's id as its
/// first topic, as the host's own events do: it asks the node for its host's topic only, so its catch-up
/// costs the same however busy the other hosts are. {IBilling-Settled}, the bulk of a market's events,
/// concerns the tenant's bill and no host follows it: it keeps one topic (a topic costs 375 gas).
interface IAllocation is ITypes {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @dev `encryptedSpec` is the workload spec encrypted to the host's key. Neither it nor `specHash`
    /// is kept in storage (a slot costs 22,100 gas): the log is the chain's record of both.
    event AllocationRequested(
        uint32 indexed hostId,
        uint64 indexed allocationId,
        address indexed tenant,
        Resources resources,
        uint64 ratePerSecond,
        bytes32 specHash,
        bytes encryptedSpec
    );
    event AllocationResized(
        uint32 indexed hostId, uint64 indexed allocationId, Resources resources, uint64 ratePerSecond
    );
    event AllocationClosed(uint32 indexed hostId, uint64 indexed allocationId, CloseReason reason, uint16 code);
    /// @notice What the allocation pays per unit from now on: reserved prices (its utilisation surcharge
    /// included; `ratePerSecond` is its resources at these) and metered prices, fixed at admission. Emitted
    /// on admission and on every resize, before {AllocationRequested} or {AllocationResized}.
    event AllocationTermsSet(
        uint32 indexed hostId, uint64 indexed allocationId, ReservedPrices reservedPrices, MeteredPrices meteredPrices
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error AllocationUnknown(uint64 allocationId);
    error AllocationNotActive(uint64 allocationId);
    error AllocationEmptyResources();
    error AllocationInsufficientCapacity(uint32 hostId, Resources requested, Resources free);
    error AllocationQuotaExceeded(address tenant, Resources requested, Resources remaining);
    error AllocationRateTooHigh(uint256 ratePerSecond);
    error AllocationNotExpired(uint64 allocationId, uint256 expiresAt);
    error AllocationRateAboveMax(uint256 ratePerSecond, uint256 maxRatePerSecond);
    error AllocationMeteredAboveMax(MeteredPrices prices, MeteredPrices max);
    error AllocationHostBondShort(uint32 hostId);
    /// @notice Every allocation pays some reserved rate: an escrow that never runs out can't be suspended.
    error AllocationZeroRate();
}
