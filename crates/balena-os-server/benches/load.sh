#!/usr/bin/env bash
# Load benchmark of balena-os-server (wrk on loopback), SQLite and PostgreSQL.
#
#   crates/balena-os-server/benches/load.sh            # everything, ~6 minutes
#   DURATION=10s crates/balena-os-server/benches/load.sh
#   SKIP_POSTGRES=1 crates/balena-os-server/benches/load.sh
#
# Scenarios (each run with the answer cache on, and off with --cache-mb 0):
#   1. synthetic catalog, 50 device types x 300 releases: the SDK's host-app
#      query (getAllOsVersions URL) for 20 device types, 64 connections,
#      `Accept-Encoding: gzip` as the SDK sends it;
#   2. the open-balena-api seed (shared/conformance): the SDK's
#      getAllOsVersions URL for 3 device types, 16 connections, no
#      Accept-Encoding (as the recorded open-balena-api run), anonymous and
#      with a user API key; compared with open-balena-api's 437.9 and
#      301.3 req/s;
#   3. the SDKs end to end against the same server in the same run:
#      getAllOsVersions for those 3 device types (seed) and for the 20
#      (synthetic), JavaScript SDK (tests/js/sdk-bench.js) vs the Rust SDK
#      (examples/sdk-e2e.rs), sequential calls, SDK caches bypassed.
# Prints markdown table rows. Needs wrk, and PostgreSQL server binaries
# unless SKIP_POSTGRES=1 (it re-runs itself under scripts/with-postgres).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"

if [ -z "${BALENA_OS_TEST_POSTGRES_URL:-}" ] && [ "${SKIP_POSTGRES:-}" != 1 ]; then
  exec scripts/with-postgres "$0" "$@"
fi

DURATION=${DURATION:-20s}
TARGET=${CARGO_TARGET_DIR:-$root/target}
command -v wrk >/dev/null || { echo "load.sh: wrk is needed (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p balena-os-cli -p balena-os-server --bins --example bench-catalog --example sdk-e2e
BIN=$TARGET/release/balena-os
GEN=$TARGET/release/examples/bench-catalog
E2E=$TARGET/release/examples/sdk-e2e
JS=$root/crates/balena-os-server/tests/js
[ -f "$JS/node_modules/balena-sdk/package.json" ] || (cd "$JS" && npm ci --no-audit --no-fund >/dev/null)
SEED=$root/../shared/conformance/open-balena-api-seed.json

work=$(mktemp -d /tmp/balena-os-load.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# fresh_db NAME: prints a --database-url for a new PostgreSQL database, or
# nothing for SQLite.
fresh_db() {
  local backend=$1 name=$2
  if [ "$backend" = postgres ]; then
    psql -q "$BALENA_OS_TEST_POSTGRES_URL" -c "CREATE DATABASE \"$name\"" >/dev/null
    echo "${BALENA_OS_TEST_POSTGRES_URL%/*}/$name"
  fi
}

# start DATA DBURL CACHE_MB: starts the server, sets $base.
start() {
  local data=$1 dburl=$2 cache=$3 args=()
  [ -n "$dburl" ] && args=(--database-url "$dburl")
  RUST_LOG=${RUST_LOG:-info} "$BIN" serve --listen 127.0.0.1:0 --data "$data" --cache-mb "$cache" "${args[@]}" \
    >"$work/url" 2>>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do
    [ -s "$work/url" ] && break
    sleep 0.1
  done
  base=$(head -1 "$work/url")
  if [ -z "$base" ]; then
    echo "load.sh: the server did not start; its log:" >&2
    tail -20 "$work/server.log" >&2
    exit 1
  fi
}

stop() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  : >"$work/url"
}

# ms VALUE: wrk latency ("812.00us", "1.20ms", "1.5s") in milliseconds.
ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    else printf "%s", v }'
}

# bench LABEL CONNS URL [wrk header args...]
bench() {
  local label=$1 conns=$2 url=$3; shift 3
  wrk -t2 -c"$conns" -d2s "$@" "$url" >/dev/null 2>&1 || true # warm-up
  local out
  out=$(wrk -t2 -c"$conns" -d"$DURATION" --latency "$@" "$url")
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
  errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$conns" "$rps" "$p50" "$p99" "${errors:-0}"
}

sdk_rows=()
# sdk LABEL DEVICE_TYPE...: JavaScript vs Rust SDK, per call, on $base.
sdk() {
  local label=$1; shift
  local js rs
  js=$(cd "$JS" && node sdk-bench.js "$base" 200 "$@")
  rs=$("$E2E" "$base" 200 "$@")
  sdk_rows+=("$(python3 -c "
import json, sys
js, rs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert js['versions'] == rs['versions'], (js, rs)
print('| %s | %d | %.2f | %.2f | %.1fx |' % (sys.argv[3], rs['versions'], js['ms_per_call'], rs['ms_per_call'], js['ms_per_call'] / rs['ms_per_call']))
" "$js" "$rs" "$label")")
}

host_app_url() {
  python3 - "$@" <<'EOF'
import sys
slugs = sorted(sys.argv[1:])
inl = ",".join("%27" + s + "%27" for s in slugs)
print("/v7/application?$select=is_for__device_type&$expand=application_tag($select=tag_key,value),"
      "is_for__device_type($select=slug),owns__release($select=id,known_issue_list,raw_version,variant,phase;"
      "$expand=release_tag($select=tag_key,value))&$filter=is_host%20eq%20true%20and%20"
      "is_for__device_type/any(dt:dt/slug%20in%20(" + inl + "))")
EOF
}

backends=(sqlite)
[ "${SKIP_POSTGRES:-}" != 1 ] && backends+=(postgres)

echo "| scenario | connections | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---|---|---|---|"
twenty=$(python3 -c "
import json
d = json.load(open('crates/balena-os-server/data/device-types.json'))
print(' '.join(x['slug'] for x in d['device_types'][:20]))")
# shellcheck disable=SC2086
synthetic_path=$(host_app_url $twenty)
seed_path=$(python3 -c "
import json
d = json.load(open('$root/../shared/conformance/open-balena-api-responses.json'))
print(d['benchmark']['url_path_and_query'])")

for backend in "${backends[@]}"; do
  # 1. Synthetic catalog.
  data=$work/synthetic-$backend
  dburl=$(fresh_db "$backend" "load_synthetic_$$")
  key=$("$GEN" "$data" "${dburl:--}" 50 300 2>/dev/null)
  for cache in 64 0; do
    start "$data" "$dburl" "$cache"
    label="$backend, 50x300 catalog, host-app query for 20 device types, gzip, cache $([ "$cache" = 0 ] && echo off || echo on)"
    bench "$label, anonymous" 64 "$base$synthetic_path" -H 'Accept-Encoding: gzip'
    bench "$label, user API key" 64 "$base$synthetic_path" -H 'Accept-Encoding: gzip' -H "Authorization: Bearer $key"
    # shellcheck disable=SC2086
    [ "$cache" != 0 ] && sdk "$backend, getAllOsVersions(20 device types), 50x300 catalog" $twenty
    stop
  done

  # 2. The open-balena-api seed.
  data=$work/seed-$backend
  dburl=$(fresh_db "$backend" "load_seed_$$")
  dbargs=()
  [ -n "$dburl" ] && dbargs=(--database-url "$dburl")
  "$BIN" admin --data "$data" "${dbargs[@]}" load-rows "$SEED" >/dev/null
  key=$("$BIN" admin --data "$data" "${dbargs[@]}" api-key create admin --name load)
  for cache in 64 0; do
    start "$data" "$dburl" "$cache"
    label="$backend, open-balena-api seed, getAllOsVersions(3 device types), cache $([ "$cache" = 0 ] && echo off || echo on)"
    bench "$label, anonymous (open-balena-api: 437.9 req/s)" 16 "$base$seed_path"
    bench "$label, user API key (open-balena-api: 301.3 req/s)" 16 "$base$seed_path" -H "Authorization: Bearer $key"
    [ "$cache" != 0 ] && sdk "$backend, getAllOsVersions(3 device types), open-balena-api seed" intel-nuc raspberrypi3 raspberrypi4-64
    stop
  done
done

echo
echo "| SDK end to end | versions | JavaScript ms/call | Rust ms/call | Rust speed-up |"
echo "|---|---|---|---|---|"
printf '%s\n' "${sdk_rows[@]}"
