// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The shapes shared by the registry, allocation and billing interfaces.
/// @dev Widths are chosen so that the hot records pack into single storage slots (see TenantChain).
interface ITypes {
    /// @notice A resource vector: what a host offers, what an allocation reserves, what a quota caps.
    /// @dev 104 bits: cpu up to 16,777 cores, memory up to 4 PiB, storage up to 16 PiB, 16.7M pids.
    struct Resources {
        uint24 cpuMillis;
        uint32 memoryMiB;
        uint24 storageGiB;
        uint24 pids;
    }

    /// @notice Reserved prices, in token units per unit per second, one per resource.
    struct ReservedPrices {
        uint64 cpuMilli; // per millicore-second
        uint64 memoryMiB; // per MiB-second
        uint64 storageGiB; // per GiB-second
        uint64 pid; // per pid-second
    }

    /// @notice Metered prices for measured use, in token units.
    struct MeteredPrices {
        uint128 cpuSecond; // per CPU-second used (reports carry CPU-milliseconds)
        uint128 memoryGiBSecond; // per GiB-second used (reports carry MiB-seconds)
    }

    /// @notice One allocation's measured use in one period.
    // A usage report line is one word: `allocationId << 128 | cpuMs << 64 | memoryMiBSeconds` (each
    // 64 bits; the top 64 bits zero): CPU time in milliseconds and memory in use integrated over the
    // period. One word, not a struct of three: a line travels in a report, again in its claim, and in
    // the report's log, and three words of mostly zero bytes cost ~1,000 gas more per line.

    enum TenantStatus {
        None,
        Active,
        Suspended, // by an admin; the escrow's own suspension is `Account.suspendedAt`
        Closed
    }

    enum HostStatus {
        None,
        Active,
        Draining, // takes no new allocations; running ones continue
        Retired // final; only with nothing allocated
    }

    enum AllocationStatus {
        None,
        Active,
        Closed
    }

    enum CloseReason {
        None,
        Released, // by the tenant or a delegate
        Rejected, // by the host's operator, with a reason code
        OutOfFunds // grace period over without a top-up
    }

    /// @notice Reason codes an operator gives when it rejects an allocation.
    /// @dev Informational; carried in {IAllocation-AllocationClosed}. 0 is "unspecified".
    /// 1 undecryptable spec, 2 spec hash mismatch, 3 invalid spec, 4 forbidden spec, 5 image missing,
    /// 6 host failure, 7 egress forbidden by the host, 8 more exposed ports than the host publishes,
    /// 9 image not found, 10 registry unauthorised, 11 image too big, 12 registry not allowed,
    /// 13 registry unreachable, 14 registry address forbidden (loopback, private...: refused before any
    /// request), 15 registry response too big. Any other uint16 is accepted and shown as its number.

    struct Allocation {
        address tenant;
        uint32 hostId;
        AllocationStatus status;
        CloseReason closeReason;
        Resources resources;
        uint64 ratePerSecond;
        uint32 lastSettled;
        uint32 nextReportPeriod; // reports must name this period or a later one
        uint96 pendingMetered;
    }

    struct Host {
        address operator;
        HostStatus status;
        Resources capacity;
        Resources used;
        uint32 allocationCount;
        ReservedPrices reservedPrices;
        MeteredPrices meteredPrices;
        bytes publicKey; // compressed secp256k1, 33 bytes
    }

    struct Tenant {
        TenantStatus status;
        Resources used;
        uint32 activeAllocations;
        Resources quota; // effective quota (custom or default)
    }

    struct Escrow {
        uint256 balance; // unspent escrow net of accrued reserved charges
        uint256 ratePerSecond; // reserved charge of all active allocations
        uint256 paidThrough; // when the escrow runs out at the current rate (type(uint256).max: never)
        uint256 suspendedAt; // 0 unless suspended for lack of funds
        uint256 withdrawable; // balance minus the minimum prepaid reserve
        uint256 funded; // raw accounting: escrow + sum(rate_i * lastSettled_i) over active allocations
    }
}
