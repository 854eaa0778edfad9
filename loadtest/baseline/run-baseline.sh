#!/usr/bin/env bash
# Baseline for the flash-sale benchmark: the original system's approach (every buyer
# locks the one hot product row and commits alone) measured with pgbench on the local
# PostgreSQL. Resets the `baseline` schema, runs order.sql for DURATION seconds at a
# concurrency as close to 500 as max_connections allows (leaving SPARE connections),
# and prints TPS and latency avg/p50/p95/p99 (percentiles computed from pgbench --log).
#
#   loadtest/baseline/run-baseline.sh [--duration 30] [--clients N] [--spare 10]
#
# Env: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), PGDATABASE (test).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RESULTS="$(cd "$HERE/.." && pwd)/results"
DURATION=30
CLIENTS=""
SPARE=10
TARGET=500

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=${2%s}; shift 2 ;;
    --clients)  CLIENTS=$2; shift 2 ;;
    --spare)    SPARE=$2; shift 2 ;;
    -h|--help)  sed -n 2,11p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$DURATION" in ''|*[!0-9]*) echo "--duration must be whole seconds" >&2; exit 2 ;; esac
if [ "$DURATION" -gt 600 ]; then echo "--duration is capped at 600 s" >&2; exit 2; fi

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-test}
case "$PGHOST" in 127.0.0.1|localhost|::1) ;; *) echo "refusing non-loopback PGHOST=$PGHOST" >&2; exit 2 ;; esac

PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$PGBENCH" ]; then
  echo "pgbench not found; install it with: apt-get install -y postgresql-client (Debian: postgresql-client-NN ships pgbench)" >&2
  exit 1
fi
q() { psql -X -q -v ON_ERROR_STOP=1 -Atc "$1"; }

MAX_CONN=$(q "SHOW max_connections")
IN_USE=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
if [ -z "$CLIENTS" ]; then
  CLIENTS=$(( MAX_CONN - SPARE - IN_USE ))
  [ "$CLIENTS" -gt "$TARGET" ] && CLIENTS=$TARGET
fi
if [ "$CLIENTS" -lt 1 ]; then echo "no connections left (max_connections=$MAX_CONN, in use=$IN_USE)" >&2; exit 1; fi
THREADS=$(nproc); [ "$THREADS" -gt "$CLIENTS" ] && THREADS=$CLIENTS

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$RESULTS/baseline-$STAMP"
mkdir -p "$OUT"

echo "== baseline: hot-row SELECT FOR UPDATE + UPDATE + INSERT, one commit per order"
echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:     $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "postgres:    $(q 'SHOW server_version') at $PGHOST:$PGPORT/$PGDATABASE (synchronous_commit=$(q 'SHOW synchronous_commit'), fsync=$(q 'SHOW fsync'))"
echo "concurrency: $CLIENTS clients, $THREADS pgbench threads (target $TARGET; max_connections=$MAX_CONN, other clients=$IN_USE, spare=$SPARE)"
echo "duration:    ${DURATION}s    results: $OUT"

psql -X -q -v ON_ERROR_STOP=1 -f "$HERE/schema.sql" >/dev/null
q "CHECKPOINT" >/dev/null

( cd "$OUT" && "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P 5 \
    --log --log-prefix="$OUT/txlog" -f "$HERE/order.sql" ) 2>&1 | tee "$OUT/pgbench.txt"

# Invariant of the baseline itself: every committed order took exactly one unit.
SOLD=$(q "SELECT 1000000000 - stock FROM baseline.product WHERE id = 1")
ORDERS=$(q "SELECT count(*) FROM baseline.orders")

TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$OUT/pgbench.txt")
# pgbench log lines: client_id tx_no latency_us script_no epoch_s epoch_us
cat "$OUT"/txlog.* | awk '{print $3}' | sort -n > "$OUT/latencies_us.txt"
STATS=$(awk '
  { v[NR] = $1; sum += $1 }
  function pct(p,   i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] / 1000 }
  END {
    if (NR == 0) { print "no transactions logged"; exit }
    printf "transactions %d\nlatency_avg_ms %.2f\nlatency_p50_ms %.2f\nlatency_p95_ms %.2f\nlatency_p99_ms %.2f\nlatency_max_ms %.2f\n", \
      NR, sum / NR / 1000, pct(0.50), pct(0.95), pct(0.99), v[NR] / 1000
  }' "$OUT/latencies_us.txt")
rm -f "$OUT"/txlog.*   # the sorted latencies are kept; raw logs are large

get() { echo "$STATS" | awk -v k="$1" '$1 == k { print $2 }'; }
echo
echo "== baseline result ($CLIENTS clients, ${DURATION}s)"
printf '  TPS (orders/s):   %s\n' "$TPS"
printf '  transactions:     %s logged, %s orders in table, stock taken %s\n' "$(get transactions)" "$ORDERS" "$SOLD"
printf '  latency ms:       avg %s  p50 %s  p95 %s  p99 %s  max %s\n' \
  "$(get latency_avg_ms)" "$(get latency_p50_ms)" "$(get latency_p95_ms)" "$(get latency_p99_ms)" "$(get latency_max_ms)"
printf '{"scenario":"baseline-hot-row","date":"%s","clients":%s,"duration_s":%s,"tps":%s,"avg_ms":%s,"p50_ms":%s,"p95_ms":%s,"p99_ms":%s,"max_ms":%s,"orders":%s,"stock_taken":%s}\n' \
  "$STAMP" "$CLIENTS" "$DURATION" "${TPS:-null}" "$(get latency_avg_ms)" "$(get latency_p50_ms)" "$(get latency_p95_ms)" \
  "$(get latency_p99_ms)" "$(get latency_max_ms)" "$ORDERS" "$SOLD" | tee "$OUT/summary.json"
if [ "$ORDERS" != "$SOLD" ]; then echo "INVARIANT BROKEN: orders=$ORDERS stock_taken=$SOLD" >&2; exit 1; fi
