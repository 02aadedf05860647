// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IRegistry} from "./interfaces/IRegistry.sol";
import {IAllocation} from "./interfaces/IAllocation.sol";
import {IBilling} from "./interfaces/IBilling.sol";
import {IScaling} from "./interfaces/IScaling.sol";
import {ResourcesLib} from "./libraries/ResourcesLib.sol";

/// @title TenantChain
/// @notice Registry, allocation and billing of multi-tenant cloud resources, in one contract.
/// @dev One deployed contract rather than three: admitting an allocation reads and writes the host's
/// capacity, the tenant's quota and the tenant's escrow together, and cross-contract calls would cost
/// more than the whole gas budget of a request. The three roles stay separate in their interfaces
/// (IRegistry, IAllocation, IBilling) and in the sections below.
///
/// Escrow accounting. Each tenant has one escrow shared by its allocations. Instead of the balance it
/// stores `funded = balance + sum(rate_i * lastSettled_i)` and `rate = sum(rate_i)`, so that the escrow
/// runs out at `paidThrough = funded / rate` and settling one allocation (paying `rate_i * (t -
/// lastSettled_i)` for `t <= paidThrough`) leaves the tenant's record untouched: every allocation is
/// always funded up to `paidThrough`, and settlement costs one allocation slot and one earnings slot.
/// Rounding (`funded / rate`, metered costs) is always down, in the tenant's favour.
contract TenantChain is IRegistry, IAllocation, IBilling, IScaling, Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using ResourcesLib for Resources;
    using ResourcesLib for uint104;

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    uint16 public constant MAX_FEE_BPS = 1_000; // 10%
    uint16 internal constant _BPS = 10_000;
    uint256 internal constant _PUBLIC_KEY_LENGTH = 33; // compressed secp256k1

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev Everything that a request reads, in one slot.
    struct Config {
        bool paused;
        uint32 minPrepaidSeconds;
        uint32 gracePeriodSeconds;
        uint104 defaultQuota;
        uint32 hostCount;
    }

    struct StoredTenant {
        TenantStatus status;
        bool customQuota;
        uint104 used;
        uint32 activeAllocations;
    }

    struct StoredAccount {
        uint128 funded; // balance + sum(rate_i * lastSettled_i)
        uint96 ratePerSecond;
        uint32 suspendedAt;
    }

    struct StoredHost {
        // slot 0: what admission reads and writes
        HostStatus status;
        uint104 capacity;
        uint104 used;
        uint32 allocationCount;
        // slot 1
        address operator;
        // slots 2, 3
        ReservedPrices reservedPrices;
        MeteredPrices meteredPrices;
        bytes publicKey;
    }

    struct StoredAllocation {
        // slot 0: what usage reports read and write
        AllocationStatus status;
        CloseReason closeReason;
        uint104 resources;
        uint32 nextReportPeriod; // the first period not reported yet
        uint96 pendingMetered;
        // slot 1: what settlement reads and writes
        address tenant;
        uint64 ratePerSecond;
        uint32 lastSettled;
    }

    /// @dev A tenant's consent to automatic resizes; `maxRatePerSecond` 0 means none.
    struct ScalingPolicy {
        uint104 min;
        uint104 max;
        uint32 lastAutoResize;
        uint64 maxRatePerSecond;
    }

    IERC20 internal immutable _token;
    uint32 internal immutable _periodSeconds;
    uint32 internal immutable _genesis;
    /// @dev Fixed at deployment: providers know the cut can't change under them, and settlement
    /// (the keeper's hot path) reads no storage for it.
    uint16 internal immutable _feeBps;

    Config internal _config;
    address internal _treasury;
    uint256 internal _feesAccrued;

    mapping(address tenant => StoredTenant) internal _tenants;
    mapping(address tenant => StoredAccount) internal _accounts;
    mapping(address tenant => uint104) internal _quotas;
    mapping(address tenant => mapping(address delegate => bool)) internal _delegates;
    mapping(address operator => bool) internal _operators;
    mapping(uint32 hostId => StoredHost) internal _hosts;
    mapping(uint32 hostId => uint256) internal _earnings;
    mapping(uint64 allocationId => StoredAllocation) internal _allocations;
    mapping(uint64 allocationId => ScalingPolicy) internal _scaling;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param token_ The ERC20 of the escrow (standard: no fee on transfer, no rebasing).
    /// @param periodSeconds_ Length of a usage-report period.
    /// @param feeBps_ Protocol fee on every settlement, in basis points (at most MAX_FEE_BPS).
    constructor(
        address admin,
        IERC20 token_,
        uint32 periodSeconds_,
        uint16 feeBps_,
        uint32 minPrepaidSeconds,
        uint32 gracePeriodSeconds,
        Resources memory defaultQuota
    ) Ownable(admin) {
        if (address(token_) == address(0)) revert RegistryZeroAddress();
        if (periodSeconds_ == 0 || feeBps_ > MAX_FEE_BPS) revert RegistryInvalidParameters();
        _token = token_;
        _periodSeconds = periodSeconds_;
        _genesis = uint32(block.timestamp);
        _feeBps = feeBps_;
        _config.minPrepaidSeconds = minPrepaidSeconds;
        _config.gracePeriodSeconds = gracePeriodSeconds;
        _config.defaultQuota = defaultQuota.pack();
        _treasury = admin;
        emit ParametersSet(minPrepaidSeconds, gracePeriodSeconds, admin);
        emit DefaultQuotaSet(defaultQuota);
    }

    /*//////////////////////////////////////////////////////////////
                                MODIFIERS
    //////////////////////////////////////////////////////////////*/

    modifier whenNotPaused() {
        if (_config.paused) revert RegistryPaused();
        _;
    }

    modifier onlyHostOperator(uint32 hostId) {
        _checkHostOperator(hostId);
        _;
    }

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

    /// @notice Register a host operated by the caller.
    /// Requirements: not paused; an approved operator; a 33-byte compressed secp256k1 key.
    /// Emits {HostRegistered}.
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
        emit HostRegistered(hostId, msg.sender, capacity, reservedPrices, meteredPrices, publicKey);
    }

    /// @notice Change a host's capacity and prices. New reserved prices apply to new admissions and
    /// resizes; running allocations keep the rate fixed at admission. Metered prices apply to reports.
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
        emit HostUpdated(hostId, capacity, reservedPrices, meteredPrices);
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
        if (status == HostStatus.Retired && h.used != 0) revert RegistryHostInUse(hostId);
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

    /// @notice Set the billing parameters (the fee is fixed at deployment).
    /// Requirements: owner; a treasury. Emits {ParametersSet}.
    function setParameters(uint32 minPrepaidSeconds, uint32 gracePeriodSeconds, address treasury) external onlyOwner {
        if (treasury == address(0)) revert RegistryZeroAddress();
        Config storage c = _config;
        c.minPrepaidSeconds = minPrepaidSeconds;
        c.gracePeriodSeconds = gracePeriodSeconds;
        _treasury = treasury;
        emit ParametersSet(minPrepaidSeconds, gracePeriodSeconds, treasury);
    }

    /// @notice Emergency stop: no registrations, requests, resizes, deposits or host registrations.
    /// Releases, settlement, reports and every withdrawal keep working, so nobody's funds are stuck.
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
                               ALLOCATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Request `resources` on `hostId` for the caller.
    /// Requirements: not paused; an active tenant, not suspended for lack of funds; an active host with
    /// the free capacity; within the tenant's quota; an escrow that covers the minimum prepaid period
    /// at the new total rate. Emits {AllocationRequested}.
    /// @param encryptedSpec The workload spec, ECIES-encrypted to the host's key; logged, not stored.
    function requestAllocation(
        uint32 hostId,
        Resources calldata resources,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external whenNotPaused returns (uint64) {
        return _request(msg.sender, hostId, resources, specHash, encryptedSpec);
    }

    /// @notice {requestAllocation} by a delegate of `tenant`, charged to `tenant`.
    function requestAllocationFor(
        address tenant,
        uint32 hostId,
        Resources calldata resources,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external whenNotPaused returns (uint64) {
        _checkTenantOrDelegate(tenant);
        return _request(tenant, hostId, resources, specHash, encryptedSpec);
    }

    /// @notice Change an allocation's resources in place (up or down); settles it first.
    /// Requirements: not paused; the tenant or a delegate; active; the same checks as a request for the
    /// difference. Emits {Settled} and {AllocationResized}.
    function resizeAllocation(uint64 allocationId, Resources calldata resources) external whenNotPaused {
        StoredAllocation storage a = _activeAllocation(allocationId);
        _checkTenantOrDelegate(a.tenant);
        _resize(allocationId, a, resources);
    }

    /*//////////////////////////////////////////////////////////////
                                SCALING
    //////////////////////////////////////////////////////////////*/

    /// @notice Let the host's operator resize `allocationId` within [`min`, `max`] while its rate stays at
    /// most `maxRatePerSecond`; 0 turns automatic resizing off.
    /// Requirements: the tenant or a delegate; active; `min` non-empty and at most `max` in every
    /// resource; `max` within what the tenant's quota leaves beside its other allocations; the rate at
    /// `min` within the ceiling. Emits {ScalingPolicySet}.
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
            uint256 floorRate = _rateWithin(lo, _hosts[_hostOf(allocationId)].reservedPrices);
            if (floorRate > maxRatePerSecond) revert ScalingRateAboveCeiling(allocationId, floorRate, maxRatePerSecond);
            _scaling[allocationId] = ScalingPolicy(lo, hi, _scaling[allocationId].lastAutoResize, maxRatePerSecond);
        }
        emit ScalingPolicySet(allocationId, min, max, maxRatePerSecond);
    }

    /// @notice An automatic resize by the host's operator, inside the tenant's policy.
    /// Requirements: not paused; the host's operator; active; a policy; one cooldown since the last
    /// automatic resize; `resources` within the bounds and its rate within the ceiling; then every
    /// check of {resizeAllocation}. Emits {Settled}, {AllocationResized} and {AllocationAutoResized}.
    function autoResizeAllocation(uint64 allocationId, Resources calldata resources)
        external
        whenNotPaused
        onlyHostOperator(_hostOf(allocationId))
    {
        StoredAllocation storage a = _activeAllocation(allocationId);
        ScalingPolicy storage p = _scaling[allocationId];
        uint256 ceiling = p.maxRatePerSecond;
        if (ceiling == 0) revert ScalingNoPolicy(allocationId);
        uint256 next = uint256(p.lastAutoResize) + _scalingCooldown();
        if (block.timestamp < next) revert ScalingCooldown(allocationId, next);
        uint104 req = resources.pack();
        if (!p.min.fits(req) || !req.fits(p.max)) revert ScalingOutOfBounds(allocationId, resources);
        uint256 rate = _rateWithin(req, _hosts[_hostOf(allocationId)].reservedPrices);
        if (rate > ceiling) revert ScalingRateAboveCeiling(allocationId, rate, ceiling);
        uint104 previous = a.resources;
        p.lastAutoResize = uint32(block.timestamp);
        _resize(allocationId, a, resources);
        emit AllocationAutoResized(allocationId, previous.unpack(), resources);
    }

    function scalingPolicyOf(uint64 allocationId)
        external
        view
        returns (Resources memory min, Resources memory max, uint64 maxRatePerSecond, uint32 lastAutoResize)
    {
        ScalingPolicy storage p = _scaling[allocationId];
        return (p.min.unpack(), p.max.unpack(), p.maxRatePerSecond, p.lastAutoResize);
    }

    /// @dev The least time between two automatic resizes of one allocation: half a billing period, so
    /// that a workload can double twice within one period and a bill sees few sizes per period.
    function _scalingCooldown() internal view returns (uint32) {
        return _periodSeconds / 2;
    }

    /// @notice End an allocation: settle it, return its capacity, stop its charge.
    /// Requirements: the tenant or a delegate; active. Works while paused.
    /// Emits {Settled} and {AllocationClosed}.
    function releaseAllocation(uint64 allocationId) external {
        StoredAllocation storage a = _activeAllocation(allocationId);
        _checkTenantOrDelegate(a.tenant);
        _settle(allocationId, a);
        _close(allocationId, a, CloseReason.Released, 0);
    }

    /// @notice The host's operator refuses an allocation it can't run (undecryptable, invalid or
    /// forbidden spec, missing image): the tenant pays nothing since its last settlement.
    /// Requirements: the host's operator; active. Emits {AllocationClosed}.
    function rejectAllocation(uint64 allocationId, uint16 code) external onlyHostOperator(_hostOf(allocationId)) {
        StoredAllocation storage a = _activeAllocation(allocationId);
        _close(allocationId, a, CloseReason.Rejected, code);
    }

    /// @notice Release an allocation whose tenant ran out of funds and did not top up within the grace
    /// period. Anyone (a keeper) may call it. Requirements: active; grace over.
    /// Emits {TenantSuspended} (if not yet), {Settled} and {AllocationClosed}.
    function expireAllocation(uint64 allocationId) external {
        StoredAllocation storage a = _activeAllocation(allocationId);
        StoredAccount storage acct = _accounts[a.tenant];
        uint256 suspendedAt = _refreshSuspension(a.tenant, acct);
        uint256 expiresAt = suspendedAt == 0 ? type(uint256).max : suspendedAt + _config.gracePeriodSeconds;
        if (block.timestamp < expiresAt) revert AllocationNotExpired(allocationId, expiresAt);
        _settle(allocationId, a);
        _close(allocationId, a, CloseReason.OutOfFunds, 0);
    }

    /*//////////////////////////////////////////////////////////////
                                 BILLING
    //////////////////////////////////////////////////////////////*/

    /// @notice Add `amount` to `tenant`'s escrow (anyone may top up); resumes a suspended tenant once
    /// the escrow covers the debt and the minimum prepaid period.
    /// Requirements: not paused; a registered, not closed tenant; the caller approved `amount`.
    /// Emits {Deposited} and maybe {TenantResumed}.
    function deposit(address tenant, uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert BillingZeroAmount();
        TenantStatus status = _tenants[tenant].status;
        if (status == TenantStatus.None || status == TenantStatus.Closed) revert RegistryTenantNotActive(tenant, status);
        StoredAccount storage acct = _accounts[tenant];
        uint256 funded = acct.funded + amount;
        if (funded > type(uint128).max) revert BillingAmountTooLarge(amount);
        acct.funded = uint128(funded);
        emit Deposited(tenant, msg.sender, amount);
        if (acct.suspendedAt != 0) {
            uint256 rate = acct.ratePerSecond;
            if (funded >= rate * (block.timestamp + _config.minPrepaidSeconds)) {
                acct.suspendedAt = 0;
                emit TenantResumed(tenant);
            }
        }
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Withdraw escrow that is neither spent, accrued, nor reserved as the minimum prepaid period.
    /// Requirements: `amount` > 0 and at most {accountOf}.withdrawable. Works while paused.
    /// Emits {Withdrawn}.
    function withdraw(uint256 amount, address to) external nonReentrant {
        if (amount == 0) revert BillingZeroAmount();
        if (to == address(0)) revert RegistryZeroAddress();
        StoredAccount storage acct = _accounts[msg.sender];
        uint256 available = _withdrawable(acct);
        if (amount > available) revert BillingInsufficientBalance(msg.sender, amount, available);
        acct.funded -= uint128(amount);
        emit Withdrawn(msg.sender, to, amount);
        _token.safeTransfer(to, amount);
    }

    /// @notice Settle an allocation up to now (or to when its tenant's escrow ran out): credit the
    /// host's operator, collect pending metered charges, and mark the tenant suspended if its escrow is
    /// exhausted. Anyone (a keeper) may call it; it never moves tokens.
    /// Emits {Settled}, and {TenantSuspended} when the escrow just ran out.
    function settle(uint64 allocationId) external {
        StoredAllocation storage a = _allocations[allocationId];
        if (a.status == AllocationStatus.None) revert AllocationUnknown(allocationId);
        _settle(allocationId, a);
    }

    /// @notice Report one period's measured use of allocations on `hostId`; charges are collected at
    /// the next settlement. Each allocation's periods must increase; a period is reported once, only
    /// after it ended, and never above what the allocation's limits allow in one period.
    /// Requirements: the host's operator; every allocation on `hostId`. Emits {UsageReported}.
    function reportUsage(uint32 hostId, uint32 period, UsageReport[] calldata reports)
        external
        onlyHostOperator(hostId)
    {
        uint32 current = currentPeriod();
        if (period >= current) revert BillingPeriodNotEnded(period, current);
        MeteredPrices memory prices = _hosts[hostId].meteredPrices;
        for (uint256 i; i < reports.length; ++i) {
            _recordUsage(hostId, period, reports[i], prices);
        }
        emit UsageReported(hostId, period, reports);
    }

    /// @notice Pay the host's settled earnings to `to`.
    /// Requirements: the host's operator. Works while paused. Emits {EarningsWithdrawn}.
    function withdrawEarnings(uint32 hostId, address to)
        external
        onlyHostOperator(hostId)
        nonReentrant
        returns (uint256 amount)
    {
        if (to == address(0)) revert RegistryZeroAddress();
        amount = _earnings[hostId];
        if (amount == 0) revert BillingZeroAmount();
        _earnings[hostId] = 0;
        emit EarningsWithdrawn(hostId, to, amount);
        _token.safeTransfer(to, amount);
    }

    /// @notice Pay the accrued protocol fees to the treasury.
    /// Requirements: the treasury. Works while paused. Emits {FeesWithdrawn}.
    function withdrawFees() external nonReentrant returns (uint256 amount) {
        address treasury = _treasury;
        if (msg.sender != treasury) revert BillingNotTreasury(msg.sender);
        amount = _feesAccrued;
        if (amount == 0) revert BillingZeroAmount();
        _feesAccrued = 0;
        emit FeesWithdrawn(treasury, amount);
        _token.safeTransfer(treasury, amount);
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

    /// @notice The reserved charge per second of `resources` on `hostId` at its current prices.
    function rateOf(uint32 hostId, Resources calldata resources) external view returns (uint256) {
        return ResourcesLib.rate(resources.pack(), _hosts[hostId].reservedPrices);
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

    /// @notice The period now running; periods count from this contract's deployment.
    function currentPeriod() public view returns (uint32) {
        return _periodAt(block.timestamp);
    }

    function accountOf(address tenant) external view returns (Escrow memory acct) {
        StoredAccount storage s = _accounts[tenant];
        uint256 rate = s.ratePerSecond;
        uint256 spent = rate * block.timestamp;
        acct.balance = s.funded > spent ? s.funded - spent : 0;
        acct.ratePerSecond = rate;
        acct.paidThrough = rate == 0 ? type(uint256).max : s.funded / rate;
        acct.suspendedAt = s.suspendedAt;
        acct.withdrawable = _withdrawable(s);
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

    /// @notice Metered cost of one report line, rounded down (in the tenant's favour).
    function meteredCost(uint256 cpuMs, uint256 memoryMiBSeconds, MeteredPrices memory prices)
        public
        pure
        returns (uint256)
    {
        // Reports carry uint64 amounts and prices are uint128: the products can't overflow.
        return cpuMs * prices.cpuSecond / 1000 + memoryMiBSeconds * prices.memoryGiBSecond / 1024;
    }

    /*//////////////////////////////////////////////////////////////
                            INTERNAL: ALLOCATION
    //////////////////////////////////////////////////////////////*/

    function _request(
        address tenant,
        uint32 hostId,
        Resources calldata resources,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) internal returns (uint64 allocationId) {
        _checkResourcesNonEmpty(resources);
        uint104 req = resources.pack();
        uint256 rate;
        (allocationId, rate) = _reserveCapacity(tenant, hostId, req);
        _commitRate(tenant, rate);

        _allocations[allocationId] = StoredAllocation({
            status: AllocationStatus.Active,
            closeReason: CloseReason.None,
            resources: req,
            nextReportPeriod: currentPeriod(), // the admission period itself can be reported
            pendingMetered: 0,
            tenant: tenant,
            ratePerSecond: uint64(rate),
            lastSettled: uint32(block.timestamp)
        });

        emit AllocationRequested(allocationId, tenant, hostId, resources, uint64(rate), specHash, encryptedSpec);
    }

    /// @dev Admission, capacity half: tenant and host active, capacity free, quota left. Takes the
    /// resources from both and returns the new id and the reserved rate at the host's prices.
    function _reserveCapacity(address tenant, uint32 hostId, uint104 req)
        internal
        returns (uint64 allocationId, uint256 rate)
    {
        StoredTenant storage t = _tenants[tenant];
        if (t.status != TenantStatus.Active) revert RegistryTenantNotActive(tenant, t.status);
        StoredHost storage h = _hosts[hostId];
        if (h.status != HostStatus.Active) revert RegistryHostNotActive(hostId, h.status);

        uint104 hostUsed = h.used;
        uint104 tenantUsed = t.used;
        _checkCapacity(hostId, h.capacity, hostUsed, req);
        _checkQuota(tenant, _quotaOf(tenant, t), tenantUsed, req);
        rate = _rateWithin(req, h.reservedPrices);

        uint32 n = h.allocationCount + 1; // checked: a host holds at most 2^32 - 1 allocations ever
        allocationId = (uint64(hostId) << 32) | n;
        h.used = hostUsed + req;
        h.allocationCount = n;
        t.used = tenantUsed + req;
        t.activeAllocations += 1;
    }

    /// @dev Admission, escrow half: not suspended, and the minimum prepaid period covered at the new
    /// total rate. The new allocation's `lastSettled` is now, so `funded` grows by `rate * now`.
    /// @dev Settle, then move the allocation to `resources` with the checks of a request for the
    /// difference (capacity, quota, prepaid escrow at the new rate). Returns the new rate.
    function _resize(uint64 allocationId, StoredAllocation storage a, Resources calldata resources)
        internal
        returns (uint256 newRate)
    {
        address tenant = a.tenant;
        _checkResourcesNonEmpty(resources);
        StoredTenant storage t = _tenants[tenant];
        if (t.status != TenantStatus.Active) revert RegistryTenantNotActive(tenant, t.status);
        _settle(allocationId, a);

        uint32 hostId = _hostOf(allocationId);
        StoredHost storage h = _hosts[hostId];
        uint104 req = resources.pack();
        uint104 old = a.resources;
        uint104 hostUsed = h.used - old; // its own share counts as free
        uint104 tenantUsed = t.used - old;
        _checkCapacity(hostId, h.capacity, hostUsed, req);
        _checkQuota(tenant, _quotaOf(tenant, t), tenantUsed, req);

        newRate = _rateWithin(req, h.reservedPrices);
        StoredAccount storage acct = _accounts[tenant];
        uint256 totalRate = acct.ratePerSecond - a.ratePerSecond + newRate;
        // After settling, lastSettled == now (the tenant is solvent: checked below), so the
        // rate change moves `funded` by delta * now.
        uint256 funded = acct.funded + newRate * block.timestamp - uint256(a.ratePerSecond) * block.timestamp;
        _checkPrepaid(tenant, funded, totalRate);

        h.used = hostUsed + req;
        t.used = tenantUsed + req;
        acct.funded = uint128(funded);
        acct.ratePerSecond = uint96(totalRate);
        a.resources = req;
        a.ratePerSecond = uint64(newRate);
        emit AllocationResized(allocationId, resources, uint64(newRate));
    }

    function _commitRate(address tenant, uint256 rate) internal {
        StoredAccount storage acct = _accounts[tenant];
        if (acct.suspendedAt != 0) revert BillingTenantSuspended(tenant);
        uint256 totalRate = acct.ratePerSecond + rate;
        uint256 funded = acct.funded + rate * block.timestamp;
        _checkPrepaid(tenant, funded, totalRate);
        acct.funded = uint128(funded);
        acct.ratePerSecond = uint96(totalRate);
    }

    /// @dev Close an active allocation after it was settled (or, for a rejection, without settling):
    /// return its capacity and remove it from the tenant's escrow aggregates.
    function _close(uint64 allocationId, StoredAllocation storage a, CloseReason reason, uint16 code) internal {
        address tenant = a.tenant;
        uint104 res = a.resources;
        StoredHost storage h = _hosts[_hostOf(allocationId)];
        StoredTenant storage t = _tenants[tenant];
        StoredAccount storage acct = _accounts[tenant];
        uint256 rate = a.ratePerSecond;

        h.used -= res; // a part of the total: no lane borrows
        t.used -= res;
        t.activeAllocations -= 1;
        acct.ratePerSecond -= uint96(rate);
        acct.funded -= uint128(rate * a.lastSettled);
        if (acct.ratePerSecond == 0) acct.suspendedAt = 0; // nothing left to suspend
        a.status = AllocationStatus.Closed;
        a.closeReason = reason;
        if (reason == CloseReason.Rejected) a.lastSettled = uint32(block.timestamp); // close time, for reports
        emit AllocationClosed(allocationId, reason, code);
    }

    /*//////////////////////////////////////////////////////////////
                             INTERNAL: BILLING
    //////////////////////////////////////////////////////////////*/

    /// @dev Pay the funded part of the reserved charge since the last settlement, collect what can be
    /// collected of pending metered charges, and credit the host net of the protocol fee.
    function _settle(uint64 allocationId, StoredAllocation storage a) internal {
        address tenant = a.tenant;
        StoredAccount storage acct = _accounts[tenant];
        uint256 from = a.lastSettled;
        uint256 reserved = 0; // closed allocations owe no reserved charge
        uint256 to = from;
        if (a.status == AllocationStatus.Active) {
            (reserved, to) = _reservedDue(from, a.ratePerSecond, acct);
            if (to != from) a.lastSettled = uint32(to);
            if (to < block.timestamp) _refreshSuspension(tenant, acct);
        }
        uint256 metered = a.pendingMetered;
        if (metered != 0) {
            // Metered charges never eat into reserved charges already accrued.
            uint256 spent = uint256(acct.ratePerSecond) * block.timestamp;
            uint256 available = acct.funded > spent ? acct.funded - spent : 0;
            if (metered > available) metered = available;
            if (metered != 0) {
                a.pendingMetered -= uint96(metered);
                acct.funded -= uint128(metered);
            }
        }
        uint256 fee = 0;
        // Both parts are below 2^128 (bounded by the escrow), so neither sum nor product overflows.
        unchecked {
            uint256 total = reserved + metered;
            if (total != 0) {
                fee = total * _feeBps / _BPS;
                _earnings[_hostOf(allocationId)] += total - fee;
                if (fee != 0) _feesAccrued += fee;
            }
        }
        emit Settled(allocationId, uint32(from), uint32(to), reserved, metered);
    }

    /// @dev The reserved charge due now and the time it is paid up to: `min(now, paidThrough)`.
    function _reservedDue(uint256 from, uint256 allocationRate, StoredAccount storage acct)
        internal
        view
        returns (uint256 amount, uint256 to)
    {
        to = block.timestamp;
        uint256 rate = acct.ratePerSecond;
        if (rate != 0) {
            uint256 paidThrough = acct.funded / rate;
            if (paidThrough < to) to = paidThrough;
        }
        if (to <= from) return (0, from); // paidThrough >= lastSettled always holds; be safe
        unchecked {
            amount = allocationRate * (to - from); // < 2^64 * 2^32
        }
    }

    /// @dev Check one report line against the allocation and add its cost to the pending charge.
    function _recordUsage(uint32 hostId, uint32 period, UsageReport calldata r, MeteredPrices memory prices) internal {
        uint64 id = r.allocationId;
        if (_hostOf(id) != hostId) revert BillingWrongHost(id, hostId);
        StoredAllocation storage a = _allocations[id];
        AllocationStatus status = a.status;
        if (status == AllocationStatus.None) revert AllocationUnknown(id);
        if (period < a.nextReportPeriod) revert BillingPeriodAlreadyReported(id, period, a.nextReportPeriod);
        // A closed allocation may still report the periods it ran in.
        if (status == AllocationStatus.Closed && period > _periodAt(a.lastSettled)) {
            revert BillingPeriodAfterClose(id, period);
        }
        uint104 res = a.resources;
        uint256 maxCpuMs = uint256(uint24(res)) * _periodSeconds; // millicores x s = CPU-ms
        if (r.cpuMs > maxCpuMs) revert BillingUsageExceedsLimit(id, r.cpuMs, maxCpuMs);
        uint256 maxMemory = uint256(uint32(res >> 24)) * _periodSeconds;
        if (r.memoryMiBSeconds > maxMemory) revert BillingUsageExceedsLimit(id, r.memoryMiBSeconds, maxMemory);
        uint256 cost = meteredCost(r.cpuMs, r.memoryMiBSeconds, prices);
        a.nextReportPeriod = period + 1;
        a.pendingMetered = uint96(Math.min(uint256(a.pendingMetered) + cost, type(uint96).max));
    }

    /// @dev Mark the tenant suspended (from when its escrow ran out) if it is out of funds and not yet
    /// marked. Returns the suspension time, 0 if solvent.
    function _refreshSuspension(address tenant, StoredAccount storage acct) internal returns (uint256) {
        uint256 suspendedAt = acct.suspendedAt;
        if (suspendedAt != 0) return suspendedAt;
        uint256 rate = acct.ratePerSecond;
        if (rate == 0) return 0;
        uint256 paidThrough = acct.funded / rate;
        if (paidThrough >= block.timestamp) return 0;
        acct.suspendedAt = uint32(paidThrough);
        emit TenantSuspended(tenant, uint32(paidThrough), uint32(paidThrough + _config.gracePeriodSeconds));
        return paidThrough;
    }

    function _withdrawable(StoredAccount storage acct) internal view returns (uint256) {
        uint256 committed = uint256(acct.ratePerSecond) * (block.timestamp + _config.minPrepaidSeconds);
        return acct.funded > committed ? acct.funded - committed : 0;
    }

    /*//////////////////////////////////////////////////////////////
                             INTERNAL: CHECKS
    //////////////////////////////////////////////////////////////*/

    function _checkTenantOrDelegate(address tenant) internal view {
        if (msg.sender != tenant && !_delegates[tenant][msg.sender]) {
            revert RegistryNotTenantOrDelegate(msg.sender, tenant);
        }
    }

    function _checkHostOperator(uint32 hostId) internal view {
        StoredHost storage h = _hosts[hostId];
        if (h.operator != msg.sender) {
            // Only the failure path reads the status slot: the hot path (reports) saves a cold read.
            if (h.status == HostStatus.None) revert RegistryUnknownHost(hostId);
            revert RegistryNotHostOperator(msg.sender, hostId);
        }
    }

    function _checkPublicKey(bytes calldata publicKey) internal pure {
        if (publicKey.length != _PUBLIC_KEY_LENGTH || (publicKey[0] != 0x02 && publicKey[0] != 0x03)) {
            revert RegistryInvalidPublicKey();
        }
    }

    function _checkResourcesNonEmpty(Resources calldata r) internal pure {
        if (r.cpuMillis == 0 || r.memoryMiB == 0 || r.pids == 0) revert AllocationEmptyResources();
    }

    function _checkCapacity(uint32 hostId, uint104 capacity, uint104 used, uint104 req) internal pure {
        uint104 free = capacity.remaining(used);
        if (!req.fits(free)) revert AllocationInsufficientCapacity(hostId, req.unpack(), free.unpack());
    }

    function _checkQuota(address tenant, uint104 quota, uint104 used, uint104 req) internal pure {
        uint104 left = quota.remaining(used);
        if (!req.fits(left)) revert AllocationQuotaExceeded(tenant, req.unpack(), left.unpack());
    }

    /// @dev The escrow must cover, at the new total rate, everything up to now plus the minimum
    /// prepaid period: `funded >= rate * (now + minPrepaid)`.
    function _checkPrepaid(address tenant, uint256 funded, uint256 totalRate) internal view {
        uint256 required = totalRate * (block.timestamp + _config.minPrepaidSeconds);
        if (funded > type(uint128).max) revert BillingAmountTooLarge(funded);
        if (funded < required) {
            uint256 spent = totalRate * block.timestamp;
            revert BillingInsufficientPrepaid(
                tenant, totalRate * _config.minPrepaidSeconds, funded > spent ? funded - spent : 0
            );
        }
    }

    function _rateWithin(uint104 req, ReservedPrices storage prices) internal view returns (uint256 rate) {
        rate = req.rate(prices);
        if (rate > type(uint64).max) revert AllocationRateTooHigh(rate);
    }

    function _activeAllocation(uint64 allocationId) internal view returns (StoredAllocation storage a) {
        a = _allocations[allocationId];
        if (a.status != AllocationStatus.Active) {
            if (a.status == AllocationStatus.None) revert AllocationUnknown(allocationId);
            revert AllocationNotActive(allocationId);
        }
    }

    function _quotaOf(address tenant, StoredTenant storage t) internal view returns (uint104) {
        return t.customQuota ? _quotas[tenant] : _config.defaultQuota;
    }

    function _hostOf(uint64 allocationId) internal pure returns (uint32) {
        return uint32(allocationId >> 32);
    }

    function _periodAt(uint256 timestamp) internal view returns (uint32) {
        return uint32((timestamp - _genesis) / _periodSeconds);
    }
}
