"""The settlement keeper: a transaction only where money has to move, never one per allocation and tick.

Reserved charges need no transaction while they run: the contract computes a tenant's balance from
its funded total and rate, and a charge never runs past the escrow's end (`paidThrough`), settled or
not. So the keeper sends two things only:
- **At an insolvency**, one `settle` of one of the tenant's allocations here: it marks the tenant
  suspended from when its escrow ran out, and the watcher then pauses its containers. Accounts are
  read (one batch of view calls, no gas) every `ACCOUNT_CHECK_S` and just after the earliest escrow's
  end, so the suspension is on time although a deposit, or an allocation on another host, moves it.
- **Once per settle interval** (a day by default, as Akash's provider withdraws daily), `settleMany`
  over this host's active allocations that nothing settled during the interval, in chunks: what they
  accrued becomes the host's withdrawable earnings. (Each claimed usage line settles its allocation,
  so while reports flow there are few: allocations whose usage was forfeited or never reported.)
"""

from __future__ import annotations

import logging
import time

from eth_account.signers.local import LocalAccount

from ..chain.client import Chain
from ..errors import ChainError
from ..store import Store

log = logging.getLogger("tenantchain.keeper")

SETTLE_CHUNK = 100  # allocations per settleMany: ~1.3 M gas, well inside any block
ACCOUNT_CHECK_S = 60.0
LOW_BALANCE_WARN_S = 24 * 3600  # as the status page highlights it


class Keeper:
    def __init__(self, store: Store, chain: Chain, operator: LocalAccount, tx=None):
        """``tx``: what sends the operator's transactions (the service's TxManager; the chain by default)."""
        self.store = store
        self.chain = chain
        self.tx = tx or chain
        self.operator = operator
        self._warned: dict[str, int] = {}  # tenant -> the paidThrough last warned about (once each)

    def settle_due(self, interval_s: float) -> float:
        """Settle the allocations of this host that nothing settled for ``interval_s``, once per
        ``interval_s`` (the last time is kept in the store, so that restarts don't put it off).
        Returns when it is due next."""
        now = self._now()
        last = float(self.store.get_meta("settled_at", "0"))
        if now < last + interval_s:
            return last + interval_s
        self.settle_all(stale_before=now - interval_s)
        self.store.set_meta("settled_at", str(now))
        return now + interval_s

    def settle_all(self, stale_before: float = float("inf")) -> int:
        """Settle this host's active allocations last settled before ``stale_before``, ``SETTLE_CHUNK``
        to a transaction, all chunks sent before any is awaited. Each claimed usage line settles its
        allocation already, so while reports flow this finds little. Returns how many it settled."""
        f = self.chain.tenantchain.functions
        ids = [a.id for a in self.store.allocations(include_closed=False)]
        if stale_before != float("inf"):
            held = self.chain.read_many([f.getAllocation(i) for i in ids])
            ids = [i for i, a in zip(ids, held) if a[6] < stale_before]  # lastSettled
        chunks = [ids[i:i + SETTLE_CHUNK] for i in range(0, len(ids), SETTLE_CHUNK)]
        failed = [r for r in self.tx.transact_many([f.settleMany(chunk) for chunk in chunks], self.operator)
                  if isinstance(r, ChainError)]
        if failed:
            raise failed[0]
        return len(ids)

    def _now(self) -> float:
        """The next block's time: the clock's, or the chain's if it runs ahead (a test chain warped)."""
        return max(time.time(), self.chain.read(self.chain.w3.eth.get_block, "latest").timestamp)

    def check_accounts(self) -> float:
        """Suspend this host's tenants whose escrow has run out (one transaction each), and warn once
        about those that run out within a day. Returns when the earliest remaining escrow runs out."""
        f = self.chain.tenantchain.functions
        first_of: dict[str, int] = {}
        for a in sorted(self.store.allocations(include_closed=False), key=lambda a: a.id):
            first_of.setdefault(a.tenant, a.id)
        tenants = sorted(first_of)
        if not tenants:
            return float("inf")
        accounts = self.chain.read_many([f.accountOf(t) for t in tenants])
        now = self._now()
        earliest = float("inf")
        insolvent = []
        for tenant, (balance, rate, paid_through, suspended_at, _, _) in zip(tenants, accounts):
            if rate == 0 or suspended_at:
                continue
            if paid_through <= now:
                insolvent.append(tenant)
                continue
            earliest = min(earliest, paid_through)
            if paid_through - now < LOW_BALANCE_WARN_S and self._warned.get(tenant) != paid_through:
                self._warned[tenant] = paid_through
                left = paid_through - now
                log.warning("tenant %s: escrow runs out in %.0f s (balance %d, %d per second)",
                            tenant, left, balance, rate)
                self.store.log_action(None, "low-balance", f"{tenant} {left:.0f}s left")
        if insolvent:
            results = self.tx.transact_many([f.settle(first_of[t]) for t in insolvent], self.operator)
            for tenant, result in zip(insolvent, results):
                if isinstance(result, ChainError):
                    raise result
                log.info("tenant %s: escrow ran out; settled allocation %d to suspend it", tenant, first_of[tenant])
        return earliest
