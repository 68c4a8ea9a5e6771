#!/usr/bin/env bash
# Benchmark balena-semver against the npm package it ports:
# sort 100 000 realistic balenaOS version strings and run 100 000
# `satisfies` calls, in Rust (criterion) and in Node.js (balena-semver@4.1.16)
# on identical inputs, check the answers are identical, print the ratios.
#
#   crates/balena-semver/benches/run.sh
#
# Needs cargo, node and npm. Uses $CARGO_TARGET_DIR (default
# /work/target-semver when it exists, else the workspace target dir).
set -euo pipefail
crate="$(cd "$(dirname "$0")/.." && pwd -L)"
cd "$crate"
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d /work/target-semver ]; then
  export CARGO_TARGET_DIR=/work/target-semver
fi
target="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')}"

echo "== inputs (and the Rust answers)"
cargo run --quiet --release -p balena-semver --example bench_inputs -- benches/node/inputs.json

echo "== Node.js baseline (balena-semver@4.1.16)"
(cd benches/node && { [ -d node_modules/balena-semver ] || npm ci --silent --no-audit --no-fund; } && node bench.js inputs.json results.json)

echo "== Rust (criterion)"
cargo bench --quiet -p balena-semver --bench semver -- --noplot 2>&1 | grep -E 'time:|^[a-z_0-9]+/' || true

node - "$target/criterion" benches/node/results.json <<'JS'
const fs = require('fs');
const [dir, nodeResults] = process.argv.slice(2);
const nodeRes = JSON.parse(fs.readFileSync(nodeResults, 'utf8'));
const ms = (group, fn) =>
  JSON.parse(fs.readFileSync(`${dir}/${group}/${fn}/new/estimates.json`, 'utf8')).mean.point_estimate / 1e6;
const rows = [
  ['sort 100k strings', nodeRes.sortMs, ms('sort_100k', 'strings')],
  ['satisfies x100k', nodeRes.satisfiesMs, ms('satisfies_100k', 'strings')],
];
console.log('\n| work | Node.js balena-semver 4.1.16 | Rust balena-semver | speed-up |');
console.log('|---|---:|---:|---:|');
for (const [name, n, r] of rows) {
  console.log(`| ${name} | ${n.toFixed(1)} ms | ${r.toFixed(1)} ms | ${(n / r).toFixed(1)}x |`);
}
console.log(`\nRust, pre-parsed Version then sort: ${ms('sort_100k', 'parse_into_Version_then_sort').toFixed(1)} ms`);
console.log(`answers identical: ${nodeRes.identical}`);
JS
