#!/usr/bin/env bash
# W8A8 accuracy of every shared model (issue 4, acceptance 1): per-channel weights, percentile
# activations, `full` policy, 1000 calibration images (all 500 for ImageNet), the whole val folder.
# The last row repeats vit_tiny_fmnist64 with examples/rules/vit_per_token.json (one scale per
# token on the embedding output; see docs/config.md).
# Usage: scripts/quant-accuracy.sh [BUILD_DIR]     (Markdown table on stdout)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "| model | val images | float top-1 | W8A8 top-1 | Δ points | same top-1 as float | output SQNR dB | calibration s |"
echo "|---|---|---|---|---|---|---|---|"
row() {
  local model="$1" calib="$2" val="$3"
  local label="${4:-$(basename "$model" .onnx)}"
  shift 3; shift $(( $# > 0 ? 1 : 0 ))
  local json
  json=$("$qengine" calibrate "$model" "$calib" -o "$tmp/out" --samples 1000 --val "$val" \
           --w-bits 8 --a-bits 8 --per-channel --policy full --json --quiet "$@")
  python3 - "$json" "$label" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
sq = r.get("output_sqnr_db")
sq = f"{sq:.1f}" if isinstance(sq, (int, float)) else str(sq)
print(f"| {sys.argv[2]} | {r['images']} | {100*r['float_top1']:.2f}% | {100*r['quant_top1']:.2f}% | "
      f"{100*(r['quant_top1']-r['float_top1']):+.2f} | {100*r['top1_agreement']:.2f}% | {sq} | {r['calibration_seconds']:.1f} |")
PY
}
for m in "$shared"/models/*.onnx; do row "$m" "$shared/data/fashion-mnist/calib" "$shared/data/fashion-mnist/val"; done
for m in "$shared"/imagenet/models/*.onnx; do row "$m" "$shared/imagenet/calib" "$shared/imagenet/val"; done
row "$shared/models/vit_tiny_fmnist64.onnx" "$shared/data/fashion-mnist/calib" "$shared/data/fashion-mnist/val" \
    "vit_tiny_fmnist64 + vit_per_token.json" --config "$root/examples/rules/vit_per_token.json"
