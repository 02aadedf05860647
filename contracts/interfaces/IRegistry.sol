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
    event ParametersProposed(uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury, uint32 effectiveAt);
    event HostOperatorProposed(uint32 indexed hostId, address indexed operator);
    event HostOperatorChanged(uint32 indexed hostId, address indexed previous, address indexed operator);
    /// @notice The market found the host's bond below what its capacity requires (`short`): it admits
    /// nothing new until the bond is topped up.
    event HostBondStatusSet(uint32 indexed hostId, bool short);
    event Paused(address account);
    event Unpaused(address account);
    event SurchargeSet(uint32 indexed hostId, uint8 pct);
    event MaxSurchargeSet(uint8 pct);
    event MarketSet(address market);

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
    error RegistrySurchargeTooHigh(uint8 pct, uint8 max);
    error RegistryMarketAlreadySet(address market);
    error RegistryMarketNotSet();
    error RegistryParametersNotDue(uint32 effectiveAt);
    error RegistryNoPendingOperator(uint32 hostId);
    error RegistryRotationTooSoon(uint32 hostId, uint32 nextPeriod);
    error RegistryInvalidToken(address token);
}
