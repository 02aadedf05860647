// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IMarket} from "./interfaces/IMarket.sol";
import {ResourcesLib} from "./libraries/ResourcesLib.sol";
import {UsageDigestLib} from "./libraries/UsageDigestLib.sol";
import {ITenantChain} from "./interfaces/ITenantChain.sol";

/// @title TenantChainMarket
/// @notice Operator bonds, host-signed usage receipts, disputes and each host's record, beside one
/// TenantChain deployment that trusts this contract (and only this one) to freeze and void report lines.
/// @dev Kept out of TenantChain: its code is near EIP-170's limit, and nothing here is on a hot path.
/// TenantChain calls in only when a host registers or grows (`lockBond`); this contract calls
/// TenantChain's views and `voidLine`.
///
/// Slashing. A line shown to overcharge (by a receipt the host signed, or by the arbiter) is voided: the
/// tenant pays nothing for it. The bond pays a penalty of PENALTY_MULTIPLE x the overcharge, capped by
/// the bond: half to the tenant, a quarter to the treasury, a quarter burned, so that an operator who
/// slashes itself through a tenant account of its own loses half of it.
contract TenantChainMarket is IMarket, EIP712, Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    uint256 public constant PENALTY_MULTIPLE = 2;
    /// @dev Parameter changes (bond size, unbonding, ruling time, dispute bonds, arbiter, treasury) wait
    /// this long, so that hosts and tenants with open positions can act first.
    uint32 public constant PARAMETER_DELAY = 2 days;
    uint16 internal constant _BPS = 10_000;
    /// @dev Tokens are burned by sending them here: not every ERC20 can burn, none lets this key sign.
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("UsageReceipt(uint64 allocationId,uint32 period,uint64 cpuMs,uint64 memoryMiBSeconds)");

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    struct StoredBond {
        uint256 amount;
        uint32 unbondingEndsAt;
        uint32 openDisputes;
    }

    ITenantChain public immutable tenantChain;
    IERC20 internal immutable _token;

    Parameters internal _params;
    Parameters internal _pendingParams;
    uint32 internal _pendingEffectiveAt; // 0: nothing pending
    mapping(uint32 hostId => StoredBond) internal _bonds;
    mapping(uint32 hostId => Reputation) internal _reputation;
    mapping(uint256 disputeId => Dispute) internal _disputes;
    /// @dev (allocationId << 32 | period) => dispute id + 1 of the line's dispute.
    mapping(uint256 lineKey => uint256) internal _disputeOfLine;
    mapping(address account => uint256) internal _payouts;
    uint256 internal _disputeCount;
    /// @dev Everything this contract owes: bonds + open dispute bonds + payouts (the invariant's sum).
    /// Moves only with tokens: in (bonds, dispute bonds), out (withdrawals, payouts, burns).
    uint256 internal _owed;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(address admin, ITenantChain tenantChain_, Parameters memory params)
        EIP712("TenantChainMarket", "1")
        Ownable(admin)
    {
        tenantChain = tenantChain_;
        _token = IERC20(tenantChain_.token());
        _setParameters(params);
    }

    /*//////////////////////////////////////////////////////////////
                              ADMINISTRATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Propose bond sizing, unbonding, dispute bonds, the arbiter and the treasury; they apply
    /// after PARAMETER_DELAY ({applyParameters}). A new bond size applies when a host next registers or
    /// grows. Requirements: owner; an arbiter and a treasury; a dispute bond of at most 100%; unbonding at
    /// least a retired host's last claim window. Emits {ParametersProposed}.
    function proposeParameters(Parameters calldata params) external onlyOwner {
        _checkParameters(params);
        uint32 effectiveAt = uint32(block.timestamp + PARAMETER_DELAY);
        _pendingParams = params;
        _pendingEffectiveAt = effectiveAt;
        emit ParametersProposed(params, effectiveAt);
    }

    /// @notice Apply the proposed parameters once their delay is over; anyone may. Emits {ParametersSet}.
    function applyParameters() external {
        uint32 effectiveAt = _pendingEffectiveAt;
        // slither-disable-next-line incorrect-equality (0 is "nothing pending", not a time)
        if (effectiveAt == 0 || block.timestamp < effectiveAt) revert MarketParametersNotDue(effectiveAt);
        _pendingEffectiveAt = 0;
        _setParameters(_pendingParams);
    }

    /*//////////////////////////////////////////////////////////////
                                  BONDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Top `hostId`'s bond up to what its capacity needs, from `operator` (who approved this
    /// contract). Requirements: TenantChain (on host registration and update). Emits {BondLocked}.
    function lockBond(uint32 hostId, address operator, uint256 fullRatePerSecond) external {
        if (msg.sender != address(tenantChain)) revert MarketNotTenantChain(msg.sender);
        uint256 required = _bondFor(fullRatePerSecond);
        uint256 amount = _bonds[hostId].amount;
        if (amount < required) _addBond(hostId, operator, required - amount);
    }

    /// @notice Add to a host's bond (after a slash, say); anyone may. Emits {BondLocked}.
    function addBond(uint32 hostId, uint256 amount) external nonReentrant {
        Host memory h = _host(hostId);
        if (h.operator == address(0)) revert MarketWrongHost(0, hostId);
        _addBond(hostId, msg.sender, amount);
        // The host admits again once its bond covers its capacity.
        if (_bonds[hostId].amount >= _requiredBond(h)) tenantChain.setHostBondShort(hostId, false);
    }

    /// @notice Re-read whether `hostId`'s bond covers what its capacity requires now (after a parameter
    /// change, say) and tell TenantChain; anyone may.
    function syncBondStatus(uint32 hostId) external {
        tenantChain.setHostBondShort(hostId, _bonds[hostId].amount < _requiredBond(_host(hostId)));
    }

    /// @notice Start the unbonding period of a retired host's bond.
    /// Requirements: the host's operator; the host retired. Emits {UnbondingStarted}.
    function startUnbonding(uint32 hostId) external {
        Host memory h = _host(hostId);
        if (msg.sender != h.operator) revert MarketNotOperator(msg.sender, hostId);
        if (h.status != HostStatus.Retired) revert MarketHostNotRetired(hostId);
        StoredBond storage b = _bonds[hostId];
        if (b.unbondingEndsAt != 0) revert MarketUnbonding(hostId, b.unbondingEndsAt);
        uint32 endsAt = uint32(block.timestamp + _params.unbondingSeconds);
        b.unbondingEndsAt = endsAt;
        emit UnbondingStarted(hostId, endsAt);
    }

    /// @notice Pay out a retired host's bond after unbonding.
    /// Requirements: not paused (TenantChain's emergency stop); the host's operator; unbonding over; no
    /// dispute open on the host; a bond left. Emits {BondWithdrawn}.
    function withdrawBond(uint32 hostId, address to) external nonReentrant {
        if (to == address(0)) revert MarketZeroAddress();
        if (tenantChain.paused()) revert MarketPaused();
        if (msg.sender != _host(hostId).operator) revert MarketNotOperator(msg.sender, hostId);
        StoredBond storage b = _bonds[hostId];
        uint32 endsAt = b.unbondingEndsAt;
        if (endsAt == 0 || block.timestamp < endsAt) revert MarketUnbonding(hostId, endsAt);
        if (b.openDisputes != 0) revert MarketDisputesOpen(hostId, b.openDisputes);
        uint256 amount = b.amount;
        if (amount == 0) revert MarketNothingToWithdraw(msg.sender);
        b.amount = 0;
        _owed -= amount;
        emit BondWithdrawn(hostId, to, amount);
        _token.safeTransfer(to, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 RECEIPTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Prove that a report line charges more than the host signed for: the line is voided and
    /// the bond slashed at once. Only the line's tenant (or its delegate) may submit: the operator signs receipts at will, so
    /// its own slash with a receipt a hair below the line would void the line for a token penalty and leave
    /// the tenant's true receipt (or its open dispute) nothing to act on.
    /// @param lines Every (packed, ITypes) line of the host's report of `period`, in order (from {UsageReported}).
    /// @param index The line that the receipt covers.
    /// Requirements: the caller the allocation's tenant or its delegate; the period reported and within its dispute
    /// window; the receipt for that line's allocation and period, signed by the host's operator, below
    /// the line in CPU or memory.
    /// Emits {Slashed}, and {DisputeResolved} if the line was disputed.
    function slashWithReceipt(
        uint32 hostId,
        uint32 period,
        uint256[] calldata lines,
        uint256 index,
        UsageReceipt calldata receipt,
        bytes calldata signature
    ) external nonReentrant {
        if (receipt.period != period) revert MarketReceiptMismatch(receipt.allocationId, receipt.period);
        (uint64 allocationId, uint256 overcharge) = _checkReceipt(hostId, period, lines, index, receipt, signature);
        if (overcharge == 0) revert MarketNoOvercharge(allocationId, period);
        address tenant = tenantChain.getAllocation(allocationId).tenant;
        if (msg.sender != tenant && !tenantChain.isDelegate(tenant, msg.sender)) {
            revert MarketNotTenant(msg.sender, allocationId);
        }
        uint256 disputed = _disputeOfLine[_lineKey(allocationId, period)];
        if (disputed == 0) {
            _slash(hostId, allocationId, period, overcharge, tenant);
            tenantChain.voidLine(hostId, allocationId, period);
        } else {
            // Disputed already (the line is void): the receipt settles the dispute for the tenant.
            Dispute storage d = _disputes[disputed - 1];
            if (d.status != DisputeStatus.Open) revert MarketDisputeExists(allocationId, period, disputed - 1);
            _closeDispute(disputed - 1, d, hostId, DisputeStatus.Receipt);
            _credit(d.tenant, d.bond);
            _slash(hostId, allocationId, period, overcharge, d.tenant);
        }
    }

    /// @dev Check that `receipt` is the host operator's signature for the `index`th line of the report;
    /// returns the line's allocation and what the line charges above the receipt.
    function _checkReceipt(
        uint32 hostId,
        uint32 period,
        uint256[] calldata lines,
        uint256 index,
        UsageReceipt calldata receipt,
        bytes calldata signature
    ) internal view returns (uint64 allocationId, uint256 overcharge) {
        (uint256 line, uint256 cost) = _reportedLine(hostId, period, lines, index);
        allocationId = uint64(line >> 128);
        if (receipt.allocationId != allocationId) revert MarketReceiptMismatch(receipt.allocationId, period);
        address signer = ECDSA.recover(_hashTypedDataV4(_receiptStruct(receipt)), signature);
        // The operator of the period signs its receipts (a rotation keeps the previous key's valid).
        if (!tenantChain.isHostSigner(hostId, signer, period)) revert MarketForgedReceipt(signer, _host(hostId).operator);
        overcharge = cost - _signedCost(allocationId, line, receipt);
    }

    /// @dev What `line` would cost at the usage `receipt` signed for, at the allocation's agreed prices
    /// (per resource: a receipt above the line in one resource doesn't offset the other).
    function _signedCost(uint64 allocationId, uint256 line, UsageReceipt calldata receipt) internal view returns (uint256) {
        return tenantChain.allocationMeteredCost(
            allocationId, Math.min(uint64(line >> 64), receipt.cpuMs), Math.min(uint64(line), receipt.memoryMiBSeconds)
        );
    }

    /// @notice Void a reported line that the claim's rules refuse as they stand (TenantChain's
    /// {lineCost}): above the allocation's peak or what it held, for another host's or a rejected
    /// allocation, out of order... Such a line can't be disputed or slashed, but a later resize could make
    /// it chargeable; voiding it within the window keeps it uncharged. Anyone may; nobody is slashed.
    /// Requirements: the period reported and within its window; the line not chargeable now.
    /// Emits {UnchargeableLineVoided}.
    function voidUnchargeable(uint32 hostId, uint32 period, uint256[] calldata lines, uint256 index) external {
        uint256 line = _committedLine(hostId, period, lines, index);
        uint64 allocationId = uint64(line >> 128);
        // slither-disable-next-line unused-return (an unchargeable line has no cost)
        (bool chargeable,) = tenantChain.lineCost(hostId, period, line);
        if (chargeable) revert MarketLineChargeable(allocationId, period);
        emit UnchargeableLineVoided(hostId, allocationId, period);
        if (!tenantChain.isVoided(allocationId, period)) tenantChain.voidLine(hostId, allocationId, period);
    }

    /*//////////////////////////////////////////////////////////////
                                 DISPUTES
    //////////////////////////////////////////////////////////////*/

    /// @notice Dispute a report line: TenantChain will not charge it; instead the tenant pays the line's
    /// cost into this contract under protest, plus a stake of `disputeBondBps` of it (at least
    /// `disputeBondFloor`), until the arbiter rules (approve this contract first).
    /// Requirements: the line's tenant; the period reported and within its dispute window; no dispute on
    /// the line yet. Emits {DisputeOpened}.
    function openDispute(uint32 hostId, uint32 period, uint256[] calldata lines, uint256 index)
        external
        nonReentrant
        returns (uint256 disputeId)
    {
        (uint256 line, uint256 lineCost) = _reportedLine(hostId, period, lines, index);
        uint64 allocationId = uint64(line >> 128);
        if (tenantChain.getAllocation(allocationId).tenant != msg.sender) revert MarketNotTenant(msg.sender, allocationId);
        uint256 lineKey = _lineKey(allocationId, period);
        if (_disputeOfLine[lineKey] != 0) revert MarketDisputeExists(allocationId, period, _disputeOfLine[lineKey] - 1);
        uint256 bond = disputeBondFor(lineCost);
        uint32 deadline = uint32(block.timestamp + _params.rulingSeconds);

        disputeId = _disputeCount++;
        _disputes[disputeId] = Dispute(msg.sender, allocationId, period, deadline, DisputeStatus.Open, bond, lineCost);
        _disputeOfLine[lineKey] = disputeId + 1;
        _bonds[hostId].openDisputes += 1;
        _owed += bond;
        emit DisputeOpened(disputeId, hostId, allocationId, period, bond, deadline);
        tenantChain.voidLine(hostId, allocationId, period);
        _pullExactly(msg.sender, bond);
    }

    /// @notice Rule on an open dispute. Upheld: the tenant's bond is returned (it pays nothing for the
    /// line) and the host's bond slashed for the whole line. Rejected: the tenant's bond (the line's cost
    /// and the stake) goes to the operator. Requirements: the arbiter; the dispute open; before its
    /// deadline. Emits {DisputeResolved}.
    function rule(uint256 disputeId, bool upheld) external nonReentrant {
        if (msg.sender != _params.arbiter) revert MarketNotArbiter(msg.sender);
        Dispute storage d = _openDispute(disputeId);
        if (block.timestamp > d.deadline) revert MarketDeadlinePassed(disputeId, d.deadline);
        uint32 hostId = uint32(d.allocationId >> 32);
        Reputation storage r = _reputation[hostId];
        if (upheld) {
            r.disputesLost += 1;
            _closeDispute(disputeId, d, hostId, DisputeStatus.Upheld);
            _credit(d.tenant, d.bond);
            _slash(hostId, d.allocationId, d.period, d.lineCost, d.tenant);
        } else {
            r.disputesWon += 1;
            _closeDispute(disputeId, d, hostId, DisputeStatus.Rejected);
            _credit(_host(hostId).operator, d.bond);
        }
    }

    /// @notice End a dispute that the arbiter did not rule on in time: the line is paid as reported (its
    /// cost to the operator) and the tenant's stake returned: neither side is punished for the arbiter's
    /// silence, and the report stands as the host's bonded word. Anyone may call.
    /// Requirements: the dispute open; its deadline passed. Emits {DisputeResolved}.
    function expireDispute(uint256 disputeId) external nonReentrant {
        Dispute storage d = _openDispute(disputeId);
        if (block.timestamp <= d.deadline) revert MarketDeadlineNotPassed(disputeId, d.deadline);
        uint32 hostId = uint32(d.allocationId >> 32);
        _closeDispute(disputeId, d, hostId, DisputeStatus.Expired);
        _credit(_host(hostId).operator, d.lineCost);
        _credit(d.tenant, d.bond - d.lineCost);
    }

    /// @notice Pay what the caller is owed (slash shares, returned or won dispute bonds, the treasury's
    /// share). Emits {PayoutWithdrawn}.
    function withdrawPayout(address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert MarketZeroAddress();
        // Nothing leaves to an operator during TenantChain's emergency stop; tenants are paid.
        if (tenantChain.paused() && tenantChain.isOperator(msg.sender)) revert MarketPaused();
        amount = _payouts[msg.sender];
        if (amount == 0) revert MarketNothingToWithdraw(msg.sender);
        _payouts[msg.sender] = 0;
        _owed -= amount;
        emit PayoutWithdrawn(msg.sender, to, amount);
        _token.safeTransfer(to, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    function bondOf(uint32 hostId) external view returns (Bond memory) {
        StoredBond storage b = _bonds[hostId];
        return Bond(b.amount, _requiredBond(_host(hostId)), b.unbondingEndsAt, b.openDisputes);
    }

    function reputationOf(uint32 hostId) external view returns (Reputation memory) {
        return _reputation[hostId];
    }

    function disputeOf(uint256 disputeId) external view returns (Dispute memory) {
        return _disputes[disputeId];
    }

    /// @notice The id + 1 of the dispute on a line, 0 if none.
    function disputeOfLine(uint64 allocationId, uint32 period) external view returns (uint256) {
        return _disputeOfLine[_lineKey(allocationId, period)];
    }

    /// @notice What disputing a line of `lineCost` takes from the tenant: the cost, paid under protest,
    /// and the stake (`disputeBondBps` of it, at least `disputeBondFloor`).
    function disputeBondFor(uint256 lineCost) public view returns (uint256) {
        Parameters storage p = _params;
        return lineCost + Math.max(lineCost * p.disputeBondBps / _BPS, p.disputeBondFloor);
    }

    function disputeCount() external view returns (uint256) {
        return _disputeCount;
    }

    function payoutOf(address account) external view returns (uint256) {
        return _payouts[account];
    }

    /// @notice What this contract owes: bonds, open dispute bonds and payouts. Equals its token balance
    /// (plus anything sent to it directly).
    function owed() external view returns (uint256) {
        return _owed;
    }

    function parameters() external view returns (Parameters memory) {
        return _params;
    }

    /// @notice The proposed parameters and when they may apply (0: none pending).
    function pendingParameters() external view returns (Parameters memory params, uint32 effectiveAt) {
        return (_pendingParams, _pendingEffectiveAt);
    }

    /// @notice The EIP-712 digest a host's operator signs for `receipt`.
    function receiptDigest(UsageReceipt calldata receipt) external view returns (bytes32) {
        return _hashTypedDataV4(_receiptStruct(receipt));
    }

    /// @notice The digest TenantChain keeps for a report of `lines` (chained from `start`).
    function digestOf(bytes32 start, uint256[] calldata lines) external pure returns (bytes32) {
        return bytes32(UsageDigestLib.extend(uint256(start), lines));
    }

    /*//////////////////////////////////////////////////////////////
                                 INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _setParameters(Parameters memory params) internal {
        _checkParameters(params);
        _params = params;
        emit ParametersSet(params);
    }

    function _checkParameters(Parameters memory params) internal view {
        if (params.arbiter == address(0) || params.treasury == address(0)) revert MarketZeroAddress();
        // A bond must outlive the dispute window of the retired host's last reports (reported up to
        // the grace after retirement, disputable until final, claimable until the claim closes).
        uint256 window = uint256(tenantChain.periodSeconds()) * tenantChain.claimClosesAt(0);
        if (params.disputeBondBps > _BPS || params.unbondingSeconds < window) revert MarketInvalidParameters();
    }

    function _addBond(uint32 hostId, address from, uint256 amount) internal {
        StoredBond storage b = _bonds[hostId];
        b.amount += amount;
        _owed += amount;
        emit BondLocked(hostId, from, amount, b.amount);
        _pullExactly(from, amount);
    }

    /// @dev Take `amount` from `from` and check that exactly that arrived (no fee-on-transfer tokens).
    function _pullExactly(address from, uint256 amount) internal {
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(from, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received != amount) revert MarketTokenAmountMismatch(amount, received);
    }

    /// @dev What a host's capacity requires: `bondSeconds` of its full income, reserved and metered.
    function _requiredBond(Host memory h) internal view returns (uint256) {
        return _bondFor(ResourcesLib.fullRate(ResourcesLib.pack(h.capacity), h.reservedPrices, h.meteredPrices));
    }

    /// @dev Take PENALTY_MULTIPLE x `overcharge` (at most the bond): half to the tenant, a quarter to
    /// the treasury, the rest burned.
    function _slash(uint32 hostId, uint64 allocationId, uint32 period, uint256 overcharge, address tenant) internal {
        StoredBond storage b = _bonds[hostId];
        uint256 penalty = Math.min(overcharge * PENALTY_MULTIPLE, b.amount);
        uint256 toTenant = penalty / 2;
        uint256 toTreasury = penalty / 4;
        uint256 burned = penalty - toTenant - toTreasury;
        b.amount -= penalty;
        _owed -= burned;
        Reputation storage r = _reputation[hostId];
        r.slashes += 1;
        r.slashed += penalty;
        _credit(tenant, toTenant);
        _credit(_params.treasury, toTreasury);
        emit Slashed(hostId, allocationId, period, overcharge, penalty, toTenant, toTreasury, burned);
        // Below what its capacity requires, the host admits nothing new (until topped up).
        if (b.amount < _requiredBond(_host(hostId))) tenantChain.setHostBondShort(hostId, true);
        if (burned != 0) _token.safeTransfer(BURN_ADDRESS, burned);
    }

    /// @dev Pay `amount`, held here already (a bond or a dispute bond), to `account` (pull).
    function _credit(address account, uint256 amount) internal {
        if (amount != 0) _payouts[account] += amount;
    }

    /// @dev The bond a host of full reserved income `fullRatePerSecond` needs.
    function _bondFor(uint256 fullRatePerSecond) internal view returns (uint256) {
        return fullRatePerSecond * _params.bondSeconds;
    }

    function _closeDispute(uint256 disputeId, Dispute storage d, uint32 hostId, DisputeStatus status) internal {
        d.status = status;
        _bonds[hostId].openDisputes -= 1;
        emit DisputeResolved(disputeId, status);
    }

    function _openDispute(uint256 disputeId) internal view returns (Dispute storage d) {
        d = _disputes[disputeId];
        if (d.status != DisputeStatus.Open) revert MarketDisputeNotOpen(disputeId, d.status);
    }

    /// @dev The `index`th of `lines` and its cost at the allocation's agreed prices, after checking that
    /// `lines` is `hostId`'s report of `period`, still within its dispute window, and that the line keeps
    /// the claim's rules (TenantChain's {lineCost}: a line the claim drops charges nothing to dispute).
    function _reportedLine(uint32 hostId, uint32 period, uint256[] calldata lines, uint256 index)
        internal
        view
        returns (uint256 line, uint256 cost)
    {
        line = _committedLine(hostId, period, lines, index);
        bool chargeable;
        (chargeable, cost) = tenantChain.lineCost(hostId, period, line);
        if (!chargeable) revert MarketLineNotChargeable(uint64(line >> 128), period);
    }

    /// @dev The `index`th of `lines` after checking that `lines` is `hostId`'s report of `period`, still
    /// within its dispute window, and names this host's allocation.
    function _committedLine(uint32 hostId, uint32 period, uint256[] calldata lines, uint256 index)
        internal
        view
        returns (uint256 line)
    {
        uint32 closedAt = tenantChain.finalFrom(period);
        if (tenantChain.currentPeriod() >= closedAt) revert MarketWindowClosed(period, closedAt);
        bytes32 digest = tenantChain.usageDigestOf(hostId, period);
        if (digest == 0 || UsageDigestLib.extend(0, lines) != uint256(digest)) revert MarketReportMismatch(hostId, period);
        if (index >= lines.length) revert MarketLineIndexOutOfRange(index, lines.length);
        line = lines[index];
        if (uint32(line >> 160) != hostId) revert MarketWrongHost(uint64(line >> 128), hostId);
    }

    function _host(uint32 hostId) internal view returns (Host memory) {
        return tenantChain.getHost(hostId);
    }

    function _receiptStruct(UsageReceipt calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_TYPEHASH, r.allocationId, r.period, r.cpuMs, r.memoryMiBSeconds));
    }

    function _lineKey(uint64 allocationId, uint32 period) internal pure returns (uint256) {
        return (uint256(allocationId) << 32) | period;
    }
}
