// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "./ITypes.sol";

/// @notice ERC20 escrow per tenant, lazy per-second settlement, metered usage and pull withdrawals.
interface IBilling is ITypes {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event Deposited(address indexed tenant, address indexed from, uint256 amount);
    event Withdrawn(address indexed tenant, address indexed to, uint256 amount);
    /// @notice One invoice line set: reserved charge for [from, to) and metered charge collected.
    /// @dev Per-resource reserved lines are `price_r * amount_r * (to - from)` with the prices of
    /// the host at admission (HostRegistered/HostUpdated) and the resources of AllocationRequested/
    /// AllocationResized: a bill is rebuilt from events alone. The protocol's cut of the line set is
    /// `(reserved + metered) * feeBps / 10_000`, rounded down, with the deployment's fixed `feeBps`.
    event Settled(uint64 indexed allocationId, uint32 from, uint32 to, uint256 reserved, uint256 metered);
    /// @notice Usage of one host's allocations in one period, one packed word per line (ITypes). Each line costs
    /// `meteredCost(cpuMs, memoryMiBSeconds, prices)` at the host's metered prices in force when it is
    /// claimed, after the dispute window (IUsage); the charge is collected by the next {Settled}.
    event UsageReported(uint32 indexed hostId, uint32 indexed period, uint256[] lines);
    event TenantSuspended(address indexed tenant, uint32 at, uint32 graceEndsAt);
    event TenantResumed(address indexed tenant);
    event EarningsWithdrawn(uint32 indexed hostId, address indexed to, uint256 amount);
    event FeesWithdrawn(address indexed to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error BillingZeroAmount();
    error BillingInsufficientPrepaid(address tenant, uint256 required, uint256 available);
    error BillingInsufficientBalance(address tenant, uint256 requested, uint256 withdrawable);
    error BillingTenantSuspended(address tenant);
    error BillingPeriodNotEnded(uint32 period, uint32 current);
    error BillingPeriodAlreadyReported(uint64 allocationId, uint32 period, uint32 nextAllowed);
    error BillingPeriodAfterClose(uint64 allocationId, uint32 period);
    error BillingUsageExceedsLimit(uint64 allocationId, uint64 reported, uint256 max);
    error BillingWrongHost(uint64 allocationId, uint32 hostId);
    error BillingNotTreasury(address caller);
    error BillingAmountTooLarge(uint256 amount);
    /// @notice The token moved a different amount than asked (a fee on transfer): not supported.
    error BillingTokenAmountMismatch(uint256 expected, uint256 received);
}
