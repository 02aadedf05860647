// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The digest that a usage report commits to: a running keccak over the report's lines, cut to
/// 216 bits at every step so that it packs into one slot beside its period and still chains across the
/// batches of one period (216 bits leave 2^108 work for a collision).
library UsageDigestLib {
    uint256 internal constant LOW_BITS = 40; // the slot's period (32) and flags (8) sit below the digest
    uint256 internal constant DIGEST_MASK = ~uint256((1 << 40) - 1);

    /// @dev h = keccak(h, line) & DIGEST_MASK for each (packed) line, in order.
    function extend(uint256 h, uint256[] calldata lines) internal pure returns (uint256) {
        assembly ("memory-safe") {
            let mask := not(0xffffffffff)
            let off := lines.offset
            for { let end := add(off, shl(5, lines.length)) } lt(off, end) { off := add(off, 0x20) } {
                mstore(0x00, h) // the scratch space: two words, never allocated
                mstore(0x20, calldataload(off))
                h := and(keccak256(0x00, 0x40), mask)
            }
        }
        return h;
    }
}
