// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {TenantChainMarket} from "../../contracts/TenantChainMarket.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {ITypes} from "../../contracts/interfaces/ITypes.sol";
import {ITenantChain} from "../../contracts/interfaces/ITenantChain.sol";
import {IBilling} from "../../contracts/interfaces/IBilling.sol";
import {IUsage} from "../../contracts/interfaces/IUsage.sol";
import {IMarket} from "../../contracts/interfaces/IMarket.sol";

/// @dev One size of an allocation's life, from `start` (its admission or a resize) to the next size or its close.
struct Seg {
    uint32 start;
    uint24 cpu;
    uint32 mem;
    uint64 rate;
}

/// @dev What the handler knows of an allocation by itself, without asking the contract.
struct Ghost {
    address tenant;
    uint32 admittedAt;
    uint32 closedAt; // 0 while active
    bool rejected;
    uint24 peakCpu;
    uint32 peakMem;
    uint256 charged; // metered cost that claims added (pendingMetered deltas plus what the claim collected)
    uint256 collectedMetered; // sum of Settled.metered
    uint256 collectedReserved; // sum of Settled.reserved
    bool everCharged;
    uint32 lastChargedPeriod;
}

/// @dev A report line picked for a receipt or a dispute.
struct Pick {
    uint32 h;
    uint32 q;
    uint256 index;
    uint256 line;
    uint64 id;
    uint256[] lines;
}

/// @dev A slot as it was before a report, and what the claim's allocations were charged so far.
struct Before {
    uint32 cur;
    bool wasHeld;
    uint32 held;
    uint64[] ids;
    uint256[] pre;
}

/// @dev What holds at a request: the host's bond flag, the resources, the quote and the host's metered prices.
struct Admission {
    bool bondShort;
    ITypes.Resources r;
    uint256 rate;
    ITypes.MeteredPrices metered;
}

/// @dev A quote a tenant read once, kept to be passed again later (stale) as its bound.
struct Quote {
    bool set;
    ITypes.Resources r;
    uint256 rate;
    ITypes.MeteredPrices metered;
}

/// @title Adversarial actors around one TenantChain and its market.
/// @notice Hosts: HONEST (1) reports exactly the true usage it signs receipts for, claims in order, never
/// rejects; hosts 2 and 3 are greedy (their background orchestrator inflates lines, sometimes past the
/// physical bound) and chaotic (the fuzzer makes their operators report any period with any lines, claim with
/// right or wrong lines, reject, auto-resize to any size, retire, reprice). Tenants request and resize with
/// bounds (fresh, stale or too low), release, withdraw, set scaling policies, dispute and slash with receipts
/// for the true usage; keepers settle and expire; the arbiter rules truthfully or lets disputes expire; the
/// admin pauses. Operator calls that may legitimately fail are tried and their effects checked on success;
/// calls that must not fail are made directly (fail_on_revert makes any revert a finding).
/// @dev True usage of allocation `id` in period `p` is a fixed fraction (from keccak(id, p)) of what it held in
/// that period (the handler's own integral of its size over time): receipts are signed for it.
contract InvariantHandler is Test, ITypes {
    uint32 public constant PERIOD = 60;
    uint32 public constant D = 1; // dispute periods
    uint32 public constant G = 2; // report grace periods
    uint32 public constant RING = D + G;
    uint32 public constant MIN_PREPAID = 600;
    uint32 public constant GRACE_SECONDS = 600;
    uint16 public constant DISPUTE_BPS = 1000;
    uint128 public constant DISPUTE_FLOOR = 1e15;
    uint256 internal constant MAX_ALLOCATIONS = 12;
    uint32 public constant HONEST = 1;

    ITenantChain public immutable tc;
    TenantChainMarket public immutable market;
    TestToken public immutable token;
    address public immutable admin;
    address public immutable arbiter;
    address public immutable treasury;
    uint32 public immutable genesis;

    address[] public tenants;
    address[] public operators;
    uint32[] public hosts;
    uint64[] public allocations;
    uint256[] public disputes;
    mapping(address => uint256) internal _keyOf;

    // Allocations.
    mapping(uint64 => bool) public known;
    mapping(uint64 => Ghost) internal _g;
    mapping(uint64 => Seg[]) internal _segs;
    mapping(uint64 => MeteredPrices) internal _agreedMetered; // at admission, forever
    mapping(uint64 => ReservedPrices) internal _agreedReserved; // at admission or the last resize
    mapping(uint256 => bool) public voided; // id << 32 | period
    mapping(uint32 => Quote) internal _stale; // the last quote read per host

    // Hosts.
    mapping(uint32 => address) public operatorOf;
    mapping(uint32 => address) public previousOperatorOf;
    mapping(uint32 => uint32) public rotatedAt;
    mapping(uint32 => bool) public retired;
    mapping(uint32 => uint32) public retiredAt;
    mapping(uint32 => uint256) public bonded; // everything that ever entered a host's bond
    mapping(uint32 => uint256) public withdrawnBond;
    mapping(uint32 => uint256) public openDisputes;
    mapping(uint32 => uint32) internal _tickedTo; // the background orchestrator ran in this period
    mapping(uint32 => uint32) internal _nextReport; // the first period it has not handled

    // Usage, as committed: every batch of a period in order, the last batch's period, the ring.
    mapping(uint32 => mapping(uint32 => uint256[])) internal _lines;
    mapping(uint32 => mapping(uint32 => bool)) internal _reportedEver;
    mapping(uint32 => mapping(uint32 => uint32)) public lastBatch;
    mapping(uint32 => mapping(uint32 => uint32)) public slotPeriod;
    mapping(uint32 => mapping(uint32 => bool)) public slotHeld;

    // Disputes.
    mapping(uint256 => uint256) public disputedLine;

    // Counters: test_randomWalksReachEveryPath checks that each path is reached.
    uint256 public calls;
    uint256 public claims;
    uint256 public chargedLines;
    uint256 public honestLinesCharged;
    uint256 public voidedLinesClaimed; // a claim met a voided line (and charged it nothing)
    uint256 public linesDropped;
    uint256 public lateReportsRefused;
    uint256 public slashes;
    uint256 public refusedSlashes;
    uint256 public disputesOpened;
    uint256 public autoResizes;
    uint256 public expiries;

    constructor(ITenantChain tc_, TenantChainMarket market_, TestToken token_, address admin_) {
        tc = tc_;
        market = market_;
        token = token_;
        admin = admin_;
        arbiter = market_.parameters().arbiter;
        treasury = market_.parameters().treasury;
        genesis = tc_.genesis();
        for (uint256 i; i < 3; ++i) {
            address t = makeAddr(string.concat("tenant", vm.toString(i)));
            tenants.push(t);
            vm.prank(t);
            tc.registerTenant(0, "", Resources(0, 0, 0, 0));
            _fund(t, 0.004 ether);
        }
        for (uint256 i; i < 4; ++i) {
            (address op, uint256 key) = makeAddrAndKey(string.concat("operator", vm.toString(i)));
            operators.push(op);
            _keyOf[op] = key;
            vm.prank(admin);
            tc.approveOperator(op, true);
            token.mint(op, 1e24);
            vm.prank(op);
            token.approve(address(market), type(uint256).max);
        }
        for (uint256 i; i < 3; ++i) {
            address op = operators[i];
            vm.prank(op);
            uint32 id = tc.registerHost(
                Resources(4000, 8192, 100, 1000),
                _basePrices(),
                _baseMetered(),
                abi.encodePacked(bytes1(0x02), keccak256(abi.encode(i)))
            );
            hosts.push(id);
            operatorOf[id] = op;
            bonded[id] = market.bondOf(id).amount;
        }
        assertEq(hosts[0], HONEST);
    }

    /*//////////////////////////////////////////////////////////////
                         EVERY STEP: TIME AND ORCHESTRATORS
    //////////////////////////////////////////////////////////////*/

    /// @dev Time passes between actions, and the hosts' own orchestrators run (the honest one must never fail);
    /// every Settled and UsageLineDropped the step emits is accounted for.
    modifier step(uint256 seed) {
        vm.getRecordedLogs(); // the invariant checks' own (rolled back) logs are not ours
        vm.recordLogs();
        vm.warp(block.timestamp + seed % 31);
        for (uint256 i; i < 3; ++i) {
            _tick(hosts[i], seed);
        }
        if (seed % 3 == 0) _backgroundRequest(seed);
        if (seed % 7 == 0) _expire(seed >> 8); // a keeper
        if (seed % 4 == 1) _slash(seed >> 16, seed >> 32, seed >> 48); // a watchful tenant
        if (seed % 5 == 0 && tc.paused()) {
            vm.prank(admin); // emergencies end
            tc.unpause();
        }
        _;
        _drain();
        ++calls;
    }

    /// @dev A host's orchestrator, once per period: claim every final held period oldest first, then report
    /// every ended period still open to reports. The honest one reports the true usage; the greedy ones
    /// inflate lines (sometimes past the physical bound) and take what reverts.
    function _tick(uint32 h, uint256 seed) internal {
        uint32 cur = tc.currentPeriod();
        if (cur == 0 || cur <= _tickedTo[h]) return;
        _tickedTo[h] = cur;
        bool honest = h == HONEST;
        _claimFinal(h, cur, honest);
        uint32 from = cur > G ? cur - G : 0;
        if (from < _nextReport[h]) from = _nextReport[h];
        for (uint32 p = from; p < cur; ++p) {
            if (retired[h] && p > retiredAt[h]) break;
            (bool ok, bytes memory err) = _report(h, p, _tickLines(h, p, honest ? 0 : seed | 1), new uint256[](0));
            if (honest && !ok) _bubble(err);
        }
        _nextReport[h] = cur;
    }

    /// @dev Tenants keep work running: a request at the quote just read, now and then with a scaling policy.
    function _backgroundRequest(uint256 seed) internal {
        if (allocations.length >= MAX_ALLOCATIONS || _active() >= 4) return;
        uint256 r = uint256(keccak256(abi.encode(seed, "request")));
        address t = tenants[r % tenants.length];
        uint32 h = hosts[(r >> 8) % 3];
        Resources memory res = Resources(uint24(bound(r >> 16, 100, 1500)), uint32(bound(r >> 48, 64, 2048)), 1, 10);
        Admission memory q = Admission(tc.hostBondShort(h), res, tc.rateOf(h, res), tc.getHost(h).meteredPrices);
        if (q.rate > type(uint64).max) return;
        vm.prank(t);
        try tc.requestAllocation(h, res, uint64(q.rate), q.metered, keccak256("spec"), hex"01") returns (uint64 id) {
            _admitted(id, t, q, uint64(q.rate), q.metered);
            if ((r >> 96) % 2 == 0) {
                vm.prank(t);
                try tc.setScalingPolicy(id, Resources(50, 32, 1, 10), Resources(2000, 4096, 1, 10), type(uint64).max) {}
                    catch {}
            }
        } catch {}
    }

    /// @dev From `idx` on, the first active allocation (with a scaling policy if `withPolicy`), else `idx`'s.
    function _preferred(uint256 idx, bool withPolicy) internal view returns (uint64) {
        uint256 n = allocations.length;
        for (uint256 i; i < n; ++i) {
            uint64 id = allocations[(idx % n + i) % n];
            if (_g[id].closedAt != 0) continue;
            if (!withPolicy) return id;
            (,, uint64 ceiling,) = tc.scalingPolicyOf(id);
            if (ceiling != 0) return id;
        }
        return allocations[idx % n];
    }

    function _active() internal view returns (uint256 n) {
        for (uint256 i; i < allocations.length; ++i) {
            if (_g[allocations[i]].closedAt == 0) ++n;
        }
    }

    function _claimFinal(uint32 h, uint32 cur, bool strict) internal {
        uint32[RING] memory qs;
        uint256 n;
        for (uint32 s; s < RING; ++s) {
            uint32 q = slotPeriod[h][s];
            if (slotHeld[h][s] && cur >= q + G + D + 1 && cur < q + 2 * G + D + 2) qs[n++] = q;
        }
        for (uint256 i = 1; i < n; ++i) {
            for (uint256 j = i; j > 0 && qs[j - 1] > qs[j]; --j) {
                (qs[j - 1], qs[j]) = (qs[j], qs[j - 1]);
            }
        }
        for (uint256 i; i < n; ++i) {
            (bool ok, bytes memory err) = _claimUsage(h, qs[i], _lines[h][qs[i]]);
            if (strict && !ok) _bubble(err);
        }
    }

    /// @dev One line per allocation of `h` that held something in `p`: the true usage (seed 0), or inflated.
    function _tickLines(uint32 h, uint32 p, uint256 seed) internal view returns (uint256[] memory ls) {
        ls = new uint256[](allocations.length);
        uint256 n;
        for (uint256 i; i < allocations.length; ++i) {
            uint64 id = allocations[i];
            if (_hostOf(id) != h) continue;
            (uint256 heldCpu, uint256 heldMem) = _held(id, _start(p), _start(p + 1));
            if (heldCpu == 0 && heldMem == 0) continue;
            (uint64 cpu, uint64 mem) = trueUsage(id, p);
            if (seed != 0) {
                uint256 r = uint256(keccak256(abi.encode(seed, id, p)));
                Ghost storage x = _g[id];
                uint256 mode = r % 5;
                if (mode == 1) cpu = uint64(Math.min(cpu + r % 50_000, heldCpu)); // plausible, still above the truth
                else if (mode == 2) cpu = uint64(uint256(x.peakCpu) * PERIOD); // the static bound
                else if (mode == 3) cpu = uint64(uint256(x.peakCpu) * PERIOD + 1); // past it: dropped
                if ((r >> 8) % 3 == 0) mem = uint64(Math.min(mem + (r >> 16) % 100_000, uint256(x.peakMem) * PERIOD));
            }
            ls[n++] = _pack(id, cpu, mem);
        }
        assembly ("memory-safe") {
            mstore(ls, n)
        }
    }

    /*//////////////////////////////////////////////////////////////
                          REPORTS AND CLAIMS (ANY OPERATOR)
    //////////////////////////////////////////////////////////////*/

    /// @dev Report a batch of `p` (claiming with `claimLines`); on success, check what was allowed and record it.
    function _report(uint32 h, uint32 p, uint256[] memory newLines, uint256[] memory claimLines)
        internal
        returns (bool, bytes memory)
    {
        Before memory b;
        b.cur = tc.currentPeriod();
        b.wasHeld = slotHeld[h][p % RING];
        b.held = slotPeriod[h][p % RING];
        (b.ids, b.pre) = _pre(claimLines);
        _drain();
        vm.prank(operatorOf[h]);
        try tc.reportUsage(h, p, newLines, claimLines) {
            _reported(h, p, newLines, claimLines, b);
            return (true, "");
        } catch (bytes memory err) {
            _discard();
            if (b.cur > p + G) ++lateReportsRefused;
            return (false, err);
        }
    }

    function _reported(uint32 h, uint32 p, uint256[] memory newLines, uint256[] memory claimLines, Before memory b)
        internal
    {
        assertLt(p, b.cur, "a running period was reported");
        assertLe(b.cur, p + G, "a period was reported after its grace");
        if (retired[h]) assertLe(p, retiredAt[h], "a retired host reported a period it did not serve");
        if (b.wasHeld && b.held == p) {
            assertEq(claimLines.length, 0, "a further batch claimed");
        } else {
            assertFalse(_reportedEver[h][p], "a period was reported again after it left its slot");
            assertGe(p, b.held, "a slot went backwards");
            if (claimLines.length != 0) {
                assertTrue(b.wasHeld, "claimed a period not held");
                assertEq(keccak256(abi.encode(claimLines)), keccak256(abi.encode(_lines[h][b.held])), "claim != commit");
                _afterClaim(h, b.held, claimLines, b.ids, b.pre);
            }
            slotPeriod[h][p % RING] = p;
            slotHeld[h][p % RING] = true;
            _reportedEver[h][p] = true;
        }
        for (uint256 i; i < newLines.length; ++i) {
            _lines[h][p].push(newLines[i]);
        }
        lastBatch[h][p] = b.cur;
    }

    function _claimUsage(uint32 h, uint32 q, uint256[] memory claimLines) internal returns (bool, bytes memory) {
        uint32 s = q % RING;
        bool wasHeld = slotHeld[h][s] && slotPeriod[h][s] == q;
        (uint64[] memory ids, uint256[] memory pre) = _pre(claimLines);
        _drain();
        vm.prank(operatorOf[h]);
        try tc.claimUsage(h, q, claimLines) {
            assertTrue(wasHeld, "claimed a period not held");
            assertEq(keccak256(abi.encode(claimLines)), keccak256(abi.encode(_lines[h][q])), "claim != commit");
            slotHeld[h][s] = false;
            _afterClaim(h, q, claimLines, ids, pre);
            return (true, "");
        } catch (bytes memory err) {
            _discard();
            return (false, err);
        }
    }

    /// @dev The allocations a claim may charge and what each was charged so far.
    function _pre(uint256[] memory claimLines) internal view returns (uint64[] memory ids, uint256[] memory pre) {
        ids = new uint64[](claimLines.length);
        pre = new uint256[](claimLines.length);
        uint256 n;
        for (uint256 i; i < claimLines.length; ++i) {
            uint64 id = uint64(claimLines[i] >> 128);
            if (!known[id]) continue;
            bool seen;
            for (uint256 j; j < n; ++j) {
                seen = seen || ids[j] == id;
            }
            if (seen) continue;
            ids[n] = id;
            pre[n++] = _metered(id);
        }
        assembly ("memory-safe") {
            mstore(ids, n)
            mstore(pre, n)
        }
    }

    /// @dev What a claim of `q` charged, per allocation, against the rules: the window, voids, rejections, the
    /// allocation's life, its agreed prices, the static and aggregate physical bounds; honest lines in full.
    function _afterClaim(uint32 h, uint32 q, uint256[] memory claimLines, uint64[] memory ids, uint256[] memory pre)
        internal
    {
        uint256 drops = _drain();
        uint32 cur = tc.currentPeriod();
        ++claims;
        assertGe(cur, q + G + D + 1, "claimed before final");
        assertEq(tc.finalFrom(q), q + G + D + 1);
        assertLe(lastBatch[h][q], q + G, "a batch after the grace");
        assertGe(cur, lastBatch[h][q] + D + 1, "charged without a full window after its last batch");
        assertLt(cur, tc.claimClosesAt(q), "claimed after the claim closed");
        if (h == HONEST) assertEq(drops, 0, "an honest line was dropped");
        linesDropped += drops;
        for (uint256 i; i < ids.length; ++i) {
            uint64 id = ids[i];
            Ghost storage x = _g[id];
            uint256 delta = _metered(id) - pre[i];
            x.charged += delta;
            if (voided[_key(id, q)]) ++voidedLinesClaimed;
            if (h == HONEST) {
                uint256 line = _firstLineOf(claimLines, id);
                uint256 expected = voided[_key(id, q)] ? 0 : _lineCostOf(id, line);
                assertEq(delta, expected, "an honest line was not charged in full");
                if (expected != 0) ++honestLinesCharged;
            }
            if (delta == 0) continue;
            ++chargedLines;
            assertEq(_hostOf(id), h, "another host's allocation charged");
            assertFalse(x.rejected, "a rejected allocation charged");
            assertFalse(voided[_key(id, q)], "a voided line charged");
            assertFalse(tc.isVoided(id, q), "a voided line charged");
            assertGe(q, _periodAt(x.admittedAt), "charged for a period before admission");
            if (x.closedAt != 0) assertLe(q, _periodAt(x.closedAt), "charged for a period after the close");
            assertTrue(!x.everCharged || q > x.lastChargedPeriod, "charged twice or out of order");
            (x.everCharged, x.lastChargedPeriod) = (true, q);
            assertLe(delta, _maxLineCost(claimLines, id), "charged more than a line's cost at the agreed prices");
            MeteredPrices memory m = _agreedMetered[id];
            assertLe(delta, _cost(m, uint256(x.peakCpu) * PERIOD, uint256(x.peakMem) * PERIOD), "static bound");
            // Aggregate: all charges so far within what was held until the period's end, exactly, however
            // many folds (resizes, auto-resizes, the close) came after it.
            assertLe(x.charged, _heldCostByEndOf(id, q), "charged above the resources held");
            assertLe(delta, _heldCostIn(id, q), "a line charged above what was held in its period");
        }
    }

    /*//////////////////////////////////////////////////////////////
                             OPERATOR ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Any period (running, in its grace, too late), any lines, right, wrong or no claims.
    function chaosReport(uint256 seed, uint256 hostSel, uint256 back, uint256 n, uint256 claimMode)
        external
        step(seed)
    {
        uint32 h = hosts[1 + hostSel % 2];
        uint32 cur = tc.currentPeriod();
        back %= G + 3;
        if (back > cur) return;
        uint32 p = cur - uint32(back);
        uint256[] memory newLines = new uint256[](n % 5);
        for (uint256 i; i < newLines.length; ++i) {
            newLines[i] = _chaosLine(h, p, uint256(keccak256(abi.encode(seed, i))));
        }
        _report(h, p, newLines, _claimsFor(h, p, claimMode));
    }

    /// @notice Claim any slot's period, with its lines or altered ones.
    function chaosClaim(uint256 seed, uint256 hostSel, uint256 slotSel, uint256 wrong) external step(seed) {
        uint32 h = hosts[1 + hostSel % 2];
        uint32 q = slotPeriod[h][uint32(slotSel % RING)];
        uint256[] memory ls = _lines[h][q];
        if (wrong % 4 == 0 && ls.length != 0) ls[wrong % ls.length] ^= 1 << 64;
        _claimUsage(h, q, ls);
    }

    function _claimsFor(uint32 h, uint32 p, uint256 mode) internal view returns (uint256[] memory ls) {
        uint32 s = p % RING;
        uint32 held = slotPeriod[h][s];
        mode %= 5;
        if (mode <= 2 && slotHeld[h][s] && held < p) return _lines[h][held];
        if (mode <= 3) return new uint256[](0); // a forfeit, or a further batch
        ls = _lines[h][held];
        if (ls.length == 0) ls = new uint256[](1);
        ls[0] ^= 1; // wrong (or nothing to claim)
    }

    /// @dev Honest, inflated, past the bound, another host's, a closed or rejected one's, unknown, malformed.
    function _chaosLine(uint32 h, uint32 p, uint256 r) internal view returns (uint256) {
        uint256 kind = r % 7;
        uint64 id = _anyAllocationOn(h, r >> 8);
        if (kind == 3 && allocations.length != 0) id = allocations[(r >> 8) % allocations.length];
        if (id == 0 || kind == 5) id = (uint64(h) << 32) | uint64(tc.getHost(h).allocationCount + 1 + (r >> 8) % 3);
        uint64 cpu;
        uint64 mem;
        if (known[id]) {
            (cpu, mem) = trueUsage(id, p);
            Ghost storage x = _g[id];
            uint256 bound_ = uint256(x.peakCpu) * PERIOD;
            if (kind == 1 || kind == 3 || kind == 4) cpu = uint64(Math.min(cpu + (r >> 32) % (bound_ + 1), bound_));
            else if (kind == 2) cpu = uint64(bound_ + 1 + (r >> 32) % 1000);
            if ((r >> 64) % 2 == 0) mem = uint64((r >> 96) % (uint256(x.peakMem) * PERIOD * 2 + 1));
        } else {
            cpu = uint64((r >> 32) % 100_000);
        }
        uint256 line = _pack(id, cpu, mem);
        if (kind == 6) line |= 1 << 200; // malformed: the top bits must be zero
        return line;
    }

    function _anyAllocationOn(uint32 h, uint256 r) internal view returns (uint64) {
        uint256 n = allocations.length;
        for (uint256 i; i < n; ++i) {
            uint64 id = allocations[(r % n + i) % n];
            if (_hostOf(id) == h) return id;
        }
        return 0;
    }

    /// @notice Capacity (sometimes below use) and prices up or down, metered ones included.
    function updateHost(uint256 seed, uint256 hostSel, uint256 capSeed, uint256 priceSeed) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        Host memory hh = tc.getHost(h);
        Resources memory cap = Resources(
            uint24(bound(capSeed, hh.used.cpuMillis, 8000)),
            uint32(bound(capSeed >> 32, hh.used.memoryMiB, 16_384)),
            uint24(bound(capSeed >> 64, hh.used.storageGiB, 200)),
            uint24(bound(capSeed >> 96, hh.used.pids, 2000))
        );
        if ((capSeed >> 128) % 8 == 0) cap.cpuMillis = uint24(bound(capSeed >> 136, 0, 8000)); // maybe below use
        uint256[6] memory f = [uint256(0), 50, 100, 200, 400, 900]; // percent of the base
        ReservedPrices memory base = _basePrices();
        uint256 k = f[priceSeed % 6];
        ReservedPrices memory rp = ReservedPrices(
            uint64(base.cpuMilli * k / 100),
            uint64(base.memoryMiB * f[(priceSeed >> 8) % 6] / 100),
            uint64(base.storageGiB * k / 100),
            uint64(base.pid * k / 100)
        );
        MeteredPrices memory mp = MeteredPrices(
            uint128(_baseMetered().cpuSecond * f[(priceSeed >> 16) % 6] / 100),
            uint128(_baseMetered().memoryGiBSecond * f[(priceSeed >> 24) % 6] / 100)
        );
        if ((priceSeed >> 32) % 10 == 0) mp.cpuSecond = 1e24; // a price meant to empty escrows
        uint256 before = market.bondOf(h).amount;
        vm.prank(operatorOf[h]);
        try tc.updateHost(h, cap, rp, mp) {
            assertFalse(retired[h], "a retired host was updated");
            bonded[h] += market.bondOf(h).amount - before;
            assertFalse(tc.hostBondShort(h));
        } catch {}
    }

    function setSurcharge(uint256 seed, uint256 hostSel, uint256 pct) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        vm.prank(operatorOf[h]);
        try tc.setSurcharge(h, uint8(bound(pct, 0, 120))) {} catch {}
    }

    /// @notice Any size for any allocation (the operator may not be its host's).
    function autoResize(uint256 seed, uint256 idx, uint256 cpu, uint256 mem, uint256 opSel) external step(seed) {
        if (allocations.length == 0) return;
        uint64 id = _preferred(idx, true);
        uint32 h = _hostOf(id);
        address op = opSel % 8 == 0 ? operators[opSel % operators.length] : operatorOf[h];
        Allocation memory a = tc.getAllocation(id);
        Resources memory r = Resources(uint24(bound(cpu, 0, 2100)), uint32(bound(mem, 0, 4200)), 1, 10);
        // The most the growth may cost: kept units at the agreed prices, added ones at the host's quote for
        // them beside everything in use (an upper bound of the quote the contract takes).
        Resources memory kept = Resources(
            uint24(Math.min(a.resources.cpuMillis, r.cpuMillis)),
            uint32(Math.min(a.resources.memoryMiB, r.memoryMiB)),
            1,
            10
        );
        Resources memory added = Resources(r.cpuMillis - kept.cpuMillis, r.memoryMiB - kept.memoryMiB, 0, 0);
        uint256 most = _rate(kept, _agreedReserved[id]) + tc.rateOf(h, added);
        (Resources memory lo, Resources memory hi, uint64 ceiling,) = tc.scalingPolicyOf(id);
        ReservedPrices memory agreed = _agreedReserved[id];
        _drain();
        vm.prank(op);
        try tc.autoResizeAllocation(id, r) {
            assertEq(op, operatorOf[h], "someone else auto-resized");
            assertFalse(tc.paused());
            assertTrue(r.cpuMillis >= lo.cpuMillis && r.cpuMillis <= hi.cpuMillis, "cpu outside the policy");
            assertTrue(r.memoryMiB >= lo.memoryMiB && r.memoryMiB <= hi.memoryMiB, "memory outside the policy");
            uint256 rate = _resized(id, r);
            assertLe(rate, ceiling, "above the tenant's ceiling");
            assertLe(rate, most, "the growth priced above the quote, or what was kept re-priced");
            if (added.cpuMillis == 0 && added.memoryMiB == 0) {
                assertEq(
                    keccak256(abi.encode(_agreedReserved[id])), keccak256(abi.encode(agreed)), "a shrink re-priced"
                );
            }
            ++autoResizes;
        } catch {
            _discard();
        }
    }

    function reject(uint256 seed, uint256 idx, uint256 code) external step(seed) {
        if (allocations.length == 0) return;
        uint64 id = allocations[idx % allocations.length];
        uint32 h = _hostOf(id);
        if (h == HONEST || _g[id].closedAt != 0) return;
        // A rejection forgives what was claimed and not yet settled: it never was a charge.
        uint256 forgiven = tc.getAllocation(id).pendingMetered;
        vm.prank(operatorOf[h]);
        tc.rejectAllocation(id, uint16(code));
        _g[id].charged -= forgiven;
        _closed(id);
        _g[id].rejected = true;
    }

    function withdrawEarnings(uint256 seed, uint256 hostSel) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        uint256 earned = tc.earningsOf(h);
        address op = operatorOf[h];
        uint256 before = token.balanceOf(op);
        vm.prank(op);
        try tc.withdrawEarnings(h, op) {
            assertFalse(tc.paused(), "earnings left while paused");
            assertEq(token.balanceOf(op), before + earned);
        } catch {}
    }

    /// @notice Active, draining or retired (refused with allocations running).
    function setHostStatus(uint256 seed, uint256 hostSel, uint256 status) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        HostStatus s = HostStatus(1 + status % 3);
        vm.prank(operatorOf[h]);
        try tc.setHostStatus(h, s) {
            if (s == HostStatus.Retired) {
                assertEq(tc.getHost(h).used.cpuMillis, 0);
                (retired[h], retiredAt[h]) = (true, tc.currentPeriod());
            }
        } catch {}
    }

    /// @notice A key rotation: propose, and the new operator accepts (refused while the last one's periods are
    /// claimable).
    function rotateOperator(uint256 seed, uint256 hostSel, uint256 opSel) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        address old = operatorOf[h];
        address next = operators[opSel % operators.length];
        if (next == old) return;
        vm.prank(old);
        tc.proposeHostOperator(h, next);
        uint32 cur = tc.currentPeriod();
        bool allowed = previousOperatorOf[h] == address(0) || cur >= tc.claimClosesAt(rotatedAt[h]);
        vm.prank(next);
        try tc.acceptHostOperator(h) {
            assertTrue(allowed, "rotated while the last rotation's receipts were live");
            (previousOperatorOf[h], rotatedAt[h], operatorOf[h]) = (old, cur, next);
        } catch {
            assertFalse(allowed, "a rotation was refused");
            vm.prank(old);
            tc.proposeHostOperator(h, address(0));
        }
    }

    /// @notice A retired host's bond: unbond, then withdraw once unbonding is over.
    function unbond(uint256 seed, uint256 hostSel) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        if (!retired[h]) return;
        IMarket.Bond memory b = market.bondOf(h);
        address op = operatorOf[h];
        if (b.unbondingEndsAt == 0) {
            vm.prank(op);
            market.startUnbonding(h);
            return;
        }
        vm.prank(op);
        try market.withdrawBond(h, op) {
            assertFalse(tc.paused(), "a bond left while paused");
            assertEq(b.openDisputes, 0, "a bond left with disputes open");
            assertGe(tc.currentPeriod(), tc.claimClosesAt(retiredAt[h]), "a bond left while lines were disputable");
            withdrawnBond[h] += b.amount;
        } catch {}
    }

    function addBond(uint256 seed, uint256 hostSel, uint256 amount) external step(seed) {
        uint32 h = hosts[hostSel % 3];
        amount = bound(amount, 1, 1e17);
        vm.prank(operatorOf[h]);
        market.addBond(h, amount);
        bonded[h] += amount;
    }

    /*//////////////////////////////////////////////////////////////
                              TENANT ACTIONS
    //////////////////////////////////////////////////////////////*/

    function deposit(uint256 seed, uint256 who, uint256 amount) external step(seed) {
        _fund(tenants[who % tenants.length], bound(amount, 1, 0.01 ether));
    }

    /// @notice A request bounded by the quote just read, a stale one, or one just below it.
    function request(uint256 seed, uint256 who, uint256 hostSel, uint256 cpu, uint256 mem, uint256 mode)
        external
        step(seed)
    {
        if (allocations.length >= MAX_ALLOCATIONS) return;
        address t = tenants[who % tenants.length];
        uint32 h = hosts[hostSel % 3];
        Resources memory r = Resources(uint24(bound(cpu, 1, 2000)), uint32(bound(mem, 1, 4096)), 1, 10);
        Quote memory fresh = Quote(true, r, tc.rateOf(h, r), tc.getHost(h).meteredPrices);
        Quote memory q = fresh;
        mode %= 8;
        if (mode == 5 && _stale[h].set) q = _stale[h];
        _stale[h] = fresh;
        r = q.r;
        uint256 quoted = tc.rateOf(h, r); // now, for the resources asked
        uint64 maxRate = uint64(Math.min(q.rate, type(uint64).max));
        MeteredPrices memory maxMetered = q.metered;
        if (mode == 6 && maxRate != 0) maxRate -= 1;
        if (mode == 7 && maxMetered.cpuSecond != 0) maxMetered.cpuSecond -= 1;
        Admission memory asked = Admission(tc.hostBondShort(h), r, quoted, tc.getHost(h).meteredPrices);
        vm.prank(t);
        try tc.requestAllocation(h, r, maxRate, maxMetered, keccak256("spec"), hex"01") returns (uint64 id) {
            _admitted(id, t, asked, maxRate, maxMetered);
        } catch {}
    }

    /// @dev A request went through: at the quote of the moment, within the tenant's bounds, on a host whose
    /// bond is whole; its terms are the host's prices of the moment.
    function _admitted(uint64 id, address t, Admission memory now_, uint64 maxRate, MeteredPrices memory maxMetered)
        internal
    {
        assertFalse(tc.paused(), "admitted while paused");
        assertFalse(now_.bondShort, "admitted on a host whose bond is short");
        Allocation memory a = tc.getAllocation(id);
        assertLe(a.ratePerSecond, maxRate, "admitted above the tenant's bound");
        assertEq(a.ratePerSecond, now_.rate, "admitted at another rate than the quote");
        (ReservedPrices memory rs, MeteredPrices memory ms, uint24 pc, uint32 pm) = tc.termsOf(id);
        Resources memory r = now_.r;
        assertEq(_rate(r, rs), a.ratePerSecond, "rate != resources x agreed prices");
        assertTrue(ms.cpuSecond == now_.metered.cpuSecond && ms.memoryGiBSecond == now_.metered.memoryGiBSecond);
        assertTrue(ms.cpuSecond <= maxMetered.cpuSecond && ms.memoryGiBSecond <= maxMetered.memoryGiBSecond);
        assertTrue(pc == r.cpuMillis && pm == r.memoryMiB);
        allocations.push(id);
        known[id] = true;
        Ghost storage x = _g[id];
        (x.tenant, x.admittedAt, x.peakCpu, x.peakMem) = (t, uint32(block.timestamp), r.cpuMillis, r.memoryMiB);
        _agreedMetered[id] = ms;
        _agreedReserved[id] = rs;
        _segs[id].push(Seg(uint32(block.timestamp), r.cpuMillis, r.memoryMiB, a.ratePerSecond));
    }

    /// @notice The tenant's own resize, bounded by the quote (fresh, stale or just below).
    function resize(uint256 seed, uint256 idx, uint256 cpu, uint256 mem, uint256 mode) external step(seed) {
        if (allocations.length == 0) return;
        uint64 id = allocations[idx % allocations.length];
        Ghost storage x = _g[id];
        if (x.closedAt != 0) return;
        uint32 h = _hostOf(id);
        Resources memory r = Resources(uint24(bound(cpu, 1, 2000)), uint32(bound(mem, 1, 4096)), 1, 10);
        uint256 quote = tc.rateOf(h, r); // counts the allocation's own share as used: at least the resize's
        uint256 maxRate = quote;
        mode %= 6;
        if (mode == 4 && _stale[h].set) maxRate = _stale[h].rate;
        if (mode == 5 && maxRate != 0) maxRate -= 1;
        maxRate = Math.min(maxRate, type(uint64).max);
        _drain();
        vm.prank(x.tenant);
        try tc.resizeAllocation(id, r, uint64(maxRate)) {
            assertFalse(tc.paused(), "resized while paused");
            uint256 rate = _resized(id, r);
            assertLe(rate, maxRate, "resized above the tenant's bound");
            assertLe(rate, quote, "resized above the host's quote");
        } catch {
            _discard();
        }
    }

    function release(uint256 seed, uint256 idx) external step(seed) {
        if (allocations.length == 0) return;
        uint64 id = allocations[idx % allocations.length];
        if (_g[id].closedAt != 0) return;
        vm.prank(_g[id].tenant);
        tc.releaseAllocation(id); // always possible, paused or not
        _closed(id);
    }

    /// @notice Withdraw some or all of what is withdrawable; one more is refused.
    function withdraw(uint256 seed, uint256 who, uint256 amount) external step(seed) {
        address t = tenants[who % tenants.length];
        Escrow memory e = tc.accountOf(t);
        uint256 kept = e.ratePerSecond * MIN_PREPAID + tc.exposureOf(t);
        assertLe(e.withdrawable, e.balance > kept ? e.balance - kept : 0, "withdrawable beyond the exposure");
        if (amount % 5 == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IBilling.BillingInsufficientBalance.selector, t, e.withdrawable + 1, e.withdrawable
                )
            );
            vm.prank(t);
            tc.withdraw(e.withdrawable + 1, t);
            return;
        }
        if (e.withdrawable == 0) return;
        uint256 w = amount % 3 == 0 ? e.withdrawable : bound(amount, 1, e.withdrawable);
        uint256 before = token.balanceOf(t);
        vm.prank(t);
        tc.withdraw(w, t);
        assertEq(token.balanceOf(t), before + w);
    }

    function setScalingPolicy(uint256 seed, uint256 idx, uint256 lo, uint256 hi, uint256 ceiling) external step(seed) {
        if (allocations.length == 0) return;
        uint64 id = allocations[idx % allocations.length];
        if (_g[id].closedAt != 0) return;
        Resources memory min_ = Resources(uint24(bound(lo, 1, 1000)), uint32(bound(lo >> 32, 1, 2048)), 1, 10);
        Resources memory max_ =
            Resources(uint24(bound(hi, min_.cpuMillis, 2000)), uint32(bound(hi >> 32, min_.memoryMiB, 4096)), 1, 10);
        uint256 c = ceiling % 4 == 0 ? 0 : bound(ceiling, 1, 1e13);
        vm.prank(_g[id].tenant);
        try tc.setScalingPolicy(id, min_, max_, uint64(c)) {} catch {}
    }

    /// @notice A receipt for the true usage of a reported line, signed by the host's operator (now and then by
    /// another operator): it must slash exactly when the line charges more than it, within the window.
    function slash(uint256 seed, uint256 hostSel, uint256 pick, uint256 signerSel) external step(seed) {
        _slash(hostSel, pick, signerSel);
    }

    function _slash(uint256 hostSel, uint256 pick, uint256 signerSel) internal {
        (bool found, Pick memory k) = _pick(hostSel, pick);
        if (!found) return;
        (IMarket.UsageReceipt memory receipt, bytes memory sig, bool signerOk) = _receipt(k, signerSel);
        uint256 overcharge = _overcharge(k.id, k.q, k.line);
        uint256 d = market.disputeOfLine(k.id, k.q);
        bool disputeOpen = d != 0 && market.disputeOf(d - 1).status == IMarket.DisputeStatus.Open;
        bool expectOk =
            signerOk && _disputable(k) && overcharge != 0 && (d == 0 ? !voided[_key(k.id, k.q)] : disputeOpen);
        uint256 bondBefore = market.bondOf(k.h).amount;
        vm.prank(_g[k.id].tenant);
        try market.slashWithReceipt(k.h, k.q, k.lines, k.index, receipt, sig) {
            assertTrue(k.h != HONEST, "an honest operator was slashed");
            assertTrue(expectOk, "a slash that should have been refused");
            assertEq(bondBefore - market.bondOf(k.h).amount, Math.min(2 * overcharge, bondBefore), "slash size");
            voided[_key(k.id, k.q)] = true;
            if (disputeOpen) openDisputes[k.h] -= 1;
            ++slashes;
        } catch (bytes memory err) {
            if (expectOk) _bubble(err); // nothing (a batch, a price, a rotation) may block a valid slash
            ++refusedSlashes;
        }
    }

    /// @dev A receipt for the line's true usage, signed by the host's operator (now and then by another one).
    function _receipt(Pick memory k, uint256 signerSel)
        internal
        view
        returns (IMarket.UsageReceipt memory receipt, bytes memory sig, bool signerOk)
    {
        (uint64 cpu, uint64 mem) = trueUsage(k.id, k.q);
        receipt = IMarket.UsageReceipt(k.id, k.q, cpu, mem);
        address signer = signerSel % 6 == 0 ? operators[signerSel % operators.length] : operatorOf[k.h];
        signerOk = signer == operatorOf[k.h] || (signer == previousOperatorOf[k.h] && k.q <= rotatedAt[k.h]);
        assertEq(tc.isHostSigner(k.h, signer, k.q), signerOk, "isHostSigner");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf[signer], market.receiptDigest(receipt));
        sig = abi.encodePacked(r, s, v);
    }

    /// @dev What `line` charges above the true usage, per resource, at the agreed prices.
    function _overcharge(uint64 id, uint32 q, uint256 line) internal view returns (uint256) {
        (uint64 cpu, uint64 mem) = trueUsage(id, q);
        return _lineCostOf(id, line)
            - _cost(_agreedMetered[id], Math.min(uint64(line >> 64), cpu), Math.min(uint64(line), mem));
    }

    /// @notice The line's tenant disputes it, paying its cost plus the stake (from its wallet).
    function openDispute(uint256 seed, uint256 hostSel, uint256 pick) external step(seed) {
        (bool found, Pick memory k) = _pick(hostSel, pick);
        if (!found) return;
        address t = _g[k.id].tenant;
        uint256 cost = _lineCostOf(k.id, k.line);
        uint256 bond_ = cost + Math.max(cost * DISPUTE_BPS / 10_000, DISPUTE_FLOOR);
        if (bond_ > token.MAX_MINT()) return; // a line priced to empty escrows: more than a tenant holds
        bool expectOk = _disputable(k) && market.disputeOfLine(k.id, k.q) == 0 && !voided[_key(k.id, k.q)];
        token.mint(t, bond_);
        vm.prank(t);
        token.approve(address(market), bond_);
        vm.prank(t);
        try market.openDispute(k.h, k.q, k.lines, k.index) returns (uint256 did) {
            assertTrue(expectOk, "a dispute that should have been refused");
            IMarket.Dispute memory dd = market.disputeOf(did);
            assertEq(dd.lineCost, cost, "disputed at other prices than the agreed ones");
            assertEq(dd.bond, bond_);
            voided[_key(k.id, k.q)] = true;
            disputes.push(did);
            disputedLine[did] = k.line;
            openDisputes[k.h] += 1;
            ++disputesOpened;
        } catch (bytes memory err) {
            if (expectOk) _bubble(err);
        }
        vm.prank(t);
        token.approve(address(market), 0);
    }

    /// @dev A line still in its dispute window (reported, its digest held), as the market would check it.
    function _disputable(Pick memory k) internal view returns (bool) {
        uint32 s = k.q % RING;
        bool inWindow = slotHeld[k.h][s] && slotPeriod[k.h][s] == k.q && tc.currentPeriod() < k.q + G + D + 1;
        bool ok = _chargeable(k.h, k.q, k.line);
        (bool chargeable, uint256 cost) = tc.lineCost(k.h, k.q, k.line);
        // lineCost adds the aggregate bound (what was claimed so far against what was held): it may refuse
        // a line the static rules pass, never the reverse.
        if (chargeable) assertTrue(ok, "lineCost passes a line the claim's rules refuse");
        if (chargeable) assertEq(cost, _lineCostOf(k.id, k.line), "lineCost at other prices than the agreed ones");
        return inWindow && chargeable;
    }

    /// @dev The claim's rules, from the handler's own records (short of the aggregate bound).
    function _chargeable(uint32 h, uint32 q, uint256 line) internal view returns (bool) {
        uint64 id = uint64(line >> 128);
        if (line >> 192 != 0 || !known[id] || _hostOf(id) != h) return false;
        Ghost storage x = _g[id];
        if (x.rejected || q < tc.getAllocation(id).nextReportPeriod) return false;
        if (x.closedAt != 0 && q > _periodAt(x.closedAt)) return false;
        return uint64(line >> 64) <= uint256(x.peakCpu) * PERIOD && uint64(line) <= uint256(x.peakMem) * PERIOD;
    }

    /// @dev A line of a recent report (its window open or just closed) of any host.
    function _pick(uint256 hostSel, uint256 pick) internal view returns (bool, Pick memory k) {
        k.h = hosts[hostSel % 3];
        uint32 cur = tc.currentPeriod();
        uint32 back = 1 + uint32(pick % (G + D + 1));
        if (back > cur) return (false, k);
        k.q = cur - back;
        k.lines = _lines[k.h][k.q];
        if (k.lines.length == 0) return (false, k);
        k.index = (pick >> 8) % k.lines.length;
        k.line = k.lines[k.index];
        k.id = uint64(k.line >> 128);
        return (known[k.id], k);
    }

    /*//////////////////////////////////////////////////////////////
                         KEEPERS, ARBITER, ADMIN, TIME
    //////////////////////////////////////////////////////////////*/

    function settle(uint256 seed, uint256 idx) external step(seed) {
        if (allocations.length == 0) return;
        tc.settle(allocations[idx % allocations.length]);
    }

    /// @notice Expiry succeeds exactly when the tenant's grace after running out is over, and never while paused.
    function expire(uint256 seed, uint256 idx) external step(seed) {
        _expire(idx);
    }

    function _expire(uint256 idx) internal {
        if (allocations.length == 0) return;
        uint64 id = _preferred(idx, false);
        if (_g[id].closedAt != 0) return;
        Escrow memory e = tc.accountOf(_g[id].tenant);
        uint256 s = e.suspendedAt != 0 ? e.suspendedAt : (e.paidThrough < block.timestamp ? e.paidThrough : 0);
        // Solvent again (a release lowered the rate): the suspension lifts instead.
        bool solvent = e.ratePerSecond != 0 && e.paidThrough >= block.timestamp + MIN_PREPAID;
        bool due = !tc.paused() && s != 0 && !solvent && block.timestamp >= s + GRACE_SECONDS;
        _drain();
        try tc.expireAllocation(id) {
            assertTrue(due, "expired before the grace was over, or while paused");
            _closed(id);
            ++expiries;
        } catch {
            _discard();
            assertFalse(due, "an expiry was refused");
        }
    }

    /// @notice A truthful arbiter: upheld exactly when the line charges more than the true usage.
    function rule(uint256 seed, uint256 pick) external step(seed) {
        if (disputes.length == 0) return;
        uint256 did = disputes[pick % disputes.length];
        IMarket.Dispute memory d = market.disputeOf(did);
        if (d.status != IMarket.DisputeStatus.Open || block.timestamp > d.deadline) return;
        bool upheld = _overcharge(d.allocationId, d.period, disputedLine[did]) != 0;
        uint32 h = _hostOf(d.allocationId);
        uint256 bondBefore = market.bondOf(h).amount;
        vm.prank(arbiter);
        market.rule(did, upheld);
        if (upheld) {
            assertTrue(h != HONEST, "an honest line was upheld");
            assertEq(bondBefore - market.bondOf(h).amount, Math.min(2 * d.lineCost, bondBefore), "slash size");
        }
        openDisputes[h] -= 1;
    }

    function expireDispute(uint256 seed, uint256 pick) external step(seed) {
        if (disputes.length == 0) return;
        uint256 did = disputes[pick % disputes.length];
        IMarket.Dispute memory d = market.disputeOf(did);
        if (d.status != IMarket.DisputeStatus.Open || block.timestamp <= d.deadline) return;
        market.expireDispute(did);
        openDisputes[_hostOf(d.allocationId)] -= 1;
    }

    function withdrawPayout(uint256 seed, uint256 who) external step(seed) {
        address[] memory accounts = payees();
        address a = accounts[who % accounts.length];
        if (market.payoutOf(a) == 0) return;
        if (tc.paused() && tc.isOperator(a)) {
            // Nothing leaves to an operator during a pause; tenants are paid.
            vm.prank(a);
            vm.expectRevert(IMarket.MarketPaused.selector);
            market.withdrawPayout(a);
            return;
        }
        vm.prank(a);
        market.withdrawPayout(a);
    }

    function pause(uint256 seed) external step(seed) {
        if (tc.paused()) return;
        vm.prank(admin);
        tc.pause();
    }

    function unpause(uint256 seed) external step(seed) {
        if (!tc.paused()) return;
        vm.prank(admin);
        tc.unpause();
    }

    function warp(uint256 seed, uint256 seconds_) external step(seed) {
        vm.warp(block.timestamp + (seconds_ % 4 == 0 ? bound(seconds_, 1, 1 hours) : bound(seconds_, 1, 150)));
    }

    /*//////////////////////////////////////////////////////////////
                                 GHOST BOOKS
    //////////////////////////////////////////////////////////////*/

    /// @dev After a resize of either kind: the new size and terms, checked against the contract.
    function _resized(uint64 id, Resources memory r) internal returns (uint256 rate) {
        Ghost storage x = _g[id];
        rate = tc.getAllocation(id).ratePerSecond;
        (ReservedPrices memory rs, MeteredPrices memory ms,,) = tc.termsOf(id);
        assertEq(_rate(r, rs), rate, "rate != resources x agreed prices");
        MeteredPrices memory m = _agreedMetered[id];
        assertTrue(ms.cpuSecond == m.cpuSecond && ms.memoryGiBSecond == m.memoryGiBSecond, "metered terms changed");
        _agreedReserved[id] = rs;
        if (r.cpuMillis > x.peakCpu) x.peakCpu = r.cpuMillis;
        if (r.memoryMiB > x.peakMem) x.peakMem = r.memoryMiB;
        _segs[id].push(Seg(uint32(block.timestamp), r.cpuMillis, r.memoryMiB, uint64(rate)));
    }

    function _closed(uint64 id) internal {
        _g[id].closedAt = uint32(block.timestamp);
    }

    /// @dev Fold the step's logs into the books: reserved and metered collected per allocation; count drops.
    function _drain() internal returns (uint256 drops) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(tc)) continue;
            bytes32 t0 = logs[i].topics[0];
            if (t0 == IBilling.Settled.selector) {
                uint64 id = uint64(uint256(logs[i].topics[1]));
                (uint32 from, uint32 to, uint256 reserved, uint256 metered) =
                    abi.decode(logs[i].data, (uint32, uint32, uint256, uint256));
                assertLe(to, block.timestamp);
                assertLe(from, to);
                _g[id].collectedReserved += reserved;
                _g[id].collectedMetered += metered;
            } else if (t0 == IUsage.UsageLineDropped.selector) {
                ++drops;
            }
        }
    }

    /// @dev Forge records the logs of calls that then reverted: a caught revert's logs never happened.
    function _discard() internal {
        vm.getRecordedLogs();
    }

    /// @dev Metered charged so far: collected plus pending.
    function _metered(uint64 id) internal view returns (uint256) {
        return _g[id].collectedMetered + tc.getAllocation(id).pendingMetered;
    }

    /// @notice What allocation `id` really used in period `p`: a fixed fraction of what it held then.
    function trueUsage(uint64 id, uint32 p) public view returns (uint64 cpu, uint64 mem) {
        (uint256 hc, uint256 hm) = _held(id, _start(p), _start(p + 1));
        uint256 r = uint256(keccak256(abi.encode(id, p)));
        cpu = uint64(hc * (r % 1001) / 1000);
        mem = uint64(hm * ((r >> 128) % 1001) / 1000);
    }

    /// @dev CPU-ms and MiB-seconds held in [t0, t1) (up to now or the close), from the handler's own segments.
    function _held(uint64 id, uint256 t0, uint256 t1) internal view returns (uint256 cpu, uint256 mem) {
        Seg[] storage s = _segs[id];
        uint256 end = _g[id].closedAt != 0 ? _g[id].closedAt : block.timestamp;
        if (t1 > end) t1 = end;
        for (uint256 i; i < s.length; ++i) {
            uint256 a = Math.max(s[i].start, t0);
            uint256 b = Math.min(i + 1 < s.length ? s[i + 1].start : end, t1);
            if (b > a) {
                cpu += uint256(s[i].cpu) * (b - a);
                mem += uint256(s[i].mem) * (b - a);
            }
        }
    }

    /// @dev The most the reserved charge may be: each size's agreed rate for as long as it was held.
    function _reservedBound(uint64 id) internal view returns (uint256 total) {
        Seg[] storage s = _segs[id];
        uint256 end = _g[id].closedAt != 0 ? _g[id].closedAt : block.timestamp;
        for (uint256 i; i < s.length; ++i) {
            uint256 b = i + 1 < s.length ? s[i + 1].start : end;
            total += uint256(s[i].rate) * (b - s[i].start);
        }
    }

    /// @dev What `id` held in period `q` costs at its agreed prices.
    function _heldCostIn(uint64 id, uint32 q) internal view returns (uint256) {
        (uint256 hc, uint256 hm) = _held(id, _start(q), _start(q + 1));
        return _cost(_agreedMetered[id], hc, hm);
    }

    /// @dev What everything `id` held from admission to the end of period `q` costs at its agreed prices.
    function _heldCostByEndOf(uint64 id, uint32 q) internal view returns (uint256) {
        (uint256 hc, uint256 hm) = _held(id, _g[id].admittedAt, _start(q + 1));
        return _cost(_agreedMetered[id], hc, hm);
    }

    function _lineCostOf(uint64 id, uint256 line) internal view returns (uint256) {
        return _cost(_agreedMetered[id], uint64(line >> 64), uint64(line));
    }

    function _maxLineCost(uint256[] memory ls, uint64 id) internal view returns (uint256 most) {
        for (uint256 i; i < ls.length; ++i) {
            if (uint64(ls[i] >> 128) == id) most = Math.max(most, _lineCostOf(id, ls[i]));
        }
    }

    function _firstLineOf(uint256[] memory ls, uint64 id) internal pure returns (uint256) {
        for (uint256 i; i < ls.length; ++i) {
            if (uint64(ls[i] >> 128) == id) return ls[i];
        }
        return 0;
    }

    /*//////////////////////////////////////////////////////////////
                       CHECKS (CALLED BY THE INVARIANTS)
    //////////////////////////////////////////////////////////////*/

    /// @notice The allocations' checks, each allocation read once (they run after every call); returns the
    /// allocations for the test's own checks.
    function checkAllocations() external view returns (Allocation[] memory all) {
        uint256 n = allocations.length;
        all = new Allocation[](n);
        uint32 cur = tc.currentPeriod();
        uint256[] memory future = new uint256[](tenants.length);
        for (uint256 i; i < n; ++i) {
            uint64 id = allocations[i];
            Allocation memory a = tc.getAllocation(id);
            all[i] = a;
            _checkTerms(id, a);
            _checkCharges(id, a);
            for (uint256 t; t < tenants.length; ++t) {
                if (tenants[t] == a.tenant) future[t] += _maxFuture(id, a.nextReportPeriod, cur);
            }
        }
        for (uint256 t; t < tenants.length; ++t) {
            _checkExposure(tenants[t], future[t]);
        }
    }

    /// @dev Its terms are what it agreed to: metered ones from admission, reserved ones from admission or its
    /// last resize; its rate is its resources at them.
    function _checkTerms(uint64 id, Allocation memory a) internal view {
        (ReservedPrices memory rs, MeteredPrices memory ms, uint24 pc, uint32 pm) = tc.termsOf(id);
        MeteredPrices memory m = _agreedMetered[id];
        assertTrue(ms.cpuSecond == m.cpuSecond && ms.memoryGiBSecond == m.memoryGiBSecond, "metered terms changed");
        assertEq(keccak256(abi.encode(rs)), keccak256(abi.encode(_agreedReserved[id])), "reserved terms changed");
        assertTrue(pc == _g[id].peakCpu && pm == _g[id].peakMem, "peak");
        Seg storage last = _segs[id][_segs[id].length - 1];
        assertTrue(a.resources.cpuMillis == last.cpu && a.resources.memoryMiB == last.mem, "size");
        assertEq(a.ratePerSecond, last.rate, "rate");
        assertEq(_rate(a.resources, rs), a.ratePerSecond, "rate != resources x agreed prices");
    }

    /// @dev Its metered charge came from claims only and stays within its agreed prices times what it held
    /// (the handler's integral, equal to the contract's meter); its reserved charge within its agreed rates
    /// times the time it held each size.
    function _checkCharges(uint64 id, Allocation memory a) internal view {
        Ghost storage x = _g[id];
        assertEq(x.charged, x.collectedMetered + a.pendingMetered, "a metered charge outside a claim");
        (uint256 hc, uint256 hm) = _held(id, x.admittedAt, block.timestamp);
        assertLe(x.charged, _cost(_agreedMetered[id], hc, hm), "metered above the agreed prices x resources held");
        (uint256 heldCpu, uint256 heldMem,,) = tc.meterOf(id);
        assertEq(heldCpu, hc, "meter: cpu held");
        assertEq(heldMem, hm, "meter: memory held");
        (uint256 unsettled,) = tc.unsettledOf(id);
        assertLe(x.collectedReserved + unsettled, _reservedBound(id), "reserved above the agreed rates x time held");
    }

    /// @dev Withdrawals keep the minimum prepaid period and the exposure, and the exposure covers every metered
    /// charge that claims may still bring (`future`: each claimable period at the allocation's peak).
    function _checkExposure(address t, uint256 future) internal view {
        Escrow memory e = tc.accountOf(t);
        uint256 x = tc.exposureOf(t);
        uint256 kept = e.ratePerSecond * MIN_PREPAID + x;
        assertLe(e.withdrawable, e.balance > kept ? e.balance - kept : 0, "withdrawable beyond the exposure");
        assertGe(x, future, "exposure below what claims may still charge");
    }

    function _maxFuture(uint64 id, uint32 nextReportPeriod, uint32 cur) internal view returns (uint256) {
        Ghost storage x = _g[id];
        if (x.rejected) return 0;
        uint256 lo = Math.max(nextReportPeriod, _periodAt(x.admittedAt));
        uint256 oldestClaimable = cur > 2 * G + D + 1 ? cur - (2 * G + D + 1) : 0;
        lo = Math.max(lo, oldestClaimable);
        uint256 hi = x.closedAt != 0 ? _periodAt(x.closedAt) : cur;
        if (hi < lo) return 0;
        return (hi - lo + 1) * _cost(_agreedMetered[id], uint256(x.peakCpu) * PERIOD, uint256(x.peakMem) * PERIOD);
    }

    /*//////////////////////////////////////////////////////////////
                                   VIEWS
    //////////////////////////////////////////////////////////////*/

    function allocationIds() external view returns (uint64[] memory) {
        return allocations;
    }

    function disputeIds() external view returns (uint256[] memory) {
        return disputes;
    }

    function allocationCount() external view returns (uint256) {
        return allocations.length;
    }

    function disputeCount() external view returns (uint256) {
        return disputes.length;
    }

    function tenantCount() external view returns (uint256) {
        return tenants.length;
    }

    function linesOf(uint32 h, uint32 p) external view returns (uint256[] memory) {
        return _lines[h][p];
    }

    function tenantOf(uint64 id) external view returns (address) {
        return _g[id].tenant;
    }

    /// @notice Everyone the market may owe a payout to.
    function payees() public view returns (address[] memory accounts) {
        accounts = new address[](tenants.length + operators.length + 1);
        for (uint256 i; i < tenants.length; ++i) {
            accounts[i] = tenants[i];
        }
        for (uint256 i; i < operators.length; ++i) {
            accounts[tenants.length + i] = operators[i];
        }
        accounts[accounts.length - 1] = treasury;
    }

    /*//////////////////////////////////////////////////////////////
                                  HELPERS
    //////////////////////////////////////////////////////////////*/

    function _fund(address t, uint256 amount) internal {
        token.mint(address(this), amount);
        token.approve(address(tc), amount);
        tc.deposit(t, amount); // works paused or not
    }

    function _basePrices() internal pure returns (ReservedPrices memory) {
        return ReservedPrices(1e9, 1e8, 1e9, 1e6);
    }

    function _baseMetered() internal pure returns (MeteredPrices memory) {
        return MeteredPrices(3e12, 1e11);
    }

    function _cost(MeteredPrices memory m, uint256 cpuMs, uint256 memMiBs) internal pure returns (uint256) {
        return cpuMs * m.cpuSecond / 1000 + memMiBs * m.memoryGiBSecond / 1024;
    }

    function _rate(Resources memory r, ReservedPrices memory p) internal pure returns (uint256) {
        return uint256(r.cpuMillis) * p.cpuMilli + uint256(r.memoryMiB) * p.memoryMiB + uint256(r.storageGiB)
            * p.storageGiB + uint256(r.pids) * p.pid;
    }

    function _pack(uint64 id, uint64 cpuMs, uint64 memMiBs) internal pure returns (uint256) {
        return (uint256(id) << 128) | (uint256(cpuMs) << 64) | memMiBs;
    }

    function _key(uint64 id, uint32 p) internal pure returns (uint256) {
        return (uint256(id) << 32) | p;
    }

    function _hostOf(uint64 id) internal pure returns (uint32) {
        return uint32(id >> 32);
    }

    function _start(uint32 p) internal view returns (uint256) {
        return uint256(genesis) + uint256(p) * PERIOD;
    }

    function _periodAt(uint256 t) internal view returns (uint32) {
        return uint32((t - genesis) / PERIOD);
    }

    function _bubble(bytes memory err) internal pure {
        assembly ("memory-safe") {
            revert(add(err, 32), mload(err))
        }
    }
}
