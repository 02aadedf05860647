// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {TenantChainBase} from "./TenantChainBase.sol";
import {IMarket} from "./interfaces/IMarket.sol";
import {ResourcesLib} from "./libraries/ResourcesLib.sol";
import {UsageDigestLib} from "./libraries/UsageDigestLib.sol";

/// @title TenantChainExtension
/// @notice The half of TenantChain's code off the hot paths: registration of tenants and hosts,
/// administration, scaling policies, the market's line voiding, and every view. TenantChain runs it on
/// its own storage (delegatecall); called at its own address it only sees its own, empty, storage.
contract TenantChainExtension is TenantChainBase {
    using ResourcesLib for Resources;
    using ResourcesLib for uint104;

    constructor(
        address admin,
        IERC20 token_,
        uint32 periodSeconds_,
        uint16 feeBps_,
        uint32 disputePeriods_,
        uint32 reportGracePeriods_
    ) TenantChainBase(admin, token_, periodSeconds_, feeBps_, disputePeriods_, reportGracePeriods_) {}

    /*//////////////////////////////////////////////////////////////
                              REGISTRY: TENANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Register the caller as a tenant.
    /// Requirements: not paused; the caller is not registered yet. Emits {TenantRegistered}.
    /// @param demand The resources the tenant expects to need (informational; quotas are set by admins).
    function registerTenant(bytes32 metadataHash, string calldata metadataURI, Resources calldata demand)
        external
        whenNotPaused
    {
        StoredTenant storage t = _tenants[msg.sender];
        if (t.status != TenantStatus.None) revert RegistryTenantAlreadyRegistered(msg.sender);
        t.status = TenantStatus.Active;
        emit TenantRegistered(msg.sender, metadataHash, metadataURI, demand);
    }

    /// @notice Close the caller's tenancy; the escrow stays withdrawable.
    /// Requirements: an active or suspended tenant with no active allocation. Emits {TenantStatusChanged}.
    function closeTenant() external {
        StoredTenant storage t = _tenants[msg.sender];
        if (t.status != TenantStatus.Active && t.status != TenantStatus.Suspended) {
            revert RegistryTenantNotActive(msg.sender, t.status);
        }
        if (t.activeAllocations != 0) revert RegistryTenantHasAllocations(msg.sender, t.activeAllocations);
        t.status = TenantStatus.Closed;
        emit TenantStatusChanged(msg.sender, TenantStatus.Closed);
    }

    /// @notice Suspend or reinstate a tenant (abuse, compliance). Suspended tenants can't request or resize.
    /// Requirements: owner; `status` is Active or Suspended; the tenant is Active or Suspended.
    /// Emits {TenantStatusChanged}.
    function setTenantStatus(address tenant, TenantStatus status) external onlyOwner {
        if (status != TenantStatus.Active && status != TenantStatus.Suspended) {
            revert RegistryInvalidTenantStatus(status);
        }
        StoredTenant storage t = _tenants[tenant];
        if (t.status != TenantStatus.Active && t.status != TenantStatus.Suspended) {
            revert RegistryTenantNotActive(tenant, t.status);
        }
        t.status = status;
        emit TenantStatusChanged(tenant, status);
    }

    /// @notice Allow or disallow `delegate` to request, resize and release allocations for the caller.
    /// Requirements: the caller is a registered tenant. Emits {DelegateSet}.
    function setDelegate(address delegate, bool allowed) external {
        if (_tenants[msg.sender].status == TenantStatus.None) {
            revert RegistryTenantNotActive(msg.sender, TenantStatus.None);
        }
        if (delegate == address(0)) revert RegistryZeroAddress();
        _delegates[msg.sender][delegate] = allowed;
        emit DelegateSet(msg.sender, delegate, allowed);
    }

    /*//////////////////////////////////////////////////////////////
                        REGISTRY: OPERATORS AND HOSTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Approve or revoke an operator. Revoking stops new hosts, not existing ones.
    /// Requirements: owner. Emits {OperatorApproved}.
    function approveOperator(address operator, bool approved) external onlyOwner {
        if (operator == address(0)) revert RegistryZeroAddress();
        _operators[operator] = approved;
        emit OperatorApproved(operator, approved);
    }

    /// @notice Register a host operated by the caller, locking its bond in the market (the caller
    /// approves the market for it first).
    /// Requirements: not paused; an approved operator; a 33-byte compressed secp256k1 key; the market
    /// set. Emits {HostRegistered}.
    function registerHost(
        Resources calldata capacity,
        ReservedPrices calldata reservedPrices,
        MeteredPrices calldata meteredPrices,
        bytes calldata publicKey
    ) external whenNotPaused returns (uint32 hostId) {
        if (!_operators[msg.sender]) revert RegistryOperatorNotApproved(msg.sender);
        _checkPublicKey(publicKey);
        hostId = ++_config.hostCount;
        StoredHost storage h = _hosts[hostId];
        h.status = HostStatus.Active;
        h.capacity = capacity.pack();
        h.operator = msg.sender;
        h.reservedPrices = reservedPrices;
        h.meteredPrices = meteredPrices;
        h.publicKey = publicKey;
        // Every usage slot written once now, so that reports overwrite (2,900 gas) instead of creating.
        uint256 base = uint256(hostId) << 32;
        for (uint256 i; i < _disputePeriods + _reportGracePeriods; ++i) {
            _usageSlots[base | i] = _USED_BIT;
        }
        emit HostRegistered(hostId, msg.sender, capacity, reservedPrices, meteredPrices, publicKey);
        _lockBond(hostId, capacity, reservedPrices, meteredPrices);
    }

    /// @notice Change a host's capacity and prices. New prices apply to new admissions and to the tenants'
    /// own resizes; running allocations keep the prices they agreed to (reserved and metered).
    /// Requirements: the host's operator; the host is not retired; capacity covers what is in use.
    /// Emits {HostUpdated}.
    function updateHost(
        uint32 hostId,
        Resources calldata capacity,
        ReservedPrices calldata reservedPrices,
        MeteredPrices calldata meteredPrices
    ) external onlyHostOperator(hostId) {
        StoredHost storage h = _hosts[hostId];
        if (h.status == HostStatus.Retired) revert RegistryHostNotActive(hostId, h.status);
        uint104 packed = capacity.pack();
        if (!h.used.fits(packed)) revert RegistryCapacityBelowUse(hostId);
        h.capacity = packed;
        h.reservedPrices = reservedPrices;
        h.meteredPrices = meteredPrices;
        // The bond will cover the capacity: lockBond tops it up (or the update reverts).
        if (h.bondShort) {
            h.bondShort = false;
            emit HostBondStatusSet(hostId, false);
        }
        emit HostUpdated(hostId, capacity, reservedPrices, meteredPrices);
        _lockBond(hostId, capacity, reservedPrices, meteredPrices);
    }

    /// @notice Propose `operator` to take over `hostId` (a key rotation); it accepts with
    /// {acceptHostOperator}. Requirements: the host's operator. Emits {HostOperatorProposed}.
    function proposeHostOperator(uint32 hostId, address operator) external onlyHostOperator(hostId) {
        _pendingOperator[hostId] = operator;
        emit HostOperatorProposed(hostId, operator);
    }

    /// @notice Take over `hostId` as the proposed operator. The previous operator's receipts stay valid
    /// for the periods up to now, so one rotation must be out of every window before the next.
    /// Requirements: the proposed operator, approved; the last rotation's periods no longer claimable.
    /// Emits {HostOperatorChanged}.
    function acceptHostOperator(uint32 hostId) external {
        if (_pendingOperator[hostId] != msg.sender || msg.sender == address(0)) revert RegistryNoPendingOperator(hostId);
        if (!_operators[msg.sender]) revert RegistryOperatorNotApproved(msg.sender);
        uint32 current = _periodAt(block.timestamp);
        address previous = _previousOperator[hostId];
        if (previous != address(0)) {
            uint32 next = _claimClosesAt(_rotatedAt[hostId]);
            if (current < next) revert RegistryRotationTooSoon(hostId, next);
        }
        StoredHost storage h = _hosts[hostId];
        previous = h.operator;
        _previousOperator[hostId] = previous;
        _rotatedAt[hostId] = current;
        delete _pendingOperator[hostId];
        h.operator = msg.sender;
        emit HostOperatorChanged(hostId, previous, msg.sender);
    }

    /// @notice The market's word on a host's bond: below what its capacity requires (`short`), the host
    /// admits nothing new. Requirements: the market. Emits {HostBondStatusSet} when it changes.
    function setHostBondShort(uint32 hostId, bool short) external {
        if (msg.sender != _market) revert UsageNotMarket(msg.sender);
        StoredHost storage h = _hosts[hostId];
        if (h.bondShort != short) {
            h.bondShort = short;
            emit HostBondStatusSet(hostId, short);
        }
    }

    /// @notice Set how much more the last free capacity costs than the first: an allocation's rate is
    /// its base rate times 1 + pct/100 * (u0^2 + u0*u1 + u1^2)/3, the mean of 1 + pct/100 * u^2 over the
    /// host's utilisation u (the larger of CPU and memory) from before (u0) to after (u1) its admission.
    /// Requirements: the host's operator; at most the admin's maximum. Emits {SurchargeSet}.
    function setSurcharge(uint32 hostId, uint8 pct) external onlyHostOperator(hostId) {
        uint8 max = _config.maxSurchargePct;
        if (pct > max) revert RegistrySurchargeTooHigh(pct, max);
        _hosts[hostId].surchargePct = pct;
        emit SurchargeSet(hostId, pct);
    }

    /// @notice Replace the host's spec-encryption key.
    /// Requirements: the host's operator; a 33-byte compressed key. Emits {HostKeyRotated}.
    function rotateHostKey(uint32 hostId, bytes calldata publicKey) external onlyHostOperator(hostId) {
        _checkPublicKey(publicKey);
        _hosts[hostId].publicKey = publicKey;
        emit HostKeyRotated(hostId, publicKey);
    }

    /// @notice Publish the host's tenant API: its URL and its TLS certificate's SHA-256, which tenants'
    /// clients pin (no certificate authority needed). Kept in the event log only: clients read the latest.
    /// Requirements: the host's operator; a URL of 1 to 256 bytes. Emits {HostApiSet}.
    function setHostApi(uint32 hostId, string calldata url, bytes32 certSha256) external onlyHostOperator(hostId) {
        if (bytes(url).length == 0 || bytes(url).length > 256) revert RegistryInvalidApiUrl();
        emit HostApiSet(hostId, url, certSha256);
    }

    /// @notice Move a host between Active and Draining, or retire it for good.
    /// Requirements: the host's operator; not retired already; retiring only with nothing allocated.
    /// Emits {HostStatusChanged}.
    function setHostStatus(uint32 hostId, HostStatus status) external onlyHostOperator(hostId) {
        StoredHost storage h = _hosts[hostId];
        HostStatus from = h.status;
        if (from == HostStatus.Retired || status == HostStatus.None || status == from) {
            revert RegistryInvalidHostStatus(from, status);
        }
        if (status == HostStatus.Retired) {
            if (h.used != 0) revert RegistryHostInUse(hostId);
            _retiredAt[hostId] = _periodAt(block.timestamp); // it may report what it served, no later
        }
        h.status = status;
        emit HostStatusChanged(hostId, status);
    }

    /*//////////////////////////////////////////////////////////////
                           REGISTRY: ADMINISTRATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Set a tenant's own quota (`custom`), or return it to the default quota.
    /// Requirements: owner. Emits {QuotaSet}.
    function setQuota(address tenant, Resources calldata quota, bool custom) external onlyOwner {
        _tenants[tenant].customQuota = custom;
        _quotas[tenant] = custom ? quota.pack() : 0;
        emit QuotaSet(tenant, quota, custom);
    }

    /// @notice Set the quota of every tenant without a custom one.
    /// Requirements: owner. Emits {DefaultQuotaSet}.
    function setDefaultQuota(Resources calldata quota) external onlyOwner {
        _config.defaultQuota = quota.pack();
        emit DefaultQuotaSet(quota);
    }

    /// @notice Propose new billing parameters (the fee is fixed at deployment); they apply after
    /// PARAMETER_DELAY ({applyParameters}), so that tenants can act before a shorter grace or a longer
    /// prepaid period reaches them. A new proposal replaces a pending one.
    /// Requirements: owner; a treasury. Emits {ParametersProposed}.
    function proposeParameters(uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury) external onlyOwner {
        if (treasury == address(0)) revert RegistryZeroAddress();
        uint32 effectiveAt = uint32(block.timestamp + PARAMETER_DELAY);
        _pendingParameters = PendingParameters(minPrepaidSeconds, gracePeriodSeconds, treasury, effectiveAt);
        emit ParametersProposed(minPrepaidSeconds, gracePeriodSeconds, treasury, effectiveAt);
    }

    /// @notice Apply the proposed parameters once their delay is over; anyone may.
    /// Requirements: a proposal whose delay is over. Emits {ParametersSet}.
    function applyParameters() external {
        PendingParameters memory p = _pendingParameters;
        // slither-disable-next-line incorrect-equality (0 is "nothing pending", not a time)
        if (p.effectiveAt == 0 || block.timestamp < p.effectiveAt) revert RegistryParametersNotDue(p.effectiveAt);
        delete _pendingParameters;
        Config storage c = _config;
        c.minPrepaidSeconds = p.minPrepaidSeconds;
        c.gracePeriodSeconds = p.gracePeriodSeconds;
        _treasury = p.treasury;
        emit ParametersSet(p.minPrepaidSeconds, p.gracePeriodSeconds, p.treasury);
    }

    /// @notice The highest utilisation surcharge a host may set. Requirements: owner. Emits {MaxSurchargeSet}.
    function setMaxSurcharge(uint8 pct) external onlyOwner {
        _config.maxSurchargePct = pct;
        emit MaxSurchargeSet(pct);
    }

    /// @notice Name the market contract (bonds, receipts, disputes); once.
    /// Requirements: owner; not set yet; non-zero. Emits {MarketSet}.
    function setMarket(address market) external onlyOwner {
        if (market == address(0)) revert RegistryZeroAddress();
        if (_market != address(0)) revert RegistryMarketAlreadySet(_market);
        _market = market;
        emit MarketSet(market);
    }

    /// @notice Emergency stop that protects money: no registrations, requests, resizes, automatic resizes,
    /// expiries or operator withdrawals. Deposits, releases, settlement, reports and tenants' withdrawals
    /// keep working: money may come in and go back to tenants, none leaves to an operator.
    /// Requirements: owner; not paused. Emits {Paused}.
    function pause() external onlyOwner whenNotPaused {
        _config.paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Lift the emergency stop. Requirements: owner; paused. Emits {Unpaused}.
    function unpause() external onlyOwner {
        if (!_config.paused) revert RegistryNotPaused();
        _config.paused = false;
        emit Unpaused(msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                   SCALING
    //////////////////////////////////////////////////////////////*/

    /// @notice Let the host's operator resize `allocationId` within [`min`, `max`] while its rate stays at
    /// most `maxRatePerSecond`; 0 turns automatic resizing off.
    /// Requirements: the tenant or a delegate; active; `min` non-empty and at most `max` in every
    /// resource; `max` within what the tenant's quota leaves beside its other allocations; the rate at
    /// `min` (at the allocation's agreed prices) within the ceiling. Emits {ScalingPolicySet}.
    function setScalingPolicy(uint64 allocationId, Resources calldata min, Resources calldata max, uint64 maxRatePerSecond)
        external
    {
        StoredAllocation storage a = _activeAllocation(allocationId);
        address tenant = a.tenant;
        _checkTenantOrDelegate(tenant);
        if (maxRatePerSecond == 0) {
            delete _scaling[allocationId];
        } else {
            uint104 lo = min.pack();
            uint104 hi = max.pack();
            if (lo == 0 || !lo.fits(hi)) revert ScalingInvalidBounds(min, max);
            StoredTenant storage t = _tenants[tenant];
            _checkQuota(tenant, _quotaOf(tenant, t), t.used - a.resources, hi);
            // Shrinking to `min` keeps the agreed prices (autoResizeAllocation): that is its rate.
            uint256 floorRate = _rateWithin(lo, _reservedTerms[allocationId]);
            if (floorRate > maxRatePerSecond) revert ScalingRateAboveCeiling(allocationId, floorRate, maxRatePerSecond);
            _scaling[allocationId] = ScalingPolicy(lo, hi, _scaling[allocationId].lastAutoResize, maxRatePerSecond);
        }
        emit ScalingPolicySet(_hostOf(allocationId), allocationId, min, max, maxRatePerSecond);
    }

    function scalingPolicyOf(uint64 allocationId)
        external
        view
        returns (Resources memory min, Resources memory max, uint64 maxRatePerSecond, uint32 lastAutoResize)
    {
        ScalingPolicy storage p = _scaling[allocationId];
        return (p.min.unpack(), p.max.unpack(), p.maxRatePerSecond, p.lastAutoResize);
    }

    /*//////////////////////////////////////////////////////////////
                                USAGE DISPUTES
    //////////////////////////////////////////////////////////////*/

    /// @notice The market voids a disputed or slashed line before its claim: it is never charged (the
    /// market settles a dispute from the tenant's dispute bond instead).
    /// Requirements: the market; an unclaimed line of a held period, not voided yet. Emits {LineVoided}.
    function voidLine(uint32 hostId, uint64 allocationId, uint32 period) external {
        if (msg.sender != _market) revert UsageNotMarket(msg.sender);
        if (_hostOf(allocationId) != hostId) revert BillingWrongHost(allocationId, hostId);
        uint256 key = _usageKey(hostId, period);
        uint256 slot = _usageSlots[key];
        if (uint32(slot) != period || slot & _HELD_BIT == 0) revert UsageNotReported(hostId, period);
        uint32 finalFrom_ = _finalFrom(period);
        if (_periodAt(block.timestamp) >= finalFrom_) revert UsageNotFinal(period, finalFrom_);
        uint256 lineKey = (uint256(allocationId) << 32) | period;
        if (_voided[lineKey]) revert UsageLineVoided(allocationId, period);
        _voided[lineKey] = true;
        _usageSlots[key] = slot | _VOIDS_BIT;
        emit LineVoided(allocationId, period);
    }

    /*//////////////////////////////////////////////////////////////
                                    VIEWS
    //////////////////////////////////////////////////////////////*/

    function getTenant(address tenant) external view returns (Tenant memory) {
        StoredTenant storage t = _tenants[tenant];
        return Tenant({
            status: t.status,
            used: t.used.unpack(),
            activeAllocations: t.activeAllocations,
            quota: _quotaOf(tenant, t).unpack()
        });
    }

    function isDelegate(address tenant, address delegate) external view returns (bool) {
        return _delegates[tenant][delegate];
    }

    function isOperator(address operator) external view returns (bool) {
        return _operators[operator];
    }

    function getHost(uint32 hostId) external view returns (Host memory) {
        StoredHost storage h = _hosts[hostId];
        if (h.status == HostStatus.None) revert RegistryUnknownHost(hostId);
        return Host({
            operator: h.operator,
            status: h.status,
            capacity: h.capacity.unpack(),
            used: h.used.unpack(),
            allocationCount: h.allocationCount,
            reservedPrices: h.reservedPrices,
            meteredPrices: h.meteredPrices,
            publicKey: h.publicKey
        });
    }

    function hostRecordOf(uint32 hostId) external view returns (uint8 surchargePct, uint32 rejected, uint32 dropped) {
        StoredHost storage h = _hosts[hostId];
        return (h.surchargePct, h.rejected, h.dropped);
    }

    function marketOf() external view returns (address) {
        return _market;
    }

    function disputePeriods() external view returns (uint32) {
        return _disputePeriods;
    }

    /// @notice The digest `hostId`'s report of `period` committed to, while it is held and unclaimed
    /// (zero otherwise).
    function usageDigestOf(uint32 hostId, uint32 period) external view returns (bytes32) {
        uint256 slot = _usageSlots[_usageKey(hostId, period)];
        return uint32(slot) == period && slot & _HELD_BIT != 0 ? bytes32(slot & UsageDigestLib.DIGEST_MASK) : bytes32(0);
    }

    /// @notice The first period in which `period`'s lines are final (chargeable; no receipt or dispute).
    function finalFrom(uint32 period) external view returns (uint32) {
        return _finalFrom(period);
    }

    /// @notice The first period in which `period`'s lines can no longer be claimed (forfeited).
    function claimClosesAt(uint32 period) external view returns (uint32) {
        return _claimClosesAt(period);
    }

    function reportGracePeriods() external view returns (uint32) {
        return _reportGracePeriods;
    }

    /// @notice Whether `line` of `hostId`'s report of `period` keeps the claim's rules as they stand now
    /// (the aggregate bound against what was claimed so far included), and its cost at the allocation's
    /// agreed prices: what receipts and disputes weigh. A line not chargeable now may be voided by
    /// anyone within its window (the market's `voidUnchargeable`): an honest line always is chargeable.
    function lineCost(uint32 hostId, uint32 period, uint256 line) external view returns (bool chargeable, uint256 cost) {
        (chargeable, cost) = _lineCost(hostId, period, line);
        if (!chargeable) return (false, 0);
        uint64 id = uint64(line >> 128);
        (bool fits,,) = _fitsHeld(id, _allocations[id], _meters[id], period, line);
        if (!fits) return (false, 0);
    }

    /// @notice The cost of `cpuMs` and `memoryMiBSeconds` at `allocationId`'s agreed metered prices.
    function allocationMeteredCost(uint64 allocationId, uint256 cpuMs, uint256 memoryMiBSeconds)
        external
        view
        returns (uint256)
    {
        MeterTerms storage t = _meterTerms[allocationId];
        return _cost(cpuMs, memoryMiBSeconds, t.cpuSecond, t.memoryGiBSecond);
    }

    /// @notice What `allocationId` agreed to pay per unit (reserved: surcharge included) and the most
    /// CPU and memory it ever held (a line's per-period bound).
    function termsOf(uint64 allocationId)
        external
        view
        returns (ReservedPrices memory reserved, MeteredPrices memory metered, uint24 peakCpuMillis, uint32 peakMemoryMiB)
    {
        MeterTerms storage t = _meterTerms[allocationId];
        return (_reservedTerms[allocationId], MeteredPrices(t.cpuSecond, t.memoryGiBSecond), t.peakCpuMillis, t.peakMemoryMiB);
    }

    /// @notice The allocation's aggregate bound: CPU-ms and MiB-seconds held until now, and charged.
    function meterOf(uint64 allocationId)
        external
        view
        returns (uint256 heldCpuMs, uint256 heldMemoryMiBSeconds, uint256 usedCpuMs, uint256 usedMemoryMiBSeconds)
    {
        Meter storage m = _meters[allocationId];
        (heldCpuMs, heldMemoryMiBSeconds) = _heldUntil(_allocations[allocationId], m, block.timestamp);
        return (heldCpuMs, heldMemoryMiBSeconds, m.usedCpuMs, m.usedMemoryMiBSeconds);
    }

    /// @notice What the allocation held in `period` (CPU-ms, MiB-seconds): the most a line of that period
    /// may charge. Exact for every period that can still be claimed; for one that hasn't ended (or ended
    /// after the latest block), what it will have held if nothing changes.
    function heldIn(uint64 allocationId, uint32 period) external view returns (uint256 cpuMs, uint256 memoryMiBSeconds) {
        StoredAllocation storage a = _allocations[allocationId];
        Meter memory m = _meters[allocationId];
        (uint256 cpuByEnd, uint256 memoryByEnd) = _heldByEndOf(allocationId, a, m, period);
        return _heldIn(allocationId, a, m, period, cpuByEnd, memoryByEnd);
    }

    /// @notice What withdrawals hold back of `tenant`'s escrow for metered charges claims may still bring.
    function exposureOf(address tenant) external view returns (uint256) {
        return _exposure(_exposures[tenant]);
    }

    /// @notice Whether `signer` may sign `hostId`'s receipts for `period`: its operator, or the one before
    /// the last rotation for the periods up to it.
    function isHostSigner(uint32 hostId, address signer, uint32 period) external view returns (bool) {
        if (signer == address(0)) return false;
        if (signer == _hosts[hostId].operator) return true;
        return signer == _previousOperator[hostId] && period <= _rotatedAt[hostId];
    }

    function pendingOperatorOf(uint32 hostId) external view returns (address) {
        return _pendingOperator[hostId];
    }

    function pendingParameters()
        external
        view
        returns (uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury, uint32 effectiveAt)
    {
        PendingParameters memory p = _pendingParameters;
        return (p.minPrepaidSeconds, p.gracePeriodSeconds, p.treasury, p.effectiveAt);
    }

    function hostBondShort(uint32 hostId) external view returns (bool) {
        return _hosts[hostId].bondShort;
    }

    function isVoided(uint64 allocationId, uint32 period) external view returns (bool) {
        return _voided[(uint256(allocationId) << 32) | period];
    }

    function hostCount() external view returns (uint32) {
        return _config.hostCount;
    }

    function paused() external view returns (bool) {
        return _config.paused;
    }

    function parameters()
        external
        view
        returns (uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, uint16 feeBps, address treasury)
    {
        Config storage c = _config;
        return (c.minPrepaidSeconds, c.gracePeriodSeconds, _feeBps, _treasury);
    }

    function getAllocation(uint64 allocationId) external view returns (Allocation memory) {
        StoredAllocation storage a = _allocations[allocationId];
        if (a.status == AllocationStatus.None) revert AllocationUnknown(allocationId);
        return Allocation({
            tenant: a.tenant,
            hostId: _hostOf(allocationId),
            status: a.status,
            closeReason: a.closeReason,
            resources: a.resources.unpack(),
            ratePerSecond: a.ratePerSecond,
            lastSettled: a.lastSettled,
            nextReportPeriod: a.nextReportPeriod,
            pendingMetered: a.pendingMetered
        });
    }

    /// @notice The reserved charge per second of `resources` admitted on `hostId` now: its prices and
    /// its utilisation surcharge (the quote to pass as `maxRatePerSecond`).
    function rateOf(uint32 hostId, Resources calldata resources) external view returns (uint256) {
        StoredHost storage h = _hosts[hostId];
        uint104 req = resources.pack();
        return req.rate(_quotePrices(h, h.used, req));
    }

    function token() external view returns (address) {
        return address(_token);
    }

    function periodSeconds() external view returns (uint32) {
        return _periodSeconds;
    }

    /// @notice When period 0 began (the deployment's timestamp): period p is
    /// [genesis + p * periodSeconds, genesis + (p + 1) * periodSeconds).
    function genesis() external view returns (uint32) {
        return _genesis;
    }

    function accountOf(address tenant) external view returns (Escrow memory acct) {
        StoredAccount storage s = _accounts[tenant];
        uint256 rate = s.ratePerSecond;
        uint256 spent = rate * block.timestamp;
        acct.balance = s.funded > spent ? s.funded - spent : 0;
        acct.ratePerSecond = rate;
        acct.paidThrough = rate == 0 ? type(uint256).max : s.funded / rate;
        acct.suspendedAt = s.suspendedAt;
        acct.withdrawable = _withdrawable(s, _exposures[tenant]);
        acct.funded = s.funded;
    }

    function earningsOf(uint32 hostId) external view returns (uint256) {
        return _earnings[hostId];
    }

    function feesAccrued() external view returns (uint256) {
        return _feesAccrued;
    }

    /// @notice What settling `allocationId` now would charge: reserved (funded part) and pending metered.
    function unsettledOf(uint64 allocationId) external view returns (uint256 reserved, uint256 metered) {
        StoredAllocation storage a = _allocations[allocationId];
        if (a.status == AllocationStatus.Active) {
            (reserved,) = _reservedDue(a.lastSettled, a.ratePerSecond, _accounts[a.tenant]);
        }
        metered = a.pendingMetered;
    }

    /*//////////////////////////////////////////////////////////////
                                   INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Lock (or top up) the bond that a host of `capacity` needs, in the market: its full income per
    /// second, reserved and metered (everything in use at the metered prices).
    function _lockBond(
        uint32 hostId,
        Resources calldata capacity,
        ReservedPrices calldata prices,
        MeteredPrices calldata metered
    ) internal {
        address market = _market;
        if (market == address(0)) revert RegistryMarketNotSet();
        IMarket(market).lockBond(hostId, msg.sender, ResourcesLib.fullRate(capacity.pack(), prices, metered));
    }

    function _checkPublicKey(bytes calldata publicKey) internal pure {
        if (publicKey.length != _PUBLIC_KEY_LENGTH || (publicKey[0] != 0x02 && publicKey[0] != 0x03)) {
            revert RegistryInvalidPublicKey();
        }
    }
}
