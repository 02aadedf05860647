// A workload spec as the CLI builds it, checked by the host's rules (spec_rules.js) before anything is
// signed: the body (image, command, ...) is encrypted in the browser to the host's key with ECIES
// (eciesjs: decrypted by the orchestrator's eciespy); only its keccak256 goes on-chain in clear.
// Resources travel apart, as the contract's Resources struct.
import { encrypt } from "eciesjs";
import { bytesToHex, hexToBytes, keccak256 } from "viem";
import { parse as parseYaml } from "yaml";

import { MAX_SPEC_BYTES, specPlaintext, SpecRuleError } from "./spec_rules.js";

const ALIASES = { cpu: "cpu_millis", memory: "memory_mib", storage: "storage_gib", pids: "pids" };
const KEYS = ["cpu_millis", "memory_mib", "storage_gib", "pids"];
const LIMITS = { cpu_millis: 2 ** 24, memory_mib: 2 ** 32, storage_gib: 2 ** 24, pids: 2 ** 24 };

// A spec file much larger than a spec can be is refused before it is read (a spec is at most
// MAX_SPEC_BYTES of JSON; YAML's comments and layout can't take a file far beyond that).
export const MAX_FILE_BYTES = 16 * MAX_SPEC_BYTES;

export class SpecError extends Error {}

/** The host's refusal of a spec, said where the spec came from; nothing is sent. */
function refused(where, reason, detail = "") {
  return new SpecError(`${where}: ${reason}${detail}. The host would refuse it, so nothing was sent.`);
}

/** A spec file too large to be a spec, refused before it is read (its size in bytes). */
export function checkFileSize(size, name) {
  if (size > MAX_FILE_BYTES) {
    const mb = (size / 1e6).toFixed(1);
    throw refused(name, `spec larger than ${MAX_SPEC_BYTES} bytes`, ` (the file is ${mb} MB)`);
  }
}

/** {body, plaintext, resources} from a YAML spec file's text, as `tenantchain tenant request` reads it
 * (YAML 1.1, as PyYAML's safe_load) and checked as the host checks it. */
export function fromYaml(text, name) {
  let doc;
  try {
    doc = parseYaml(text, { version: "1.1", uniqueKeys: false });
  } catch (e) {
    throw new SpecError(`${name} is not valid YAML: ${e.message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new SpecError(`${name}: the spec must be a mapping (image, command, env, resources, ...)`);
  }
  const { resources, ...body } = doc;
  if (!resources || typeof resources !== "object" || Array.isArray(resources)) {
    throw new SpecError(`${name}: add resources: {cpu_millis, memory_mib, storage_gib, pids}`);
  }
  if (!plainJson(body)) {  // YAML can hold dates, sets, binary...: not a spec (the CLI says the same)
    throw new SpecError(`${name}: the spec holds a value that isn't text, a number or a list`);
  }
  return { body, plaintext: checked(body, name), resources: checkResources(resources, name) };
}

/** What JSON.stringify writes as it is (no dates, maps, sets, bytes, infinities). */
function plainJson(value) {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(plainJson);
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).every(plainJson);
  return false;
}

/** The plaintext the host will read, checked by its rules (orchestrator/spec_rules.json). */
function checked(body, where) {
  try {
    return specPlaintext(body);
  } catch (e) {
    if (!(e instanceof SpecRuleError)) throw e;
    const size = new TextEncoder().encode(JSON.stringify(body)).length;
    throw refused(where, e.message, size > MAX_SPEC_BYTES ? ` (this one is ${size} bytes)` : "");
  }
}

/** {body, plaintext, resources} from the form's fields. */
export function fromForm(f) {
  const body = { image: f.image.trim() };
  const command = f.command.trim();
  if (command) {
    if (command.startsWith("[")) {
      try {
        body.command = JSON.parse(command);
      } catch {
        throw new SpecError('the command is a JSON list, e.g. ["sh", "-c", "echo hi"], or words separated by spaces');
      }
    } else {
      body.command = command.split(/\s+/);
    }
  }
  const ports = f.expose.split(/[\s,]+/).filter(Boolean);
  if (ports.length) body.expose = ports.map((p) => Number(p));
  if (f.egress) body.egress = true;
  checkForm(body);
  return { body, plaintext: checked(body, "the form"), resources: resourcesFromForm(f) };
}

/** The contract's Resources from form fields (cores, MiB, GiB, processes), checked. */
export function resourcesFromForm(f) {
  return checkResources({
    cpu_millis: Math.round(Number(f.cpuCores) * 1000), memory_mib: Number(f.memoryMiB),
    storage_gib: Number(f.storageGiB), pids: Number(f.pids),
  }, "the form");
}

/** The form's own hints, before the host's rules: what to type where. */
function checkForm(body) {
  if (!body.image) throw new SpecError("the form: name an image");
  if (body.command !== undefined && (!Array.isArray(body.command) || body.command.some((c) => typeof c !== "string"))) {
    throw new SpecError("the form: the command is a list of words");
  }
  for (const port of body.expose || []) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SpecError(`the form: ${port} is not a port (1-65535)`);
  }
}

function checkResources(given, where) {
  const named = {};
  for (const [k, v] of Object.entries(given)) named[ALIASES[k] || k] = v;
  const unknown = Object.keys(named).filter((k) => !KEYS.includes(k));
  if (unknown.length) throw new SpecError(`${where}: unknown ${unknown.join(", ")} (cpu_millis, memory_mib, storage_gib, pids)`);
  for (const k of KEYS) {
    const v = named[k];
    if (!Number.isInteger(v) || v < 0 || v >= LIMITS[k]) {
      throw new SpecError(`${where}: ${k} must be a whole number from 0 to ${LIMITS[k] - 1}`);
    }
  }
  return { cpuMillis: named.cpu_millis, memoryMiB: named.memory_mib, storageGiB: named.storage_gib, pids: named.pids };
}

/** (ciphertext hex, keccak256 of the plaintext) for requestAllocation, to the host's compressed key;
 * `plaintext` is a checked spec's (fromYaml, fromForm). */
export function seal(plaintext, hostPublicKey) {
  const ciphertext = encrypt(hexToBytes(hostPublicKey), plaintext);
  return { ciphertext: bytesToHex(ciphertext), digest: keccak256(plaintext) };
}
