#!/usr/bin/env bash
# The careers-search scenario (loadtest/careers-search.js) against an already running
# Surge holding generated postings (`surge careers generate --count 100000`, server
# stopped, then start it):
#
#   loadtest/run.sh careers-search [--model open|closed] [--rate 1000] [--duration 60s]
#                                  [--vus 1000] [--max-vus 400] [--ramp 30s]
#                                  [--base-url http://127.0.0.1:8080]
#
# open (default): constant arrival, RATE searches/s; exits non-zero unless p95 <= 30 ms
# with no error. closed: VUs ramp to VUS (the original J4JG's model, p95 1,416 ms).
# Prints p50/p95/p99 of all searches, keyword searches, lists without words and next
# pages, achieved searches/s, and the server's CPU and memory over the run.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
MODEL=open RATE=1000 DURATION=60s VUS=1000 MAX_VUS=400 RAMP=30s BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --model)    MODEL=$2; shift 2 ;;
    --rate)     RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --vus)      VUS=$2; shift 2 ;;
    --max-vus)  MAX_VUS=$2; shift 2 ;;
    --ramp)     RAMP=$2; shift 2 ;;
    --base-url) BASE_URL=$2; shift 2 ;;
    -h|--help)  sed -n 2,13p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BASE_URL=${BASE_URL%/}
[[ $MODEL == open || $MODEL == closed ]] || { echo "--model must be open or closed" >&2; exit 2; }
. "$HERE/lib.sh"
need_counts "$RATE" "$VUS" "$MAX_VUS"
need_secs "$DURATION" "$RAMP"
SECS=${DURATION%s}

need_loopback_server "$BASE_URL"
need_k6

TOTAL=$(curl -fsS "$BASE_URL/api/v1/careers/postings?open=all&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
new_results "careers-search-$MODEL" "careers-search ($MODEL): $([ "$MODEL" = open ] && echo "$RATE searches/s" || echo "ramp to $VUS VUs over $RAMP"), $DURATION, $TOTAL postings, $BASE_URL"

run_k6 careers-search.js -e MODEL="$MODEL" -e RATE="$RATE" -e DURATION="$DURATION" -e VUS="$VUS" -e MAX_VUS="$MAX_VUS" -e RAMP="$RAMP"
tail -n 40 "$OUT/k6.log"

python3 - "$OUT/summary.json" "$MODEL" "$SECS" "$STAMP" "$TOTAL" <<'PY' | tee "$OUT/report.txt"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
model, secs, stamp, total = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
val = lambda n, k, d=None: m.get(n, {}).get(k, d)
f = lambda x: "n/a" if x is None else f"{x:.1f}"
def p(name):
    t = m.get(name, {})
    return f"p50 {f(t.get('med'))} ms  p95 {f(t.get('p(95)'))} ms  p99 {f(t.get('p(99)'))} ms  max {f(t.get('max'))} ms"
n = int(val("searches", "count", 0))
print()
print(f"== result ({model} model, {secs}s, {total} postings)")
print(f"  searches:       {n} ({val('searches', 'rate', 0):.0f}/s), {int(val('empty_results', 'count', 0))} with no match")
print(f"  all:            {p('search_latency')}")
print(f"  keyword (q=):   {p('keyword_latency')}")
print(f"  list (no q):    {p('list_latency')}")
print(f"  next page:      {p('next_page_latency')}")
print(f"  error rate:     {100 * (val('unexpected', 'value', 0) or 0):.3f}% unexpected")
if model == "closed":
    print(f"  vs original:    p95 {f(val('search_latency', 'p(95)'))} ms here, 1416 ms in J4JG's README (1,000 VUs)")
print(json.dumps({"scenario": "careers-search", "model": model, "date": stamp, "duration_s": secs,
    "postings": total, "searches_per_s": val("searches", "rate"), "p50_ms": val("search_latency", "med"),
    "p95_ms": val("search_latency", "p(95)"), "p99_ms": val("search_latency", "p(99)"),
    "errors": val("unexpected", "value")}))
PY
cat "$OUT/figures.txt" 2>/dev/null | tee -a "$OUT/report.txt" || true
[ "$K6_RC" -eq 0 ] || { echo "k6 failed with exit code $K6_RC (thresholds?)" >&2; exit "$K6_RC"; }
