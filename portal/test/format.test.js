// Unit tests of the portal's pure parts (node --test): human units and spec parsing.
import assert from "node:assert/strict";
import { test } from "node:test";

import { allocationLabel, cores, duration, plural, tokens } from "../src/format.js";
import { fromForm, fromYaml, SpecError } from "../src/spec.js";

const TCT = { decimals: 18, symbol: "TCT" };

test("token amounts: grouped, four decimals rounded down, small amounts never shown as 0", () => {
  assert.equal(tokens(10n ** 21n, TCT), "1,000 TCT");
  assert.equal(tokens(999_999_999_999_999_999_999n, TCT), "999.9999 TCT");
  assert.equal(tokens(3_600_000_000_000n, TCT), "0.0000036 TCT");
  assert.equal(tokens(0n, TCT), "0 TCT");
  assert.equal(tokens(1_500_000n, { decimals: 6, symbol: "USDC" }), "1.5 USDC");
});

test("durations: two units at most; beyond ten years, no false precision", () => {
  assert.equal(duration(90_061), "1 d 1 h");
  assert.equal(duration(3_720), "1 h 2 min");
  assert.equal(duration(40), "40 s");
  assert.equal(duration(0), "0 s");
  assert.equal(duration(1e12), "more than 10 years");
});

test("allocation ids read as host/number", () => {
  assert.equal(allocationLabel(4_294_967_297n), "1/1");
  assert.equal(allocationLabel((7n << 32n) + 42n), "7/42");
});

test("a spec from the form", () => {
  const spec = fromForm({ image: " app:1 ", command: "httpd -f -p 8080", expose: "8080, 9090", egress: true,
                          cpuCores: "0.5", memoryMiB: "256", storageGiB: "1", pids: "64" });
  assert.deepEqual(spec.body, { image: "app:1", command: ["httpd", "-f", "-p", "8080"], expose: [8080, 9090], egress: true });
  assert.deepEqual(spec.resources, { cpuMillis: 500, memoryMiB: 256, storageGiB: 1, pids: 64 });
  assert.deepEqual(fromForm({ image: "a", command: '["sh", "-c", "echo hi"]', expose: "", egress: false,
                              cpuCores: "1", memoryMiB: "1", storageGiB: "0", pids: "1" }).body.command,
                   ["sh", "-c", "echo hi"]);
});

test("bad form input is refused with a sentence", () => {
  const base = { image: "a", command: "", expose: "", egress: false, cpuCores: "1", memoryMiB: "1", storageGiB: "0", pids: "1" };
  assert.throws(() => fromForm({ ...base, image: " " }), SpecError);
  assert.throws(() => fromForm({ ...base, expose: "70000" }), /not a port/);
  assert.throws(() => fromForm({ ...base, memoryMiB: "-1" }), /memory_mib must be a whole number/);
  assert.throws(() => fromForm({ ...base, cpuCores: "lots" }), /cpu_millis/);
  assert.throws(() => fromForm({ ...base, command: "[broken" }), /JSON list/);
});

test("a YAML spec as the CLI reads it", () => {
  const spec = fromYaml("image: app\nresources: {cpu: 250, memory: 32, storage: 1, pids: 16}\n", "s.yaml");
  assert.deepEqual(spec.body, { image: "app" });
  assert.deepEqual(spec.resources, { cpuMillis: 250, memoryMiB: 32, storageGiB: 1, pids: 16 });
  assert.throws(() => fromYaml("image: [x\n", "s.yaml"), /s.yaml is not valid YAML/);
  assert.throws(() => fromYaml("- a\n", "s.yaml"), /must be a mapping/);
  assert.throws(() => fromYaml("image: app\n", "s.yaml"), /add resources/);
  assert.throws(() => fromYaml("image: app\nresources: {gpu: 1}\n", "s.yaml"), /unknown gpu/);
});

test("counts speak English: one core, two settlements", () => {
  assert.equal(cores(1000), "1 core");
  assert.equal(cores(1500), "1.5 cores");
  assert.equal(plural(1, "settlement"), "1 settlement");
  assert.equal(plural(3, "settlement"), "3 settlements");
});
