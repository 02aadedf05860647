#!/usr/bin/env bash
# Idempotent set-up: installs what is missing, skips what is already there.
#   node tools (package-lock.json) -> node_modules/
#   Python deps (requirements.lock + pyproject.toml) -> .venv/
#   Halmos, the symbolic tests' runner (requirements-halmos.lock) -> .venv-halmos/
#   the pinned Solidity compiler -> .solc/solc-v<version> (native solc if it matches, else solcjs)
#   the tenant portal's bundle (esbuild) -> orchestrator/web/portal_bundle/
#   a Docker daemon and the local test image (unless TENANTCHAIN_SKIP_DOCKER=1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { printf 'setup: %s\n' "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- node tools -------------------------------------------------------------------------
node_stamp=node_modules/.tenantchain-stamp
node_hash="$(hash_of package.json package-lock.json)"
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$node_hash" ]; then
  command -v npm >/dev/null || { say "npm is required (Node.js 20+)"; exit 1; }
  say "installing node tools (npm ci)"
  # --ignore-scripts: the foundry packages ship their binaries as optional dependencies; their
  # postinstall scripts only try to download from the internet.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$node_hash" >"$node_stamp"
fi

# --- Python -----------------------------------------------------------------------------
py_stamp=.venv/.tenantchain-stamp
py_hash="$(hash_of requirements.lock pyproject.toml)"
if [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_hash" ]; then
  python="${PYTHON:-python3}"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { say "Python 3.11+ is required (set PYTHON=...)"; exit 1; }
  [ -x .venv/bin/python ] || { say "creating .venv"; "$python" -m venv .venv; }
  say "installing Python dependencies (requirements.lock)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$py_hash" >"$py_stamp"
fi

# The pinned cast beside tenantchain in .venv/bin (the native binary: node_modules/.bin/cast is a node
# shim that exits 0 on errors), so that `source .venv/bin/activate` puts both on PATH.
cast_native="$(ls node_modules/@foundry-rs/cast-*-*/bin/cast 2>/dev/null | head -n 1)"
if [ -n "$cast_native" ] && [ "$(readlink .venv/bin/cast)" != "../../$cast_native" ]; then
  ln -sfn "../../$cast_native" .venv/bin/cast
fi

# Halmos in a venv of its own: halmos 0.3.3 requires rich<14.1, the project pins rich 14.3.4. Its
# solver is z3 from PyPI (z3-solver); `make test-halmos` selects it (no solver download).
halmos_stamp=.venv-halmos/.tenantchain-stamp
halmos_hash="$(hash_of requirements-halmos.lock)"
if [ "$(cat "$halmos_stamp" 2>/dev/null)" != "$halmos_hash" ]; then
  python="${PYTHON:-python3}"
  [ -x .venv-halmos/bin/python ] || { say "creating .venv-halmos"; "$python" -m venv .venv-halmos; }
  say "installing halmos (requirements-halmos.lock)"
  .venv-halmos/bin/pip install -q --disable-pip-version-check -r requirements-halmos.lock
  echo "$halmos_hash" >"$halmos_stamp"
fi

# --- Solidity compiler ------------------------------------------------------------------
solc_version="$(node -p 'require("./package.json").devDependencies.solc')"
solc_bin=".solc/solc-v$solc_version"
if [ ! -x "$solc_bin" ] || ! "$solc_bin" --version 2>/dev/null | grep -q "Version: $solc_version+"; then
  mkdir -p .solc
  native="$(command -v solc || true)"
  if [ -n "$native" ] && "$native" --version 2>/dev/null | grep -q "Version: $solc_version+"; then
    say "using native solc $solc_version at $native"
    ln -sf "$native" "$solc_bin"
  else
    say "using solcjs $solc_version through tools/solcjs-native.js"
    printf '#!/bin/sh\nexec node "%s/tools/solcjs-native.js" "$@"\n' "$root" >"$solc_bin"
    chmod +x "$solc_bin"
  fi
fi

# --- Tenant portal bundle -----------------------------------------------------------------
portal_stamp=orchestrator/web/portal_bundle/.tenantchain-stamp
portal_hash="$(hash_of package-lock.json portal/build.mjs portal/index.html portal/portal.css portal/src/*.js)"
if [ "$(cat "$portal_stamp" 2>/dev/null)" != "$portal_hash" ]; then
  say "building the tenant portal (esbuild -> orchestrator/web/portal_bundle)"
  node portal/build.mjs
  echo "$portal_hash" >"$portal_stamp"
fi

# --- Chromium (headless browser tests of the status page) -------------------------------
if ! command -v chromium >/dev/null 2>&1 && [ "${TENANTCHAIN_SKIP_BROWSER:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian's chromium (browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
  else
    say "chromium is missing; install Debian's chromium for the browser tests"
  fi
fi

# --- Host tools: HAProxy (ingress), iptables (host wall), wrk (ingress benchmark), ----------
# --- docker-registry and htpasswd (the tests' own registries) ---------------------------------
missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian's ${missing[*]}"
    # Debian's packages start no service here; the orchestrator starts and supervises HAProxy itself.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  else
    say "missing ${missing[*]}: install Debian's packages of those names (ingress, host wall, tests, benchmarks)"
  fi
fi

# --- Docker -----------------------------------------------------------------------------
if [ "${TENANTCHAIN_SKIP_DOCKER:-0}" != 1 ]; then
  tools/ensure-docker.sh
  tools/ensure-image.sh
fi
