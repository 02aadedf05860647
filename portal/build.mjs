// Bundles the portal into orchestrator/web/portal_bundle/ (inside the Python package, so that the wheel
// ships it and `tenantchain portal` reads it from one place, installed or not): index.html, portal.css
// one minified portal.js (viem, eciesjs, yaml and the host's spec rules, orchestrator/spec_rules.json,
// inside; no CDN, nothing fetched at run time but config.json) and favicon.ico (drawn here: no binary
// in the repository; browsers ask for it on every load).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "orchestrator", "web", "portal_bundle");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")], outfile: join(out, "portal.js"), bundle: true, minify: true,
  format: "iife", platform: "browser", target: "es2020", legalComments: "linked", logLevel: "warning",
});
for (const file of ["index.html", "portal.css"]) copyFileSync(join(here, file), join(out, file));

// 16x16: the header's dark blue, a white "T" (one ICO entry holding a 32-bit BMP, rows bottom-up, BGRA).
const ICON = [
  "................", ".##############.", "################", "################",
  "###++++++++++###", "###++++++++++###", "########++######", "########++######",
  "########++######", "########++######", "########++######", "########++######",
  "########++######", "################", ".##############.", "................",
];
function favicon() {
  const colors = { ".": [0, 0, 0, 0], "#": [0x30, 0x23, 0x1d, 0xff], "+": [0xff, 0xff, 0xff, 0xff] };
  const pixels = Buffer.alloc(16 * 16 * 4);
  ICON.slice().reverse().forEach((row, y) => [...row].forEach((c, x) => pixels.set(colors[c], (y * 16 + x) * 4)));
  const mask = Buffer.alloc(16 * 4); // the AND mask (alpha decides), one 32-bit row per line
  const info = Buffer.alloc(40);
  info.writeUInt32LE(40, 0); info.writeInt32LE(16, 4); info.writeInt32LE(32, 8); info.writeUInt16LE(1, 12);
  info.writeUInt16LE(32, 14); info.writeUInt32LE(pixels.length + mask.length, 20);
  const image = Buffer.concat([info, pixels, mask]);
  const head = Buffer.alloc(22);
  head.writeUInt16LE(1, 2); head.writeUInt16LE(1, 4); // an icon, one image
  head.writeUInt8(16, 6); head.writeUInt8(16, 7); head.writeUInt16LE(1, 10); head.writeUInt16LE(32, 12);
  head.writeUInt32LE(image.length, 14); head.writeUInt32LE(22, 18);
  return Buffer.concat([head, image]);
}
writeFileSync(join(out, "favicon.ico"), favicon());
