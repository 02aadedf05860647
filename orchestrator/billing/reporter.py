"""Usage reports on-chain per period, from the metering samples in SQLite.

Samples are stored as they are taken (host.meter.sweep), so a crash loses at most the sweep in flight; the usage of
a period is folded from the samples around it (a counter that went down is a restart, a gap widens
an interval), so a period that spans a crash is reported once, with usage from both sides.
Reports are idempotent by period: each transaction goes through the transaction manager's outbox
under its period's key, and the contract refuses a period older than what its slot holds.

Windows (all counted in periods, from the contract): a period p can be reported while the current
period is at most `p + reportGracePeriods`; after that it is forfeited, never sent (the contract would
refuse it, and a late report is what would let a charge skip its dispute window): marked in the store
and written to the action log (`usage-forfeited`). So after a long outage only the periods still open
are caught up. A report commits its lines; they are final from `finalFrom(p)` (the grace, then
`disputePeriods` full periods for receipts and disputes) and charged by a claim that repeats them,
before `claimClosesAt(p)`. The claim rides on the next report that reuses the period's slot (a ring
of `grace + disputePeriods` slots), or goes alone for the last periods of a host that stopped
reporting; a claim that can no longer be made is forfeited and logged (`claim-forfeited`). Before it
reports, the host signs a receipt of each line it measured (billing.receipts) for the tenants.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from ..chain.client import Chain
from ..errors import ChainError
from ..store import Store
from .receipts import Receipt, pack_line, sign_receipt, usage_digest
from .usage import PeriodAccumulator

log = logging.getLogger("tenantchain.reporter")

MAX_BATCH = 200  # lines per transaction; larger periods are split
# Gas for a report sent without an estimate: above what BENCHMARKS.md measures (39,072 for one line,
# 9,759 each further line), with room for cold slots.
REPORT_GAS_BASE = 80_000
REPORT_GAS_PER_LINE = 25_000
IDLE_CLOCK_MARGIN_S = 2.0


@dataclass
class ReportLine:
    allocation: int
    cpu_ms: int
    memory_mib_seconds: int


class Reporter:
    def __init__(self, store: Store, chain: Chain, operator: LocalAccount, host_id: int, tx=None):
        """``tx``: what sends the operator's transactions (the service's TxManager; the chain by default)."""
        self.store = store
        self.tx = tx or chain
        self.chain = chain
        self.operator = operator
        self.host_id = host_id
        functions = chain.tenantchain.functions
        self.period_seconds = chain.read(functions.periodSeconds().call)
        self.genesis = chain.read(functions.genesis().call)
        self.dispute_periods = chain.read(functions.disputePeriods().call)
        self.grace = chain.read(functions.reportGracePeriods().call)
        self.ring = self.grace + self.dispute_periods  # usage slots per host: slot = period % ring
        self.chain_id = chain.deployment.chain_id
        self._block_times: dict[int, float] = {}

    def period_of(self, at: float) -> int:
        return int((at - self.genesis) // self.period_seconds)

    # --- usage per period --------------------------------------------------------------------

    def usage(self, period: int) -> list[ReportLine] | None:
        """Every allocation's usage in ``period``; None while some running one has no sample past its end."""
        end = self.genesis + (period + 1) * self.period_seconds
        desired = {a.id: a for a in self.store.allocations()}
        measured = []
        for allocation in self.store.sampled_allocations():
            samples = self.store.samples(allocation)
            if not samples:
                continue
            a = desired.get(allocation)
            if samples[-1].at < end:
                if a is not None and a.status == "active":
                    return None  # not complete yet
            acc = PeriodAccumulator(self.period_seconds, self.genesis)
            for s in samples:
                acc.add(s)
                if s.at >= end:
                    break
            usage = acc.periods.get(period)
            if usage is None or a is None:
                continue
            if a.status == "closed" and self._block_time(a.closed_block) <= end - self.period_seconds:
                continue  # the contract takes no usage for periods after the end
            measured.append((allocation, usage))
        if not measured:
            return []
        # The bound is read at the latest block: one from before the period's end would answer with what
        # the allocation will have held if nothing changes, and a resize in the period's last block, still
        # to come, would then leave the line above the true bound. Wait for a block past the end (on a
        # chain that mines only on demand, idle since, nothing can come in between).
        latest = self.chain.read(self.chain.w3.eth.get_block, "latest")["timestamp"]
        if latest < end and time.time() < end + IDLE_CLOCK_MARGIN_S:
            return None
        # At most what the allocation held in the period, as the claim's bound counts it (the chain's own
        # answer, resizes included): a line over it would be dropped whole, and the kernel's accounting
        # can run a little over (the period of admission, the seconds before a shrink reaches the cgroup).
        f = self.chain.tenantchain.functions
        held = self.chain.read_many([f.heldIn(allocation, period) for allocation, _ in measured])
        return [ReportLine(allocation, min(usage.cpu_ms, cap_cpu), min(int(usage.memory_mib_seconds), cap_mem))
                for (allocation, usage), (cap_cpu, cap_mem) in zip(measured, held)]

    def _block_time(self, number: int | None) -> float:
        if number is None:
            return time.time()
        if number not in self._block_times:
            self._block_times[number] = self.chain.read(self.chain.w3.eth.get_block, number)["timestamp"]
        return self._block_times[number]

    # --- reports ----------------------------------------------------------------------------

    def report_due(self) -> list[tuple[int, str]]:
        """Report every ended period not yet reported, oldest first (forfeiting those whose window
        closed); returns (period, status) handled."""
        current = self.period_of(time.time())
        last = self.store.last_reported_period()
        first_at = self.store.first_sample_at()
        if first_at is None:
            self.claim_due(current)  # nothing runs any more: what was reported still has to be charged
            return []
        first = self.period_of(first_at)
        # Older final periods are claimed first: a claim riding on a report charges a later period, after
        # which the contract drops an allocation's lines of earlier ones (after an outage, say).
        self.claim_due(current)
        handled = []
        for period in range(max(first, (last + 1) if last is not None else first), current):
            now = self.period_of(time.time())  # sending takes time: the window is checked for each period
            if now > self.closes_after(period):
                status = self._forfeit(period, now)
            else:
                lines = self.usage(period)
                if lines is None:
                    break
                status = self._send(period, lines)
            # The reported period's samples stay one period more: the recommender and advice look back.
            self.store.prune_samples(self.genesis + period * self.period_seconds)
            handled.append((period, status))
        self.claim_due(self.period_of(time.time()))
        return handled

    def closes_after(self, period: int) -> int:
        """The last period during which ``period`` can be reported (`p + reportGracePeriods`)."""
        return period + self.grace

    def final_from(self, period: int) -> int:
        """The first period in which ``period``'s lines can be claimed (the contract's `finalFrom`)."""
        return period + self.grace + self.dispute_periods + 1

    def claim_closes_at(self, period: int) -> int:
        """The first period in which ``period``'s lines can no longer be claimed (`claimClosesAt`)."""
        return self.final_from(period) + self.grace + 1

    def _forfeit(self, period: int, now: int, why: str | None = None, sent: list | None = None) -> str:
        """Give up ``period``'s report (or the batches of it not sent yet): nothing more is sent for it; it
        is marked in the store and logged with what it would have charged. ``sent``: the lines that did
        land (they are the period's report, and what its claim must repeat)."""
        lines = self.usage(period)
        if lines == [] and not sent:
            self.store.set_report(period, "empty", [], [])  # nothing ran: nothing lost
            return "empty"
        why = why or (f"its reports closed after period {self.closes_after(period)} "
                      f"(grace {self.grace}) and it is period {now}")
        if lines is None:
            lost = "usage unknown (samples missing)"
        else:
            unsent = lines[len(sent or []):]
            lost = f"{len(unsent)} lines ({sum(l.cpu_ms for l in unsent)} CPU-ms) not charged"
        detail = f"period {period}: {why}; {lost}"
        log.warning("usage of %s", detail)
        self.store.log_action(None, "usage-forfeited", detail)
        if sent:
            self.store.set_report(period, "sent", [], sent, why)
            return "sent"
        self.store.set_report(period, "forfeited", [], [], why)
        return "forfeited"

    def charged_lines(self, period: int, measured: list[ReportLine]) -> list[ReportLine]:
        """What the report of ``period`` charges: what was measured. (The one place where a dishonest
        host would differ; the trust tests override it to prove that receipts catch it.)"""
        return measured

    # --- receipts and claims ---------------------------------------------------------------------

    def _sign_receipts(self, period: int, lines: list[ReportLine]) -> None:
        market = self.chain.market
        if market is None:
            return  # a deployment without a market has nothing to check receipts against
        self.store.add_receipts([
            (r.allocation, r.period, r.cpu_ms, r.memory_mib_seconds, r.signature)
            for r in (sign_receipt(self.operator, self.chain_id, market.address,
                                   Receipt(line.allocation, period, line.cpu_ms, line.memory_mib_seconds))
                      for line in lines)])

    def _held(self, period: int) -> bool:
        """True while the chain still holds ``period``'s report unclaimed."""
        digest = self.chain.read(self.chain.tenantchain.functions.usageDigestOf(self.host_id, period).call)
        return any(digest)

    def _claims_for(self, period: int) -> tuple[int | None, list]:
        """The unclaimed report that the report of ``period`` overwrites (its slot), with its lines."""
        slot = period % self.ring
        held = [(p, lines) for p, lines in self.store.unclaimed_reports() if p < period and p % self.ring == slot]
        if not held:
            return None, []
        for p, _ in held[:-1]:
            self.store.set_report_status(p, "claimed")  # overwritten or claimed since: not ours to claim
        p, lines = held[-1]
        if not self._held(p):
            self.store.set_report_status(p, "claimed")
            return None, []
        now = self.period_of(time.time())
        if now >= self.claim_closes_at(p):  # the report goes without it: the slot is overwritten
            self._forfeit_claim(p, f"its claims closed at period {self.claim_closes_at(p)} and it is period {now}")
            return None, []
        return p, lines

    def _forfeit_claim(self, period: int, why: str) -> None:
        log.warning("the claim of period %d is forfeited: %s", period, why)
        self.store.set_report_status(period, "forfeited")
        self.store.log_action(None, "claim-forfeited", f"period {period}: {why}")

    def claim_due(self, current: int) -> None:
        """Claim, on their own, final periods that no report of their slot is about to claim (a period
        of slack after finality leaves that to the next report); forfeit those whose claims closed."""
        for period, lines in self.store.unclaimed_reports():
            if current <= self.final_from(period):
                break
            if current >= self.claim_closes_at(period):
                self._forfeit_claim(period, f"its claims closed at period {self.claim_closes_at(period)} "
                                            f"and it is period {current}")
                continue
            if self._held(period):
                call = self.chain.tenantchain.functions.claimUsage(self.host_id, period, [pack_line(*x) for x in lines])
                try:
                    self.tx.transact(call, self.operator, key=f"claim:{self.host_id}:{period}")
                except ChainError as exc:
                    if "the contract refused" not in str(exc) or "UsageNotFinal" in str(exc):
                        raise  # unreachable, or the chain's clock is behind ours: try again next time
                    if "UsageClaimClosed" in str(exc):
                        self._forfeit_claim(period, str(exc))
                        continue
                    log.warning("claim of period %d refused: %s", period, exc)
            self.store.set_report_status(period, "claimed")

    def _send(self, period: int, measured: list[ReportLine]) -> str:
        if not measured:
            self.store.set_report(period, "empty", [], [])
            return "empty"
        self._sign_receipts(period, measured)  # signed before anything is charged
        lines = self.charged_lines(period, measured)
        body = [[l.allocation, l.cpu_ms, l.memory_mib_seconds] for l in lines]
        claimed, claims = self._claims_for(period)
        txs = []
        for start in range(0, len(lines), MAX_BATCH):
            batch = [pack_line(*x) for x in body[start:start + MAX_BATCH]]
            batch_claims = [pack_line(*x) for x in claims] if start == 0 else []
            call = self.chain.tenantchain.functions.reportUsage(self.host_id, period, batch, batch_claims)
            try:
                receipt = self._transact_report(call, period, start, len(batch) + len(batch_claims))
            except ChainError as exc:
                message = str(exc)
                if "UsageReportOutOfOrder" in message and start == 0:
                    # Reported already (the record was lost), unless the chain holds something else.
                    if bytes(self.chain.read(self.chain.tenantchain.functions.usageDigestOf(
                            self.host_id, period).call)) == usage_digest(body):
                        self.store.set_report(period, "sent", txs, body)
                        return "sent"
                if "UsageClaimMismatch" in message and claimed is not None:
                    # The chain holds other lines than our record of that period: they can't be claimed.
                    self._forfeit_claim(claimed, "the chain holds other lines than our record of it")
                    return self._send(period, measured)
                if "BillingPeriodNotEnded" in message:
                    raise  # the chain's clock is behind ours: try again later
                if "UsageReportTooLate" in message:
                    # The chain's clock is ahead of ours: the window closed before this batch went out.
                    self._forfeit(period, self.period_of(time.time()), f"refused as too late ({message})",
                                  sent=body[:start])
                    if start and claimed is not None:
                        self.store.set_report_status(claimed, "claimed")  # the first batch carried its claim
                    return "sent" if start else "forfeited"
                if "UsageClaimClosed" in message and claimed is not None and start == 0:
                    self._forfeit_claim(claimed, message)
                    return self._send(period, measured)
                if "the contract refused" in message:
                    log.warning("period %d refused by the contract: %s (not retried)", period, message)
                    self.store.set_report(period, "refused", txs, body, message)
                    return "refused"
                raise  # the chain is unreachable: the period stays unreported and is retried
            txs.append("0x" + bytes(receipt.transactionHash).hex())
        if claimed is not None:
            self.store.set_report_status(claimed, "claimed")
        self.store.set_report(period, "sent", txs, body)
        log.info("period %d reported: %s", period, json.dumps({"lines": len(lines), "txs": txs}))
        return "sent"

    def _transact_report(self, call, period: int, start: int, lines: int):
        """Send one report. A node that mines only on demand (Ganache's default) estimates against its
        last block, whose clock stops while the chain is idle: it says the period hasn't ended when it
        has. Then the report is sent with a gas limit worked out from its size instead of an estimate;
        the block that includes it has the real time (and if that's still early, it reverts and the
        period is retried)."""
        try:
            return self.tx.transact(call, self.operator, key=f"report:{self.host_id}:{period}:{start}")
        except ChainError as exc:
            ended_at = self.genesis + (period + 1) * self.period_seconds
            if "BillingPeriodNotEnded" not in str(exc) or time.time() < ended_at + IDLE_CLOCK_MARGIN_S:
                raise
        log.info("period %d: the chain's last block is older than the period's end; sending without an estimate",
                 period)
        return self.tx.transact(call, self.operator, gas=REPORT_GAS_BASE + REPORT_GAS_PER_LINE * lines,
                                key=f"report:{self.host_id}:{period}:{start}")
