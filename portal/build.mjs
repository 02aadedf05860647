// Bundles the portal into orchestrator/web/portal_bundle/ (inside the Python package, so that the wheel
// ships it and `tenantchain portal` reads it from one place, installed or not): index.html, portal.css
// and one minified portal.js (viem, eciesjs and yaml inside; no CDN, nothing fetched at run time but
// config.json).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
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
