#!/usr/bin/env bash
# Browser tests of the web app against a built surge binary:
#   e2e/run.sh path/to/surge
# Starts the binary on a free 127.0.0.1 port with a fresh data directory (demo data
# first), runs the Playwright stories (Debian's Chromium, no browser download), stops
# the server. Builds nothing. Screenshots go to e2e/test-results/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:?usage: e2e/run.sh path/to/surge}")"
[ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
[ -x /usr/bin/chromium ] || { echo "no /usr/bin/chromium (apt-get install -y chromium)" >&2; exit 2; }
[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm ci --no-audit --no-fund)

data="$(mktemp -d /tmp/surge-e2e.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SURGE_DATA_DIR="$data/data" SURGE_BIND="127.0.0.1:$port" SURGE_SECURE_COOKIES=false SURGE_LOG_FORMAT=text
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

"$bin" demo > "$data/demo.log" 2>&1 || { cat "$data/demo.log" >&2; exit 1; }
"$bin" serve > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/serve.log" >&2; exit 1; }
  sleep 0.1
done
mkdir -p "$here/test-results"
status=0
(cd "$here" && SURGE_E2E_BASE="http://127.0.0.1:$port" node --test --test-concurrency=1 tests/) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 40 lines) ---" >&2
  tail -n 40 "$data/serve.log" >&2
fi
exit "$status"
