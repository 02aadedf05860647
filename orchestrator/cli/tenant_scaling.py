"""`tenantchain tenant autoscale` and `tenant advise`: consent to automatic resizes on-chain, and what
each allocation uses against what it pays for, in money."""

from __future__ import annotations

import click

from ..chain import types
from ..chain.pricing import HostPricing
from ..errors import ConfigError, HostApiError
from ..ops.advice import MONTH_S
from .common import ALLOCATION_ID, Session, chain_command, human_tokens, token_amount
from .host_api import HostApiClient
from .tenant import _allocations_of, tenant

def _pricing(s: Session, allocation: int) -> tuple[HostPricing, tuple[int, int, int, int]]:
    """The allocation's host's quote as it is now, and the allocation's agreed reserved prices."""
    host_id = allocation >> 32
    host, record, terms = s.chain.read_many([s.f.getHost(host_id), s.f.hostRecordOf(host_id), s.f.termsOf(allocation)])
    return HostPricing.from_chain(host, record), tuple(terms[0])


def _per_month(s: Session, rate_per_second: int) -> str:
    return f"{human_tokens(s, rate_per_second * MONTH_S)} a month ({human_tokens(s, rate_per_second * 3600)} an hour)"


def _bound(text: str, current: tuple[int, ...]) -> tuple[int, ...]:
    """cpu=..,memory=.. with what isn't named (storage and pids, which automatic resizes keep) from the
    allocation's current size."""
    named = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{text!r}: write bounds as cpu=250,memory=64")
        named[types.RESOURCE_ALIASES.get(key.strip(), key.strip())] = value
    return types.resources({k: named.get(k, current[i]) for i, k in enumerate(types.RESOURCE_KEYS)}, f"bounds {text!r}")


@chain_command(tenant, "autoscale")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--min", "low", default=None, help="The smallest size, e.g. cpu=250,memory=64.")
@click.option("--max", "high", default=None, help="The largest size, e.g. cpu=2000,memory=1024.")
@click.option("--max-per-month", default=None,
              help="The most it may cost, in tokens per month of 30 days (default: the max size's price).")
@click.option("--max-per-hour", default=None, help="The same bound in tokens per hour.")
@click.option("--off", is_flag=True, help="Turn automatic resizing off (the allocation keeps its size).")
def tenant_autoscale(s: Session, allocation: int, low: str | None, high: str | None, max_per_month: str | None,
                     max_per_hour: str | None, off: bool) -> None:
    """Let the host resize an allocation within bounds you set (CPU and memory; storage and pids stay).
    Without options: show the policy.

    Example: tenantchain tenant autoscale 1/4 --min cpu=250,memory=64 --max cpu=2000,memory=512 --account alice
    """
    record = s.chain.read(s.f.getAllocation(allocation).call)
    current = tuple(record[4])
    if off:
        receipt = s.send(s.f.setScalingPolicy(allocation, (0, 0, 0, 0), (0, 0, 0, 0), 0), "autoscale off")
        s.out(f"allocation {s.name(allocation)}: automatic resizing off", {"allocation": allocation, "tx": receipt.transactionHash.hex()})
        return
    if low is None and high is None:
        minimum, maximum, ceiling, last = s.chain.read(s.f.scalingPolicyOf(allocation).call)
        policy = {"min": dict(zip(types.RESOURCE_KEYS, minimum)), "max": dict(zip(types.RESOURCE_KEYS, maximum)),
                  "max_rate_per_second": ceiling, "last_auto_resize": last}
        if ceiling == 0:
            s.out(f"allocation {s.name(allocation)}: no automatic resizing", {"allocation": allocation, "policy": None})
        else:
            s.out(f"allocation {s.name(allocation)}: cpu {minimum[0]}-{maximum[0]} m, memory {minimum[1]}-{maximum[1]} MiB, "
                  f"at most {_per_month(s, ceiling)}", {"allocation": allocation, "policy": policy})
        return
    if low is None or high is None:
        raise ConfigError("give both --min and --max (or --off)")
    minimum, maximum = _bound(low, current), _bound(high, current)
    host = record[1]
    if max_per_month is not None and max_per_hour is not None:
        raise ConfigError("give --max-per-month or --max-per-hour, not both")
    if max_per_month is None and max_per_hour is None:
        # The max size's price: as a new allocation now, or as an automatic resize prices it (what the
        # allocation keeps at its agreed prices, the rest at the quote), whichever is higher.
        pricing, agreed = _pricing(s, allocation)
        ceiling = max(s.chain.read(s.f.rateOf(host, maximum).call),
                      pricing.auto_resize_rate(agreed, current, maximum))
    else:
        option, text, seconds = (("--max-per-month", max_per_month, MONTH_S) if max_per_month is not None
                                 else ("--max-per-hour", max_per_hour, 3600))
        ceiling = token_amount(s, text) // seconds
        if ceiling == 0:
            raise ConfigError(f"{option} {text} is less than one token unit per second")
    receipt = s.send(s.f.setScalingPolicy(allocation, minimum, maximum, ceiling), "autoscale")
    s.out(f"allocation {s.name(allocation)}: the host may resize it between cpu {minimum[0]}-{maximum[0]} m and memory "
          f"{minimum[1]}-{maximum[1]} MiB, at most {_per_month(s, ceiling)}",
          {"allocation": allocation, "min": minimum, "max": maximum, "max_rate_per_second": ceiling,
           "tx": receipt.transactionHash.hex()})


@chain_command(tenant, "advise")
def tenant_advise(s: Session) -> None:
    """Per active allocation: reserved against used (p50, p90, peak), the size the host's recommender would
    pick, and what you would save (or need) per month at the host's prices.

    Example: tenantchain tenant advise --account alice
    """
    rows, lines = [], []
    clients: dict[int, HostApiClient] = {}
    for entry in _allocations_of(s, s.signer.address):
        if entry["status"] != "active":
            continue
        allocation, host = entry["id"], entry["host"]
        try:
            if host not in clients:
                clients[host] = HostApiClient(s.chain, s.signer, host)
            advice = clients[host].call(allocation, "advice")
        except HostApiError as exc:  # one host away doesn't hide the others
            rows.append({"allocation": allocation, "error": str(exc)})
            lines.append(f"{s.name(allocation)}: {exc}")
            continue
        record = s.chain.read(s.f.getAllocation(allocation).call)
        current = tuple(record[4])
        wanted = advice["recommended"]
        target = (wanted["cpu_millis"], wanted["memory_mib"], current[2], current[3])
        rate_now = record[5]
        # With a policy the host makes the step (kept units at the agreed prices, added ones at the quote);
        # without one the tenant would resize, re-priced whole at the quote.
        pricing, agreed = _pricing(s, allocation)
        automatic = s.chain.read(s.f.scalingPolicyOf(allocation).call)[2] != 0
        rate_then = (pricing.auto_resize_rate(agreed, current, target) if automatic
                     else pricing.resize_quote(current, target))
        saving = (rate_now - rate_then) * MONTH_S
        rows.append({"allocation": allocation, **advice, "monthly_saving": saving})
        used = advice["used"]
        if used is None:
            lines.append(f"{s.name(allocation)}: not enough samples yet")
            continue
        verdict = ("keep its size" if saving == 0 else f"save {human_tokens(s, saving)} a month" if saving > 0
                   else f"needs {human_tokens(s, -saving)} a month more")
        lines.append(
            f"{s.name(allocation)}: reserved {advice['reserved']['cpu_millis']} m / {advice['reserved']['memory_mib']} MiB; "
            f"used CPU p50 {used['cpu_millis']['p50']} p90 {used['cpu_millis']['p90']} peak {used['cpu_millis']['peak']} m, "
            f"memory p50 {used['memory_mib']['p50']} peak {used['memory_mib']['peak']} MiB over {advice['window_s']} s"
            + (f"; {advice['oom_kills']} OOM kills" if advice["oom_kills"] else "")
            + (", throttled" if advice["throttled"] else "")
            + (f"; the kernel throttled it in {advice['cpu_throttled_ratio']:.0%} of its CPU periods"
               if advice.get("cpu_throttled_ratio") else "")
            + f" -> recommended {wanted['cpu_millis']} m / {wanted['memory_mib']} MiB: {verdict}")
    s.out("\n".join(lines) or "no active allocations", {"allocations": rows})
