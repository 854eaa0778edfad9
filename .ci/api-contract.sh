#!/usr/bin/env bash
# The API contract: schemathesis fuzzes every documented operation of a fresh embedded
# server (SQLite, in-process cache and bus) as an admin and fails on any 5xx or any
# answer the OpenAPI document does not describe (status, content type, body schema),
# and on invalid input that is accepted.
#
# Usage: .ci/api-contract.sh [path/to/surge binary]   (default: $CARGO_TARGET_DIR/debug/surge)
# SCHEMATHESIS_EXAMPLES (default 30) sets the examples per operation.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/surge-target}"
BIN="${1:-$TARGET/debug/surge}"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-30}"
[ -x "$BIN" ] || { echo "no server binary at $BIN (cargo build -p surge-server)" >&2; exit 1; }

# schemathesis, pinned, in its own virtualenv next to the build cache.
VENV="${SURGE_SCHEMATHESIS_VENV:-$HOME/.cache/surge-schemathesis}"
if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL=contract-admin@example.com
ADMIN_PASSWORD="contract-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"

env -u SURGE_DATABASE_URL -u SURGE_REDIS_URL -u SURGE_NATS_URL \
  SURGE_BIND="127.0.0.1:$PORT" SURGE_DATA_DIR="$WORK/data" \
  SURGE_BOOTSTRAP_ADMIN_EMAIL="$ADMIN_EMAIL" SURGE_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  SURGE_SECURE_COOKIES=false RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 150); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null || { cat "$WORK/server.log" >&2; echo "the server is not ready" >&2; exit 1; }

TOKEN="$(curl -fsS -H 'content-type: application/json' \
  -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" \
  "$BASE/api/v1/identity/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

# Excluded: only the operations that end the caller's own session or account (the
# token must stay valid for the rest of the run). Server-Sent Events streams are
# fuzzed with a short request timeout: they answer at once and then stay open.
status=0
timeout 600 "$VENV/bin/st" --no-color run "$BASE/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "$EXAMPLES" \
  --exclude-operation-id logout \
  --exclude-operation-id logout_all \
  --exclude-operation-id change_password \
  --exclude-operation-id deactivate_me \
  --request-timeout 10 \
  --seed 1 \
  --workers "${SCHEMATHESIS_WORKERS:-4}" \
  "${@:2}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---" >&2
  tail -50 "$WORK/server.log" >&2
fi
exit "$status"
