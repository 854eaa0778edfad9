#!/usr/bin/env bash
# Starts a release Surge for a benchmark on 127.0.0.1:18080 (data under
# /tmp/surge-bench-<module>-<backend>), with the module's generated data loaded first:
#
#   loadtest/serve.sh embedded|postgres careers|community [COUNT]
#   loadtest/run.sh careers-search --base-url http://127.0.0.1:18080
#
# careers: COUNT postings (100000) generated and indexed; community: COUNT posts
# (1000000). postgres: database <module>_bench on SURGE_BENCH_POSTGRES_URL's server
# (postgres://postgres@127.0.0.1:5432), Redis at SURGE_BENCH_REDIS_URL
# (redis://127.0.0.1:6379, key prefix bench:). Generating again adds only what is
# missing. Stops a server it started before; the server's pid is in $DIR/pid and its
# log in $DIR/server.log. Needs `cargo build --release -p surge-server` first.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BACKEND=${1:?embedded or postgres}
MODULE=${2:?careers or community}
case "$MODULE" in
  careers) COUNT=${3:-100000} ;;
  community) COUNT=${3:-1000000} ;;
  *) echo "the module must be careers or community, got $MODULE" >&2; exit 2 ;;
esac
[[ $COUNT =~ ^[1-9][0-9]{0,7}$ ]] || { echo "COUNT must be 1..99999999" >&2; exit 2; }
SURGE="${CARGO_TARGET_DIR:-$HERE/../target}/release/surge"
[ -x "$SURGE" ] || { echo "no $SURGE: cargo build --release -p surge-server first" >&2; exit 1; }

DIR=/tmp/surge-bench-$MODULE-$BACKEND
mkdir -p "$DIR/data"
export SURGE_BIND=127.0.0.1:18080 SURGE_DATA_DIR="$DIR/data" RUST_LOG=${RUST_LOG:-warn}
export SURGE_JWT_SECRET=${SURGE_JWT_SECRET:-bench-secret-bench-secret-bench-secret-0}
case "$BACKEND" in
  embedded) ;;
  postgres)
    PG=${SURGE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
    psql "$PG/postgres" -qtAc "select 1 from pg_database where datname = '${MODULE}_bench'" | grep -q 1 \
      || psql "$PG/postgres" -qc "create database ${MODULE}_bench"
    export SURGE_DATABASE_URL="$PG/${MODULE}_bench"
    export SURGE_REDIS_URL=${SURGE_BENCH_REDIS_URL:-redis://127.0.0.1:6379} SURGE_REDIS_PREFIX=bench:
    ;;
  *) echo "the backend must be embedded or postgres, got $BACKEND" >&2; exit 2 ;;
esac

if [ -s "$DIR/pid" ]; then kill "$(cat "$DIR/pid")" 2>/dev/null && sleep 2 || true; fi
"$SURGE" migrate
"$SURGE" "$MODULE" generate --count "$COUNT"
"$SURGE" >"$DIR/server.log" 2>&1 &
echo $! >"$DIR/pid"
for _ in $(seq 600); do
  curl -fsS -m 2 -o /dev/null http://127.0.0.1:18080/readyz 2>/dev/null && break
  kill -0 "$(cat "$DIR/pid")" 2>/dev/null || { tail -20 "$DIR/server.log" >&2; exit 1; }
  sleep 1
done
curl -fsS -m 2 -o /dev/null http://127.0.0.1:18080/readyz || { echo "not ready after 600 s" >&2; exit 1; }
echo "Surge ($MODULE, $BACKEND) ready at http://127.0.0.1:18080, pid $(cat "$DIR/pid")"
