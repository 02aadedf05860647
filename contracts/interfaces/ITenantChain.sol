// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IRegistry} from "./IRegistry.sol";
import {IAllocation} from "./IAllocation.sol";
import {IBilling} from "./IBilling.sol";
import {IScaling} from "./IScaling.sol";
import {IUsage} from "./IUsage.sol";

/// @notice Everything a TenantChain deployment answers at its address: the functions of TenantChain
/// (the hot paths) and of TenantChainExtension (registration, administration, views), which TenantChain
/// runs on its own storage for any selector it doesn't have. Clients use this ABI.
interface ITenantChain is IRegistry, IAllocation, IBilling, IScaling, IUsage {
    // IRegistry
    function registerTenant(bytes32 metadataHash, string calldata metadataURI, Resources calldata demand) external;
    function closeTenant() external;
    function setTenantStatus(address tenant, TenantStatus status) external;
    function setDelegate(address delegate, bool allowed) external;
    function approveOperator(address operator, bool approved) external;
    function registerHost(
        Resources calldata capacity,
        ReservedPrices calldata reservedPrices,
        MeteredPrices calldata meteredPrices,
        bytes calldata publicKey
    ) external returns (uint32 hostId);
    function updateHost(
        uint32 hostId,
        Resources calldata capacity,
        ReservedPrices calldata reservedPrices,
        MeteredPrices calldata meteredPrices
    ) external;
    function rotateHostKey(uint32 hostId, bytes calldata publicKey) external;
    function setHostApi(uint32 hostId, string calldata url, bytes32 certSha256) external;
    function setHostStatus(uint32 hostId, HostStatus status) external;
    function setQuota(address tenant, Resources calldata quota, bool custom) external;
    function setDefaultQuota(Resources calldata quota) external;
    function proposeParameters(uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury) external;
    function applyParameters() external;
    function pendingParameters()
        external
        view
        returns (uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury, uint32 effectiveAt);
    function proposeHostOperator(uint32 hostId, address operator) external;
    function acceptHostOperator(uint32 hostId) external;
    function pendingOperatorOf(uint32 hostId) external view returns (address);
    function isHostSigner(uint32 hostId, address signer, uint32 period) external view returns (bool);
    function setHostBondShort(uint32 hostId, bool short) external;
    function hostBondShort(uint32 hostId) external view returns (bool);
    function pause() external;
    function unpause() external;

    function getTenant(address tenant) external view returns (Tenant memory);
    function isDelegate(address tenant, address delegate) external view returns (bool);
    function isOperator(address operator) external view returns (bool);
    function getHost(uint32 hostId) external view returns (Host memory);
    function hostCount() external view returns (uint32);
    function paused() external view returns (bool);

    // IAllocation
    function requestAllocation(
        uint32 hostId,
        Resources calldata resources,
        uint64 maxRatePerSecond,
        MeteredPrices calldata maxMetered,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external returns (uint64 allocationId);
    function requestAllocationFor(
        address tenant,
        uint32 hostId,
        Resources calldata resources,
        uint64 maxRatePerSecond,
        MeteredPrices calldata maxMetered,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external returns (uint64 allocationId);
    function resizeAllocation(uint64 allocationId, Resources calldata resources, uint64 maxRatePerSecond) external;
    function releaseAllocation(uint64 allocationId) external;
    function rejectAllocation(uint64 allocationId, uint16 code) external;
    function expireAllocation(uint64 allocationId) external;

    function getAllocation(uint64 allocationId) external view returns (Allocation memory);
    function rateOf(uint32 hostId, Resources calldata resources) external view returns (uint256);
    function termsOf(uint64 allocationId)
        external
        view
        returns (ReservedPrices memory reserved, MeteredPrices memory metered, uint24 peakCpuMillis, uint32 peakMemoryMiB);
    function meterOf(uint64 allocationId)
        external
        view
        returns (uint256 heldCpuMs, uint256 heldMemoryMiBSeconds, uint256 usedCpuMs, uint256 usedMemoryMiBSeconds);
    function heldIn(uint64 allocationId, uint32 period) external view returns (uint256 cpuMs, uint256 memoryMiBSeconds);

    // IBilling
    function deposit(address tenant, uint256 amount) external;
    function withdraw(uint256 amount, address to) external;
    function settle(uint64 allocationId) external;
    function settleMany(uint64[] calldata allocationIds) external;
    function withdrawEarnings(uint32 hostId, address to) external returns (uint256 amount);
    function withdrawFees() external returns (uint256 amount);

    function token() external view returns (address);
    function periodSeconds() external view returns (uint32);
    function genesis() external view returns (uint32);
    function currentPeriod() external view returns (uint32);
    function accountOf(address tenant) external view returns (Escrow memory);
    function earningsOf(uint32 hostId) external view returns (uint256);
    function feesAccrued() external view returns (uint256);
    function unsettledOf(uint64 allocationId) external view returns (uint256 reserved, uint256 metered);
    function exposureOf(address tenant) external view returns (uint256);

    // IScaling
    function setScalingPolicy(uint64 allocationId, Resources calldata min, Resources calldata max, uint64 maxRatePerSecond)
        external;
    function autoResizeAllocation(uint64 allocationId, Resources calldata resources) external;
    function scalingPolicyOf(uint64 allocationId)
        external
        view
        returns (Resources memory min, Resources memory max, uint64 maxRatePerSecond, uint32 lastAutoResize);

    // IUsage
    function reportUsage(uint32 hostId, uint32 period, uint256[] calldata lines, uint256[] calldata claims)
        external;
    function claimUsage(uint32 hostId, uint32 period, uint256[] calldata claims) external;
    function voidLine(uint32 hostId, uint64 allocationId, uint32 period) external;

    function usageDigestOf(uint32 hostId, uint32 period) external view returns (bytes32);
    function isVoided(uint64 allocationId, uint32 period) external view returns (bool);
    function disputePeriods() external view returns (uint32);
    function reportGracePeriods() external view returns (uint32);
    function finalFrom(uint32 period) external view returns (uint32);
    function claimClosesAt(uint32 period) external view returns (uint32);
    function lineCost(uint32 hostId, uint32 period, uint256 line) external view returns (bool chargeable, uint256 cost);
    function allocationMeteredCost(uint64 allocationId, uint256 cpuMs, uint256 memoryMiBSeconds)
        external
        view
        returns (uint256);
    function marketOf() external view returns (address);
    function hostRecordOf(uint32 hostId) external view returns (uint8 surchargePct, uint32 rejected, uint32 dropped);

    // Constants
    // solhint-disable-next-line func-name-mixedcase
    function MAX_FEE_BPS() external view returns (uint16);
    // solhint-disable-next-line func-name-mixedcase
    function MAX_DISPUTE_PERIODS() external view returns (uint32);
    // solhint-disable-next-line func-name-mixedcase
    function PARAMETER_DELAY() external view returns (uint32);

    // Ownership (OpenZeppelin's Ownable2Step): the admin
    function owner() external view returns (address);
    function pendingOwner() external view returns (address);
    function transferOwnership(address newOwner) external;
    function acceptOwnership() external;
    function renounceOwnership() external;

    // Registry: pricing and the market
    function setSurcharge(uint32 hostId, uint8 pct) external;
    function setMaxSurcharge(uint8 pct) external;
    function setMarket(address market) external;
    function parameters()
        external
        view
        returns (uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, uint16 feeBps, address treasury);
    function meteredCost(uint256 cpuMs, uint256 memoryMiBSeconds, MeteredPrices memory prices)
        external
        pure
        returns (uint256);
}
