// The bill from the chain's Settled events: what each settlement charged, reserved and metered, per
// allocation, with what is accrued but not settled yet; one small SVG bar chart per allocation.

const SVG = "http://www.w3.org/2000/svg";

export async function loadBill(deployment, allocations) {
  if (allocations.length === 0) return [];
  const ids = allocations.map((a) => a.id);
  const [settled, unsettled] = await Promise.all([
    deployment.events("Settled", { allocationId: ids }),
    Promise.all(ids.map((id) => deployment.read("unsettledOf", [id]))),
  ]);
  return ids.map((id, i) => {
    const lines = settled.filter((log) => log.args.allocationId === id).map((log) => ({
      from: Number(log.args.from), to: Number(log.args.to), reserved: log.args.reserved, metered: log.args.metered,
    }));
    const total = lines.reduce((sum, l) => sum + l.reserved + l.metered, 0n);
    const [reserved, metered] = unsettled[i];
    return { id, lines, total, pending: reserved + metered };
  });
}

/** Bars of reserved (dark) and metered (light) charge per settlement, scaled to the largest. */
export function chart(lines, describe) {
  const width = 320, height = 80, gap = 2;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  const max = lines.reduce((m, l) => (l.reserved + l.metered > m ? l.reserved + l.metered : m), 0n);
  if (max === 0n) return svg;
  const bar = Math.max(2, Math.min(24, (width - gap * lines.length) / lines.length));
  lines.forEach((line, i) => {
    const x = i * (bar + gap);
    let y = height;
    for (const [part, cls] of [[line.reserved, "reserved"], [line.metered, "metered"]]) {
      const h = Number((part * BigInt(height - 4)) / max);
      if (h <= 0) continue;
      y -= h;
      const rect = document.createElementNS(SVG, "rect");
      Object.entries({ x, y, width: bar, height: h, class: cls }).forEach(([k, v]) => rect.setAttribute(k, v));
      const title = document.createElementNS(SVG, "title");
      title.textContent = describe(line);
      rect.appendChild(title);
      svg.appendChild(rect);
    }
  });
  return svg;
}
