// A workload spec as the CLI builds it: the body (image, command, ...) is encrypted in the browser to
// the host's key with ECIES (eciesjs: decrypted by the orchestrator's eciespy); only its keccak256
// goes on-chain in clear. Resources travel apart, as the contract's Resources struct.
import { encrypt } from "eciesjs";
import { bytesToHex, hexToBytes, keccak256, toBytes } from "viem";
import { parse as parseYaml } from "yaml";

const ALIASES = { cpu: "cpu_millis", memory: "memory_mib", storage: "storage_gib", pids: "pids" };
const KEYS = ["cpu_millis", "memory_mib", "storage_gib", "pids"];
const LIMITS = { cpu_millis: 2 ** 24, memory_mib: 2 ** 32, storage_gib: 2 ** 24, pids: 2 ** 24 };

export class SpecError extends Error {}

/** {body, resources} from a YAML spec file's text, as `tenantchain tenant request` reads it. */
export function fromYaml(text, name) {
  let doc;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new SpecError(`${name} is not valid YAML: ${e.message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new SpecError(`${name}: the spec must be a mapping (image, command, env, resources, ...)`);
  }
  const { resources, ...body } = doc;
  if (!resources || typeof resources !== "object") {
    throw new SpecError(`${name}: add resources: {cpu_millis, memory_mib, storage_gib, pids}`);
  }
  return { body: checkBody(body, name), resources: checkResources(resources, name) };
}

/** {body, resources} from the form's fields. */
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
  return { body: checkBody(body, "the form"), resources: resourcesFromForm(f) };
}

/** The contract's Resources from form fields (cores, MiB, GiB, processes), checked. */
export function resourcesFromForm(f) {
  return checkResources({
    cpu_millis: Math.round(Number(f.cpuCores) * 1000), memory_mib: Number(f.memoryMiB),
    storage_gib: Number(f.storageGiB), pids: Number(f.pids),
  }, "the form");
}

function checkBody(body, where) {
  if (typeof body.image !== "string" || !body.image.trim()) throw new SpecError(`${where}: name an image`);
  if (body.command !== undefined && (!Array.isArray(body.command) || body.command.some((c) => typeof c !== "string"))) {
    throw new SpecError(`${where}: the command is a list of words`);
  }
  for (const port of body.expose || []) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new SpecError(`${where}: ${port} is not a port (1-65535)`);
    }
  }
  return body;
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

/** (ciphertext hex, keccak256 of the plaintext) for requestAllocation, to the host's compressed key. */
export function seal(body, hostPublicKey) {
  const plaintext = toBytes(JSON.stringify(body));
  const ciphertext = encrypt(hexToBytes(hostPublicKey), plaintext);
  return { ciphertext: bytesToHex(ciphertext), digest: keccak256(plaintext) };
}
