// The host's spec rules, checked in the browser before anything is signed: the same file as the host's
// parser reads (orchestrator/spec_rules.json, bundled) and the same checks in the same order as
// orchestrator/spec.py `parse_spec`, so the page refuses what the host would refuse, with its sentence.
// Both are tested against one table of cases (tests/spec_cases.json).
import RULES from "../../orchestrator/spec_rules.json" with { type: "json" };

export { RULES };
export const MAX_SPEC_BYTES = RULES.max_bytes;

/** What the host says of a spec it refuses: `message` is its sentence (as the CLI prints it). */
export class SpecRuleError extends Error {}

const whole = (name) => new RegExp(`^(?:${RULES.patterns[name]})$`);
const IMAGE = whole("image");
const USER = whole("user");
const ENV_NAME = whole("env_name");
const FIELDS = new Set(RULES.fields);
const CAPABILITIES = new Set(RULES.allowed_capabilities);
const [LOW_PORT, HIGH_PORT] = RULES.port_range;

function say(rule, values = {}) {
  return RULES.messages[rule].replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
}

function refuse(rule, values) {
  throw new SpecRuleError(say(rule, values));
}

// JSON's types as Python's json.loads gives them to the host.
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v) => typeof v === "string";
const isInt = (v) => typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 1e21; // 1e21 is written 1e+21: a float
const isPort = (v) => isInt(v) && v >= LOW_PORT && v <= HIGH_PORT;
// Python sorts by code point; so does this for the names a spec can hold.
const sorted = (items) => [...items].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const upperName = (c) => c.toUpperCase().replace(/^CAP_/, "");

/** The UTF-8 bytes the portal encrypts for `body`, checked as the host will check them. */
export function specPlaintext(body) {
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  checkPlaintext(bytes);
  return bytes;
}

/** `parse_spec` of orchestrator/spec.py: throws SpecRuleError with the host's sentence. */
export function checkPlaintext(bytes) {
  if (bytes.length > MAX_SPEC_BYTES) refuse("too_big", { max_bytes: MAX_SPEC_BYTES });
  let body;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    refuse("not_json", { detail: e.message });
  }
  checkBody(body);
}

function checkBody(body) {
  if (!isObject(body)) refuse("not_object");
  const unknown = Object.keys(body).filter((k) => !FIELDS.has(k));
  if (unknown.length) refuse("unknown_fields", { fields: sorted(unknown).join(", ") });
  const get = (key, fallback) => (Object.hasOwn(body, key) ? body[key] : fallback);

  const image = body.image;
  if (!isString(image) || !IMAGE.test(image)) refuse("image");
  const command = get("command", []);
  if (!Array.isArray(command) || !command.every(isString)) refuse("command");
  stringMap(get("env", {}), "env");
  stringMap(get("secrets", {}), "secrets");
  const ports = get("ports", []);
  if (!Array.isArray(ports) || !ports.every(isPort)) refuse("ports");
  const user = get("user", RULES.default_user);
  if (!isString(user) || !USER.test(user)) refuse("user");
  const capAdd = get("cap_add", []);
  if (!Array.isArray(capAdd) || !capAdd.every(isString)) refuse("cap_add");
  const forbidden = new Set(capAdd.map(upperName).filter((c) => !CAPABILITIES.has(c)));
  if (forbidden.size) refuse("capabilities", { names: sorted(forbidden).join(", ") });
  const workdir = get("workdir", null);
  if (workdir !== null && (!isString(workdir) || !workdir.startsWith("/"))) refuse("workdir");
  const egress = get("egress", false);
  if (typeof egress !== "boolean") refuse("egress");
  const expose = get("expose", []);
  if (!Array.isArray(expose) || !expose.every(isPort)) refuse("expose");
  if (new Set(expose).size !== expose.length) refuse("expose_twice");
  const auth = get("registry_auth", null);
  if (auth !== null && (!isObject(auth) || Object.keys(auth).length !== 2 || !Object.hasOwn(auth, "username") || !Object.hasOwn(auth, "password")
      || !Object.values(auth).every((v) => isString(v) && v))) {
    refuse("registry_auth");
  }
  health(get("health", null));
}

function health(value) {
  if (value === null) return;
  const keys = new Set(["command", ...Object.keys(RULES.health.defaults)]);
  if (!isObject(value) || !Object.keys(value).every((k) => keys.has(k))) refuse("health");
  const command = value.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => isString(c) && c)) refuse("health_command");
  for (const [key, fallback] of Object.entries(RULES.health.defaults)) {
    const number = Object.hasOwn(value, key) ? value[key] : fallback;
    const [low, high] = RULES.health.limits[key];
    if (!isInt(number) || number < low || number > high) refuse("health_number", { key, low, high });
  }
}

function stringMap(value, name) {
  if (!isObject(value) || !Object.values(value).every(isString)) refuse("map", { name });
  const bad = Object.keys(value).filter((k) => !ENV_NAME.test(k));
  if (bad.length) refuse("map_names", { name, names: sorted(bad).join(", ") });
}
