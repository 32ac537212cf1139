#!/usr/bin/env bash
# The quantization accuracy table of docs/accuracy.md: every shared model × {W8A8, W6A8, W4A8,
# W4A4 with first/last layers at 8} × {per-tensor, per-channel weights} × {float, po2 scales},
# `full` policy, percentile activations, with calibration time. Plain post-training quantization:
# equalization is off (--no-equalize; calibrate's default turns it on), bias correction on.
# Usage: benchmarks/quant_sweep.sh [BUILD_DIR]        (Markdown table on stdout)
# Environment: SAMPLES (calibration images, default 500), FMNIST_VAL_LIMIT (default 2000 of the
# 10,000 Fashion-MNIST val images; ImageNet val always uses all 500), MODELS (glob filter, default *),
# JSONL (also append every run's JSON summary to this file).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"
samples="${SAMPLES:-500}"
fmnist_limit="${FMNIST_VAL_LIMIT:-2000}"
filter="${MODELS:-*}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[ -x "$qengine" ] || { echo "quant_sweep: $qengine not built" >&2; exit 1; }

# name | flags
bit_configs=(
  "W8A8|--w-bits 8 --a-bits 8"
  "W6A8|--w-bits 6 --a-bits 8"
  "W4A8|--w-bits 4 --a-bits 8"
  "W4A4 (first/last 8)|--w-bits 4 --a-bits 4 --first-last-bits 8"
)
echo "| model | bits | weights | scales | float top-1 | quantized top-1 | Δ points | same top-1 | output SQNR dB | calibration s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
run_model() {
  local model="$1" calib="$2" val="$3" limit="$4"
  local name; name="$(basename "$model" .onnx)"
  for bc in "${bit_configs[@]}"; do
    IFS='|' read -r bname bflags <<<"$bc"
    for gran in per-tensor per-channel; do
      for scale in float po2; do
        local extra=""
        [ "$scale" = po2 ] && extra="--po2"
        local json
        json=$("$qengine" calibrate "$model" "$calib" -o "$tmp/out" --samples "$samples" --val "$val" \
                 ${limit:+--val-limit "$limit"} --"$gran" $extra $bflags --no-equalize --json --quiet)
        [ -n "${JSONL:-}" ] && echo "{\"config\":\"$bname $gran $scale\",\"result\":$json}" >>"$JSONL"
        python3 - "$json" "$name" "$bname" "$gran" "$scale" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
sq = r.get("output_sqnr_db")
sq = f"{sq:.1f}" if isinstance(sq, (int, float)) else str(sq)
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {100*r['float_top1']:.2f}% | "
      f"{100*r['quant_top1']:.2f}% | {100*(r['quant_top1']-r['float_top1']):+.2f} | {100*r['top1_agreement']:.1f}% | "
      f"{sq} | {r['calibration_seconds']:.1f} |")
PY
      done
    done
  done
}
for m in "$shared"/models/$filter.onnx; do
  [ -e "$m" ] || continue
  run_model "$m" "$shared/data/fashion-mnist/calib" "$shared/data/fashion-mnist/val" "$fmnist_limit"
done
for m in "$shared"/imagenet/models/$filter.onnx; do
  [ -e "$m" ] || continue
  run_model "$m" "$shared/imagenet/calib" "$shared/imagenet/val" ""
done
