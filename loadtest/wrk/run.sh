#!/usr/bin/env bash
# The flash sale driven by wrk instead of k6: a load generator cheap enough to leave
# the server most of the 2-core machine. Same invariant check as the k6 run.
# Usage: loadtest/wrk/run.sh [STOCK] [CONNECTIONS] [DURATION_S] [BASE_URL]
# BUYERS=N in the environment: that many buyers take turns (default: one per connection).
# Each buyer may hold at most `shop_max_unpaid_units_per_product` unpaid units (default
# 10), so a long run needs enough buyers, or that limit raised on the server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
stock=${1:-100000}; conns=${2:-500}; dur=${3:-30}; base=${4:-http://127.0.0.1:8080}
case "$base" in http://127.*|http://localhost*) ;; *) echo "loopback only" >&2; exit 2 ;; esac
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
out="$here/../results/wrk-$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$out"
python3 "$here/setup.py" "$base" "$stock" "${BUYERS:-$conns}" "$out"
python3 "$here/../figures.py" snapshot "$base" "$out/before.json"
WRK_TOKENS="$out/tokens.txt" WRK_PRODUCT="$out/product.txt" \
  timeout $((dur + 60)) wrk -t2 -c"$conns" -d"${dur}s" --timeout 10s --latency -s "$here/order.lua" "$base" | tee "$out/wrk.txt"
sleep 2 # the product cache holds at most 1 s
python3 "$here/../figures.py" snapshot "$base" "$out/after.json"
python3 "$here/../figures.py" report "$out/before.json" "$out/after.json" | tee "$out/figures.txt"
rm -f "$out/before.json" "$out/after.json" "$out/tokens.txt"
remaining=$(python3 -c "import json,urllib.request;print(json.load(urllib.request.urlopen('$base/api/v1/shop/products/$(cat "$out/product.txt")'))['stock'])")
python3 - "$out/wrk.txt" "$stock" "$remaining" "$conns" "$out/summary.json" <<'PY'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("WRK_RESULT ")][-1]
r = json.loads(line[len("WRK_RESULT "):])
stock, remaining, conns = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sold = stock - remaining
# wrk stops with one request in flight per connection: the server completes those
# orders but wrk never counts their answers, so sold may exceed created by <= conns.
in_flight = sold - r["created"]
ok = remaining >= 0 and 0 <= in_flight <= conns
print(f"orders/s: {r['created'] / r['duration_s']:.1f}  requests/s: {r['requests'] / r['duration_s']:.1f}  "
      f"p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  other statuses: {r['other']}  socket errors: {r['errors_socket']}")
print(f"invariant: sold {sold} (stock {stock} - remaining {remaining}) = created {r['created']} + {in_flight} in flight at stop (<= {conns} connections) -> {'OK' if ok else 'BROKEN'}")
json.dump({"scenario": "flash-sale-wrk", "connections": conns, "stock_initial": stock, "stock_remaining": remaining,
           "orders_per_s": round(r["created"] / r["duration_s"], 1), **r, "invariant_ok": ok}, open(sys.argv[5], "w"))
sys.exit(0 if ok else 3)
PY
