#!/usr/bin/env bash
# Integer execution against the fake-quant simulation on every shared model (issue 5): each model
# calibrated at W8A8 and W4A8 (`full` policy, per-channel weights, first/last layer 8-bit for W4),
# then the QONNX file evaluated on the whole val folder twice: on the integer kernels and with
# --simulate. Usage: scripts/int-accuracy.sh [BUILD_DIR]   (Markdown table on stdout)
# --no-equalize: the table in docs/accuracy.md was measured before equalization became
# calibrate's default; it compares two executions of one model, not quantization methods.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
top1() { python3 -c "import json,sys; print('%.2f' % (100 * json.loads(sys.argv[1])['top1']))" "$1"; }
echo "| model | config | val images | simulated top-1 | integer top-1 | Δ points |"
echo "|---|---|---|---|---|---|"
row() {
  local model="$1" calib="$2" val="$3" bits="$4" name
  name=$(basename "$model" .onnx)
  "$qengine" calibrate "$model" "$calib" -o "$tmp/$name-$bits" --samples 256 --sqnr-samples 8 \
    --per-channel --w-bits "$bits" --a-bits 8 --first-last-bits 8 --no-equalize --quiet >/dev/null
  local q="$tmp/$name-$bits/$name.qonnx.onnx"
  local s i
  s=$("$qengine" eval "$q" "$val" --simulate --json --quiet)
  i=$("$qengine" eval "$q" "$val" --json --quiet)
  python3 - "$name" "W${bits}A8" "$s" "$i" <<'PY'
import json, sys
s, i = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"| {sys.argv[1]} | {sys.argv[2]} | {i['images']} | {100*s['top1']:.2f}% | {100*i['top1']:.2f}% | {100*(i['top1']-s['top1']):+.2f} |")
PY
}
for bits in 8 4; do
  for m in "$shared"/models/*.onnx; do row "$m" "$shared/data/fashion-mnist/calib" "$shared/data/fashion-mnist/val" "$bits"; done
  for m in "$shared"/imagenet/models/*.onnx; do row "$m" "$shared/imagenet/calib" "$shared/imagenet/val" "$bits"; done
done
