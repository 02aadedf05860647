"""What the contract's refusals mean, in sentences a user can act on: one table for the CLI and the
web portal (which receives it in its config.json), so that both say the same thing.

Keys are the custom errors' names (TenantChain's interfaces, OpenZeppelin's ERC-20 and Ownable);
a name missing here is shown as the decoded error itself.
"""

from __future__ import annotations

ERROR_SENTENCES: dict[str, str] = {
    # Allocation
    "AllocationUnknown": "no such allocation",
    "AllocationNotActive": "that allocation has ended already",
    "AllocationEmptyResources": "ask for some resources: every amount is zero",
    "AllocationInsufficientCapacity": "the host doesn't have the free capacity; ask for less or choose another host",
    "AllocationQuotaExceeded": "this would exceed your quota; release something or ask an admin for more",
    "AllocationRateTooHigh": "the price of this request is beyond what the contract accepts",
    "AllocationNotExpired": "that allocation isn't out of funds yet",
    "AllocationRateAboveMax": "the host's price rose above your quote before the transaction was mined "
                              "(nothing changed): quote again",
    "AllocationMeteredAboveMax": "the host's metered prices rose above your quote before the transaction was mined "
                                 "(nothing changed): quote again",
    "AllocationZeroRate": "that size costs nothing per second at the host's prices, and every allocation must pay "
                          "something: ask for more, or choose another host",
    "AllocationHostBondShort": "the host's bond is short (slashed below what its capacity requires): it admits "
                               "nothing new until its operator tops it up; choose another host",
    # Billing
    "BillingZeroAmount": "the amount must be more than zero",
    "BillingInsufficientPrepaid": "your escrow doesn't cover the minimum prepaid period; deposit more",
    "BillingInsufficientBalance": "you can't withdraw that much (the rest is held for running allocations and for "
                                  "usage that can still be charged)",
    "BillingTenantSuspended": "this tenant is suspended for lack of funds; deposit to resume",
    "BillingPeriodNotEnded": "that billing period hasn't ended yet",
    "BillingPeriodAlreadyReported": "usage for that period was reported already",
    "BillingPeriodAfterClose": "that period is after the allocation ended",
    "BillingUsageExceedsLimit": "the reported usage is more than the allocation could use",
    "BillingWrongHost": "that allocation runs on another host",
    "BillingNotTreasury": "only the treasury can do that",
    "BillingAmountTooLarge": "the amount is too large",
    "BillingTokenAmountMismatch": "the escrow token delivered another amount than was sent (fee-on-transfer and "
                                  "rebasing tokens aren't supported)",
    # Registry
    "RegistryPaused": "the system is paused by the admin for now; try again later",
    "RegistryNotPaused": "the system isn't paused",
    "RegistryTenantAlreadyRegistered": "this wallet is registered already",
    "RegistryTenantNotActive": "this wallet isn't an active tenant (register first)",
    "RegistryTenantHasAllocations": "release the tenant's allocations first",
    "RegistryNotTenantOrDelegate": "only the tenant (or its delegates) can do that",
    "RegistryInvalidTenantStatus": "that tenant status can't be set",
    "RegistryOperatorNotApproved": "this wallet isn't an approved operator; ask an admin",
    "RegistryNotHostOperator": "only the host's operator can do that",
    "RegistryUnknownHost": "no such host",
    "RegistryHostNotActive": "no such host, or it doesn't take new allocations",
    "RegistryInvalidHostStatus": "the host can't change to that status",
    "RegistryHostInUse": "the host still runs allocations",
    "RegistryCapacityBelowUse": "the capacity would be less than what is allocated",
    "RegistryInvalidPublicKey": "the host key must be a 33-byte compressed secp256k1 public key",
    "RegistryInvalidApiUrl": "the API URL must be https:// (or http:// on loopback) and at most 256 bytes",
    "RegistryInvalidParameters": "those parameters are out of range",
    "RegistryZeroAddress": "the zero address isn't allowed here",
    "RegistryInvalidToken": "that escrow token isn't an ERC-20 contract",
    "RegistryParametersNotDue": "no parameter change is due yet: propose one, then wait out its notice",
    "RegistryNoPendingOperator": "this wallet isn't the host's proposed operator (its operator proposes one first)",
    "RegistryRotationTooSoon": "too soon after the host's last operator change: the previous operator's periods "
                               "must be past claiming first",
    # Usage reports and claims (IUsage)
    "UsageReportOutOfOrder": "that period was reported (or claimed) already, or a later one holds its slot",
    "UsageClaimMismatch": "the claimed lines aren't the ones reported for that period",
    "UsageNothingToClaim": "there is no unclaimed report of that period",
    "UsageNotFinal": "that period's dispute window is still open; claim it later",
    "UsageNotMarket": "only the market contract can void report lines",
    "UsageLineVoided": "that report line was voided already",
    "UsageNotReported": "that period isn't reported, or was claimed already",
    "UsageReportTooLate": "that period can no longer be reported (its report window has closed): its usage is forfeited",
    "UsageClaimClosed": "that period's claim window has closed: its usage can no longer be charged",
    "UsageHostRetired": "the host is retired: it may report only periods up to its retirement",
    # Registry: pricing and the market
    "RegistrySurchargeTooHigh": "that surcharge is above the maximum the admin allows",
    "RegistryMarketAlreadySet": "the market is set already (once per deployment)",
    "RegistryMarketNotSet": "the deployment has no market yet: the admin must call setMarket first",
    # Market (bonds, receipts, disputes)
    "MarketNotTenantChain": "only TenantChain can lock bonds",
    "MarketNotOperator": "only the host's operator can do that",
    "MarketNotArbiter": "only the arbiter can rule on disputes",
    "MarketNotTenant": "only the allocation's tenant can dispute its usage, and only it or its delegates slash with its receipts",
    "MarketInvalidParameters": "invalid market parameters (the unbonding must outlast the dispute window)",
    "MarketHostNotRetired": "retire the host first (no allocations left), then unbond",
    "MarketUnbonding": "the bond isn't unbonded yet (start unbonding, then wait for it to end)",
    "MarketDisputesOpen": "disputes on this host are still open; the bond stays until they are ruled",
    "MarketWindowClosed": "the dispute window of that period has closed: its usage is final",
    "MarketReportMismatch": "those lines aren't the host's report of that period (or it isn't reported)",
    "MarketLineIndexOutOfRange": "there is no such line in that report",
    "MarketWrongHost": "that allocation isn't on this host",
    "MarketReceiptMismatch": "the receipt is for another allocation or period than the line",
    "MarketForgedReceipt": "the receipt isn't signed by the host's operator",
    "MarketNoOvercharge": "the line doesn't charge more than the receipt: nothing to slash",
    "MarketDisputeExists": "that line is disputed already",
    "MarketDisputeNotOpen": "that dispute is closed already",
    "MarketDeadlinePassed": "the ruling deadline has passed: the dispute can only expire now",
    "MarketDeadlineNotPassed": "the arbiter still has time to rule on that dispute",
    "MarketNothingToWithdraw": "there is nothing to withdraw",
    "MarketZeroAddress": "an address is missing",
    "MarketLineNotChargeable": "that line isn't charged anyway (voided, a rejected allocation, outside the "
                               "allocation's life or above its bound): nothing to slash or dispute",
    "MarketLineChargeable": "that line keeps the claim's rules: it can be disputed, or slashed with a receipt, "
                            "not voided as unchargeable",
    "MarketPaused": "the system is paused by the admin: bonds stay until it resumes",
    "MarketParametersNotDue": "no market parameter change is due yet: propose one, then wait out its notice",
    "MarketTokenAmountMismatch": "the token delivered another amount than was sent (fee-on-transfer and rebasing "
                                 "tokens aren't supported)",
    # OpenZeppelin's ECDSA and short strings (the market's receipts and EIP-712 domain)
    "ECDSAInvalidSignature": "the receipt's signature is not a valid signature",
    "ECDSAInvalidSignatureLength": "the receipt's signature has the wrong length (65 bytes expected)",
    "ECDSAInvalidSignatureS": "the receipt's signature is malleable (high s) and refused",
    "InvalidShortString": "an EIP-712 name is too long",
    "StringTooLong": "an EIP-712 name is too long",
    # Scaling
    "ScalingInvalidBounds": "the minimum must be more than zero and at most the maximum in every resource",
    "ScalingNoPolicy": "the tenant hasn't allowed automatic resizes of this allocation",
    "ScalingOutOfBounds": "that size is outside the tenant's bounds",
    "ScalingRateAboveCeiling": "that size costs more per second than the tenant's ceiling allows",
    "ScalingCooldown": "too soon after the last automatic resize",
    # OpenZeppelin
    "OwnableUnauthorizedAccount": "only the admin can do that",
    "OwnableInvalidOwner": "that address can't be the admin",
    "SafeERC20FailedOperation": "the escrow token refused the transfer",
    "ReentrancyGuardReentrantCall": "a call re-entered the contract; refused",
    "ERC20InsufficientBalance": "not enough tokens in the wallet",
    "ERC20InsufficientAllowance": "the contract may not move that many of your tokens; approve them first",
    "ERC20InvalidApprover": "the token refuses approvals from the zero address",
    "ERC20InvalidSpender": "the token refuses approvals to the zero address",
    "ERC20InvalidSender": "the token refuses transfers from the zero address",
    "ERC20InvalidReceiver": "the token refuses transfers to the zero address (check the address)",
}

# Why a host rejected an allocation (AllocationClosed's code when the reason is Rejected; see spec.RejectCode).
REJECT_REASONS: dict[int, str] = {
    0: "no reason given",
    1: "the host couldn't decrypt the spec (encrypted to another key?)",
    2: "the spec doesn't match its hash on-chain",
    3: "the spec isn't valid",
    4: "the spec asks for something this host forbids",
    5: "the image isn't on the host",
    6: "the host failed to start it",
    7: "the spec asks for egress, which this host doesn't allow",
    8: "the spec exposes more ports than this host publishes",
    9: "the registry has no such image",
    10: "the registry refused the pull (credentials?)",
    11: "the image is larger than this host takes",
    12: "this host doesn't pull from that registry",
    13: "the registry didn't answer",
    14: "the registry (or its token service, or a redirect) is at an address this host doesn't pull from",
    15: "the registry answered with a manifest or token larger than this host reads",
}


def explain(message: str) -> str:
    """``message`` (``... refused: Name(args)``) with the sentence for ``Name`` in front, if known."""
    if "refused: " not in message:
        return message
    detail = message.split("refused: ", 1)[1]
    sentence = ERROR_SENTENCES.get(detail.split("(", 1)[0])
    return f"{sentence}: {detail}" if sentence else message
