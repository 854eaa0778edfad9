#!/usr/bin/env bash
# The nightly billing batch benchmark, with the embedded fake recurring gateway:
#
#   loadtest/billing-batch.sh [--count 1000000] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
#                             [--surge target/release/surge] [--date 2027-01-15]
#
# 1. A fresh database, `surge billing generate --count N --due DATE` (multi-row inserts),
#    then `surge batch run nightly --date DATE`: prints the duration and subscriptions/s.
# 2. A fresh database again, the same data; the batch is killed (kill -9) at about half
#    of scenario 1's duration and run again (it waits for the dead runner's lease), then
#    SQL counts: periods with more than one ledger row (must be 0), charges PAID and
#    UNKNOWN (held: the killed chunk's answers were lost), and subscriptions not renewed
#    (must be 0). The fake gateway lives in the killed process, so a charge sent twice
#    cannot be counted at the provider here; the tests count it (crates/billing/tests/batch.rs).
# Without --postgres it runs on embedded SQLite in a temporary directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
COUNT=1000000 PG="" DATE=2027-01-15
SURGE=${SURGE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/surge}
while [ $# -gt 0 ]; do
  case "$1" in
    --count)    COUNT=$2; shift 2 ;;
    --postgres) PG=$2; shift 2 ;;
    --surge)    SURGE=$2; shift 2 ;;
    --date)     DATE=$2; shift 2 ;;
    -h|--help)  sed -n 2,16p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $COUNT =~ ^[1-9][0-9]{0,7}$ ]] || { echo "--count must be 1..99999999" >&2; exit 2; }
[[ $DATE =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || { echo "--date must be YYYY-MM-DD" >&2; exit 2; }
[ -x "$SURGE" ] || { echo "no surge binary at $SURGE (cargo build --release -p surge-server)" >&2; exit 2; }

WORK=$(mktemp -d)
CREATED=()
SQL=()
cleanup() {
  rm -rf "$WORK"
  for db in "${CREATED[@]}"; do psql -q "$PG" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
export SURGE_DATA_DIR=$WORK/data SURGE_BILLING_SCHEDULE_EVERY_SECS=0 SURGE_BILLING_BATCH_LEASE_SECS=5
export RUST_LOG=${RUST_LOG:-warn}
unset SURGE_KAKAOPAY__CID SURGE_KAKAOPAY__SECRET_KEY SURGE_KAKAOPAY__SUBSCRIPTION_CID

fresh_db() { # $1: scenario name; sets SURGE_DATABASE_URL and SQL
  if [ -n "$PG" ]; then
    local name="surge_billing_bench_$1_$$"
    psql -q "$PG" -c "CREATE DATABASE $name" >/dev/null
    CREATED+=("$name")
    local base=${PG%/*}
    export SURGE_DATABASE_URL="$base/$name" SURGE_JWT_SECRET=bench-secret-bench-secret-bench-secret-01
    SQL=(psql -qtA "$SURGE_DATABASE_URL" -c)
  else
    rm -rf "$WORK/data"; mkdir -p "$WORK/data"
    unset SURGE_DATABASE_URL
    SQL=(sqlite3 "$WORK/data/surge.db")
  fi
}

now_ms() { date +%s%3N; }

echo "== scenario 1: $COUNT due subscriptions, one run"
fresh_db plain
"$SURGE" migrate >/dev/null
"$SURGE" billing generate --count "$COUNT" --due "$DATE"
t0=$(now_ms)
"$SURGE" batch run nightly --date "$DATE"
t1=$(now_ms)
ms=$((t1 - t0))
echo "wall time $((ms / 1000)).$(printf %03d $((ms % 1000)))s (process start and migrations included): $((COUNT * 1000 / (ms > 0 ? ms : 1))) subscriptions/s"
"$SURGE" batch run nightly --date "$DATE" | sed 's/^/second run of the same day: /'

echo "== scenario 2: killed (kill -9) at about half-way, then run again"
fresh_db killed
"$SURGE" migrate >/dev/null
"$SURGE" billing generate --count "$COUNT" --due "$DATE" >/dev/null
"$SURGE" batch run nightly --date "$DATE" >"$WORK/killed.log" 2>&1 &
pid=$!
sleep "$(awk "BEGIN { print $ms / 2000 }")"
if kill -9 "$pid" 2>/dev/null; then
  echo "killed the batch after $((ms / 2)) ms"
else
  echo "the batch finished before the kill (raise --count)"
fi
wait "$pid" 2>/dev/null || true
paid_before=$("${SQL[@]}" "SELECT COUNT(*) FROM billing_charges WHERE status = 'PAID'")
echo "recorded PAID before the rerun: $paid_before of $COUNT"
"$SURGE" batch run nightly --date "$DATE"
double=$("${SQL[@]}" "SELECT COUNT(*) FROM (SELECT subscription_id, period_start FROM billing_charges GROUP BY subscription_id, period_start HAVING COUNT(*) > 1) d")
paid=$("${SQL[@]}" "SELECT COUNT(*) FROM billing_charges WHERE status = 'PAID'")
held=$("${SQL[@]}" "SELECT COUNT(*) FROM billing_charges WHERE status = 'UNKNOWN'")
pending=$("${SQL[@]}" "SELECT COUNT(*) FROM billing_charges WHERE status = 'PENDING'")
not_renewed=$("${SQL[@]}" "SELECT COUNT(*) FROM billing_subscriptions WHERE due_at IS NOT NULL AND due_at <= (SELECT MIN(period_start) FROM billing_charges)")
echo "double-charged periods: $double (must be 0); PAID $paid, held UNKNOWN $held, PENDING $pending; not renewed: $not_renewed (must be 0)"
[ "$double" = 0 ] && [ "$not_renewed" = 0 ] && [ "$pending" = 0 ]
