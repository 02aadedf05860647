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
import {IUsage} from "./interfaces/IUsage.sol";
import {ResourcesLib} from "./libraries/ResourcesLib.sol";

/// @title TenantChainBase
/// @notice The storage, parameters and shared checks of a TenantChain deployment, inherited by its two
/// code halves: TenantChain (the hot paths, at the deployment's address) and TenantChainExtension (the
/// rest, run by TenantChain on its own storage through a delegatecall). One layout, declared once.
///
/// Escrow accounting. Each tenant has one escrow shared by its allocations. Instead of the balance it
/// stores `funded = balance + sum(rate_i * lastSettled_i)` and `rate = sum(rate_i)`, so that the escrow
/// runs out at `paidThrough = funded / rate` and settling one allocation (paying `rate_i * (t -
/// lastSettled_i)` for `t <= paidThrough`) leaves the tenant's record untouched: every allocation is
/// always funded up to `paidThrough`, and settlement costs one allocation slot and one earnings slot.
/// Rounding (`funded / rate`, metered costs) is always down, in the tenant's favour.
abstract contract TenantChainBase is IRegistry, IAllocation, IBilling, IScaling, IUsage, Ownable2Step, ReentrancyGuard {
    using ResourcesLib for Resources;
    using ResourcesLib for uint104;

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    uint16 public constant MAX_FEE_BPS = 1_000; // 10%
    uint16 internal constant _BPS = 10_000;
    uint256 internal constant _PUBLIC_KEY_LENGTH = 33; // compressed secp256k1
    uint32 public constant MAX_DISPUTE_PERIODS = 64;
    /// @dev A usage slot's flag bits (32..39): the held period has voided lines; the slot
    /// was written once (kept non-zero so that reports pay 2,900 gas for it, not 22,100).
    uint256 internal constant _VOIDS_BIT = 1 << 32;
    uint256 internal constant _CLAIMED_BIT = 1 << 33; // claimed on its own: the period stays taken
    uint256 internal constant _HELD_BIT = 1 << 34; // holds the period's report, not claimed yet
    uint256 internal constant _USED_BIT = 1 << 39;
    uint32 internal constant _NO_MARK = type(uint32).max; // MeterMark.previous: no mark before
    /// @dev Admin changes that can hurt open positions wait this long (see proposeParameters).
    uint32 public constant PARAMETER_DELAY = 2 days;

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
        uint8 maxSurchargePct;
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
        uint8 surchargePct; // the price at full utilisation is (100 + surchargePct)% of the base
        // slot 1: read by every operator call (and by admission, for the bond)
        address operator;
        uint32 rejected; // allocations rejected by the operator
        uint32 dropped; // report lines the claim dropped for breaking the rules
        bool bondShort; // the market says the bond is below what the capacity requires: no admissions
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

    /// @dev What an allocation agreed to pay per unit, fixed at admission: metered prices for its whole
    /// life; reserved prices (surcharge included) until the tenant itself resizes. `peak*` is the most the
    /// allocation ever held of CPU and memory: no single line may exceed a period of it.
    struct MeterTerms {
        uint96 cpuSecond;
        uint96 memoryGiBSecond;
        uint24 peakCpuMillis;
        uint32 peakMemoryMiB;
    }

    /// @dev An allocation's physical bound in aggregate: resources held (millicore-seconds = CPU-ms,
    /// MiB-seconds) up to `heldAt` (the last resize or the close), and what claims have charged against it.
    struct Meter {
        uint56 heldCpuMs;
        uint56 heldMemoryMiBSeconds;
        uint56 usedCpuMs;
        uint56 usedMemoryMiBSeconds;
        uint32 heldAt;
    }

    /// @dev The meter at the start of `period`, written by the first fold in that period: what had been held
    /// by then, and the size held since the fold before (made in period `previous`; _NO_MARK: none, the
    /// allocation was admitted since). A claim of any period still claimable then finds exactly what was
    /// held until its end, however many folds came after it (one mark per period with a fold, in a ring
    /// as long as the claim window).
    struct MeterMark {
        uint56 heldCpuMs;
        uint56 heldMemoryMiBSeconds;
        uint24 cpuMillis;
        uint32 memoryMiB;
        uint32 period;
        uint32 previous;
    }

    /// @dev A tenant's metered exposure: what claims may still charge, which withdrawals hold back.
    /// `meteredRate` is the physical-bound cost per second of its active allocations (held back for
    /// `_exposureSeconds()`); `closed` that of allocations it ended, held back until `closedUntil`.
    struct Exposure {
        uint96 meteredRate;
        uint128 closed;
        uint32 closedUntil;
    }

    /// @dev A parameter change waiting out PARAMETER_DELAY.
    struct PendingParameters {
        uint32 minPrepaidSeconds;
        uint32 gracePeriodSeconds;
        address treasury;
        uint32 effectiveAt; // 0: nothing pending
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
    /// @dev Reported usage becomes final (chargeable) this many periods after its period closed to batches.
    uint32 internal immutable _disputePeriods;
    /// @dev A period can be reported (in any number of batches) until this many periods after it ended;
    /// then it is closed: its digest is what receipts and disputes check, for `_disputePeriods` more.
    uint32 internal immutable _reportGracePeriods;

    // Each half writes some of these and reads others: an analysis of one half alone (slither's) sees
    // state that "is never initialized" or "could be constant" because the other half writes it.
    Config internal _config;
    // slither-disable-next-line immutable-states
    address internal _treasury;
    // slither-disable-next-line uninitialized-state,constable-states
    uint256 internal _feesAccrued;

    mapping(address tenant => StoredTenant) internal _tenants;
    mapping(address tenant => StoredAccount) internal _accounts;
    // slither-disable-next-line uninitialized-state
    mapping(address tenant => uint104) internal _quotas;
    // slither-disable-next-line uninitialized-state
    mapping(address tenant => mapping(address delegate => bool)) internal _delegates;
    mapping(address operator => bool) internal _operators;
    mapping(uint32 hostId => StoredHost) internal _hosts;
    // slither-disable-next-line uninitialized-state
    mapping(uint32 hostId => uint256) internal _earnings;
    mapping(uint64 allocationId => StoredAllocation) internal _allocations;
    mapping(uint64 allocationId => ScalingPolicy) internal _scaling;
    /// @dev The market (bonds, receipts, disputes), set once by the owner after both are deployed.
    // slither-disable-next-line constable-states
    address internal _market;
    /// @dev (hostId << 32 | period % disputePeriods) => digest (216 high bits) | flags (8) | period (32).
    mapping(uint256 slotKey => uint256) internal _usageSlots;
    /// @dev (allocationId << 32 | period) => voided by the market.
    // slither-disable-next-line uninitialized-state
    mapping(uint256 lineKey => bool) internal _voided;
    // slither-disable-next-line uninitialized-state
    mapping(uint64 allocationId => ReservedPrices) internal _reservedTerms;
    // slither-disable-next-line uninitialized-state
    mapping(uint64 allocationId => MeterTerms) internal _meterTerms;
    // slither-disable-next-line uninitialized-state
    mapping(uint64 allocationId => Meter) internal _meters;
    // slither-disable-next-line uninitialized-state
    mapping(address tenant => Exposure) internal _exposures;
    // slither-disable-next-line uninitialized-state
    PendingParameters internal _pendingParameters;
    /// @dev Two-step operator rotation: the proposed operator, and the one before the last rotation
    /// (whose receipts stay valid for the periods up to `_rotatedAt`).
    // slither-disable-next-line uninitialized-state
    mapping(uint32 hostId => address) internal _pendingOperator;
    // slither-disable-next-line uninitialized-state
    mapping(uint32 hostId => address) internal _previousOperator;
    // slither-disable-next-line uninitialized-state
    mapping(uint32 hostId => uint32 period) internal _rotatedAt;
    /// @dev The period in which a host retired: it may report periods up to this one only.
    // slither-disable-next-line uninitialized-state
    mapping(uint32 hostId => uint32 period) internal _retiredAt;
    // slither-disable-next-line uninitialized-state
    /// @dev (allocationId << 32 | period % _claimClosesAt(0)) => the meter at the start of a period with a fold.
    mapping(uint256 markKey => MeterMark) internal _meterMarks;

    /*//////////////////////////////////////////////////////////////
                                 CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @dev Immutables only: they live in each half's code, so both halves are built with the same
    /// arguments in one transaction (same `block.timestamp` for the genesis).
    constructor(
        address admin,
        IERC20 token_,
        uint32 periodSeconds_,
        uint16 feeBps_,
        uint32 disputePeriods_,
        uint32 reportGracePeriods_
    ) Ownable(admin) {
        if (address(token_) == address(0)) revert RegistryZeroAddress();
        if (
            periodSeconds_ == 0 || feeBps_ > MAX_FEE_BPS || disputePeriods_ == 0 || disputePeriods_ > MAX_DISPUTE_PERIODS
                || reportGracePeriods_ == 0 || reportGracePeriods_ > MAX_DISPUTE_PERIODS
        ) {
            revert RegistryInvalidParameters();
        }
        _token = token_;
        _periodSeconds = periodSeconds_;
        _genesis = uint32(block.timestamp);
        _feeBps = feeBps_;
        _disputePeriods = disputePeriods_;
        _reportGracePeriods = reportGracePeriods_;
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
                                   INTERNAL
    //////////////////////////////////////////////////////////////*/

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

    /// @dev A host's ring of usage slots: `grace + disputePeriods` of them, so that reporting period p
    /// (at the latest `grace` periods after it ended) finds p - ring final and claims it.
    function _usageKey(uint32 hostId, uint32 period) internal view returns (uint256) {
        return (uint256(hostId) << 32) | (period % (_disputePeriods + _reportGracePeriods));
    }

    /// @dev The first period in which `period`'s lines are final: `grace` periods for batches, then
    /// `disputePeriods` full periods for receipts and disputes against the closed digest.
    function _finalFrom(uint32 period) internal view returns (uint32) {
        return period + _reportGracePeriods + _disputePeriods + 1;
    }

    /// @dev The first period in which `period`'s lines can no longer be claimed (forfeited): the ring's
    /// own claim always comes earlier, so this bounds only a host that stopped reporting.
    function _claimClosesAt(uint32 period) internal view returns (uint32) {
        return _finalFrom(period) + _reportGracePeriods + 1;
    }

    /// @dev How long an active allocation's physical-bound metered cost is held back from withdrawals:
    /// every period that can still be charged, from the oldest claimable one to the running one.
    function _exposureSeconds() internal view returns (uint256) {
        return uint256(_claimClosesAt(0) + 1) * _periodSeconds;
    }

    /// @dev Mark the tenant suspended (from when its escrow ran out) if it is out of funds and not yet
    /// marked. Returns the suspension time, 0 if solvent.
    function _refreshSuspension(address tenant, StoredAccount storage acct) internal returns (uint256) {
        uint256 suspendedAt = acct.suspendedAt;
        // Solvent again without a deposit (a release lowered the rate): the mark goes, or a keeper would
        // expire an allocation that is paid for.
        if (suspendedAt != 0) return _resumeIfSolvent(tenant, acct) ? 0 : suspendedAt;
        uint256 rate = acct.ratePerSecond;
        if (rate == 0) return 0;
        uint256 paidThrough = acct.funded / rate;
        if (paidThrough >= block.timestamp) return 0;
        acct.suspendedAt = uint32(paidThrough);
        emit TenantSuspended(tenant, uint32(paidThrough), uint32(paidThrough + _config.gracePeriodSeconds));
        return paidThrough;
    }

    /// @dev Clear a suspension once the escrow covers what is due and the minimum prepaid period.
    function _resumeIfSolvent(address tenant, StoredAccount storage acct) internal returns (bool) {
        if (acct.funded < uint256(acct.ratePerSecond) * (block.timestamp + _config.minPrepaidSeconds)) return false;
        acct.suspendedAt = 0;
        emit TenantResumed(tenant);
        return true;
    }

    /// @dev Escrow that is neither spent, nor reserved as the minimum prepaid period, nor held back
    /// for metered charges that claims may still bring (Exposure).
    function _withdrawable(StoredAccount storage acct, Exposure storage x) internal view returns (uint256) {
        uint256 committed = _committed(acct, x);
        return acct.funded > committed ? acct.funded - committed : 0;
    }

    /// @dev What an escrow must keep: everything accrued to now, the minimum prepaid period and the
    /// metered exposure. Withdrawals leave it; admissions must cover it.
    function _committed(StoredAccount storage acct, Exposure storage x) internal view returns (uint256) {
        return uint256(acct.ratePerSecond) * (block.timestamp + _config.minPrepaidSeconds) + _exposure(x);
    }

    /// @dev The physical-bound metered cost per second of an allocation at its terms, rounded up: at its
    /// peak, since lines of earlier periods at a larger size may still be claimed after a shrink.
    function _meteredRate(MeterTerms storage terms) internal view returns (uint256) {
        uint104 peak = uint104(terms.peakCpuMillis) | (uint104(terms.peakMemoryMiB) << 24);
        return peak.meteredRate(MeteredPrices(terms.cpuSecond, terms.memoryGiBSecond));
    }

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

    /// @dev After an admission or a resize: the escrow must cover, at the new total rate, everything up
    /// to now plus the minimum prepaid period, plus the metered exposure that withdrawals hold back (so
    /// that a new admission can't spend what the tenant's earlier allocations may still be charged):
    /// `funded >= rate * (now + minPrepaid) + exposure`.
    function _checkPrepaid(address tenant) internal view {
        StoredAccount storage acct = _accounts[tenant];
        uint256 funded = acct.funded;
        uint256 committed = _committed(acct, _exposures[tenant]);
        if (funded < committed) {
            uint256 spent = uint256(acct.ratePerSecond) * block.timestamp;
            revert BillingInsufficientPrepaid(tenant, committed - spent, funded > spent ? funded - spent : 0);
        }
    }

    function _exposure(Exposure storage x) internal view returns (uint256 held) {
        held = uint256(x.meteredRate) * _exposureSeconds();
        if (x.closedUntil > block.timestamp) held += x.closed;
    }

    function _rateWithin(uint104 req, ReservedPrices memory prices) internal pure returns (uint256 rate) {
        rate = req.rate(prices);
        if (rate > type(uint64).max) revert AllocationRateTooHigh(rate);
    }

    /// @dev The per-unit reserved prices at which `req` is admitted on `h` beside `used`: the base prices
    /// times the utilisation surcharge, each rounded down (the quote {rateOf} gives is `req` at these).
    function _quotePrices(StoredHost storage h, uint104 used, uint104 req)
        internal
        view
        returns (ReservedPrices memory q)
    {
        q = h.reservedPrices;
        uint256 pct = h.surchargePct;
        if (pct == 0) return q;
        uint104 cap = h.capacity;
        uint256 s = Math.max(
            _spanSquares(uint24(used), uint24(req), uint24(cap)),
            _spanSquares(uint32(used >> 24), uint32(req >> 24), uint32(cap >> 24))
        );
        uint256 factor = 3e10 + pct * s; // (1 + pct/100 * s/(3 * 10^8)) * 3e10
        q.cpuMilli = _scaled(q.cpuMilli, factor);
        q.memoryMiB = _scaled(q.memoryMiB, factor);
        q.storageGiB = _scaled(q.storageGiB, factor);
        q.pid = _scaled(q.pid, factor);
    }

    /// @dev `price * factor / 3e10`, refused above 64 bits.
    function _scaled(uint64 price, uint256 factor) private pure returns (uint64) {
        uint256 p = uint256(price) * factor / 3e10;
        if (p > type(uint64).max) revert AllocationRateTooHigh(p);
        return uint64(p);
    }

    /// @dev The surcharge on utilisation is `pct/100 * (u0^2 + u0*u1 + u1^2) / 3`, u in basis points of
    /// capacity, for the larger of the CPU and memory terms: the mean price over the utilisation the
    /// request spans, so that one request costs what the same resources cost requested in parts.

    /// @dev Utilisation is quantised to basis points on purpose (the quote a client computes is exact).
    // slither-disable-next-line divide-before-multiply
    function _spanSquares(uint256 used, uint256 req, uint256 cap) internal pure returns (uint256) {
        if (cap == 0) return 0;
        uint256 u0 = used * 1e4 / cap;
        uint256 u1 = Math.min((used + req) * 1e4 / cap, 1e4);
        return u0 * u0 + u0 * u1 + u1 * u1;
    }

    /// @dev The rules a report line must keep to be charged, short of the aggregate bound (which depends on
    /// the lines claimed before it), and its cost at the allocation's agreed prices: the right host; an
    /// allocation that was not rejected; a period from its admission on, after every period already
    /// charged, and not after its close; at most a period of the most it ever held, in CPU and memory.
    function _lineCost(uint32 hostId, uint32 period, uint256 line) internal view returns (bool ok, uint256 cost) {
        uint64 id = uint64(line >> 128);
        if (line >> 192 != 0 || _hostOf(id) != hostId) return (false, 0);
        StoredAllocation storage a = _allocations[id];
        AllocationStatus status = a.status;
        if (status == AllocationStatus.None || a.closeReason == CloseReason.Rejected) return (false, 0);
        if (period < a.nextReportPeriod) return (false, 0);
        // A closed allocation may still be charged for the periods it ran in.
        if (status == AllocationStatus.Closed && period > _periodAt(_meters[id].heldAt)) return (false, 0);
        MeterTerms storage terms = _meterTerms[id];
        uint256 cpuMs = uint64(line >> 64);
        uint256 memoryMiBSeconds = uint64(line);
        if (cpuMs > uint256(terms.peakCpuMillis) * _periodSeconds) return (false, 0); // millicores x s = CPU-ms
        if (memoryMiBSeconds > uint256(terms.peakMemoryMiB) * _periodSeconds) return (false, 0);
        return (true, _cost(cpuMs, memoryMiBSeconds, terms.cpuSecond, terms.memoryGiBSecond));
    }

    /// @dev Whether a line's amounts fit under what the allocation held in the line's period, and,
    /// added to what it was charged so far, under what it held until the period's end (the aggregate
    /// bound); and the new totals. (The first implies the second for lines charged once each, in order:
    /// the aggregate stays as a second fence, and as the record `meterOf` shows.)
    function _fitsHeld(uint64 id, StoredAllocation storage a, Meter memory m, uint32 period, uint256 line)
        internal
        view
        returns (bool fits, uint256 usedCpu, uint256 usedMemory)
    {
        (uint256 heldCpu, uint256 heldMemory) = _heldByEndOf(id, a, m, period);
        (uint256 inCpu, uint256 inMemory) = _heldIn(id, a, m, period, heldCpu, heldMemory);
        uint256 cpu = uint64(line >> 64);
        uint256 memory_ = uint64(line);
        usedCpu = m.usedCpuMs + cpu;
        usedMemory = m.usedMemoryMiBSeconds + memory_;
        fits = cpu <= inCpu && memory_ <= inMemory && usedCpu <= heldCpu && usedMemory <= heldMemory;
    }

    /// @dev What the allocation held in `period` (CPU-ms, MiB-seconds), from what it held by the period's
    /// end: less what it held by the period's start.
    function _heldIn(
        uint64 id,
        StoredAllocation storage a,
        Meter memory m,
        uint32 period,
        uint256 heldCpuByEnd,
        uint256 heldMemoryByEnd
    ) internal view returns (uint256 cpuMs, uint256 memoryMiBSeconds) {
        if (period == 0) return (heldCpuByEnd, heldMemoryByEnd);
        (uint256 cpuBefore, uint256 memoryBefore) = _heldByEndOf(id, a, m, period - 1);
        return (_floorSub(heldCpuByEnd, cpuBefore), _floorSub(heldMemoryByEnd, memoryBefore));
    }

    /// @dev What the allocation held (CPU-ms, MiB-seconds) from admission to the end of `period`, exactly
    /// for any period that can still be claimed.
    function _heldByEndOf(uint64 id, StoredAllocation storage a, Meter memory m, uint32 period)
        internal
        view
        returns (uint256 cpuMs, uint256 memoryMiBSeconds)
    {
        uint256 end = _genesis + uint256(period + 1) * _periodSeconds;
        if (end >= m.heldAt) return _heldUntil(a, m, end);
        return _heldAtStartOf(id, m.heldAt, period + 1);
    }

    /// @dev What was held from admission to the start of period `q`, for a `q` that began before the last
    /// fold and can still be claimed: the first mark from `q` on, less what its size held since `q` began
    /// (no fold came in between, or there would be an earlier mark).
    function _heldAtStartOf(uint64 id, uint256 heldAt, uint32 q)
        internal
        view
        returns (uint256 cpuMs, uint256 memoryMiBSeconds)
    {
        MeterMark storage mark = _meterMarks[_markKey(id, q)];
        if (mark.period != q) {
            // No fold in q: follow the marks back from the last fold's, while they are from q on.
            uint32 k = _periodAt(heldAt);
            mark = _meterMarks[_markKey(id, k)];
            if (mark.period != k) return (0, 0); // the last "fold" was the admission, after q began
            for (uint32 prev = mark.previous; prev != _NO_MARK && prev > q; prev = mark.previous) {
                MeterMark storage earlier = _meterMarks[_markKey(id, prev)];
                if (earlier.period != prev) break; // the admission, not a fold
                mark = earlier;
            }
        }
        uint256 back = uint256(mark.period - q) * _periodSeconds;
        cpuMs = _floorSub(mark.heldCpuMs, uint256(mark.cpuMillis) * back);
        memoryMiBSeconds = _floorSub(mark.heldMemoryMiBSeconds, uint256(mark.memoryMiB) * back);
    }

    /// @dev What the allocation held from admission to `t`, for `t` at or after the last fold (a `t` to
    /// come: what it will have held if nothing changes; claims only ask about the past).
    function _heldUntil(StoredAllocation storage a, Meter memory m, uint256 t)
        internal
        view
        returns (uint256 cpuMs, uint256 memoryMiBSeconds)
    {
        uint256 heldAt = m.heldAt;
        (cpuMs, memoryMiBSeconds) = (m.heldCpuMs, m.heldMemoryMiBSeconds);
        if (a.status == AllocationStatus.Active && t > heldAt) {
            uint104 res = a.resources;
            cpuMs += uint256(uint24(res)) * (t - heldAt);
            memoryMiBSeconds += uint256(uint32(res >> 24)) * (t - heldAt);
        }
    }

    /// @dev The ring slot of `allocationId`'s mark for `period`: the ring spans every period from the
    /// oldest one still claimable to the running one, so a mark is overwritten only once it can't be read.
    // A ring index from the time, not randomness (slither reads `block.timestamp % n` as a weak PRNG).
    // slither-disable-next-line weak-prng
    function _markKey(uint64 allocationId, uint32 period) internal view returns (uint256) {
        return (uint256(allocationId) << 32) | (period % _claimClosesAt(0));
    }

    function _floorSub(uint256 x, uint256 y) internal pure returns (uint256) {
        return x > y ? x - y : 0;
    }

    /// @dev Metered cost of a line, rounded down (in the tenant's favour). Reports carry uint64 amounts
    /// and prices are at most uint128: the products can't overflow.
    function _cost(uint256 cpuMs, uint256 memoryMiBSeconds, uint256 cpuSecond, uint256 memoryGiBSecond)
        internal
        pure
        returns (uint256)
    {
        return cpuMs * cpuSecond / 1000 + memoryMiBSeconds * memoryGiBSecond / 1024;
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

    /// @dev Refuse a rate above the caller's bound (slippage: prices may move between quote and inclusion).
    function _checkMaxRate(uint256 rate, uint256 maxRate) internal pure {
        if (rate > type(uint64).max) revert AllocationRateTooHigh(rate);
        if (rate > maxRate) revert AllocationRateAboveMax(rate, maxRate);
    }

    function _periodAt(uint256 timestamp) internal view returns (uint32) {
        return uint32((timestamp - _genesis) / _periodSeconds);
    }
}
