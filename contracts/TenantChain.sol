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
    /// @param disputePeriods_ Periods after a period closed to reports during which its usage can be
    /// disputed (and before which it isn't charged).
    /// @param reportGracePeriods_ Periods after a period's end during which it can be reported (the
    /// orchestrator's catch-up bound); later reports are refused.
    constructor(
        address admin,
        IERC20 token_,
        uint32 periodSeconds_,
        uint16 feeBps_,
        uint32 disputePeriods_,
        uint32 reportGracePeriods_,
        uint32 minPrepaidSeconds,
        uint32 gracePeriodSeconds,
        Resources memory defaultQuota
    ) TenantChainBase(admin, token_, periodSeconds_, feeBps_, disputePeriods_, reportGracePeriods_) {
        // A token must at least answer the ERC20 views (an EOA or a non-token would take deposits' calls).
        (bool ok, bytes memory answer) = address(token_).staticcall(abi.encodeCall(IERC20.totalSupply, ()));
        if (!ok || answer.length < 32 || address(token_).code.length == 0) revert RegistryInvalidToken(address(token_));
        _extension = address(
            new TenantChainExtension(admin, token_, periodSeconds_, feeBps_, disputePeriods_, reportGracePeriods_)
        );
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

    /// @notice Request `resources` on `hostId` for the caller, at no more than `maxRatePerSecond` reserved
    /// (the quote of {rateOf}) and `maxMetered` metered prices: the prices the allocation then pays for
    /// its whole life (reserved ones until the tenant resizes).
    /// Requirements: not paused; an active tenant, not suspended for lack of funds; an active host with
    /// the free capacity and the bond it requires; within the tenant's quota; the rate and metered prices
    /// within the bounds; an escrow that covers the minimum prepaid period at the new total rate.
    /// Emits {AllocationTermsSet} and {AllocationRequested}.
    /// @param encryptedSpec The workload spec, ECIES-encrypted to the host's key; logged, not stored.
    function requestAllocation(
        uint32 hostId,
        Resources calldata resources,
        uint64 maxRatePerSecond,
        MeteredPrices calldata maxMetered,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external whenNotPaused returns (uint64) {
        return _request(msg.sender, hostId, resources, maxRatePerSecond, maxMetered, specHash, encryptedSpec);
    }

    /// @notice {requestAllocation} by a delegate of `tenant`, charged to `tenant`.
    function requestAllocationFor(
        address tenant,
        uint32 hostId,
        Resources calldata resources,
        uint64 maxRatePerSecond,
        MeteredPrices calldata maxMetered,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) external whenNotPaused returns (uint64) {
        _checkTenantOrDelegate(tenant);
        return _request(tenant, hostId, resources, maxRatePerSecond, maxMetered, specHash, encryptedSpec);
    }

    /// @notice Change an allocation's resources in place (up or down), re-priced whole at the host's
    /// quote of the moment, at most `maxRatePerSecond`; settles it first. Metered prices don't change.
    /// Requirements: not paused; the tenant or a delegate; active; the same checks as a request for the
    /// difference. Emits {Settled}, {AllocationTermsSet} and {AllocationResized}.
    function resizeAllocation(uint64 allocationId, Resources calldata resources, uint64 maxRatePerSecond)
        external
        whenNotPaused
    {
        StoredAllocation storage a = _activeAllocation(allocationId);
        _checkTenantOrDelegate(a.tenant);
        uint104 req = resources.pack();
        StoredHost storage h = _hosts[_hostOf(allocationId)];
        ReservedPrices memory q = _quotePrices(h, h.used - a.resources, req);
        uint256 rate = req.rate(q);
        _checkMaxRate(rate, maxRatePerSecond);
        _resize(allocationId, a, resources, q, rate);
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
        a.pendingMetered = 0; // a rejected allocation is never charged: not even what was claimed
        _close(allocationId, a, CloseReason.Rejected, code);
    }

    /// @notice Release an allocation whose tenant ran out of funds and did not top up within the grace
    /// period. Anyone (a keeper) may call it. Requirements: active; grace over.
    /// Emits {TenantSuspended} (if not yet), {Settled} and {AllocationClosed}.
    /// Not while paused: a tenant may be unable to top up through an emergency stop.
    function expireAllocation(uint64 allocationId) external whenNotPaused {
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

    /// @notice An automatic resize by the host's operator, inside the tenant's policy. What the allocation
    /// keeps stays at its agreed prices; only what it gains is priced, at the host's quote of the moment.
    /// Requirements: not paused; the host's operator; active; a policy; one cooldown since the last
    /// automatic resize; `resources` within the bounds and its rate within the ceiling; then every
    /// check of {resizeAllocation}. Emits {Settled}, {AllocationTermsSet}, {AllocationResized} and
    /// {AllocationAutoResized}.
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
        uint104 previous = a.resources;
        ReservedPrices memory q = _grownPrices(allocationId, previous, req);
        uint256 rate = req.rate(q);
        if (rate > ceiling) revert ScalingRateAboveCeiling(allocationId, rate, ceiling);
        p.lastAutoResize = uint32(block.timestamp);
        _resize(allocationId, a, resources, q, rate);
        emit AllocationAutoResized(_hostOf(allocationId), allocationId, previous.unpack(), resources);
    }

    /// @dev Per-unit prices after an automatic resize from `old` to `req`: per resource, the kept units
    /// at the agreed price and the added ones at the quote for the added part alone (beside everything in
    /// use, the kept part included) but never above the agreed price, averaged and rounded down. So an
    /// operator's action never raises what a unit costs the tenant: a spiked quote can't be blended into
    /// the kept units and kept after a shrink.
    function _grownPrices(uint64 allocationId, uint104 old, uint104 req) internal view returns (ReservedPrices memory q) {
        ReservedPrices memory agreed = _reservedTerms[allocationId];
        uint104 kept = _laneMin(old, req);
        uint104 added = req - kept; // lane-wise: req >= kept, so no lane borrows
        if (added == 0) return agreed;
        StoredHost storage h = _hosts[_hostOf(allocationId)];
        ReservedPrices memory quote = _quotePrices(h, h.used - old + kept, added);
        q.cpuMilli = _blend(agreed.cpuMilli, quote.cpuMilli, uint24(kept), uint24(added));
        q.memoryMiB = _blend(agreed.memoryMiB, quote.memoryMiB, uint32(kept >> 24), uint32(added >> 24));
        q.storageGiB = _blend(agreed.storageGiB, quote.storageGiB, uint24(kept >> 56), uint24(added >> 56));
        q.pid = _blend(agreed.pid, quote.pid, uint24(kept >> 80), uint24(added >> 80));
    }

    function _blend(uint64 keptPrice, uint64 addedPrice, uint256 kept, uint256 added) private pure returns (uint64) {
        if (added == 0) return keptPrice;
        if (addedPrice > keptPrice) addedPrice = keptPrice;
        // A weighted mean of two uint64 prices fits in uint64.
        return uint64((keptPrice * kept + addedPrice * added) / (kept + added));
    }

    function _laneMin(uint104 a, uint104 b) private pure returns (uint104) {
        return uint104(
            Math.min(uint24(a), uint24(b)) | (Math.min(uint32(a >> 24), uint32(b >> 24)) << 24)
                | (Math.min(uint24(a >> 56), uint24(b >> 56)) << 56) | (Math.min(uint24(a >> 80), uint24(b >> 80)) << 80)
        );
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
    /// the escrow covers the debt and the minimum prepaid period. Works while paused (money may come in).
    /// Requirements: a registered, not closed tenant; the caller approved `amount`; a token that moves
    /// exactly `amount` (no fee on transfer). Emits {Deposited} and maybe {TenantResumed}.
    function deposit(address tenant, uint256 amount) external nonReentrant {
        if (amount == 0) revert BillingZeroAmount();
        TenantStatus status = _tenants[tenant].status;
        if (status == TenantStatus.None || status == TenantStatus.Closed) revert RegistryTenantNotActive(tenant, status);
        StoredAccount storage acct = _accounts[tenant];
        uint256 funded = acct.funded + amount;
        if (funded > type(uint128).max) revert BillingAmountTooLarge(amount);
        acct.funded = uint128(funded);
        emit Deposited(tenant, msg.sender, amount);
        if (acct.suspendedAt != 0) _resumeIfSolvent(tenant, acct);
        _pullExactly(amount);
    }

    /// @dev Take `amount` from the caller and check that exactly that arrived (the only interaction,
    /// after every state change: a token that charges a fee would make the books promise more than held).
    function _pullExactly(uint256 amount) internal {
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received != amount) revert BillingTokenAmountMismatch(amount, received);
    }

    /// @notice Withdraw escrow that is neither spent, accrued, reserved as the minimum prepaid period,
    /// nor held back for metered charges that claims may still bring.
    /// Requirements: `amount` > 0 and at most {accountOf}.withdrawable. Works while paused.
    /// Emits {Withdrawn}.
    function withdraw(uint256 amount, address to) external nonReentrant {
        if (amount == 0) revert BillingZeroAmount();
        if (to == address(0)) revert RegistryZeroAddress();
        StoredAccount storage acct = _accounts[msg.sender];
        uint256 available = _withdrawable(acct, _exposures[msg.sender]);
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

    /// @notice {settle} each of `allocationIds` in one transaction: a host's keeper settles all of its
    /// allocations at once, when its operator is about to withdraw, instead of one transaction each.
    /// The caller chooses (and pays for) the list. Requirements: every id known.
    /// Emits {Settled} per allocation, and {TenantSuspended} where an escrow just ran out.
    function settleMany(uint64[] calldata allocationIds) external {
        for (uint256 i; i < allocationIds.length; ++i) {
            uint64 id = allocationIds[i];
            StoredAllocation storage a = _allocations[id];
            if (a.status == AllocationStatus.None) revert AllocationUnknown(id);
            _settle(id, a);
        }
    }

    /// @notice Report one period's measured use of allocations on `hostId`, and claim the final period
    /// that this report's slot held. The report commits its lines; they are charged by the claim once
    /// final ({finalFrom}: the period closes to batches `reportGracePeriods` after it ended, then
    /// `disputePeriods` pass), then collected by the next settlement. A period may be reported in several
    /// batches until it closes; periods only move forward per slot.
    /// @param claims Every line of the period held in this report's slot, in the order reported (empty
    /// forfeits the held period's charges).
    /// Requirements: the host's operator; an ended period, not closed to reports; for a retired host, a
    /// period it served; not older than what its slot holds, nor a period already claimed; `claims`
    /// matching the held digest. Emits {UsageReported}, and {UsageLineDropped} for rule-breaking lines.
    function reportUsage(uint32 hostId, uint32 period, uint256[] calldata lines, uint256[] calldata claims)
        external
        onlyHostOperator(hostId)
    {
        uint32 current = currentPeriod();
        if (period >= current) revert BillingPeriodNotEnded(period, current);
        uint32 closedAt = period + _reportGracePeriods + 1;
        if (current >= closedAt) revert UsageReportTooLate(period, closedAt);
        if (_hosts[hostId].status == HostStatus.Retired && period > _retiredAt[hostId]) {
            revert UsageHostRetired(hostId, period, _retiredAt[hostId]);
        }
        uint256 key = _usageKey(hostId, period);
        uint256 slot = _usageSlots[key];
        uint32 held = uint32(slot);
        uint256 digest = 0;
        uint256 flags = _USED_BIT | _HELD_BIT;
        // The slot's period decides, whatever its digest (an empty report has digest 0).
        if (held > period) revert UsageReportOutOfOrder(hostId, period, held);
        if (slot & _HELD_BIT != 0) {
            if (held == period) {
                if (claims.length != 0) revert UsageClaimMismatch(hostId, period);
                digest = slot & UsageDigestLib.DIGEST_MASK; // a further batch of the same period
                flags = slot & (_VOIDS_BIT | _USED_BIT | _HELD_BIT);
            } else if (claims.length != 0) {
                // held + ring <= period < current: the held period is final.
                uint32 claimClosesAt = _claimClosesAt(held);
                if (current >= claimClosesAt) revert UsageClaimClosed(held, claimClosesAt);
                _claim(hostId, held, slot, claims);
            }
        } else {
            // Claimed (or never written: period 0 of a fresh slot). A claimed period is taken for good.
            if (slot & _CLAIMED_BIT != 0 && held == period) revert UsageReportOutOfOrder(hostId, period, held);
            if (claims.length != 0) revert UsageNothingToClaim(hostId, period);
        }
        _usageSlots[key] = UsageDigestLib.extend(digest, lines) | flags | period;
        emit UsageReported(hostId, period, lines);
    }

    /// @notice Charge a reported period's lines once final, when no later report claims it (the host
    /// stopped reporting). Requirements: the host's operator; the period held and unclaimed; final and
    /// not past its claim deadline; `claims` matching its digest. Emits {UsageLineDropped} for
    /// rule-breaking lines.
    function claimUsage(uint32 hostId, uint32 period, uint256[] calldata claims)
        external
        onlyHostOperator(hostId)
    {
        uint256 key = _usageKey(hostId, period);
        uint256 slot = _usageSlots[key];
        if (uint32(slot) != period || slot & _HELD_BIT == 0) revert UsageNothingToClaim(hostId, period);
        uint32 current = currentPeriod();
        uint32 finalFrom_ = _finalFrom(period);
        if (current < finalFrom_) revert UsageNotFinal(period, finalFrom_);
        uint32 claimClosesAt = _claimClosesAt(period);
        if (current >= claimClosesAt) revert UsageClaimClosed(period, claimClosesAt);
        _usageSlots[key] = _USED_BIT | _CLAIMED_BIT | period;
        _claim(hostId, period, slot, claims);
    }

    /// @notice Pay the host's settled earnings to `to`.
    /// Requirements: not paused (nothing leaves to an operator in an emergency); the host's operator.
    /// Emits {EarningsWithdrawn}.
    function withdrawEarnings(uint32 hostId, address to)
        external
        whenNotPaused
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
        return _cost(cpuMs, memoryMiBSeconds, prices.cpuSecond, prices.memoryGiBSecond);
    }

    /*//////////////////////////////////////////////////////////////
                             INTERNAL: ALLOCATION
    //////////////////////////////////////////////////////////////*/

    function _request(
        address tenant,
        uint32 hostId,
        Resources calldata resources,
        uint64 maxRatePerSecond,
        MeteredPrices calldata maxMetered,
        bytes32 specHash,
        bytes calldata encryptedSpec
    ) internal returns (uint64 allocationId) {
        _checkResourcesNonEmpty(resources);
        uint104 req = resources.pack();
        uint256 rate;
        ReservedPrices memory q;
        (allocationId, rate, q) = _reserveCapacity(tenant, hostId, req);
        _checkMaxRate(rate, maxRatePerSecond);
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
        MeteredPrices memory m = _agreeMetered(hostId, maxMetered);
        _reservedTerms[allocationId] = q;
        MeterTerms storage terms = _meterTerms[allocationId];
        (terms.cpuSecond, terms.memoryGiBSecond) = (uint96(m.cpuSecond), uint96(m.memoryGiBSecond));
        (terms.peakCpuMillis, terms.peakMemoryMiB) = (resources.cpuMillis, resources.memoryMiB);
        _meters[allocationId].heldAt = uint32(block.timestamp);
        _addExposure(tenant, _meteredRate(terms));
        _checkPrepaid(tenant);

        emit AllocationTermsSet(hostId, allocationId, q, m);
        emit AllocationRequested(hostId, allocationId, tenant, resources, uint64(rate), specHash, encryptedSpec);
    }

    /// @dev The host's metered prices, which the allocation pays for its whole life: within the tenant's
    /// bound, and within 96 bits each (what the terms keep).
    function _agreeMetered(uint32 hostId, MeteredPrices calldata maxMetered) internal view returns (MeteredPrices memory m) {
        m = _hosts[hostId].meteredPrices;
        if (m.cpuSecond > maxMetered.cpuSecond || m.memoryGiBSecond > maxMetered.memoryGiBSecond) {
            revert AllocationMeteredAboveMax(m, maxMetered);
        }
        if (m.cpuSecond > type(uint96).max || m.memoryGiBSecond > type(uint96).max) {
            revert AllocationRateTooHigh(Math.max(m.cpuSecond, m.memoryGiBSecond));
        }
    }

    /// @dev Admission, capacity half: tenant and host active, the host's bond whole, capacity free, quota
    /// left. Takes the resources from both and returns the new id, the reserved rate and its prices.
    function _reserveCapacity(address tenant, uint32 hostId, uint104 req)
        internal
        returns (uint64 allocationId, uint256 rate, ReservedPrices memory q)
    {
        StoredTenant storage t = _tenants[tenant];
        if (t.status != TenantStatus.Active) revert RegistryTenantNotActive(tenant, t.status);
        StoredHost storage h = _hosts[hostId];
        if (h.status != HostStatus.Active) revert RegistryHostNotActive(hostId, h.status);
        if (h.bondShort) revert AllocationHostBondShort(hostId);

        uint104 hostUsed = h.used;
        uint104 tenantUsed = t.used;
        _checkCapacity(hostId, h.capacity, hostUsed, req);
        _checkQuota(tenant, _quotaOf(tenant, t), tenantUsed, req);
        q = _quotePrices(h, hostUsed, req);
        rate = req.rate(q);
        if (rate == 0) revert AllocationZeroRate();

        uint32 n = h.allocationCount + 1; // checked: a host holds at most 2^32 - 1 allocations ever
        allocationId = (uint64(hostId) << 32) | n;
        h.used = hostUsed + req;
        h.allocationCount = n;
        t.used = tenantUsed + req;
        t.activeAllocations += 1;
    }

    /// @dev Settle, then move the allocation to `resources` at prices `q` and rate `newRate` (their
    /// product), with the checks of a request for the difference (capacity, quota, prepaid escrow at
    /// the new rate). Folds the resources held so far into the meter and raises the peak.
    function _resize(
        uint64 allocationId,
        StoredAllocation storage a,
        Resources calldata resources,
        ReservedPrices memory q,
        uint256 newRate
    ) internal {
        address tenant = a.tenant;
        _checkResourcesNonEmpty(resources);
        if (newRate > type(uint64).max) revert AllocationRateTooHigh(newRate);
        if (newRate == 0) revert AllocationZeroRate();
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

        _moveRate(tenant, a.ratePerSecond, newRate);
        h.used = hostUsed + req;
        t.used = tenantUsed + req;
        _foldHeld(allocationId, old);
        a.resources = req;
        a.ratePerSecond = uint64(newRate);
        _reservedTerms[allocationId] = q;
        _resizeTerms(allocationId, tenant, req);
        _checkPrepaid(tenant);
        emit AllocationResized(hostId, allocationId, resources, uint64(newRate));
    }

    /// @dev The escrow half of a resize: after settling, lastSettled == now (the tenant is solvent: the
    /// resize checks it at the end), so the rate change moves `funded` by delta * now.
    function _moveRate(address tenant, uint256 oldRate, uint256 newRate) internal {
        StoredAccount storage acct = _accounts[tenant];
        uint256 totalRate = acct.ratePerSecond - oldRate + newRate;
        uint256 funded = acct.funded + newRate * block.timestamp - oldRate * block.timestamp;
        if (funded > type(uint128).max) revert BillingAmountTooLarge(funded);
        acct.funded = uint128(funded);
        acct.ratePerSecond = uint96(totalRate);
    }

    /// @dev The metered half of a resize: the peak rises, the exposure follows the peak; the metered
    /// prices stay what was agreed at admission. Emits {AllocationTermsSet}.
    function _resizeTerms(uint64 allocationId, address tenant, uint104 req) internal {
        MeterTerms storage terms = _meterTerms[allocationId];
        uint256 oldMetered = _meteredRate(terms);
        if (uint24(req) > terms.peakCpuMillis) terms.peakCpuMillis = uint24(req);
        if (uint32(req >> 24) > terms.peakMemoryMiB) terms.peakMemoryMiB = uint32(req >> 24);
        Exposure storage x = _exposures[tenant];
        uint256 total = x.meteredRate - oldMetered + _meteredRate(terms);
        if (total > type(uint96).max) revert AllocationRateTooHigh(total);
        x.meteredRate = uint96(total);
        emit AllocationTermsSet(
            _hostOf(allocationId),
            allocationId,
            _reservedTerms[allocationId],
            MeteredPrices(terms.cpuSecond, terms.memoryGiBSecond)
        );
    }

    /// @dev Admission, escrow half: not suspended; the new allocation's `lastSettled` is now, so `funded`
    /// grows by `rate * now`. The request checks the prepaid cover once its exposure is known.
    function _commitRate(address tenant, uint256 rate) internal {
        StoredAccount storage acct = _accounts[tenant];
        if (acct.suspendedAt != 0 && !_resumeIfSolvent(tenant, acct)) revert BillingTenantSuspended(tenant);
        uint256 totalRate = acct.ratePerSecond + rate;
        uint256 funded = acct.funded + rate * block.timestamp;
        if (funded > type(uint128).max) revert BillingAmountTooLarge(funded);
        acct.funded = uint128(funded);
        acct.ratePerSecond = uint96(totalRate);
    }

    function _addExposure(address tenant, uint256 meteredRate) internal {
        Exposure storage x = _exposures[tenant];
        uint256 total = x.meteredRate + meteredRate;
        if (total > type(uint96).max) revert AllocationRateTooHigh(total);
        x.meteredRate = uint96(total);
    }

    /// @dev Add the resources held since `heldAt` (at size `res`) to the allocation's meter, up to now; the
    /// first fold in a period first marks the meter as it stood at the period's start. Saturates instead
    /// of reverting: a release must always go through.
    function _foldHeld(uint64 allocationId, uint104 res) internal {
        Meter storage m = _meters[allocationId];
        uint256 heldAt = m.heldAt;
        uint32 current = currentPeriod();
        uint256 key = _markKey(allocationId, current);
        if (_meterMarks[key].period != current) {
            uint256 start = _genesis + uint256(current) * _periodSeconds;
            // heldAt after the start, with no mark yet: the allocation was admitted in this period.
            uint256 before = start > heldAt ? start - heldAt : 0;
            _meterMarks[key] = MeterMark({
                heldCpuMs: _sat56(m.heldCpuMs + uint256(uint24(res)) * before),
                heldMemoryMiBSeconds: _sat56(m.heldMemoryMiBSeconds + uint256(uint32(res >> 24)) * before),
                cpuMillis: uint24(res),
                memoryMiB: uint32(res >> 24),
                period: current,
                previous: before != 0 ? _periodAt(heldAt) : _NO_MARK
            });
        }
        uint256 dt = block.timestamp - heldAt;
        m.heldCpuMs = _sat56(m.heldCpuMs + uint256(uint24(res)) * dt);
        m.heldMemoryMiBSeconds = _sat56(m.heldMemoryMiBSeconds + uint256(uint32(res >> 24)) * dt);
        m.heldAt = uint32(block.timestamp);
    }

    function _sat56(uint256 x) private pure returns (uint56) {
        return x > type(uint56).max ? type(uint56).max : uint56(x);
    }

    /// @dev Close an active allocation after it was settled (or, for a rejection, without settling):
    /// return its capacity, remove it from the tenant's escrow aggregates, and (unless rejected: never
    /// charged) hold back what claims may still charge for it.
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
        _foldHeld(allocationId, res);

        Exposure storage x = _exposures[tenant];
        uint256 metered = _meteredRate(_meterTerms[allocationId]);
        x.meteredRate -= uint96(metered);
        if (reason != CloseReason.Rejected) {
            // Held back until the last period it ran in can no longer be claimed (older closes wait too).
            uint256 closed = x.closedUntil > block.timestamp ? x.closed : 0;
            closed += metered * _exposureSeconds();
            x.closed = uint128(Math.min(closed, type(uint128).max));
            x.closedUntil = uint32(_genesis + uint256(_claimClosesAt(currentPeriod())) * _periodSeconds);
        }
        emit AllocationClosed(_hostOf(allocationId), allocationId, reason, code);
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
    /// line adds its cost (at the allocation's agreed prices) to its allocation's pending charge, unless
    /// the market voided it; each charge is collected at once (a settlement of its allocation).
    function _claim(uint32 hostId, uint32 period, uint256 slot, uint256[] calldata lines) internal {
        if (UsageDigestLib.extend(0, lines) != slot & UsageDigestLib.DIGEST_MASK) revert UsageClaimMismatch(hostId, period);
        bool voids = slot & _VOIDS_BIT != 0;
        uint32 dropped = 0;
        for (uint256 i; i < lines.length; ++i) {
            if (!_chargeLine(hostId, period, lines[i], voids)) {
                ++dropped;
                emit UsageLineDropped(uint64(lines[i] >> 128), period);
            }
        }
        if (dropped != 0) _hosts[hostId].dropped += dropped;
    }

    /// @dev Check one claimed line against the rules ({lineCost}'s, and the allocation's aggregate bound:
    /// all it was ever charged for stays within what it held until the period's end) and add its cost to
    /// the pending charge unless it was voided. False when the line breaks a rule.
    function _chargeLine(uint32 hostId, uint32 period, uint256 line, bool voids) internal returns (bool) {
        (bool ok, uint256 cost) = _lineCost(hostId, period, line);
        if (!ok) return false;
        uint64 id = uint64(line >> 128);
        StoredAllocation storage a = _allocations[id];
        if (!_useHeld(id, a, _meters[id], period, line)) return false;
        a.nextReportPeriod = period + 1;
        // A voided line still counts against the bound: the market settled it, the tenant paid or not.
        if (voids && _voided[(uint256(id) << 32) | period]) return true;
        a.pendingMetered = uint96(Math.min(uint256(a.pendingMetered) + cost, type(uint96).max));
        // Collected at once: a withdrawal between claim and settlement would otherwise take it.
        _settle(id, a);
        return true;
    }

    /// @dev Charge the line's amounts against what the allocation held until the period's end; false
    /// (nothing changed) when they don't fit.
    function _useHeld(uint64 id, StoredAllocation storage a, Meter storage m, uint32 period, uint256 line)
        internal
        returns (bool)
    {
        (bool fits, uint256 usedCpu, uint256 usedMemory) = _fitsHeld(id, a, m, period, line);
        if (!fits) return false;
        // Within what was held, which fits 56 bits but for absurd sizes (2^24 s at 4 PiB of memory): saturated
        // like the held totals, never wrapped.
        (m.usedCpuMs, m.usedMemoryMiBSeconds) = (_sat56(usedCpu), _sat56(usedMemory));
        return true;
    }
}
