// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {TenantChainBase} from "./TenantChainBase.sol";
import {TenantChainExtension} from "./TenantChainExtension.sol";
import {ResourcesLib} from "./libraries/ResourcesLib.sol";
import {UsageDigestLib} from "./libraries/UsageDigestLib.sol";

/// @title TenantChain
/// @notice Registry, allocation and billing of multi-tenant cloud resources, at one address (its whole
/// interface is ITenantChain).
/// @dev One deployment rather than three contracts: admitting an allocation reads and writes the host's
/// capacity, the tenant's quota and the tenant's escrow together, and cross-contract calls would cost
/// more than the whole gas budget of a request. Its code is in two halves to stay under EIP-170's
/// 24,576 bytes: this contract keeps the hot paths (requests, resizes, reports, settlement, escrow
/// moves); every other selector (registration, administration, views) runs TenantChainExtension's
/// code on this contract's storage (delegatecall), at ~2,600 gas more per call.
contract TenantChain is TenantChainBase {
    using SafeERC20 for IERC20;
    using ResourcesLib for Resources;
    using ResourcesLib for uint104;

    /// @dev The other half of the code; deployed by this constructor, so it can't be swapped.
    address internal immutable _extension;

    /*//////////////////////////////////////////////////////////////
                                 CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param token_ The ERC20 of the escrow (standard: no fee on transfer, no rebasing).
    /// @param periodSeconds_ Length of a usage-report period.
    /// @param feeBps_ Protocol fee on every settlement, in basis points (at most MAX_FEE_BPS).
    /// @param disputePeriods_ Periods after a period's end during which its usage can be disputed (and
    /// before which it isn't charged).
    constructor(
        address admin,
        IERC20 token_,
        uint32 periodSeconds_,
        uint16 feeBps_,
        uint32 disputePeriods_,
        uint32 minPrepaidSeconds,
        uint32 gracePeriodSeconds,
        Resources memory defaultQuota
    ) TenantChainBase(admin, token_, periodSeconds_, feeBps_, disputePeriods_) {
        _extension = address(new TenantChainExtension(admin, token_, periodSeconds_, feeBps_, disputePeriods_));
        _config.minPrepaidSeconds = minPrepaidSeconds;
        _config.gracePeriodSeconds = gracePeriodSeconds;
        _config.defaultQuota = defaultQuota.pack();
        _treasury = admin;
        emit ParametersSet(minPrepaidSeconds, gracePeriodSeconds, admin);
        emit DefaultQuotaSet(defaultQuota);
    }

    /// @dev Any other selector: TenantChainExtension's code on this storage. Not payable.
    fallback() external {
        address extension = _extension;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), extension, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
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
        _hosts[_hostOf(allocationId)].rejected += 1;
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
                                   SCALING
    //////////////////////////////////////////////////////////////*/

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
        StoredHost storage h = _hosts[_hostOf(allocationId)];
        uint256 rate = _admissionRate(h, h.used - a.resources, req);
        if (rate > ceiling) revert ScalingRateAboveCeiling(allocationId, rate, ceiling);
        uint104 previous = a.resources;
        p.lastAutoResize = uint32(block.timestamp);
        _resize(allocationId, a, resources);
        emit AllocationAutoResized(allocationId, previous.unpack(), resources);
    }

    /// @dev The least time between two automatic resizes of one allocation: half a billing period, so
    /// that a workload can double twice within one period and a bill sees few sizes per period.
    function _scalingCooldown() internal view returns (uint32) {
        return _periodSeconds / 2;
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

    /// @notice Report one period's measured use of allocations on `hostId`, and claim the final period
    /// that this report's slot held. The report commits its lines; they are charged by the claim once
    /// the dispute window is over (`disputePeriods` periods after the period), then collected by the
    /// next settlement. A period may be reported in several batches; periods only move forward per slot.
    /// @param claims Every line of the period held in this report's slot, in the order reported (empty
    /// when the slot holds nothing to claim; empty for a held period forfeits its charges).
    /// Requirements: the host's operator; an ended period; not older than what its slot holds; `claims`
    /// matching the held digest. Emits {UsageReported}, and {UsageLineDropped} for rule-breaking lines.
    function reportUsage(uint32 hostId, uint32 period, uint256[] calldata lines, uint256[] calldata claims)
        external
        onlyHostOperator(hostId)
    {
        uint32 current = currentPeriod();
        if (period >= current) revert BillingPeriodNotEnded(period, current);
        uint256 key = _usageKey(hostId, period);
        uint256 slot = _usageSlots[key];
        uint256 digest = 0;
        uint256 flags = _USED_BIT;
        if (slot & UsageDigestLib.DIGEST_MASK != 0) {
            uint32 held = uint32(slot);
            if (held == period) {
                if (claims.length != 0) revert UsageClaimMismatch(hostId, period);
                digest = slot & UsageDigestLib.DIGEST_MASK; // a further batch of the same period
                flags = slot & (_VOIDS_BIT | _USED_BIT);
            } else if (held > period) {
                revert UsageReportOutOfOrder(hostId, period, held);
            } else if (claims.length != 0) {
                // held + disputePeriods <= period < current: the held period is final.
                _claim(hostId, held, slot, claims);
            }
        } else {
            if (slot & _CLAIMED_BIT != 0 && uint32(slot) >= period) revert UsageReportOutOfOrder(hostId, period, uint32(slot));
            if (claims.length != 0) revert UsageNothingToClaim(hostId, period);
        }
        _usageSlots[key] = UsageDigestLib.extend(digest, lines) | flags | period;
        emit UsageReported(hostId, period, lines);
    }

    /// @notice Charge a reported period's lines once its dispute window is over, when no later report
    /// claims it (the host stopped reporting). Requirements: the host's operator; the period held and
    /// unclaimed; final; `claims` matching its digest. Emits {UsageLineDropped} for rule-breaking lines.
    function claimUsage(uint32 hostId, uint32 period, uint256[] calldata claims)
        external
        onlyHostOperator(hostId)
    {
        uint256 key = _usageKey(hostId, period);
        uint256 slot = _usageSlots[key];
        if (uint32(slot) != period || slot & UsageDigestLib.DIGEST_MASK == 0) revert UsageNothingToClaim(hostId, period);
        uint32 finalFrom = period + _disputePeriods + 1;
        if (currentPeriod() < finalFrom) revert UsageNotFinal(period, finalFrom);
        _usageSlots[key] = _USED_BIT | _CLAIMED_BIT | period;
        _claim(hostId, period, slot, claims);
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

    /// @notice The period now running; periods count from this contract's deployment.
    function currentPeriod() public view returns (uint32) {
        return _periodAt(block.timestamp);
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
        rate = _admissionRate(h, hostUsed, req);

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

        newRate = _admissionRate(h, hostUsed, req);
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

    /// @dev Charge the lines of `period`, a final period whose digest `slot` holds: each rule-abiding
    /// line adds its cost to its allocation's pending charge, unless the market voided it.
    function _claim(uint32 hostId, uint32 period, uint256 slot, uint256[] calldata lines) internal {
        if (UsageDigestLib.extend(0, lines) != slot & UsageDigestLib.DIGEST_MASK) revert UsageClaimMismatch(hostId, period);
        bool voids = slot & _VOIDS_BIT != 0;
        MeteredPrices memory prices = _hosts[hostId].meteredPrices;
        uint32 dropped = 0;
        for (uint256 i; i < lines.length; ++i) {
            if (!_chargeLine(hostId, period, lines[i], prices, voids)) {
                ++dropped;
                emit UsageLineDropped(uint64(lines[i] >> 128), period);
            }
        }
        if (dropped != 0) _hosts[hostId].dropped += dropped;
    }

    /// @dev Check one claimed line against its allocation and add its cost to the pending charge unless
    /// it was voided. False when the line breaks a rule.
    function _chargeLine(uint32 hostId, uint32 period, uint256 line, MeteredPrices memory prices, bool voids)
        internal
        returns (bool)
    {
        uint64 id = uint64(line >> 128);
        uint256 cpuMs = uint64(line >> 64);
        uint256 memoryMiBSeconds = uint64(line);
        if (line >> 192 != 0 || _hostOf(id) != hostId) return false;
        StoredAllocation storage a = _allocations[id];
        AllocationStatus status = a.status;
        if (status == AllocationStatus.None || period < a.nextReportPeriod) return false;
        // A closed allocation may still be charged for the periods it ran in.
        if (status == AllocationStatus.Closed && period > _periodAt(a.lastSettled)) return false;
        uint104 res = a.resources;
        if (cpuMs > uint256(uint24(res)) * _periodSeconds) return false; // millicores x s = CPU-ms
        if (memoryMiBSeconds > uint256(uint32(res >> 24)) * _periodSeconds) return false;
        uint256 cost = meteredCost(cpuMs, memoryMiBSeconds, prices);
        a.nextReportPeriod = period + 1;
        if (voids && _voided[(uint256(id) << 32) | period]) return true;
        a.pendingMetered = uint96(Math.min(uint256(a.pendingMetered) + cost, type(uint96).max));
        return true;
    }
}
