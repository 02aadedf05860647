// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "./ITypes.sol";

/// @notice Trust between tenants and hosts: operator bonds, host-signed usage receipts that slash a bond
/// without any trusted party, disputes ruled by an arbiter, and each host's record.
interface IMarket is ITypes {
    enum DisputeStatus {
        None,
        Open,
        Upheld, // the arbiter agreed with the tenant: line voided, bond slashed
        Rejected, // the arbiter agreed with the host: line charged, the tenant's bond to the operator
        Expired, // no ruling by the deadline: line charged, the tenant's bond returned
        Receipt // settled by a receipt the host signed: line voided, bond slashed
    }

    /// @notice What a host's operator signs for every allocation and period it meters (EIP-712).
    struct UsageReceipt {
        uint64 allocationId;
        uint32 period;
        uint64 cpuMs;
        uint64 memoryMiBSeconds;
    }

    struct Dispute {
        address tenant;
        uint64 allocationId;
        uint32 period;
        uint32 deadline;
        DisputeStatus status;
        uint256 bond;
        uint256 lineCost;
    }

    struct Bond {
        uint256 amount;
        uint256 required; // what the host's capacity asks for at the current parameters
        uint32 unbondingEndsAt; // 0 until the retired host's operator starts unbonding
        uint32 openDisputes;
    }

    /// @notice Counters per host; served and rejected allocations are on TenantChain.
    struct Reputation {
        uint32 disputesLost;
        uint32 disputesWon;
        uint32 slashes;
        uint256 slashed;
    }

    struct Parameters {
        uint32 bondSeconds; // the bond covers this long of the host's full reserved income
        uint32 unbondingSeconds;
        uint32 rulingSeconds; // the arbiter's deadline after a dispute opens
        uint16 disputeBondBps; // of the disputed line's cost
        uint128 disputeBondFloor;
        address arbiter;
        address treasury;
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event ParametersSet(Parameters parameters);
    event ParametersProposed(Parameters parameters, uint32 effectiveAt);
    event BondLocked(uint32 indexed hostId, address indexed from, uint256 added, uint256 total);
    event UnbondingStarted(uint32 indexed hostId, uint32 endsAt);
    event BondWithdrawn(uint32 indexed hostId, address indexed to, uint256 amount);
    event Slashed(
        uint32 indexed hostId, uint64 indexed allocationId, uint32 period, uint256 overcharge, uint256 penalty,
        uint256 toTenant, uint256 toTreasury, uint256 burned
    );
    event DisputeOpened(
        uint256 indexed disputeId, uint32 indexed hostId, uint64 indexed allocationId, uint32 period, uint256 bond,
        uint32 deadline
    );
    event DisputeResolved(uint256 indexed disputeId, DisputeStatus status);
    event PayoutWithdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice A line that breaks the claim's rules was voided within its window (no slash: it would not
    /// have been charged as it stands, but could have become chargeable as the allocation grew).
    event UnchargeableLineVoided(uint32 indexed hostId, uint64 indexed allocationId, uint32 period);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error MarketNotTenantChain(address caller);
    error MarketNotOperator(address caller, uint32 hostId);
    error MarketNotArbiter(address caller);
    error MarketNotTenant(address caller, uint64 allocationId);
    error MarketInvalidParameters();
    error MarketHostNotRetired(uint32 hostId);
    error MarketUnbonding(uint32 hostId, uint32 endsAt);
    error MarketDisputesOpen(uint32 hostId, uint32 open);
    error MarketWindowClosed(uint32 period, uint32 closedAt);
    error MarketReportMismatch(uint32 hostId, uint32 period);
    error MarketLineIndexOutOfRange(uint256 index, uint256 lines);
    error MarketWrongHost(uint64 allocationId, uint32 hostId);
    error MarketReceiptMismatch(uint64 allocationId, uint32 period);
    error MarketForgedReceipt(address signer, address operator);
    error MarketNoOvercharge(uint64 allocationId, uint32 period);
    error MarketDisputeExists(uint64 allocationId, uint32 period, uint256 disputeId);
    error MarketDisputeNotOpen(uint256 disputeId, DisputeStatus status);
    error MarketDeadlinePassed(uint256 disputeId, uint32 deadline);
    error MarketDeadlineNotPassed(uint256 disputeId, uint32 deadline);
    error MarketNothingToWithdraw(address account);
    error MarketZeroAddress();
    error MarketLineNotChargeable(uint64 allocationId, uint32 period);
    error MarketLineChargeable(uint64 allocationId, uint32 period);
    error MarketPaused();
    error MarketParametersNotDue(uint32 effectiveAt);
    error MarketTokenAmountMismatch(uint256 expected, uint256 received);

    /*//////////////////////////////////////////////////////////////
                               FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    function lockBond(uint32 hostId, address operator, uint256 fullRatePerSecond) external;
    function addBond(uint32 hostId, uint256 amount) external;
    function startUnbonding(uint32 hostId) external;
    function withdrawBond(uint32 hostId, address to) external;
    function slashWithReceipt(
        uint32 hostId,
        uint32 period,
        uint256[] calldata lines,
        uint256 index,
        UsageReceipt calldata receipt,
        bytes calldata signature
    ) external;
    function openDispute(uint32 hostId, uint32 period, uint256[] calldata lines, uint256 index)
        external
        returns (uint256 disputeId);
    function rule(uint256 disputeId, bool upheld) external;
    function expireDispute(uint256 disputeId) external;
    function withdrawPayout(address to) external returns (uint256 amount);
    function proposeParameters(Parameters calldata params) external;
    function voidUnchargeable(uint32 hostId, uint32 period, uint256[] calldata lines, uint256 index) external;
    function syncBondStatus(uint32 hostId) external;
    function applyParameters() external;

    function bondOf(uint32 hostId) external view returns (Bond memory);
    function reputationOf(uint32 hostId) external view returns (Reputation memory);
    function disputeOf(uint256 disputeId) external view returns (Dispute memory);
    function disputeCount() external view returns (uint256);
    function disputeBondFor(uint256 lineCost) external view returns (uint256);
    function payoutOf(address account) external view returns (uint256);
    function parameters() external view returns (Parameters memory);
    function receiptDigest(UsageReceipt calldata receipt) external view returns (bytes32);
}
