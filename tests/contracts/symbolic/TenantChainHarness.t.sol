// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TenantChain} from "../../../contracts/TenantChain.sol";
import {ResourcesLib} from "../../../contracts/libraries/ResourcesLib.sol";
import {UsageDigestLib} from "../../../contracts/libraries/UsageDigestLib.sol";

/// @title TenantChainHarness
/// @notice TenantChain with its internal rules exposed and its storage set directly, for the symbolic
/// checks (Halmos) of this folder: they prove properties of the contract's own code, not of a copy.
/// @dev A `.t.sol` file so that the deployable-size build (`forge build --sizes --skip '*.t.sol'`)
/// leaves it out: with its extra functions it is larger than EIP-170 allows, which a test never minds.
/// The setters write records as the contract's own paths leave them; each check states what it sets.
contract TenantChainHarness is TenantChain {
    using ResourcesLib for uint104;

    constructor(IERC20 token_, uint32 periodSeconds_, uint32 disputePeriods_, uint32 reportGracePeriods_)
        TenantChain(
            msg.sender,
            token_,
            periodSeconds_,
            0,
            disputePeriods_,
            reportGracePeriods_,
            0,
            0,
            Resources(type(uint24).max, type(uint32).max, type(uint24).max, type(uint24).max)
        )
    {}

    /*//////////////////////////////////////////////////////////////
                                 STATE SETTERS
    //////////////////////////////////////////////////////////////*/

    /// @dev An active host run by `operator`, with its capacity, use, base prices and surcharge.
    function setHost(
        uint32 hostId,
        address operator,
        uint104 capacity,
        uint104 used,
        ReservedPrices calldata prices,
        uint8 surchargePct
    ) external {
        StoredHost storage h = _hosts[hostId];
        (h.status, h.operator, h.capacity, h.used) = (HostStatus.Active, operator, capacity, used);
        (h.reservedPrices, h.surchargePct) = (prices, surchargePct);
    }

    /// @dev An active tenant holding `used` in `activeAllocations` allocations, whose escrow is `funded`
    /// at a total reserved rate of `rate` (not suspended, no metered exposure).
    function setTenant(address tenant, uint104 used, uint32 activeAllocations, uint128 funded, uint96 rate) external {
        StoredTenant storage t = _tenants[tenant];
        (t.status, t.used, t.activeAllocations) = (TenantStatus.Active, used, activeAllocations);
        (_accounts[tenant].funded, _accounts[tenant].ratePerSecond) = (funded, rate);
    }

    /// @dev An allocation record and its agreed reserved prices, as admission and resizes leave them.
    function setAllocation(
        uint64 allocationId,
        AllocationStatus status,
        address tenant,
        uint104 resources,
        uint64 ratePerSecond,
        uint32 lastSettled,
        ReservedPrices calldata agreed
    ) external {
        StoredAllocation storage a = _allocations[allocationId];
        (a.status, a.tenant, a.resources) = (status, tenant, resources);
        (a.ratePerSecond, a.lastSettled) = (ratePerSecond, lastSettled);
        _reservedTerms[allocationId] = agreed;
    }

    /// @dev An allocation's agreed metered prices and peak size, and when its meter last folded.
    function setMeterTerms(uint64 allocationId, MeterTerms calldata terms, uint32 heldAt) external {
        _meterTerms[allocationId] = terms;
        _meters[allocationId].heldAt = heldAt;
    }

    /// @dev The tenant's automatic-resize policy for an allocation.
    function setScaling(uint64 allocationId, uint104 min, uint104 max, uint64 maxRatePerSecond) external {
        _scaling[allocationId] = ScalingPolicy(min, max, 0, maxRatePerSecond);
    }

    /// @dev Write the usage slot that `period` of `hostId` lands in, as an earlier report would have.
    function setUsageSlot(uint32 hostId, uint32 period, uint256 slot) external {
        _usageSlots[_usageKey(hostId, period)] = slot;
    }

    /*//////////////////////////////////////////////////////////////
                               EXPOSED INTERNALS
    //////////////////////////////////////////////////////////////*/

    function exposedFinalFrom(uint32 period) external view returns (uint32) {
        return _finalFrom(period);
    }

    function exposedClaimClosesAt(uint32 period) external view returns (uint32) {
        return _claimClosesAt(period);
    }

    function exposedUsageKey(uint32 hostId, uint32 period) external view returns (uint256) {
        return _usageKey(hostId, period);
    }

    /// @dev The usage slot that `period` of `hostId` lands in (digest | flags | period).
    function usageSlot(uint32 hostId, uint32 period) external view returns (uint256) {
        return _usageSlots[_usageKey(hostId, period)];
    }

    /// @dev The digest a report of `lines` commits to (its slot's high 216 bits).
    function exposedDigest(uint256[] calldata lines) external pure returns (uint256) {
        return UsageDigestLib.extend(0, lines);
    }

    function exposedQuotePrices(uint32 hostId, uint104 used, uint104 req)
        external
        view
        returns (ReservedPrices memory)
    {
        return _quotePrices(_hosts[hostId], used, req);
    }

    function exposedGrownPrices(uint64 allocationId, uint104 old, uint104 req)
        external
        view
        returns (ReservedPrices memory)
    {
        return _grownPrices(allocationId, old, req);
    }

    function exposedRate(uint104 req, ReservedPrices calldata prices) external pure returns (uint256) {
        return req.rate(prices);
    }

    function exposedLineCost(uint32 hostId, uint32 period, uint256 line) external view returns (bool, uint256) {
        return _lineCost(hostId, period, line);
    }

    /// @dev The physical-bound metered cost per second that withdrawals hold back for an allocation.
    function exposedMeteredRate(uint64 allocationId) external view returns (uint256) {
        return _meteredRate(_meterTerms[allocationId]);
    }

    /// @dev The allocation's stored rate and agreed reserved prices.
    function rateAndTerms(uint64 allocationId) external view returns (uint64, ReservedPrices memory) {
        return (_allocations[allocationId].ratePerSecond, _reservedTerms[allocationId]);
    }
}
