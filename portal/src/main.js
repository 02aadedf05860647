// The tenant portal: what `tenantchain tenant ...` does, from a browser wallet. Plain DOM, no framework.
import { maxUint256, parseUnits } from "viem";

import { chart, loadBill } from "./bill.js";
import { Deployment } from "./contract.js";
import { capitalise, explain } from "./errors.js";
import { allocationLabel, cores, date, duration, MAX_UINT256, plural, resources, tokens } from "./format.js";
import { askHost } from "./host_api.js";
import { checkFileSize, fromForm, fromYaml, resourcesFromForm, seal, SpecError } from "./spec.js";
import { discoverWallets, onWalletEvents, requestAccount, switchTo, walletChainId } from "./wallet.js";

const LOW_FUNDS_S = 24 * 3600; // warn when the escrow lasts less than a day at the current rate
// The page follows the chain by itself: a rejection, a settlement, a host's change shows within this
// (and the wallet's network is checked as often: not every wallet says when it switches).
const FOLLOW_MS = 3000;
const CLOSE_REASONS = ["", "released", "rejected by the host", "out of funds"];
const $ = (id) => document.getElementById(id);

let deployment; // Deployment
let provider = null; // the connected wallet's EIP-1193 provider
let onRightChain = false;
let hostsById = new Map();
let busy = 0; // user actions in flight: the page doesn't refresh by itself meanwhile
let drawing = null; // the refresh in flight (one at a time)
const drawn = new Map(); // what each table last showed (skipped when unchanged: no flicker, open forms stay)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** True when `data` differs from what `name` last showed (and remembers it). */
function changed(name, data) {
  const key = JSON.stringify(data, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  if (drawn.get(name) === key) return false;
  drawn.set(name, key);
  return true;
}

function say(text, kind = "") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
}

/** Run one user action: errors become one sentence; the page is refreshed before the outcome shows. */
async function act(label, work) {
  if (!provider) return say("Connect a wallet first.", "error");
  busy += 1;
  const buttons = [...document.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  let outcome, kind;
  try {
    await checkNetwork(); // the wallet may have switched without telling
    if (!onRightChain) throw new SpecError(`Your wallet is on another network: switch to ${deployment.chain.name} first.`);
    outcome = (await work((text) => say(text))) || `${label}: done.`;
    kind = "ok";
  } catch (error) {
    outcome = error instanceof SpecError ? error.message : explain(error, deployment.config.errors);
    kind = "error";
  }
  try {
    await checkNetwork();
    await refresh(false);
  } catch (error) {
    outcome += ` (The page could not refresh: ${explain(error, deployment.config.errors)})`;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    busy -= 1;
  }
  say(outcome, kind);
}

// --- wallet -------------------------------------------------------------------------------

function showWallets(list) {
  const box = $("wallets");
  box.replaceChildren(...list.map((w) => el("button", { class: "wallet-button", onclick: () => connect(w) },
    w.info.icon ? el("img", { src: w.info.icon, alt: "" }) : null, `Connect ${w.info.name}`)));
  if (list.length === 0) box.replaceChildren(el("span", { class: "muted" }, "No browser wallet found (install one, e.g. MetaMask)."));
}

async function connect(wallet) {
  try {
    const account = await requestAccount(wallet.provider);
    provider = wallet.provider;
    deployment.connect(provider, account);
    $("who").textContent = `${wallet.info.name}: ${account}`;
    $("wallets").hidden = true;
    onWalletEvents(provider, () => reconnect(wallet));
    await checkNetwork();
    await refresh();
    if (onRightChain) say("Connected.", "ok");
    else say(`Connected, but your wallet is on chain ${walletChain}: switch it to ${deployment.chain.name} to use this portal.`, "warn");
  } catch (error) {
    say(explain(error, deployment.config.errors), "error");
  }
}

async function reconnect(wallet) {
  const accounts = await wallet.provider.request({ method: "eth_accounts" });
  if (accounts?.[0]) deployment.connect(wallet.provider, accounts[0]);
  await checkNetwork();
  await refresh();
}

let walletChain = null;

async function checkNetwork() {
  if (!provider) return;
  const id = await walletChainId(provider);
  walletChain = id;
  onRightChain = id === deployment.config.chain_id;
  $("network-banner").hidden = onRightChain;
  $("network-text").textContent = `This portal is for ${deployment.chain.name} (chain ${deployment.config.chain_id}); `
    + `your wallet is on chain ${id}.`;
  if (!onRightChain) { // nothing of this account is shown from another network
    $("account-facts").hidden = true;
    $("register").hidden = true;
    $("account-empty").hidden = false;
    $("account-empty").textContent = `Switch your wallet to ${deployment.chain.name} to see your escrow.`;
    drawn.delete("allocations");
    drawn.delete("bill");
  }
}

async function switchNetwork() {
  try {
    await switchTo(provider, deployment.chain);
    await checkNetwork();
    await refresh();
    say(onRightChain ? "Switched network." : "The wallet did not switch.", onRightChain ? "ok" : "error");
  } catch (error) {
    say(explain(error, deployment.config.errors), "error");
  }
}

// --- views ----------------------------------------------------------------------------------

/** Redraw from the chain; one refresh at a time (a caller waits for the one in flight, then runs its own).
 * `keepOpen`: what the tenant opened in a row (a form, the host's answer) stays; false after an action. */
async function refresh(keepOpen = true) {
  while (drawing) await drawing.catch(() => {});
  drawing = draw(keepOpen);
  try {
    await drawing;
  } finally {
    drawing = null;
  }
}

async function draw(keepOpen) {
  if (!deployment.reader) return;
  const token = await deployment.tokenInfo();
  await showHosts(token);
  if (!provider || !onRightChain) return;
  const me = deployment.account;
  const [escrow, tenant, inWallet, allocations] = await Promise.all([
    deployment.read("accountOf", [me]), deployment.read("getTenant", [me]), deployment.tokenRead("balanceOf", [me]),
    deployment.allocations(me)]);
  showAccount(token, escrow, tenant, inWallet);
  showAllocations(token, allocations, keepOpen);
  await showBill(token, allocations);
}

function showAccount(token, escrow, tenant, inWallet) {
  $("account-empty").hidden = true;
  $("account-facts").hidden = false;
  $("register").hidden = tenant.status !== 0;
  $("escrow").textContent = tokens(escrow.balance, token);
  $("rate").textContent = escrow.ratePerSecond === 0n ? "nothing running"
    : `${tokens(escrow.ratePerSecond * 3600n, token)} per hour`;
  $("withdrawable").textContent = tokens(escrow.withdrawable, token);
  $("wallet-balance").textContent = tokens(inWallet, token);
  const banner = $("funds-banner");
  if (escrow.paidThrough === MAX_UINT256 || escrow.ratePerSecond === 0n) {
    $("time-left").textContent = "indefinitely (nothing running)";
    banner.hidden = true;
  } else {
    const left = Number(escrow.paidThrough) - Date.now() / 1000;
    const until = left < LOW_FUNDS_S * 365 ? ` (until ${date(escrow.paidThrough)})` : "";
    $("time-left").textContent = left > 0 ? `${duration(left)}${until}` : "run out";
    banner.hidden = !(escrow.suspendedAt > 0n || left < LOW_FUNDS_S);
    banner.textContent = escrow.suspendedAt > 0n
      ? "Your escrow ran out: allocations are suspended. Deposit to resume them before the grace period ends."
      : `Funds are low: your escrow lasts ${duration(Math.max(left, 0))} at the current rate. Deposit to keep running.`;
  }
}

async function showHosts(token) {
  const hosts = await deployment.hosts();
  hostsById = new Map(hosts.map((h) => [h.id, h]));
  if (!changed("hosts", hosts)) return;
  const active = hosts.filter((h) => h.status === 1);
  const perHour = (price, scale) => tokens(price * scale * 3600n, token);
  $("host-rows").replaceChildren(...active.map((h) => {
    const short = bondShort(h);
    const free = (k) => h.capacity[k] - h.used[k];
    return el("tr", { "data-host": String(h.id) },
      el("td", {}, String(h.id)),
      el("td", {}, `${cores(free("cpuMillis"))}, ${(free("memoryMiB") / 1024).toFixed(1)} GiB memory, `
        + `${free("storageGiB")} GiB storage, ${free("pids")} pids`),
      el("td", {}, `${perHour(h.reservedPrices.cpuMilli, 1000n)} per core·h, `
        + `${perHour(h.reservedPrices.memoryMiB, 1024n)} per GiB·h memory, `
        + `${perHour(h.reservedPrices.storageGiB, 1n)} per GiB·h storage`),
      el("td", {}, `${h.allocationCount - h.rejected} served, ${h.rejected} rejected`
        + (h.surchargePct ? `; up to ${h.surchargePct}% more as it fills` : "")
        + (h.bond ? `; bond ${tokens(h.bond.amount, token)}` : "")
        + (short ? ` (${short})` : "")
        + (h.reputation && h.reputation.slashes ? `, slashed ${h.reputation.slashes} times` : "")
        + (h.reputation && h.reputation.disputesLost ? `, ${h.reputation.disputesLost} disputes lost` : "")));
  }));
  if (active.length === 0) $("host-rows").replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No active hosts.")));
  const select = $("req-host");
  const chosen = select.value;
  select.replaceChildren(...active.map((h) => (bondShort(h) && h.bondShort
    ? el("option", { value: String(h.id), disabled: "" }, `host ${h.id} (bond short: admits nothing new)`)
    : el("option", { value: String(h.id) }, `host ${h.id}`))));
  if (chosen && active.some((h) => String(h.id) === chosen && !h.bondShort)) select.value = chosen;
}

/** Why a host's bond no longer covers what it could charge, or null (as `tenantchain hosts list`). */
function bondShort(h) {
  if (h.bondShort) return "bond short: admits nothing new";
  if (h.bond && h.bond.amount < h.bond.required) return "bond short of what its capacity asks";
  return null;
}

/** The quote in words: the most per hour, and the metered prices (per CPU·hour, per GiB·hour). */
function quoteText(q, token) {
  return `at most ${tokens(q.rate * 3600n, token)} per hour, metered use at ${tokens(q.metered.cpuSecond * 3600n, token)} `
    + `per CPU·h and ${tokens(q.metered.memoryGiBSecond * 3600n, token)} per GiB·h`;
}

function showAllocations(token, allocations, keepOpen) {
  if (!changed("allocations", allocations)) return;
  // What the tenant opened in a row (a resize form, the host's answer) stays while the allocation runs.
  const kept = new Map(keepOpen ? [...document.querySelectorAll("#allocation-rows tr[data-allocation]")]
    .map((tr) => [tr.dataset.allocation, tr]) : []);
  const rows = allocations.slice().reverse().map((a) => {
    const active = a.status === 1;
    const status = active ? "active" : closedText(a);
    const live = el("td", { class: "live" });
    const actions = el("td", { class: "actions" });
    if (active) {
      live.append(el("button", { class: "secondary", onclick: () => showLive(a, live) }, "Ask host"));
      actions.append(
        el("button", { class: "secondary", onclick: () => toggleResize(a, actions) }, "Resize"), " ",
        el("button", { class: "secondary", onclick: () => toggleAutoscale(a, actions) }, "Autoscale"), " ",
        el("button", { class: "secondary", onclick: () => release(a) }, "Release"));
    }
    // The cells themselves move over: their buttons' handlers hold them.
    const old = active ? kept.get(a.id.toString()) : null;
    const oldLive = old?.querySelector("td.live");
    const oldActions = old?.querySelector("td.actions");
    return el("tr", { "data-allocation": a.id.toString() },
      el("td", { title: a.id.toString() }, allocationLabel(a.id)),
      el("td", {}, String(a.hostId)),
      el("td", { class: active ? "status-active" : "status-closed" }, status,
        a.policy ? el("div", { class: "muted policy" }, `autoscaled: ${cores(a.policy.min.cpuMillis)}–${cores(a.policy.max.cpuMillis)}, `
          + `${a.policy.min.memoryMiB}–${a.policy.max.memoryMiB} MiB, at most ${tokens(a.policy.ceiling * 3600n, token)}/h`) : null),
      el("td", {}, resources(a.resources)),
      el("td", {}, active ? `${tokens(a.ratePerSecond * 3600n, token)}/h` : "-"),
      oldLive && !oldLive.querySelector("button") ? oldLive : live,
      oldActions && oldActions.querySelector("form") ? oldActions : actions);
  });
  $("allocation-rows").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No allocations yet."))]));
}

function closedText(a) {
  if (!a.closed) return "closed";
  const reason = CLOSE_REASONS[a.closed.reason] || "closed";
  if (a.closed.reason === 2) {
    return `${reason}: ${deployment.config.reject_reasons[a.closed.code] || "code " + a.closed.code}`;
  }
  return reason;
}

async function showLive(a, cell) {
  cell.textContent = "asking the host…";
  try {
    const s = await askHost(deployment, a.id);
    const c = s.container;
    const parts = [c ? c.state : "no container yet"];
    if (c) parts.push(`restarts ${c.restarts}`, `OOM kills ${c.oom_kills ?? "?"}`);
    if (s.image) parts.push(`image ${s.image.digest.slice(0, 19)}…`);
    for (const e of s.endpoints || []) parts.push(`${e.container_port}/tcp → ${e.endpoint || "-"} (${e.state})`);
    cell.textContent = parts.join(" · ");
    cell.className = `live ${c && c.state === "running" ? "running" : ""}`;
  } catch (error) {
    cell.textContent = error.message ? explain(error, deployment.config.errors) : String(error);
  }
}

async function showBill(token, allocations) {
  const bill = await loadBill(deployment, allocations);
  if (!changed("bill", bill)) return;
  const charged = bill.filter((b) => b.lines.length || b.pending > 0n);
  if (charged.length === 0) {
    $("bill-body").replaceChildren(el("p", { class: "muted" }, "No charges yet."));
    return;
  }
  const total = charged.reduce((s, b) => s + b.total, 0n);
  const describe = (l) => `${date(l.from)} – ${date(l.to)}: reserved ${tokens(l.reserved, token)}, metered ${tokens(l.metered, token)}`;
  $("bill-body").replaceChildren(
    el("p", {}, `Settled in all: ${tokens(total, token)}. Dark: reserved, light: metered use.`),
    ...charged.map((b) => el("div", { class: "bill-row", "data-bill": b.id.toString() },
      el("strong", { title: b.id.toString() }, allocationLabel(b.id)),
      chart(b.lines, describe),
      el("span", {}, `${plural(b.lines.length, "settlement")}, ${tokens(b.total, token)} settled; ${tokens(b.pending, token)} accrued, not settled yet`))));
}

// --- actions --------------------------------------------------------------------------------

function amountOf(text, token, what) {
  const trimmed = text.trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) throw new SpecError(`${what}: "${text}" is not an amount (e.g. 100 or 2.5)`);
  const [, fraction = ""] = trimmed.split(".");
  if (fraction.length > token.decimals) throw new SpecError(`${what}: at most ${token.decimals} decimals`);
  const units = parseUnits(trimmed, token.decimals);
  if (units === 0n) throw new SpecError(`${what}: the amount must be more than zero`);
  return units;
}

function deposit(event) {
  event.preventDefault();
  act("Deposit", async (progress) => {
    const token = await deployment.tokenInfo();
    const units = amountOf($("deposit-amount").value, token, "Deposit");
    const me = deployment.account;
    const held = await deployment.tokenRead("balanceOf", [me]);
    if (held < units) throw new SpecError(`Your wallet holds ${tokens(held, token)}, less than ${tokens(units, token)}.`);
    if ((await deployment.tokenRead("allowance", [me, deployment.address])) < units) {
      await deployment.send("Approve", "approve", [deployment.address, units], progress, "token");
    }
    await deployment.send("Deposit", "deposit", [me, units], progress);
    $("deposit-amount").value = "";
    return `Deposited ${tokens(units, token)}.`;
  });
}

function withdraw(event) {
  event.preventDefault();
  act("Withdraw", async (progress) => {
    const token = await deployment.tokenInfo();
    const text = $("withdraw-amount").value.trim();
    const units = text === "all" ? (await deployment.read("accountOf", [deployment.account])).withdrawable
      : amountOf(text, token, "Withdraw");
    if (units === 0n) {
      throw new SpecError("Nothing is withdrawable: the rest is held for running allocations and for usage that can still be charged.");
    }
    await deployment.send("Withdraw", "withdraw", [units, deployment.account], progress);
    $("withdraw-amount").value = "";
    return `Withdrew ${tokens(units, token)}.`;
  });
}

function register() {
  act("Register", async (progress) => {
    const zero = { cpuMillis: 0, memoryMiB: 0, storageGiB: 0, pids: 0 };
    await deployment.send("Register", "registerTenant", [deployment.metadataHash(""), "", zero], progress);
    return "Registered as a tenant.";
  });
}

async function readSpec() {
  const file = $("req-file").files[0];
  if (file) {
    checkFileSize(file.size, file.name); // not even read when it can't be a spec
    return fromYaml(await file.text(), file.name);
  }
  return fromForm({
    image: $("req-image").value, command: $("req-command").value, expose: $("req-expose").value,
    egress: $("req-egress").checked, cpuCores: $("req-cpu").value, memoryMiB: $("req-memory").value,
    storageGiB: $("req-storage").value, pids: $("req-pids").value,
  });
}

function request(event) {
  event.preventDefault();
  act("Request", async (progress) => {
    const hostId = Number($("req-host").value);
    const host = hostsById.get(hostId);
    if (!host) throw new SpecError("Choose a host.");
    const spec = await readSpec(); // checked as the host checks it: a spec it would refuse is never sent
    const { ciphertext, digest } = seal(spec.plaintext, host.publicKey); // encrypted here, in the browser
    // The request carries its quote: a price rise before it is mined makes the chain refuse it.
    const token = await deployment.tokenInfo();
    const q = await deployment.quote(hostId, spec.resources);
    $("quote").textContent = `Quoted ${quoteText(q, token)}.`;
    const receipt = await deployment.send(`Request (${quoteText(q, token)})`, "requestAllocation",
      [hostId, spec.resources, q.rate, q.metered, digest, ciphertext], progress);
    const admitted = deployment.requestedIn(receipt);
    return `Allocation ${allocationLabel(admitted.allocationId)} admitted on host ${hostId} at `
      + `${tokens(admitted.ratePerSecond * 3600n, token)} per hour (quoted ${quoteText(q, token)}); the host starts it now.`;
  });
}

function toggleResize(a, cell) {
  const open = cell.querySelector("form.resize");
  if (open) return open.remove();
  const field = (name, value, label) => el("label", {}, `${label} `, el("input", { name, value: String(value) }));
  const form = el("form", { class: "resize" },
    field("cpu", Number(a.resources.cpuMillis) / 1000, "cores"), field("memory", a.resources.memoryMiB, "MiB"),
    field("storage", a.resources.storageGiB, "GiB"), field("pids", a.resources.pids, "pids"),
    el("button", {}, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act("Resize", async (progress) => {
      const wanted = resourcesFromForm({ cpuCores: form.cpu.value, memoryMiB: form.memory.value,
        storageGiB: form.storage.value, pids: form.pids.value });
      // Re-priced at the quote of the moment (the whole allocation); refused if the host's prices rise first.
      const token = await deployment.tokenInfo();
      const { rate } = await deployment.quote(a.hostId, wanted);
      const most = `at most ${tokens(rate * 3600n, token)} per hour`;
      await deployment.send(`Resize (${most})`, "resizeAllocation", [a.id, wanted, rate], progress);
      return `Allocation ${allocationLabel(a.id)} resized to ${resources(wanted)} (quoted ${most}).`;
    });
  });
  cell.append(form);
}

function toggleAutoscale(a, cell) {
  const open = cell.querySelector("form.autoscale");
  if (open) return open.remove();
  const p = a.policy;
  const field = (name, value, label) => el("label", {}, `${label} `, el("input", { name, value: String(value) }));
  const form = el("form", { class: "autoscale" },
    field("minCpu", Number((p ? p.min : a.resources).cpuMillis) / 1000, "min cores"),
    field("minMemory", (p ? p.min : a.resources).memoryMiB, "min MiB"),
    field("maxCpu", Number((p ? p.max : a.resources).cpuMillis) / 1000 * (p ? 1 : 2), "max cores"),
    field("maxMemory", (p ? p.max : a.resources).memoryMiB * (p ? 1 : 2), "max MiB"),
    field("perHour", "", "max per hour"),
    el("button", { name: "apply" }, "Allow"), " ",
    p ? el("button", { name: "off", type: "button", class: "secondary" }, "Turn off") : null);
  // The host resizes CPU and memory only: storage and pids stay the allocation's own.
  const bound = (cpu, memory) => resourcesFromForm({ cpuCores: cpu, memoryMiB: memory,
    storageGiB: String(a.resources.storageGiB), pids: String(a.resources.pids) });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act("Autoscale", async (progress) => {
      const low = bound(form.minCpu.value, form.minMemory.value);
      const high = bound(form.maxCpu.value, form.maxMemory.value);
      const token = await deployment.tokenInfo();
      // The ceiling: what the tenant typed per hour, else the price of the max size.
      const ceiling = form.perHour.value.trim() ? amountOf(form.perHour.value, token, "Max per hour") / 3600n
        : await deployment.read("rateOf", [a.hostId, high]);
      if (ceiling === 0n) throw new SpecError("Max per hour: less than one token unit per second.");
      await deployment.send("Autoscale", "setScalingPolicy", [a.id, low, high, ceiling], progress);
      return `Allocation ${allocationLabel(a.id)}: the host may resize it within ${resources(low)} – ${resources(high)}.`;
    });
  });
  if (p) {
    form.off.addEventListener("click", () => act("Autoscale off", async (progress) => {
      const zero = { cpuMillis: 0, memoryMiB: 0, storageGiB: 0, pids: 0 };
      await deployment.send("Autoscale off", "setScalingPolicy", [a.id, zero, zero, 0n], progress);
      return `Allocation ${allocationLabel(a.id)}: automatic resizing off.`;
    }));
  }
  cell.append(form);
}

function release(a) {
  act("Release", async (progress) => {
    await deployment.send("Release", "releaseAllocation", [a.id], progress);
    return `Allocation ${allocationLabel(a.id)} released.`;
  });
}

async function quote() {
  try {
    const host = Number($("req-host").value);
    if (!host || $("req-file").files[0]) return void ($("quote").textContent = "");
    const wanted = resourcesFromForm({ cpuCores: $("req-cpu").value, memoryMiB: $("req-memory").value,
      storageGiB: $("req-storage").value, pids: $("req-pids").value });
    const [q, token] = await Promise.all([deployment.quote(host, wanted), deployment.tokenInfo()]);
    $("quote").textContent = `Costs ${tokens(q.rate * 3600n, token)} per hour, ${tokens(q.rate * 86400n, token)} per day, `
      + `plus metered use at ${tokens(q.metered.cpuSecond * 3600n, token)} per CPU·h and `
      + `${tokens(q.metered.memoryGiBSecond * 3600n, token)} per GiB·h (prices agreed for the allocation's life).`;
  } catch (error) {
    $("quote").textContent = error instanceof SpecError ? capitalise(error.message) : "";
  }
}

// --- start ----------------------------------------------------------------------------------

async function main() {
  let config;
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    config = await response.json();
  } catch {
    return say("config.json is missing or broken: build the portal with `tenantchain portal --build DIR`.", "error");
  }
  deployment = new Deployment(config);
  $("footer").textContent = `${config.chain_name} (chain ${config.chain_id}) · TenantChain ${config.tenantchain}`
    + (config.rpc_url ? ` · reads from ${config.rpc_url}` : " · reads through your wallet");
  $("switch-network").addEventListener("click", switchNetwork);
  $("register").addEventListener("click", register);
  $("deposit-form").addEventListener("submit", deposit);
  $("withdraw-form").addEventListener("submit", withdraw);
  $("request-form").addEventListener("submit", request);
  for (const id of ["req-host", "req-cpu", "req-memory", "req-storage", "req-pids", "req-file"]) {
    $(id).addEventListener("change", quote);
  }
  discoverWallets(showWallets);
  try {
    await refresh();
    await quote();
  } catch (error) {
    say(explain(error, config.errors), "error");
  }
  follow();
}

/** Refresh by itself every FOLLOW_MS (not while an action runs or the tab is hidden); says when it can't. */
async function follow() {
  let upToDate = new Date();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    if (busy || document.hidden) continue;
    try {
      await checkNetwork();
      await refresh();
      upToDate = new Date();
      $("stale").hidden = true;
    } catch (error) {
      $("stale").hidden = false;
      $("stale").textContent = `Not up to date since ${upToDate.toLocaleTimeString()}: ${explain(error, deployment.config.errors)}`;
    }
  }
}

main();
