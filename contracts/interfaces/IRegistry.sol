// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "./ITypes.sol";

/// @notice Tenants, operators, hosts, quotas and the emergency pause.
interface IRegistry is ITypes {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event TenantRegistered(address indexed tenant, bytes32 metadataHash, string metadataURI, Resources demand);
    event TenantStatusChanged(address indexed tenant, TenantStatus status);
    event DelegateSet(address indexed tenant, address indexed delegate, bool allowed);
    event OperatorApproved(address indexed operator, bool approved);
    event HostRegistered(
        uint32 indexed hostId,
        address indexed operator,
        Resources capacity,
        ReservedPrices reservedPrices,
        MeteredPrices meteredPrices,
        bytes publicKey
    );
    event HostUpdated(
        uint32 indexed hostId, Resources capacity, ReservedPrices reservedPrices, MeteredPrices meteredPrices
    );
    event HostKeyRotated(uint32 indexed hostId, bytes publicKey);
    /// @notice Where the host serves its tenant API and the SHA-256 of the API's TLS certificate (zero:
    /// plain HTTP on loopback, for development). The latest event for a host is what clients use.
    event HostApiSet(uint32 indexed hostId, string url, bytes32 certSha256);
    event HostStatusChanged(uint32 indexed hostId, HostStatus status);
    event QuotaSet(address indexed tenant, Resources quota, bool custom);
    event DefaultQuotaSet(Resources quota);
    event ParametersSet(uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury);
    event Paused(address account);
    event Unpaused(address account);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error RegistryPaused();
    error RegistryNotPaused();
    error RegistryTenantAlreadyRegistered(address tenant);
    error RegistryTenantNotActive(address tenant, TenantStatus status);
    error RegistryTenantHasAllocations(address tenant, uint32 active);
    error RegistryNotTenantOrDelegate(address caller, address tenant);
    error RegistryInvalidTenantStatus(TenantStatus status);
    error RegistryOperatorNotApproved(address operator);
    error RegistryNotHostOperator(address caller, uint32 hostId);
    error RegistryUnknownHost(uint32 hostId);
    error RegistryHostNotActive(uint32 hostId, HostStatus status);
    error RegistryInvalidHostStatus(HostStatus from, HostStatus to);
    error RegistryHostInUse(uint32 hostId);
    error RegistryCapacityBelowUse(uint32 hostId);
    error RegistryInvalidPublicKey();
    error RegistryInvalidApiUrl();
    error RegistryInvalidParameters();
    error RegistryZeroAddress();

    /*//////////////////////////////////////////////////////////////
                               FUNCTIONS
    //////////////////////////////////////////////////////////////*/

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
    function setParameters(uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury) external;
    function pause() external;
    function unpause() external;

    function getTenant(address tenant) external view returns (Tenant memory);
    function isDelegate(address tenant, address delegate) external view returns (bool);
    function isOperator(address operator) external view returns (bool);
    function getHost(uint32 hostId) external view returns (Host memory);
    function hostCount() external view returns (uint32);
    function paused() external view returns (bool);
}
