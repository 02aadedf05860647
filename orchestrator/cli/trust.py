"""Trust on-chain: `tenant receipts` (check a host's signed receipts against its reports, and slash it
with them), `tenant dispute`, `operator bond`, `operator host surcharge`, and `market` (the arbiter's
rulings, expiries, payouts). The contracts are TenantChain's usage window and TenantChainMarket."""

from __future__ import annotations

import click

from ..billing.receipts import Receipt, pack_line, receipt_signer, unpack_line
from ..chain.bonds import approve_bond
from ..chain.client import receipt_events
from ..errors import ChainError, ConfigError
from ..units import plural
from .common import ALLOCATION_ID, HOST_ID, Session, chain_command, human_tokens, token_amount
from .host_api import HostApiClient
from .operator import host, operator
from .tenant import tenant

DISPUTE_STATUS = ("none", "open", "upheld", "rejected", "expired", "settled by a receipt")


def _market(s: Session):
    if s.chain.market is None:
        raise ConfigError("this deployment has no market (recorded before bonds and disputes existed)")
    return s.chain.market


def reported_lines(s: Session, host_id: int, period: int | None = None) -> dict[int, list[tuple[int, int, int]]]:
    """Per period (one, or all): every line of ``host_id``'s report, in the order the chain hashed them
    (all batches)."""
    filters = {"hostId": host_id, **({"period": period} if period is not None else {})}
    logs = s.chain.read(lambda: s.chain.tenantchain.events.UsageReported().get_logs(
        from_block=s.chain.deployment.start_block, argument_filters=filters))
    by_period: dict[int, list] = {}
    for e in sorted(logs, key=lambda e: (e.blockNumber, e.logIndex)):
        by_period.setdefault(e.args.period, []).extend(unpack_line(word) for word in e.args.lines)
    return by_period


def _line_index(s: Session, lines: list, allocation: int, period: int) -> int:
    for i, line in enumerate(lines):
        if line[0] == allocation:
            return i
    raise ConfigError(f"the host reported no usage of allocation {s.name(allocation)} in period {period}")


@chain_command(tenant, "receipts")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--slash", is_flag=True,
              help="Slash the host with every receipt that shows an overcharge still in its window (and void "
                   "overcharged lines the claim would drop); a line that can't be is reported with the reason "
                   "and the others are still tried.")
def tenant_receipts(s: Session, allocation: int, slash: bool) -> None:
    """Fetch the host's signed usage receipts of an allocation, check each signature and compare it
    with what the host reported on-chain, priced at the allocation's agreed metered prices; with
    --slash, take every overcharge still in its window to the market: a slash where the line is
    chargeable, else a void (the line breaks the claim's rules: voided, no later resize can make it
    chargeable; nobody is slashed).

    With --slash the command fails (exit 1) only when something is overcharged and nothing could be
    done; otherwise it reports what it did and what it couldn't, line by line.

    Example: tenantchain tenant receipts 1/4 --slash --account alice
    """
    market = _market(s)
    host_id = allocation >> 32
    answer = HostApiClient(s.chain, s.signer, host_id).call(allocation, "receipts")
    receipts = [Receipt(allocation, int(raw["period"]), int(raw["cpu_ms"]), int(raw["memory_mib_seconds"]),
                        str(raw["signature"])) for raw in answer.get("receipts", [])]
    rows = _check_receipts(s, market, host_id, allocation, receipts)
    slashed, voided, failed = [], [], []
    for row, receipt in zip(rows, receipts):
        action, lines, index = row.pop("_action", None), row.pop("_lines", None), row.pop("_index", None)
        if not (slash and action):
            continue
        packed = [pack_line(*l) for l in lines]
        call = (market.functions.slashWithReceipt(host_id, receipt.period, packed, index, receipt.as_tuple(),
                                                  receipt.signature) if action == "slash"
                else market.functions.voidUnchargeable(host_id, receipt.period, packed, index))
        try:
            tx = s.send(call, f"{action} period {receipt.period}")
        except ChainError as exc:  # voided meanwhile, window closed, ...: say why, try the next one
            row["status"], row["reason"] = f"not {'slashed' if action == 'slash' else 'voided'}", str(exc)
            failed.append(receipt.period)
            continue
        row["status"], row["tx"] = ("slashed" if action == "slash" else "voided as unchargeable"), tx.transactionHash.hex()
        (slashed if action == "slash" else voided).append(receipt.period)
    outstanding = [r for r in rows if r["status"] in OUTSTANDING]
    summary = (f"allocation {s.name(allocation)}: {plural(len(rows), 'receipt')}, {sum(r['status'] == 'ok' for r in rows)} "
               f"match the reports, {len(outstanding) + len(slashed) + len(voided)} overcharged"
               + (f": {len(slashed)} slashed, {len(voided)} voided, {len(failed)} could not be" if slash else ""))
    shown = [r for r in rows if r["status"] not in ("ok", "not reported")]
    s.out("\n".join([summary] + [f"  period {r['period']}: {_describe(s, r)}" for r in shown]),
          {"allocation": allocation, "receipts": rows, "slashed": slashed, "voided": voided, "failed": failed})
    if slash and outstanding and not (slashed or voided):
        n = len(outstanding)
        raise ChainError(f"{n} overcharged line{'s' if n != 1 else ''} and none could be slashed (see the report)")


# Rows still overcharging the tenant (or that may: a line the claim drops today could be charged after
# a resize, unless voided) once the command is done.
OUTSTANDING = ("overcharged", "overcharged, final", "not charged now (the claim would drop this line)",
               "not slashed", "not voided")


def _check_receipts(s: Session, market, host_id: int, allocation: int, receipts: list[Receipt]) -> list[dict]:
    """One row per receipt: its signature checked (the operator of its period, across rotations), the
    host's line of the period beside it and, when the line costs more than the receipt at the
    allocation's agreed metered prices (per resource, as the market weighs it), by how much and whether
    a slash can still take it: window open, a line the claim would charge, not voided (or voided by a
    dispute still open: the receipt then settles it). The chain's own views, in one batch of reads."""
    reports = reported_lines(s, host_id)
    chain_id, tc = s.chain.deployment.chain_id, s.f
    found = []
    for receipt in receipts:
        signer = receipt_signer(receipt, chain_id, market.address) or "0x" + "00" * 20
        lines = reports.get(receipt.period, [])
        index = next((i for i, l in enumerate(lines) if l[0] == allocation), None)
        found.append((signer, lines, index))
    calls = []
    for receipt, (signer, lines, index) in zip(receipts, found):
        calls += [tc.isHostSigner(host_id, signer, receipt.period), tc.finalFrom(receipt.period)]
        if index is not None:
            _, cpu_ms, mem = lines[index]
            calls += [tc.lineCost(host_id, receipt.period, pack_line(*lines[index])),
                      tc.allocationMeteredCost(allocation, cpu_ms, mem),
                      tc.allocationMeteredCost(allocation, min(cpu_ms, receipt.cpu_ms), min(mem, receipt.memory_mib_seconds)),
                      tc.isVoided(allocation, receipt.period)]
    values = iter(s.chain.read_many(calls) if calls else [])
    current = s.chain.read(tc.currentPeriod().call)
    open_disputes = None
    rows = []
    for receipt, (signer, lines, index) in zip(receipts, found):
        is_signer, final_from = next(values), next(values)
        row = {"period": receipt.period, "cpu_ms": receipt.cpu_ms, "memory_mib_seconds": receipt.memory_mib_seconds,
               "signature": receipt.signature, "final": current >= final_from, "final_from": final_from}
        rows.append(row)
        (chargeable, _), cost, signed_cost, voided = ((next(values), next(values), next(values), next(values))
                                                      if index is not None else ((False, 0), 0, 0, False))
        if not is_signer:
            row["status"] = "bad signature (not the host's operator for that period)"
            continue
        if index is None:
            row["status"] = "not reported"
            continue
        _, cpu_ms, mem = lines[index]
        row["reported"] = {"cpu_ms": cpu_ms, "memory_mib_seconds": mem}
        row["overcharge"] = cost - signed_cost
        if row["overcharge"] == 0:
            row["status"] = "ok"
        elif row["final"]:
            row["status"] = "overcharged, final"
        elif voided:
            if open_disputes is None:
                open_disputes = _open_disputes(s, market, allocation)
            if receipt.period in open_disputes:  # the receipt settles the dispute for the tenant
                row.update(status="overcharged", dispute=open_disputes[receipt.period], _action="slash",
                           _lines=lines, _index=index)
            else:
                row["status"] = "voided already: not charged"
        elif not chargeable:  # nothing to slash; voided, no later resize can make it chargeable
            row.update(status="not charged now (the claim would drop this line)", _action="void", _lines=lines,
                       _index=index)
        else:
            row.update(status="overcharged", _action="slash", _lines=lines, _index=index)
    return rows


def _open_disputes(s: Session, market, allocation: int) -> dict[int, int]:
    """Per period, the open dispute of the allocation's line (a receipt settles it for the tenant)."""
    logs = s.chain.read(lambda: market.events.DisputeOpened().get_logs(
        from_block=s.chain.deployment.start_block, argument_filters={"allocationId": allocation}))
    if not logs:
        return {}
    statuses = s.chain.read_many([market.functions.disputeOf(e.args.disputeId) for e in logs])
    return {e.args.period: e.args.disputeId for e, d in zip(logs, statuses) if d[4] == 1}  # DisputeStatus.Open


def _describe(s: Session, row: dict) -> str:
    text = row["status"]
    if "overcharge" in row and row["overcharge"]:
        text += f" by {human_tokens(s, row['overcharge'])}"
    if "reported" in row:
        text += (f" (reported cpu {row['reported']['cpu_ms']} ms, {row['reported']['memory_mib_seconds']} MiB-s; "
                 f"signed {row['cpu_ms']} ms, {row['memory_mib_seconds']} MiB-s)")
    if row["status"] == "overcharged, final":
        text += f": its window closed at period {row['final_from']}"
    if "reason" in row:
        text += f": {row['reason']}"
    if "tx" in row:
        text += f" in {row['tx']}"
    return text


@chain_command(tenant, "dispute")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--period", type=int, required=True, help="The reported period to dispute.")
def tenant_dispute(s: Session, allocation: int, period: int) -> None:
    """Dispute the host's usage line of an allocation in a period (within its window): the line is not
    charged; you pay its cost (at the allocation's agreed prices) plus a stake into the market until
    the arbiter rules.

    Example: tenantchain tenant dispute 1/4 --period 1234 --account alice
    """
    market = _market(s)
    host_id = allocation >> 32
    lines = reported_lines(s, host_id, period).get(period, [])
    index = _line_index(s, lines, allocation, period)
    # The line as the claim would weigh it (the market's own figure): at the allocation's agreed prices.
    chargeable, cost = s.chain.read(s.f.lineCost(host_id, period, pack_line(*lines[index])).call)
    if not chargeable:
        raise ChainError(f"the line of allocation {s.name(allocation)} in period {period} breaks the report rules: "
                         "the claim won't charge it, so there is nothing to dispute")
    bond = s.chain.read(market.functions.disputeBondFor(cost).call)
    approve_bond(s.chain, s.signer, bond)
    receipt = s.send(market.functions.openDispute(host_id, period, [pack_line(*l) for l in lines], index), "dispute")
    event = receipt_events(market, receipt, "DisputeOpened")[0]
    s.out(f"dispute {event.args.disputeId} opened on period {period}: {s.money(bond, exact=True)} held until the arbiter "
          f"rules (deadline {event.args.deadline})",
          {"dispute": event.args.disputeId, "bond": bond, "deadline": event.args.deadline, "tx": receipt.transactionHash.hex()})


@click.group()
def market() -> None:
    """Disputes and payouts of the deployment's market (bonds: `operator bond`)."""


@chain_command(market, "rule")
@click.argument("dispute", type=int)
@click.option("--uphold/--reject", required=True, help="Agree with the tenant (slash the host) or with the host.")
def market_rule(s: Session, dispute: int, uphold: bool) -> None:
    """The arbiter's ruling. Example: tenantchain market rule 0 --uphold --account arbiter"""
    receipt = s.send(_market(s).functions.rule(dispute, uphold), "rule")
    s.out(f"dispute {dispute} {'upheld' if uphold else 'rejected'}", {"dispute": dispute, "upheld": uphold,
                                                                        "tx": receipt.transactionHash.hex()})


@chain_command(market, "expire")
@click.argument("dispute", type=int)
def market_expire(s: Session, dispute: int) -> None:
    """End a dispute the arbiter left past its deadline (anyone). Example: tenantchain market expire 0"""
    receipt = s.send(_market(s).functions.expireDispute(dispute), "expire")
    s.out(f"dispute {dispute} expired: the line is paid as reported, the stake returned",
          {"dispute": dispute, "tx": receipt.transactionHash.hex()})


@chain_command(market, "dispute", signs=False)
@click.argument("dispute", type=int)
def market_dispute(s: Session, dispute: int) -> None:
    """Show a dispute. Example: tenantchain market dispute 0"""
    m = _market(s)
    if dispute >= s.chain.read(m.functions.disputeCount().call):
        raise ConfigError(f"no dispute {dispute}")
    tenant_address, allocation, period, deadline, status, bond, cost = s.chain.read(m.functions.disputeOf(dispute).call)
    s.out(f"dispute {dispute}: allocation {s.name(allocation)}, period {period}, {DISPUTE_STATUS[status]}, bond "
          f"{human_tokens(s, bond)} (line {human_tokens(s, cost)}), deadline {deadline}",
          {"dispute": dispute, "tenant": tenant_address, "allocation": allocation, "period": period,
           "status": DISPUTE_STATUS[status], "bond": bond, "line_cost": cost, "deadline": deadline})


@chain_command(market, "payout")
def market_payout(s: Session) -> None:
    """Withdraw what the market owes you (slash shares, dispute bonds). Example: tenantchain market payout --account alice"""
    m = _market(s)
    owed = s.chain.read(m.functions.payoutOf(s.signer.address).call)
    if owed == 0:
        raise ChainError(f"the market owes {s.signer.address} nothing")
    receipt = s.send(m.functions.withdrawPayout(s.signer.address), "payout")
    s.out(f"{s.money(owed, exact=True)} paid out", {"amount": owed, "tx": receipt.transactionHash.hex()})


@chain_command(operator, "bond")
@click.argument("host_id", type=HOST_ID)
@click.option("--add", "add", default=None, help="Add this many tokens to the bond (e.g. after a slash).")
@click.option("--unbond", is_flag=True, help="Start unbonding (the host must be retired).")
@click.option("--withdraw", is_flag=True, help="Withdraw the bond after unbonding.")
def operator_bond(s: Session, host_id: int, add: str | None, unbond: bool, withdraw: bool) -> None:
    """Show a host's bond, or add to it, start unbonding, withdraw it.

    Example: tenantchain operator bond 1 --add 100
    """
    m = _market(s).functions
    if add is not None:
        amount = token_amount(s, add)
        approve_bond(s.chain, s.signer, amount)
        s.send(m.addBond(host_id, amount), "add bond")
    if unbond:
        s.send(m.startUnbonding(host_id), "unbond")
    if withdraw:
        s.send(m.withdrawBond(host_id, s.signer.address), "withdraw bond")
    amount, required, ends_at, open_disputes = s.chain.read(m.bondOf(host_id).call)
    s.out(f"host {host_id}: bond {human_tokens(s, amount)} of {human_tokens(s, required)} asked, "
          f"{plural(open_disputes, 'dispute')} open" + (f", unbonding until {ends_at}" if ends_at else ""),
          {"host": host_id, "bond": amount, "required": required, "unbonding_ends_at": ends_at,
           "open_disputes": open_disputes})


@chain_command(host, "surcharge")
@click.argument("host_id", type=HOST_ID)
@click.argument("pct", type=click.IntRange(0, 255))
def host_surcharge(s: Session, host_id: int, pct: int) -> None:
    """Price the host's last free capacity above its first: at full utilisation a request costs (100 +
    PCT)% of the base price, growing with the square of utilisation.

    Example: tenantchain operator host surcharge 1 50
    """
    receipt = s.send(s.f.setSurcharge(host_id, pct), "surcharge")
    s.out(f"host {host_id}: utilisation surcharge {pct}% at full use", {"host": host_id, "pct": pct,
                                                                          "tx": receipt.transactionHash.hex()})
