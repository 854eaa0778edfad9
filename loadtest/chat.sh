#!/usr/bin/env bash
# The chat benchmark against an already running Surge (loopback only): N WebSocket
# clients (one account each) in R rooms, M messages/s in total, send-to-receive latency
# measured at every receiver (crates/chat/examples/chat_load.rs):
#
#   loadtest/chat.sh [--clients 500] [--rooms 5] [--rate 50] [--duration 10]
#                    [--base-url http://127.0.0.1:8080] [--server-pid PID] [--tag load]
#                    [--debug]   (a debug build of the generator: smoke runs only)
#
# The issue's benchmark: --clients 5000 --rooms 50 --rate 200 --duration 60 (20,000
# deliveries/s expected; target p99 <= 200 ms). Start the server first with the admin
# the generator logs in as, and descriptors for every socket, e.g.
#   ulimit -n 65536; SURGE_BOOTSTRAP_ADMIN_EMAIL=admin@surge.local \
#   SURGE_BOOTSTRAP_ADMIN_PASSWORD=surge-admin-pass-1 ./target/release/surge
# (ADMIN_EMAIL / ADMIN_PASSWORD in the environment override those two). With
# --server-pid the server's memory per connection is reported. Accounts' refresh tokens
# are kept in loadtest/results/chat-tokens-<tag>.tsv, so later runs skip password
# hashing. Results: loadtest/results/chat-<time>/summary.json.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CLIENTS=500 ROOMS=5 RATE=50 DURATION=10 TAG=load SERVER_PID=${SURGE_PID:-} PROFILE=release
BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --clients)    CLIENTS=$2; shift 2 ;;
    --rooms)      ROOMS=$2; shift 2 ;;
    --rate)       RATE=$2; shift 2 ;;
    --duration)   DURATION=${2%s}; shift 2 ;;
    --base-url)   BASE_URL=$2; shift 2 ;;
    --server-pid) SERVER_PID=$2; shift 2 ;;
    --tag)        TAG=$2; shift 2 ;;
    --debug)      PROFILE=debug; shift ;;
    -h|--help)    sed -n 2,19p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
BASE_URL=${BASE_URL%/}
[[ $CLIENTS =~ ^[1-9][0-9]{0,4}$ ]] && [ "$CLIENTS" -le 20000 ] || { echo "--clients must be 1..20000" >&2; exit 2; }
[[ $ROOMS =~ ^[1-9][0-9]{0,3}$ ]] || { echo "--rooms must be 1..9999" >&2; exit 2; }
[[ $RATE =~ ^[1-9][0-9]{0,4}$ ]] || { echo "--rate must be 1..99999 messages/s" >&2; exit 2; }
[[ $DURATION =~ ^[1-9][0-9]{0,2}$ ]] && [ "$DURATION" -le 600 ] || { echo "--duration must be 1..600 (seconds)" >&2; exit 2; }
[[ $TAG =~ ^[a-z][a-z0-9]{0,9}$ ]] || { echo "--tag must be 1..10 of a-z0-9, starting with a letter" >&2; exit 2; }
[ -z "$SERVER_PID" ] || [[ $SERVER_PID =~ ^[0-9]+$ ]] || { echo "--server-pid must be a number" >&2; exit 2; }

. "$HERE/lib.sh"
need_loopback_server "$BASE_URL"

# One descriptor per socket, plus the setup's HTTP connections.
WANT=$(( CLIENTS + 1024 ))
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$WANT" ]; then
  echo "the hard limit on open files ($HARD) is below $WANT: raise it (limits.conf, or run as root)" >&2
  exit 1
fi
ulimit -n "$WANT" 2>/dev/null || ulimit -n "$HARD"
echo "   open files: $(ulimit -n)"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$PROFILE" = release ]; then
  (cd "$ROOT" && cargo build --release -q -p surge-chat --example chat_load)
else
  (cd "$ROOT" && cargo build -q -p surge-chat --example chat_load)
fi
BIN="$TARGET_DIR/$PROFILE/examples/chat_load"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results/chat-$STAMP"
mkdir -p "$OUT"
echo "== chat: $CLIENTS clients, $ROOMS rooms, $RATE msg/s, ${DURATION}s, $BASE_URL ($PROFILE generator)"
echo "   machine: $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg); results: $OUT"

ARGS=(--base-url "$BASE_URL" --clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE"
      --duration-secs "$DURATION" --tag "$TAG" --tokens "$HERE/results/chat-tokens-$TAG.tsv"
      --admin-email "${ADMIN_EMAIL:-admin@surge.local}" --admin-password "${ADMIN_PASSWORD:-surge-admin-pass-1}")
[ -z "$SERVER_PID" ] || ARGS+=(--server-pid "$SERVER_PID")
# Bounded: setup (signups hash passwords) plus the run itself.
timeout $(( DURATION + 900 )) "$BIN" "${ARGS[@]}" > "$OUT/summary.json" 2> >(tee "$OUT/generator.log" >&2)

python3 - "$OUT/summary.json" <<'PY' | tee "$OUT/report.txt"
import json, sys
s = json.load(open(sys.argv[1]))
lat, ack = s.get("latency_ms") or {}, s.get("ack_latency_ms") or {}
f = lambda d, k: "n/a" if d.get(k) is None else f"{d[k]:.1f}"
print()
print(f"== result ({s['connected']}/{s['clients']} connected in {s['rooms']} rooms, {s['rate_target']:g} msg/s target)")
print(f"  sends:        {s['sends_per_s']:.1f}/s measured ({s['measured_sent']} after warm-up, backlog {s['scheduler_backlog']})")
print(f"  deliveries:   {s['deliveries_per_s']:.0f}/s ({s['deliveries']} of {s['expected_deliveries']:.0f} expected)")
print(f"  latency:      p50 {f(lat,'p50')} ms  p95 {f(lat,'p95')} ms  p99 {f(lat,'p99')} ms  max {f(lat,'max')} ms")
print(f"  ack:          p50 {f(ack,'p50')} ms  p99 {f(ack,'p99')} ms")
print(f"  errors:       frames {s['error_frames']}  closed early {s['closed_early']}  connect {s['connect_errors']}  setup {s['setup_errors']}")
print(f"  order:        {s['seq_gaps']} gaps, {s['duplicates']} duplicates")
mem = s["server_rss_kib"]
if mem.get("per_connection") is not None:
    print(f"  server RSS:   {mem['before_connect']} -> {mem['after_connect']} KiB ({mem['per_connection']:.1f} KiB per connection)")
print(f"  generator:    {s['generator_rss_kib']} KiB RSS; setup {s['setup_secs']:.1f} s, connect {s['connect_secs']:.1f} s")
PY
