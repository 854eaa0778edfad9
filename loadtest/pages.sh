#!/usr/bin/env bash
# Server-side render time of the web app's pages (target: p95 <= 5 ms each), against an
# already running Surge with the demo data (`surge demo`, then start it):
#
#   loadtest/pages.sh [--vus 8] [--duration 20s] [--base-url http://127.0.0.1:8080]
#
# k6 (loadtest/pages.js) signs in as a demo account and fetches the main pages; the
# figures are the server's own: the per-route histogram of
# surge_http_request_duration_seconds in /metrics, before and after the run, so the
# load generator's queueing is not in them. Prints per page route: requests, mean, and
# the p95 bucket bound; exits non-zero when a page's p95 is over 5 ms.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
VUS=8 DURATION=20s BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --vus)      VUS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --base-url) BASE_URL=$2; shift 2 ;;
    -h|--help)  sed -n 2,12p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
need_loopback_server "$BASE_URL"
need_k6
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
curl -fsS "$BASE_URL/metrics" > "$tmp/before"
BASE_URL=$BASE_URL VUS=$VUS DURATION=$DURATION "$K6" run --quiet "$HERE/pages.js"
curl -fsS "$BASE_URL/metrics" > "$tmp/after"
python3 - "$tmp/before" "$tmp/after" <<'PY'
import re, sys
PAGES = ["/", "/shop", "/shop/products/{id}", "/shop/orders", "/shop/coupons", "/notifications", "/me"]
line = re.compile(r'^surge_http_request_duration_seconds_(bucket|sum|count)\{(.*)\}\s+(\S+)$')
label = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
def read(path):
    out = {}
    for l in open(path):
        m = line.match(l.strip())
        if not m: continue
        labels = dict(label.findall(m.group(2)))
        if labels.get("method") != "GET": continue
        key = (labels["route"], m.group(1), labels.get("le"))
        out[key] = float(m.group(3))
    return out
before, after = read(sys.argv[1]), read(sys.argv[2])
delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
worst = 0.0
print(f"{'page route':24} {'requests':>9} {'mean ms':>8} {'p95 <= ms':>10}")
for route in PAGES:
    n = delta.get((route, "count", None), 0.0)
    if n <= 0:
        print(f"{route:24} {'-':>9}"); continue
    mean = delta[(route, "sum", None)] / n * 1000
    buckets = sorted((float(le), c) for (r, kind, le), c in delta.items()
                     if r == route and kind == "bucket" and le != "+Inf")
    p95 = next((le for le, c in buckets if c >= 0.95 * n), float("inf"))
    worst = max(worst, p95)
    print(f"{route:24} {int(n):>9} {mean:>8.2f} {p95 * 1000:>10.1f}")
print(f"worst page p95 bucket: {worst * 1000:.1f} ms (target 5 ms)")
sys.exit(0 if worst <= 0.005 else 1)
PY
