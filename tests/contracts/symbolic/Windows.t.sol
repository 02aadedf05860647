// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ITypes} from "../../../contracts/interfaces/ITypes.sol";
import {TestToken} from "../../../contracts/test/TestToken.sol";
import {TenantChainHarness} from "./TenantChainHarness.t.sol";

/// @title WindowsSymbolic
/// @notice Halmos proofs of the usage windows through the real `reportUsage`: for every dispute window D
/// and report grace G that the constructor accepts (1..64 each), every period and every time (periods
/// bounded only so that `p + 2G + D + 2` fits in 32 bits). The period length is 1 s: the rules count
/// periods, and a symbolic division by the length would only slow the solver down.
/// @dev The ring (a host's `G + D` usage slots, slot = period % (G + D)) is checked in two parts, because
/// z3 can't reason about a 256-bit `%` by a symbolic divisor in useful time: (1) with any G, D, period and
/// slot content that the ring allows -- a slot that holds period h is the slot of q only if h == q or
/// |h - q| >= G + D (two periods with one remainder differ by a multiple of G + D) -- a report only
/// overwrites final periods, and the ring's own claim is never late; (2) the contract's `%` keys only
/// periods G + D apart to one slot, for a table of (D, G) pairs and 16-bit periods.
contract WindowsSymbolic is Test, ITypes {
    uint32 internal constant HOST = 1;
    uint32 internal constant PERIOD = 1;
    uint256 internal constant GENESIS = 1_700_000_000;
    /// @dev A line of allocation 7, which lives on host 0: claims drop it (no allocation state needed).
    uint256 internal constant LINE = (uint256(7) << 128) | (uint256(5) << 64) | 9;
    uint32 internal constant MAX_PERIOD = type(uint32).max - 4 * 64 - 4;
    uint256 internal constant HELD_BIT = 1 << 34;
    uint256 internal constant USED_BIT = 1 << 39;

    /// @dev What a usage slot holds before the report: a period, flags, and the digest of LINE or another.
    struct Slot {
        uint32 held;
        uint8 flags;
        uint216 otherDigest;
        bool matching;
    }

    TestToken internal token;

    function setUp() public {
        vm.warp(GENESIS);
        token = new TestToken();
    }

    /// @dev A period's lines become final only after its last batch had D full periods for receipts and
    /// disputes (the market closes them at finalFrom): finalFrom(p) >= c + D + 1 for every period c in
    /// which a batch of p is accepted, the first on a fresh slot or a further one appended to p's open
    /// report (any flags) -- and one is accepted exactly in periods p + 1 .. p + G.
    function check_finalAfterLastBatch(uint32 d, uint32 g, uint32 period, uint32 c, bool appended, uint8 flags) public {
        TenantChainHarness tc = _deploy(d, g);
        vm.assume(period <= MAX_PERIOD);
        if (appended) tc.setUsageSlot(HOST, period, _digestOfLine(tc) | HELD_BIT | (uint256(flags) << 32) | period);
        bool ok = _report(tc, c, period, false);
        assertEq(ok, period < c && uint256(c) <= uint256(period) + g, "report window");
        if (ok) assertGe(tc.exposedFinalFrom(period), uint256(c) + d + 1, "window shorter than D periods");
    }

    /// @dev `claimUsage` (the claim of a host that stopped reporting) charges a held period exactly in
    /// [finalFrom(p), claimClosesAt(p)) = [p + G + D + 1, p + 2G + D + 2), whatever its flags.
    function check_claimOnlyInWindow(uint32 d, uint32 g, uint32 period, uint32 c, uint8 flags) public {
        TenantChainHarness tc = _deploy(d, g);
        vm.assume(period <= MAX_PERIOD);
        tc.setUsageSlot(HOST, period, _digestOfLine(tc) | (uint256(flags) << 32) | HELD_BIT | period);
        assertEq(tc.exposedFinalFrom(period), uint256(period) + g + d + 1, "finalFrom");
        assertEq(tc.exposedClaimClosesAt(period), uint256(period) + 2 * uint256(g) + d + 2, "claimClosesAt");
        vm.warp(GENESIS + uint256(c)); // PERIOD = 1
        uint256[] memory claims = new uint256[](1);
        claims[0] = LINE;
        bool ok;
        try tc.claimUsage(HOST, period, claims) {
            ok = true;
        } catch {}
        assertEq(ok, tc.exposedFinalFrom(period) <= c && c < tc.exposedClaimClosesAt(period), "claim window");
    }

    /// @dev Whatever the slot of `q` holds (period `held`, any flags, its digest or another), a report of
    /// `q` (claiming or not) that is accepted leaves `q` in the slot, never moves the slot backwards, and
    /// replaces a held (unclaimed) period only once it is final -- and claims it only before its claim
    /// closes.
    function check_reportOverwritesOnlyFinalPeriods(uint32 d, uint32 g, uint32 q, uint32 c, Slot memory s, bool claim)
        public
    {
        TenantChainHarness tc = _deploy(d, g);
        vm.assume(q <= MAX_PERIOD && s.held <= MAX_PERIOD);
        uint256 ring = uint256(g) + d;
        vm.assume(s.held == q || uint256(s.held) + ring <= q || uint256(q) + ring <= s.held); // see the title
        uint256 digest = s.matching ? _digestOfLine(tc) : uint256(s.otherDigest) << 40;
        tc.setUsageSlot(HOST, q, digest | (uint256(s.flags) << 32) | s.held);

        if (!_report(tc, c, q, claim)) return;
        assertEq(uint32(tc.usageSlot(HOST, q)), q, "slot does not hold the report");
        if (s.held == q) return;
        assertLt(s.held, q, "slot moved backwards");
        if (uint256(s.flags) << 32 & HELD_BIT != 0) {
            assertGe(c, tc.exposedFinalFrom(s.held), "overwrote a period that was not final");
            if (claim) assertLt(c, tc.exposedClaimClosesAt(s.held), "claimed after the claim closed");
        }
    }

    /// @dev The ring's own claim is never late: whenever the next period of a slot (held + G + D) can be
    /// reported, its report claims the held period (final by then, its claim still open).
    function check_ringClaimNeverLate(uint32 d, uint32 g, uint32 q, uint32 c) public {
        TenantChainHarness tc = _deploy(d, g);
        uint32 ring = g + d;
        vm.assume(q <= MAX_PERIOD && q >= ring);
        uint32 held = q - ring;
        tc.setUsageSlot(HOST, q, _digestOfLine(tc) | HELD_BIT | USED_BIT | held);

        bool ok = _report(tc, c, q, true);
        assertEq(ok, q < c && uint256(c) <= uint256(q) + g, "the ring's claim was refused");
        if (ok) {
            assertGe(c, tc.exposedFinalFrom(held), "claimed before final");
            assertLt(c, tc.exposedClaimClosesAt(held), "claimed after the claim closed");
        }
    }

    /// @dev The contract's slot keys (the real `%`): two periods share a slot exactly when they are a
    /// multiple of G + D apart -- checked for a table of (D, G) pairs and 16-bit periods.
    function check_slotsRepeatEveryRing(uint8 pair, uint16 h, uint16 q) public {
        (uint32 d, uint32 g) = _pair(pair);
        TenantChainHarness tc = _deploy(d, g);
        uint256 ring = uint256(g) + d;
        assertEq(tc.exposedUsageKey(HOST, h), tc.exposedUsageKey(HOST, uint32(h) + uint32(ring)), "not periodic");
        if (h < q && tc.exposedUsageKey(HOST, h) == tc.exposedUsageKey(HOST, q)) {
            assertGe(q, uint256(h) + ring, "slot shared within a ring");
        }
    }

    /// @dev (D, G) pairs: the smallest, the largest, each extreme against the other, and a few between.
    function _pair(uint8 i) internal pure returns (uint32 d, uint32 g) {
        if (i == 0) return (1, 1);
        if (i == 1) return (64, 64);
        if (i == 2) return (1, 64);
        if (i == 3) return (64, 1);
        if (i == 4) return (2, 3);
        if (i == 5) return (3, 2);
        return (7, 12);
    }

    /// @dev A deployment with D = `d`, G = `g` (what the constructor accepts) and host HOST run by this test.
    function _deploy(uint32 d, uint32 g) internal returns (TenantChainHarness tc) {
        vm.assume(d >= 1 && d <= 64 && g >= 1 && g <= 64);
        tc = new TenantChainHarness(IERC20(address(token)), PERIOD, d, g);
        tc.setHost(HOST, address(this), 0, 0, ReservedPrices(0, 0, 0, 0), 0);
    }

    function _digestOfLine(TenantChainHarness tc) internal pure returns (uint256) {
        uint256[] memory lines = new uint256[](1);
        lines[0] = LINE;
        return tc.exposedDigest(lines);
    }

    /// @dev Report [LINE] for `period` during period `current` (claiming [LINE] if `claim`); true if accepted.
    function _report(TenantChainHarness tc, uint32 current, uint32 period, bool claim) internal returns (bool) {
        vm.warp(GENESIS + uint256(current)); // PERIOD = 1
        uint256[] memory lines = new uint256[](1);
        lines[0] = LINE;
        uint256[] memory claims = new uint256[](claim ? 1 : 0);
        if (claim) claims[0] = LINE;
        try tc.reportUsage(HOST, period, lines, claims) {
            return true;
        } catch {
            return false;
        }
    }
}
