#!/usr/bin/env bash
# Baselines for balena-image against pigz (Debian), on realistic images.
# Needs: pigz, hyperfine, python3. Results go to $BENCH_DIR (default
# /tmp/balena-image-bench); a summary with ratios is printed at the end.
#   - import of a 2 GiB image vs `pigz -6` on all cores (throughput)
#   - configured .gz/.zip download from parts vs `pigz -6 -c` (CPU time)
#   - parts -> raw image on all cores vs `pigz -dc`
#   - in-place configure of a 256 MiB and a 4 GiB (sparse) image
set -euo pipefail
cd "$(dirname "$0")/../../.."
for t in pigz hyperfine python3; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install $t)"; exit 1; }
done
if [ -n "${IMAGE_TOOL:-}" ]; then
  T=$IMAGE_TOOL   # a prebuilt examples/image_tool
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
  cargo build --release -q -p balena-image --example image_tool
  T=$CARGO_TARGET_DIR/release/examples/image_tool
fi
W=${BENCH_DIR:-/tmp/balena-image-bench}
SIZE_MIB=${SIZE_MIB:-2048}
CORES=$(nproc)
rm -rf "$W"; mkdir -p "$W"
echo "== making a ${SIZE_MIB} MiB image"
$T make "$W/img" "$SIZE_MIB"
cat "$W/img" > /dev/null   # warm the page cache

hyperfine --runs 3 --export-json "$W/import.json" \
  -n pigz "pigz -6 -p $CORES -c $W/img > /dev/null" \
  -n import "rm -rf $W/rel && $T import $W/img $W/rel"
pigz -6 -p "$CORES" -c "$W/img" > "$W/img.gz"
hyperfine --runs 3 --export-json "$W/inflate.json" \
  -n pigz-dc "pigz -dc $W/img.gz > /dev/null" \
  -n inflate "$T inflate $W/rel /dev/null"
hyperfine --runs 5 --export-json "$W/download.json" \
  -n pigz-c "pigz -6 -p $CORES -c $W/img > /dev/null" \
  -n configured-gz "$T configure-gz $W/rel /dev/null" \
  -n configured-zip "$T configure-zip $W/rel /dev/null"
$T make-sparse "$W/256m.img" 256
$T make-sparse "$W/4g.img" 4096
hyperfine -N --warmup 3 --runs 30 --export-json "$W/inplace.json" \
  -n 256MiB "$T configure $W/256m.img 1" \
  -n 4GiB "$T configure $W/4g.img 1"

python3 - "$W" "$SIZE_MIB" <<'PY'
import json, sys
w, size = sys.argv[1], int(sys.argv[2])
def load(n):
    return {r["command"]: r for r in json.load(open(f"{w}/{n}.json"))["results"]}
imp = load("import"); inf = load("inflate"); dl = load("download"); ip = load("inplace")
mib = lambda r: size / r["mean"]
cpu = lambda r: r["user"] + r["system"]
print(f"import:   pigz {mib(imp['pigz']):.0f} MiB/s, import {mib(imp['import']):.0f} MiB/s, ratio {imp['pigz']['mean']/imp['import']['mean']:.2f}x")
print(f"inflate:  pigz -dc {mib(inf['pigz-dc']):.0f} MiB/s, parts->raw {mib(inf['inflate']):.0f} MiB/s")
for k in ("configured-gz", "configured-zip"):
    print(f"{k}: {cpu(dl[k])*1000:.1f} ms CPU vs pigz -c {cpu(dl['pigz-c'])*1000:.0f} ms CPU = {100*cpu(dl[k])/cpu(dl['pigz-c']):.2f}%")
print(f"in place: 256 MiB {ip['256MiB']['mean']*1000:.2f} ms, 4 GiB {ip['4GiB']['mean']*1000:.2f} ms (process start included)")
PY
