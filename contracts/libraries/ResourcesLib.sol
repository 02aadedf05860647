// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "../interfaces/ITypes.sol";

/// @notice A resource vector packed into 104 bits, so that it shares a storage slot with its record,
/// and lane-wise arithmetic on the packed form (no memory structs on the hot paths).
/// @dev Layout, low to high: cpuMillis (24) | memoryMiB (32) | storageGiB (24) | pids (24).
/// Packed sums and differences are plain integer ops: callers guarantee no lane carries or borrows
/// (a sum is checked to fit under a limit that itself fits; a difference takes away a part).
library ResourcesLib {
    uint256 private constant _CPU = 0xFFFFFF;
    uint256 private constant _MEM = 0xFFFFFFFF << 24;
    uint256 private constant _STO = 0xFFFFFF << 56;
    uint256 private constant _PIDS = 0xFFFFFF << 80;

    function pack(ITypes.Resources memory r) internal pure returns (uint104) {
        return uint104(r.cpuMillis) | (uint104(r.memoryMiB) << 24) | (uint104(r.storageGiB) << 56)
            | (uint104(r.pids) << 80);
    }

    function unpack(uint104 p) internal pure returns (ITypes.Resources memory r) {
        r.cpuMillis = uint24(p);
        r.memoryMiB = uint32(p >> 24);
        r.storageGiB = uint24(p >> 56);
        r.pids = uint24(p >> 80);
    }

    /// @dev True when every lane of `a` is at most the same lane of `b`.
    function fits(uint104 a, uint104 b) internal pure returns (bool) {
        return (a & _CPU) <= (b & _CPU) && (a & _MEM) <= (b & _MEM) && (a & _STO) <= (b & _STO)
            && (a & _PIDS) <= (b & _PIDS);
    }

    /// @dev Lane-wise `limit - used`, clamped at zero: what is left under a limit.
    function remaining(uint104 limit, uint104 used) internal pure returns (uint104) {
        return uint104(
            _lane(limit, used, _CPU) | _lane(limit, used, _MEM) | _lane(limit, used, _STO) | _lane(limit, used, _PIDS)
        );
    }

    function _lane(uint104 a, uint104 b, uint256 mask) private pure returns (uint256) {
        uint256 x = a & mask;
        uint256 y = b & mask;
        return x > y ? x - y : 0;
    }

    /// @dev Metered cost per second of `p` used in full (CPU and memory at `prices`), rounded up.
    function meteredRate(uint104 p, ITypes.MeteredPrices memory prices) internal pure returns (uint256) {
        return (uint256(uint24(p)) * prices.cpuSecond + 999) / 1000
            + (uint256(uint32(p >> 24)) * prices.memoryGiBSecond + 1023) / 1024;
    }

    /// @dev A host's full income per second at capacity `p`: every resource reserved, CPU and memory also
    /// used in full at the metered prices. What its bond is sized by.
    function fullRate(uint104 p, ITypes.ReservedPrices memory reserved, ITypes.MeteredPrices memory metered)
        internal
        pure
        returns (uint256)
    {
        return rate(p, reserved) + meteredRate(p, metered);
    }

    /// @dev Reserved charge per second: sum over resources of amount x price. Never rounds, and
    /// can't overflow (4 x 2^32 x 2^64 < 2^256).
    function rate(uint104 p, ITypes.ReservedPrices memory prices) internal pure returns (uint256) {
        return uint256(uint24(p)) * prices.cpuMilli + uint256(uint32(p >> 24)) * prices.memoryMiB
            + uint256(uint24(p >> 56)) * prices.storageGiB + uint256(uint24(p >> 80)) * prices.pid;
    }
}
