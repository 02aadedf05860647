// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "./ITypes.sol";

/// @notice Metered usage with a dispute window. A host's report for a period commits the digest of its
/// lines; the lines are charged only once the window has passed (a claim, usually folded into the
/// host's next report), and a line that the market voided meanwhile (disputed or slashed) is not
/// charged here: a dispute is settled from the tenant's dispute bond, which covers the line.
/// @dev The digest is a running keccak over the ABI words of the lines, in the order reported, so a
/// period reported in several batches has one digest. Each host keeps `disputePeriods` digests, one
/// per period modulo `disputePeriods`: reporting period p overwrites p - disputePeriods (or older),
/// which is final by then, and claims it in the same transaction.
interface IUsage is ITypes {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A line the claim did not charge because it broke the report rules (wrong host, a period
    /// out of order or after the close, usage above the allocation's limits). Counts against the host.
    event UsageLineDropped(uint64 indexed allocationId, uint32 indexed period);
    /// @notice The market voided a line (disputed or slashed): it is never charged.
    event LineVoided(uint64 indexed allocationId, uint32 indexed period);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error UsageReportOutOfOrder(uint32 hostId, uint32 period, uint32 held);
    error UsageClaimMismatch(uint32 hostId, uint32 period);
    error UsageNothingToClaim(uint32 hostId, uint32 period);
    error UsageNotFinal(uint32 period, uint32 finalFrom);
    error UsageNotMarket(address caller);
    error UsageLineVoided(uint64 allocationId, uint32 period);
    error UsageNotReported(uint32 hostId, uint32 period);
    error UsageReportTooLate(uint32 period, uint32 closedAt);
    error UsageClaimClosed(uint32 period, uint32 closedAt);
    error UsageHostRetired(uint32 hostId, uint32 period, uint32 retiredAt);
}
