#!/usr/bin/env bash
# Image download benchmarks of balena-os-server against nginx and pigz, on
# loopback, with a 2 GiB image (balena-image's `image_tool make`: the demo
# MBR layout, partitions of 4 MiB blocks, 50 % zero, 25 % random, 25 % text).
#
#   crates/balena-os-server/benches/images.sh
#
# Measures, for fleet-configured downloads (config.json with a provisioning
# key, plus a wifi keyfile):
#   - .gz and .zip: server CPU per download vs `pigz -6 -c` of the raw image,
#     and wall-clock throughput vs nginx serving a file of the same size;
#   - .img (parts inflated on the fly): throughput vs nginx serving the raw
#     image;
#   - server resident memory while serving 50 concurrent downloads.
# Needs: curl, nginx (nginx-light), pigz, python3. Work files go to
# $BENCH_DIR (default /tmp/balena-os-images-bench); REUSE=1 keeps the image
# and its import from a previous run. SIZE_MIB changes the image size.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../../.."
for t in curl nginx pigz python3; do
  command -v "$t" >/dev/null || { echo "missing $t"; exit 1; }
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p balena-os-cli
cargo build --release -q -p balena-image --example image_tool
export BOS=$CARGO_TARGET_DIR/release/balena-os
export IMAGE_TOOL=$CARGO_TARGET_DIR/release/examples/image_tool
export W=${BENCH_DIR:-/tmp/balena-os-images-bench}
export SIZE_MIB=${SIZE_MIB:-2048}
exec python3 "$HERE/images.py"
