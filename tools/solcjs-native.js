#!/usr/bin/env node
// A native-solc-compatible front end for solcjs (the official compiler as WebAssembly).
// No native solc can be downloaded on an offline machine; forge and py-solc-x accept any
// executable that answers `--version` like native solc and compiles `--standard-json` from stdin.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solc = require(path.join(root, 'node_modules', 'solc'));
const args = process.argv.slice(2);

if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solcjs-native: only --version and --standard-json are supported\n');
  process.exit(2);
}

// Native solc resolves imports against the base path and --allow-paths; do the same for solcjs.
const baseIdx = args.indexOf('--base-path');
const basePath = baseIdx >= 0 ? args[baseIdx + 1] : process.cwd();
const includeRoots = [];
args.forEach((a, i) => { if (a === '--include-path') includeRoots.push(args[i + 1]); });
const allowIdx = args.indexOf('--allow-paths');
const allowRoots = allowIdx >= 0 ? args[allowIdx + 1].split(',') : [];

function findImports(importPath) {
  const roots = [basePath, ...includeRoots, ...allowRoots, process.cwd()];
  const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.resolve(r, importPath));
  for (const candidate of candidates) {
    try { return { contents: fs.readFileSync(candidate, 'utf8') }; } catch (_) { /* next root */ }
  }
  return { error: `File not found: ${importPath}` };
}

// solcjs copies its input onto the WebAssembly stack (a few MB): a job whose sources are larger than
// that (forge sends every file's content at once) crashes with "memory access out of bounds". So the
// sources travel by name (`urls`) and solc reads each one through the callback, into its heap.
const job = JSON.parse(fs.readFileSync(0, 'utf8'));
const inline = new Map();
for (const [name, source] of Object.entries(job.sources || {})) {
  if (typeof source.content === 'string') {
    inline.set(name, source.content);
    job.sources[name] = { ...source, content: undefined, urls: [name] };
  }
}
const readSource = (p) => (inline.has(p) ? { contents: inline.get(p) } : findImports(p));
process.stdout.write(solc.compile(JSON.stringify(job), { import: readSource }));
