// The portal's spec checker against the one table of cases the host's parser is tested against
// (tests/spec_cases.json; tests/test_spec_rules.py runs it through orchestrator/spec.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { specPlaintext, SpecRuleError } from "../src/spec_rules.js";

const { cases } = JSON.parse(readFileSync(new URL("../../tests/spec_cases.json", import.meta.url), "utf-8"));

/** The case's body, padded as the Python side pads it (env.PAD until the JSON is grow_to bytes). */
function body(c) {
  if (!c.grow_to) return c.spec;
  const padded = { ...c.spec, env: { ...c.spec.env, PAD: "" } };
  padded.env.PAD = "x".repeat(c.grow_to - new TextEncoder().encode(JSON.stringify(padded)).length);
  assert.equal(new TextEncoder().encode(JSON.stringify(padded)).length, c.grow_to);
  return padded;
}

for (const c of cases) {
  test(`spec case: ${c.name}`, () => {
    if (c.refused === null) {
      specPlaintext(body(c));
    } else {
      assert.throws(() => specPlaintext(body(c)), (e) => e instanceof SpecRuleError && e.message === c.refused);
    }
  });
}

test("a spec file is refused with the host's sentence, whatever it came from", async () => {
  const { checkFileSize, fromForm, fromYaml, SpecError } = await import("../src/spec.js");
  const resources = "resources: {cpu: 250, memory: 32, storage: 1, pids: 16}\n";
  assert.throws(() => fromYaml(`image: app\nprivileged: true\nvolumes: ['/:/host']\n${resources}`, "s.yaml"),
                (e) => e instanceof SpecError && e.message === "s.yaml: spec has fields this host doesn't allow: privileged, volumes. "
                  + "The host would refuse it, so nothing was sent.");
  assert.throws(() => fromYaml(`image: app\nenv: {PAD: ${"x".repeat(70_000)}}\n${resources}`, "big.yaml"),
                /: big\.yaml: spec larger than 65536 bytes \(this one is 70032 bytes\)\. The host would refuse it/);
  assert.throws(() => checkFileSize(3_000_000, "huge.yaml"), /: huge\.yaml: spec larger than 65536 bytes \(the file is 3\.0 MB\)/);
  checkFileSize(100_000, "fine.yaml");
  // Read as the CLI reads it (PyYAML: YAML 1.1): `yes` is true, a date is not a spec's value.
  assert.equal(fromYaml(`image: app\negress: yes\n${resources}`, "s.yaml").body.egress, true);
  assert.throws(() => fromYaml(`image: app\nenv: {WHEN: 2026-12-01}\n${resources}`, "s.yaml"), /isn't text, a number or a list/);
  const form = { command: "", expose: "", egress: false, cpuCores: "1", memoryMiB: "1", storageGiB: "0", pids: "1" };
  assert.throws(() => fromForm({ ...form, image: "Busy Box" }), /: the form: spec\.image must be an image reference\./);
  assert.equal(new TextDecoder().decode(fromForm({ ...form, image: "app" }).plaintext), '{"image":"app"}');
});
