"""A simulated market of honest and greedy tenants under the utilisation surcharge (issue: tenants'
incentives), with the contract's own pricing formula.

    .venv/bin/python -m bench.market_sim [--tenants 80] [--seed 7] [--write]

Four hosts of 8,000 millicores with base prices 1.0, 1.1, 1.2 and 1.3 per millicore. Tenants arrive
one by one; each needs 250-1,000 millicores. Honest ones request what they need; greedy ones hoard,
requesting three times their need. Every tenant takes the host that quotes the lowest rate for its
request and has room (as `tenantchain tenant request --host-id auto` does); one that fits nowhere is
turned away. Measured per surcharge: what a useful millicore costs honest and greedy tenants, how many
honest tenants were turned away, and how evenly the hosts fill. `--write` puts the table into
BENCHMARKS.md and the chart into docs/surcharge.svg.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

from bench.report import publish

CAPACITY = 8000
BASE = (1000, 1100, 1200, 1300)  # price per millicore, in thousandths
SURCHARGES = (0, 50, 100, 200)
ROOT = Path(__file__).resolve().parents[1]


def rate(base: int, used: int, request: int, pct: int) -> int:
    """TenantChain's `_surcharged`: base x (1 + pct/100 x (u0^2 + u0 u1 + u1^2)/3), u in basis points."""
    total = base * request
    if pct == 0:
        return total
    u0 = used * 10_000 // CAPACITY
    u1 = min((used + request) * 10_000 // CAPACITY, 10_000)
    return total + total * pct * (u0 * u0 + u0 * u1 + u1 * u1) // 30_000_000_000


@dataclass
class Outcome:
    pct: int
    tenants: int
    honest_price: float  # per useful millicore, relative to the cheapest base price
    greedy_price: float
    hoarding_premium: float  # what greedy pay per millicore they hold, over what honest pay per millicore
    honest_turned_away: int
    greedy_turned_away: int
    utilisation: list[float]


def simulate(pct: int, tenants: int, seed: int) -> Outcome:
    rng = random.Random(seed)
    used = [0] * len(BASE)
    paid = {"honest": 0, "greedy": 0}
    useful = {"honest": 0, "greedy": 0}
    held = {"honest": 0, "greedy": 0}
    away = {"honest": 0, "greedy": 0}
    for _ in range(tenants):
        kind = "greedy" if rng.random() < 0.3 else "honest"
        need = rng.randrange(250, 1001, 50)
        request = need * 3 if kind == "greedy" else need
        quotes = [(rate(b, u, request, pct), -(CAPACITY - u), i) for i, (b, u) in enumerate(zip(BASE, used))
                  if u + request <= CAPACITY]
        if not quotes:
            away[kind] += 1
            continue
        price, _, host = min(quotes)
        used[host] += request
        paid[kind] += price
        useful[kind] += need
        held[kind] += request
    per_unit = {k: paid[k] / useful[k] / BASE[0] if useful[k] else 0.0 for k in paid}
    per_held = {k: paid[k] / held[k] if held[k] else 0.0 for k in paid}
    return Outcome(pct, tenants, per_unit["honest"], per_unit["greedy"], per_held["greedy"] / per_held["honest"],
                   away["honest"], away["greedy"], [u / CAPACITY for u in used])


def table(outcomes: list[Outcome]) -> str:
    lines = ["| tenants | surcharge at full use | honest: price per useful millicore | greedy (hoards 3x) "
             "| hoarding premium per held millicore | honest turned away | greedy turned away "
             "| host utilisation (base 1.0, 1.1, 1.2, 1.3) | spread (max - min) |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for o in outcomes:
        lines.append(f"| {o.tenants} | {o.pct}% | {o.honest_price:.2f} | {o.greedy_price:.2f} | {o.hoarding_premium:.2f} x "
                     f"| {o.honest_turned_away} | {o.greedy_turned_away} | "
                     + ", ".join(f"{u:.0%}" for u in o.utilisation)
                     + f" | {max(o.utilisation) - min(o.utilisation):.0%} |")
    return "\n".join(lines)


def svg(outcomes: list[Outcome]) -> str:
    """Two panels: the price multiplier of the marginal millicore against utilisation, and where the
    hosts end up filled, without and with the surcharge."""
    w, h, pad = 420, 260, 40
    colours = ("#888", "#2a7", "#27c", "#c52")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{2 * w}" height="{h}" fill="white"/>']

    def axes(x0: int, title: str, ylabel: str, xlabel: str) -> None:
        parts.append(f'<text x="{x0 + w / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>')
        parts.append(f'<line x1="{x0 + pad}" y1="{h - pad}" x2="{x0 + w - 10}" y2="{h - pad}" stroke="black"/>')
        parts.append(f'<line x1="{x0 + pad}" y1="{h - pad}" x2="{x0 + pad}" y2="26" stroke="black"/>')
        parts.append(f'<text x="{x0 + w / 2}" y="{h - 8}" text-anchor="middle">{xlabel}</text>')
        parts.append(f'<text x="{x0 + 12}" y="{h / 2}" transform="rotate(-90 {x0 + 12} {h / 2})" text-anchor="middle">{ylabel}</text>')

    axes(0, "price of the next millicore", "x base price", "host utilisation")
    top = 1 + max(SURCHARGES) / 100
    for tick in (0, 0.5, 1):
        x = pad + tick * (w - pad - 10)
        parts.append(f'<text x="{x:.0f}" y="{h - pad + 14}" text-anchor="middle">{tick:.0%}</text>')
    for tick in (1, 2, 3):
        y = (h - pad) - (tick - 1) / (top - 1) * (h - pad - 30)
        parts.append(f'<text x="{pad - 4}" y="{y + 4:.0f}" text-anchor="end">{tick}</text>')
    for pct, colour in zip(SURCHARGES, colours):
        points = []
        for step in range(0, 101, 5):
            u = step / 100
            x = pad + u * (w - pad - 10)
            y = (h - pad) - ((1 + pct / 100 * u * u) - 1) / (top - 1) * (h - pad - 30)
            points.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>')
        parts.append(f'<text x="{w - 60}" y="{(h - pad) - pct / 100 / (top - 1) * (h - pad - 30) - 3:.0f}" fill="{colour}">{pct}%</text>')
    axes(w, f"hosts filled by {outcomes[0].tenants} tenants", "utilisation", "host (base price)")
    shown = [o for o in outcomes if o.pct in (0, 100) and o.tenants == outcomes[0].tenants]
    for tick in (0, 0.5, 1):
        y = (h - pad) - tick * (h - pad - 30)
        parts.append(f'<text x="{w + pad - 4}" y="{y + 4:.0f}" text-anchor="end">{tick:.0%}</text>')
    bar = (w - pad - 20) / (len(BASE) * (len(shown) + 1))
    for i in range(len(BASE)):
        for j, o in enumerate(shown):
            x = w + pad + 10 + (i * (len(shown) + 1) + j) * bar
            height = o.utilisation[i] * (h - pad - 30)
            colour = colours[SURCHARGES.index(o.pct)]
            parts.append(f'<rect x="{x:.1f}" y="{h - pad - height:.1f}" width="{bar - 2:.1f}" height="{height:.1f}" fill="{colour}"/>')
        parts.append(f'<text x="{w + pad + 10 + (i * (len(shown) + 1) + 1) * bar:.1f}" y="{h - pad + 14}" '
                     f'text-anchor="middle">{BASE[i] / 1000:.1f}</text>')
    parts.append(f'<text x="{2 * w - 150}" y="40" fill="{colours[0]}">no surcharge</text>')
    parts.append(f'<text x="{2 * w - 150}" y="54" fill="{colours[2]}">100% surcharge</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="16,24", help="market sizes to simulate (comma-separated)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    outcomes = [simulate(pct, int(n), args.seed) for n in args.tenants.split(",") for pct in SURCHARGES]
    print(table(outcomes))
    if args.write:
        (ROOT / "docs" / "surcharge.svg").write_text(svg(outcomes) + "\n")
        publish("market_sim", [vars(o) for o in outcomes], table(outcomes),
                ": the contract's pricing formula in a simulated market; 30% of tenants hoard three times what "
                "they need")


if __name__ == "__main__":
    main()
