#!/usr/bin/env bash
# The partner-rush scenario (loadtest/partner-rush.js) against an already running Surge:
#
#   loadtest/run.sh partner-rush [--vus 300] [--duration 30s] [--rooms 40]
#                                [--base-url http://127.0.0.1:8080]
#
# Prints joins/s, matches/s and p95 of browsing, joining and applying; exits non-zero
# if k6 thresholds fail or a room ends with more members than its capacity.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
VUS=300 DURATION=30s ROOMS=40 BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --vus)      VUS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rooms)    ROOMS=$2; shift 2 ;;
    --base-url) BASE_URL=$2; shift 2 ;;
    -h|--help)  sed -n 2,8p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BASE_URL=${BASE_URL%/}
. "$HERE/lib.sh"
need_counts "$VUS" "$ROOMS"
[[ $DURATION =~ ^([0-9]+)s$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 600 ] \
  || { echo "--duration must look like 30s (1..600)" >&2; exit 2; }
SECS=${DURATION%s}

need_loopback_server "$BASE_URL"
need_k6

new_results "partner-rush" "partner-rush: $VUS VUs, $DURATION, $ROOMS rooms, $BASE_URL"

run_k6 partner-rush.js -e VUS="$VUS" -e DURATION="$DURATION" -e ROOMS="$ROOMS"
tail -n 45 "$OUT/k6.log"

python3 - "$OUT/summary.json" "$SECS" "$VUS" "$STAMP" <<'PY' | tee "$OUT/report.txt"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
secs, vus, stamp = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
val = lambda n, k, d=None: m.get(n, {}).get(k, d)
f = lambda x: "n/a" if x is None else f"{x:.1f}"
def p(name):
    t = m.get(name, {})
    return f"p50 {f(t.get('med'))} ms  p95 {f(t.get('p(95)'))} ms  p99 {f(t.get('p(99)'))} ms"
joins, refused = int(val("joins", "count", 0)), int(val("join_refused", "count", 0))
matched = int(val("matched", "count", 0))
print()
print(f"== result ({vus} VUs, {secs}s)")
print(f"  joins:          {(joins + refused) / secs:.1f} join requests/s: {joins} joined ({joins / secs:.1f}/s) until the rooms filled, {refused} refused (full/already in/closed)")
print(f"  join latency:   {p('join_latency')}")
print(f"  matches:        {matched / 2 / secs:.1f} matches/s ({matched} students matched in pairs)  time to match {p('time_to_match')}")
print(f"  browse rooms:   {p('browse_latency')}")
print(f"  apply:          {p('apply_latency')}")
print(f"  error rate:     {100 * (val('unexpected', 'value', 0) or 0):.3f}% unexpected")
print(f"  invariant:      {'OK' if val('invariant_ok', 'value') == 1 else 'BROKEN'} (no room over capacity)")
print(json.dumps({"scenario": "partner-rush", "date": stamp, "vus": vus, "duration_s": secs,
    "join_requests_per_s": (joins + refused) / secs, "joined": joins, "matches_per_s": matched / 2 / secs,
    "join_p95_ms": val("join_latency", "p(95)"), "apply_p95_ms": val("apply_latency", "p(95)"),
    "browse_p95_ms": val("browse_latency", "p(95)")}))
PY
[ "$K6_RC" -eq 0 ] || { echo "k6 failed with exit code $K6_RC (thresholds?)" >&2; exit "$K6_RC"; }
