// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITypes} from "../interfaces/ITypes.sol";

/// @notice A resource vector packed into 104 bits, so that it shares a storage slot with its record.
/// @dev Layout, low to high: cpuMillis (24) | memoryMiB (32) | storageGiB (24) | pids (24).
library ResourcesLib {
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
    function fitsWithin(ITypes.Resources memory a, ITypes.Resources memory b) internal pure returns (bool) {
        return a.cpuMillis <= b.cpuMillis && a.memoryMiB <= b.memoryMiB && a.storageGiB <= b.storageGiB
            && a.pids <= b.pids;
    }

    /// @dev Lane-wise sum; reverts (checked arithmetic) if a lane overflows its width.
    function add(ITypes.Resources memory a, ITypes.Resources memory b)
        internal
        pure
        returns (ITypes.Resources memory r)
    {
        r.cpuMillis = a.cpuMillis + b.cpuMillis;
        r.memoryMiB = a.memoryMiB + b.memoryMiB;
        r.storageGiB = a.storageGiB + b.storageGiB;
        r.pids = a.pids + b.pids;
    }

    /// @dev Lane-wise difference; reverts if a lane of `b` exceeds `a`.
    function sub(ITypes.Resources memory a, ITypes.Resources memory b)
        internal
        pure
        returns (ITypes.Resources memory r)
    {
        r.cpuMillis = a.cpuMillis - b.cpuMillis;
        r.memoryMiB = a.memoryMiB - b.memoryMiB;
        r.storageGiB = a.storageGiB - b.storageGiB;
        r.pids = a.pids - b.pids;
    }

    /// @dev Lane-wise `a - b`, clamped at zero: what is left of a limit.
    function remaining(ITypes.Resources memory a, ITypes.Resources memory b)
        internal
        pure
        returns (ITypes.Resources memory r)
    {
        r.cpuMillis = a.cpuMillis > b.cpuMillis ? a.cpuMillis - b.cpuMillis : 0;
        r.memoryMiB = a.memoryMiB > b.memoryMiB ? a.memoryMiB - b.memoryMiB : 0;
        r.storageGiB = a.storageGiB > b.storageGiB ? a.storageGiB - b.storageGiB : 0;
        r.pids = a.pids > b.pids ? a.pids - b.pids : 0;
    }

    /// @dev Reserved charge per second: sum over resources of amount x price. Never rounds.
    function rate(ITypes.Resources memory r, ITypes.ReservedPrices memory p) internal pure returns (uint256) {
        return uint256(r.cpuMillis) * p.cpuMilli + uint256(r.memoryMiB) * p.memoryMiB
            + uint256(r.storageGiB) * p.storageGiB + uint256(r.pids) * p.pid;
    }
}
