#!/usr/bin/env bash
# docker-bench-security's daemon (2) and container runtime (5) sections against this host's Docker
# daemon and the containers carrying LABEL (default: every orchestrator-made tenant container), then
# the counts per section and result. The script is vendored at a pinned commit (no network in CI):
# tools/vendor/docker-bench-security (Apache-2.0, docker/docker-bench-security ff26d67).
# Usage: tools/docker-bench.sh [LABEL=VALUE] [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
label="${1:-tenantchain.kind=container}"
out="${2:-$root/.run/docker-bench}"
mkdir -p "$out"
cd "$root/tools/vendor/docker-bench-security"
sh docker-bench-security.sh -b -c docker_daemon_configuration,container_runtime -t "$label" \
  -l "$out/bench.log" >"$out/bench.out" 2>&1
python3 - "$out/bench.log.json" <<'PY'
import collections, json, sys
counts = collections.defaultdict(collections.Counter)
for test in json.load(open(sys.argv[1]))["tests"]:
    for result in test["results"]:
        counts[test["desc"]][result["result"]] += 1
for section, c in counts.items():
    print(f"{section}: " + ", ".join(f"{k} {c[k]}" for k in ("PASS", "WARN", "INFO", "NOTE") if c[k]))
PY
