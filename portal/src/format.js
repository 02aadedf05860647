// Human units: token amounts with the token's decimals, durations, resources, allocation ids.
import { formatUnits } from "viem";

export const MAX_UINT256 = 2n ** 256n - 1n;

/** `1,234.5678 TCT` from token units: at most `digits` decimals (rounded down), thousands grouped;
 * an amount below that shows three significant digits (`0.0000036 TCT`), never a misleading 0. */
export function tokens(units, token, digits = 4) {
  const [whole, fraction = ""] = formatUnits(units, token.decimals).split(".");
  let shown = fraction.slice(0, digits);
  if (whole === "0" && units > 0n && !/[1-9]/.test(shown)) {
    shown = fraction.slice(0, fraction.search(/[1-9]/) + 3);
  }
  shown = shown.replace(/0+$/, "");
  return `${BigInt(whole).toLocaleString("en-US")}${shown ? "." + shown : ""} ${token.symbol}`;
}

const TEN_YEARS_S = 10 * 365 * 86400;

/** `3 d 4 h`, `5 h 12 min`, `40 s`: two units at most; `more than 10 years` beyond. */
export function duration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds)));
  if (s > TEN_YEARS_S) return "more than 10 years";
  const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const parts = [];
  for (const [name, size] of units) {
    if (s >= size || (name === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(s / size)} ${name}`);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** An allocation id as host/number (its high 32 bits are the host id). */
export function allocationLabel(id) {
  return `${id >> 32n}/${id & 0xffffffffn}`;
}

/** `1 core`, `2 settlements`: a count with its noun, singular for exactly one. */
export function plural(n, noun) {
  return `${n} ${Number(n) === 1 ? noun : `${noun}s`}`;
}

export function cores(millis) {
  return plural(Number(millis) / 1000, "core");
}

export function resources(r) {
  return `${cores(r.cpuMillis)}, ${r.memoryMiB} MiB, ${r.storageGiB} GiB, ${r.pids} pids`;
}

export function date(unixSeconds) {
  return new Date(Number(unixSeconds) * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}
