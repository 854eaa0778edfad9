#!/usr/bin/env bash
# The community scenario (loadtest/community.js) against an already running Surge
# holding generated posts (`surge community generate --count 1000000`, then start it):
#
#   loadtest/run.sh community [--mode radius|votes] [--rate 500] [--duration 60s]
#                             [--vus 1000] [--max-vus 200] [--base-url http://127.0.0.1:8080]
#
# radius (default): constant arrival, RATE radius searches/s; exits non-zero unless
# p95 <= 20 ms with no error. votes: VUS users vote on one hot post back to back, then
# the post's counts are checked against every voter's own vote (exits non-zero on a
# mismatch). Prints the latencies, the rate reached and the server's CPU and memory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
MODE=radius RATE=500 DURATION=60s VUS=1000 MAX_VUS=200 BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --mode)     MODE=$2; shift 2 ;;
    --rate)     RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --vus)      VUS=$2; shift 2 ;;
    --max-vus)  MAX_VUS=$2; shift 2 ;;
    --base-url) BASE_URL=$2; shift 2 ;;
    -h|--help)  sed -n 2,11p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BASE_URL=${BASE_URL%/}
[[ $MODE == radius || $MODE == votes ]] || { echo "--mode must be radius or votes" >&2; exit 2; }
. "$HERE/lib.sh"
need_counts "$RATE" "$VUS" "$MAX_VUS"
need_secs "$DURATION"
SECS=${DURATION%s}

need_loopback_server "$BASE_URL"
need_k6

new_results "community-$MODE" "community ($MODE): $([ "$MODE" = radius ] && echo "$RATE searches/s" || echo "$VUS voters on one post"), $DURATION, $BASE_URL"

run_k6 community.js -e MODE="$MODE" -e RATE="$RATE" -e DURATION="$DURATION" -e VUS="$VUS" -e MAX_VUS="$MAX_VUS"
tail -n 40 "$OUT/k6.log"

python3 - "$OUT/summary.json" "$MODE" "$SECS" "$STAMP" <<'PY' | tee "$OUT/report.txt"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
mode, secs, stamp = sys.argv[2], int(sys.argv[3]), sys.argv[4]
val = lambda n, k, d=None: m.get(n, {}).get(k, d)
f = lambda x: "n/a" if x is None else f"{x:.1f}"
def p(name):
    t = m.get(name, {})
    return f"p50 {f(t.get('med'))} ms  p95 {f(t.get('p(95)'))} ms  p99 {f(t.get('p(99)'))} ms  max {f(t.get('max'))} ms"
print()
print(f"== result ({mode}, {secs}s)")
if mode == "radius":
    print(f"  searches:       {int(val('searches', 'count', 0))} ({val('searches', 'rate', 0):.0f}/s), {f(val('posts_per_page', 'avg'))} posts a page on average")
    print(f"  all:            {p('radius_latency')}")
    print(f"  next page:      {p('next_page_latency')}")
    p95 = val("radius_latency", "p(95)")
else:
    print(f"  votes:          {int(val('votes', 'count', 0))} ({val('votes', 'rate', 0):.0f}/s)")
    print(f"  vote:           {p('vote_latency')}")
    print(f"  counts exact:   {'yes' if val('counts_exact', 'value') == 1 else 'NO'}")
    p95 = val("vote_latency", "p(95)")
print(f"  error rate:     {100 * (val('unexpected', 'value', 0) or 0):.3f}% unexpected")
print(json.dumps({"scenario": f"community-{mode}", "date": stamp, "duration_s": secs,
    "per_s": val("searches" if mode == "radius" else "votes", "rate"), "p95_ms": p95,
    "errors": val("unexpected", "value")}))
PY
grep -E "^.*hot post:" "$OUT/k6.log" | sed 's/.*msg="\{0,1\}//; s/"\{0,1\} source=.*//' | tee -a "$OUT/report.txt" || true
cat "$OUT/figures.txt" 2>/dev/null | tee -a "$OUT/report.txt" || true
[ "$K6_RC" -eq 0 ] || { echo "k6 failed with exit code $K6_RC (thresholds?)" >&2; exit "$K6_RC"; }
