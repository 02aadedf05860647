// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "./ITypes.sol";

/// @notice Automatic scaling with the tenant's consent: per allocation, the tenant sets bounds and a
/// ceiling on the rate it will pay; the host's operator may then resize the allocation inside them,
/// at most once per cooldown (half a billing period), with every check of a tenant's own resize
/// (capacity, quota, escrow).
interface IScaling is ITypes {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @dev `maxRatePerSecond` 0: the policy is off and the tenant alone sizes the allocation.
    event ScalingPolicySet(
        uint32 indexed hostId, uint64 indexed allocationId, Resources min, Resources max, uint64 maxRatePerSecond
    );
    /// @notice An automatic resize by the host's operator (beside the {IAllocation-AllocationResized}
    /// it also emits): `previous` and `resources` say which way each resource went.
    event AllocationAutoResized(
        uint32 indexed hostId, uint64 indexed allocationId, Resources previous, Resources resources
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error ScalingInvalidBounds(Resources min, Resources max);
    error ScalingNoPolicy(uint64 allocationId);
    error ScalingOutOfBounds(uint64 allocationId, Resources resources);
    error ScalingRateAboveCeiling(uint64 allocationId, uint256 ratePerSecond, uint256 maxRatePerSecond);
    error ScalingCooldown(uint64 allocationId, uint256 nextAllowedAt);
}
