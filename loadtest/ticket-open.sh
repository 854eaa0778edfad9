#!/usr/bin/env bash
# The ticket-open scenario (loadtest/ticket-open.js) against an already running Surge:
#
#   loadtest/run.sh ticket-open [--vus 1000] [--rate 100] [--max-active 200] [--rows 30]
#                               [--base-url http://127.0.0.1:8080]
#
# Start the server with the admin the script logs in as (see run.sh). Prints joins/s,
# admission fairness (largest overtake), p95 of the queue and hold endpoints, and seats
# sold vs available; exits non-zero if k6 thresholds fail, anyone was overtaken, or the
# seats the travellers paid for differ from the seats the server shows sold.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
VUS=1000 RATE=100 MAX_ACTIVE=200 ROWS=30 BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --vus)        VUS=$2; shift 2 ;;
    --rate)       RATE=$2; shift 2 ;;
    --max-active) MAX_ACTIVE=$2; shift 2 ;;
    --rows)       ROWS=$2; shift 2 ;;
    --base-url)   BASE_URL=$2; shift 2 ;;
    -h|--help)    sed -n 2,10p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BASE_URL=${BASE_URL%/}
. "$HERE/lib.sh"
need_counts "$VUS" "$RATE" "$MAX_ACTIVE" "$ROWS"
[ "$ROWS" -le 100 ] || { echo "--rows must be 1..100" >&2; exit 2; }

need_loopback_server "$BASE_URL"
need_k6

new_results "ticket-open" "ticket-open: $VUS VUs, rate $RATE/s, $MAX_ACTIVE inside, $((ROWS * 6)) seats, $BASE_URL"

run_k6 ticket-open.js -e VUS="$VUS" -e RATE="$RATE" -e MAX_ACTIVE="$MAX_ACTIVE" -e ROWS="$ROWS" ${ADMIN_EMAIL:+-e ADMIN_EMAIL="$ADMIN_EMAIL"} ${ADMIN_PASSWORD:+-e ADMIN_PASSWORD="$ADMIN_PASSWORD"}
grep -v 'ADMIT ' "$OUT/k6.log" | tail -n 60

set +e
python3 - "$OUT/summary.json" "$OUT/k6.log" "$STAMP" "$VUS" <<'PY' | tee "$OUT/report.txt"
import json, re, sys
from datetime import datetime
summary, log, stamp, vus = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
m = json.load(open(summary))["metrics"]
val = lambda n, k, d=None: m.get(n, {}).get(k, d)
f = lambda x: "n/a" if x is None else f"{x:.1f}"

# Fairness: each admitted traveller logged its join number and the server's admission
# time. An overtake is someone who joined later but was admitted strictly earlier.
adm = []
for line in open(log, encoding="utf-8", errors="replace"):
    g = re.search(r'msg="ADMIT (\{.*?\})"', line)
    if g:
        d = json.loads(g.group(1).replace('\\"', '"'))
        t = datetime.fromisoformat(d["admitted_at"].replace("Z", "+00:00")).timestamp()
        adm.append((d["seq"], t))
adm.sort(key=lambda x: x[0])
largest, overtaken = 0, 0
for i, (seq, t) in enumerate(adm):
    ahead_of_me = sum(1 for s2, t2 in adm[i + 1:] if t2 < t)
    largest = max(largest, ahead_of_me)
    overtaken += ahead_of_me > 0

joins = int(val("joins", "count", 0))
j0, j1 = val("joined_at", "min"), val("joined_at", "max")
jrate = joins / ((j1 - j0) / 1000) if j0 is not None and j1 and j1 > j0 else None
sold = val("server_seats_sold", "value")
total = val("server_seats_total", "value")
held = val("server_seats_held", "value")
bought = int(val("seats_bought", "count", 0))
unexpected = val("unexpected", "value", 0) or 0
ok = sold is not None and int(sold) == bought and largest == 0 and len(adm) == int(val("admitted", "count", 0))
def p(name):
    t = m.get(name, {})
    return f"p50 {f(t.get('med'))} ms  p95 {f(t.get('p(95)'))} ms  p99 {f(t.get('p(99)'))} ms"
print()
print(f"== result ({vus} VUs)")
print(f"  joins:          {joins} in {((j1 or 0) - (j0 or 0)) / 1000:.2f}s -> {f(jrate)} joins/s  (join {p('join_latency')})")
print(f"  fairness:       largest overtake {largest}, travellers overtaken {overtaken} of {len(adm)} admitted")
print(f"  queue/me:       {p('queue_latency')}")
print(f"  wait in queue:  {p('wait_time')}")
print(f"  seat map:       {p('seatmap_latency')}")
print(f"  holds:          {p('hold_latency')}  ({int(val('holds_created', 'count', 0))} holds, {int(val('seat_unavailable', 'count', 0))} seat_unavailable, {int(val('no_seat_left', 'count', 0))} found no seat)")
print(f"  payment:        {p('pay_latency')}")
print(f"  seats:          {bought} paid for by travellers, server shows {None if sold is None else int(sold)} sold, "
      f"{None if held is None else int(held)} held, of {None if total is None else int(total)}")
print(f"  error rate:     {100 * unexpected:.3f}% unexpected")
print(f"  invariant:      {'OK' if ok else 'BROKEN'} (sold == paid for, nobody overtaken)")
print(json.dumps({"scenario": "ticket-open", "date": stamp, "vus": vus, "joins": joins, "joins_per_s": jrate,
    "largest_overtake": largest, "admitted": len(adm), "queue_p95_ms": val("queue_latency", "p(95)"),
    "hold_p95_ms": val("hold_latency", "p(95)"), "seats_sold": sold, "seats_total": total, "seats_paid": bought,
    "unexpected_rate": unexpected, "invariant_ok": ok}))
sys.exit(0 if ok else 3)
PY
PY_RC=${PIPESTATUS[0]}
set -e
[ "$PY_RC" -eq 0 ] || { echo "INVARIANT BROKEN or unreadable (see $OUT)" >&2; exit 3; }
[ "$K6_RC" -eq 0 ] || { echo "k6 failed with exit code $K6_RC (thresholds?)" >&2; exit "$K6_RC"; }
