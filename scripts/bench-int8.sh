#!/usr/bin/env bash
# Issue-5 speed table: qengine float, W8A8 and W4A8 integer execution, onnxruntime float and
# onnxruntime on the W8A8 QCDQ export, same machine, same threads, one run (interleaved per
# batch size). Also each qengine integer latency as a fraction of the int8 roofline
# (MACs / measured VNNI peak of all threads; the peak comes from bench_qgemm's vnni_peak).
# Usage: scripts/bench-int8.sh [BUILD_DIR]   (Markdown table on stdout)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"
threads="${THREADS:-2}"
runs="${RUNS:-40}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[ -x "$qengine" ] || { echo "bench-int8: $qengine not built" >&2; exit 1; }
command -v node >/dev/null || { echo "bench-int8: node is required for the onnxruntime side" >&2; exit 1; }
if [ ! -d "$root/benchmarks/ort/node_modules/onnxruntime-node" ]; then
  (cd "$root/benchmarks/ort" && npm install --ignore-scripts --no-audit --no-fund >/dev/null)
fi
peak_line=$("$build/benchmarks/bench_qgemm" --benchmark_filter=vnni_peak 2>&1 | grep -o 'peak per core: [0-9.]*' | head -1)
peak_core=${peak_line##* }  # GOP/s, 1 op = one multiply or one add
echo "Measured int8 peak: ${peak_core} GOP/s per core (vnni_peak), roofline below uses ${threads} cores."
echo

"$qengine" export "$shared/models/resnet18_fmnist64.onnx" "$tmp/resnet18_224.onnx" --input-shape input=1,3,224,224 --keep-batch >/dev/null
quantize() {  # model calib name bits
  "$qengine" calibrate "$1" "$2" -o "$tmp/$3" --samples 64 --sqnr-samples 8 --bias-correction-samples 32 \
    --per-channel --w-bits "$4" --a-bits 8 --first-last-bits 8 --quiet >/dev/null
}
quantize "$tmp/resnet18_224.onnx" "$shared/data/fashion-mnist/calib" r18w8 8
quantize "$tmp/resnet18_224.onnx" "$shared/data/fashion-mnist/calib" r18w4 4
quantize "$shared/imagenet/models/mobilenet_v2_tv_tflm.onnx" "$shared/imagenet/calib" mnv2w8 8
quantize "$shared/imagenet/models/mobilenet_v2_tv_tflm.onnx" "$shared/imagenet/calib" mnv2w4 4

field() { python3 -c "import json,sys; print('%.3f' % json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
macs() { "$qengine" info "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['macs'])"; }

echo "| model | batch | qengine float ms | qengine W8A8 ms | qengine W4A8 ms | ORT float ms | ORT QCDQ W8A8 ms | W8A8 / ORT QCDQ | W8A8 / qengine float | W4A8 / W8A8 | W8A8 roofline fraction |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for cfg in "resnet18_fmnist64@224|$tmp/resnet18_224.onnx|r18w8/resnet18_224|r18w4/resnet18_224" \
           "mobilenet_v2_tv_tflm|$shared/imagenet/models/mobilenet_v2_tv_tflm.onnx|mnv2w8/mobilenet_v2_tv_tflm|mnv2w4/mobilenet_v2_tv_tflm"; do
  IFS='|' read -r name model w8 w4 <<<"$cfg"
  m=$(macs "$model")
  for batch in 1 8; do
    b() { "$qengine" bench "$1" --batch "$batch" --threads "$threads" --runs "$runs" --json; }
    qf=$(field "$(b "$model")" median_ms)
    q8=$(field "$(b "$tmp/$w8.qonnx.onnx")" median_ms)
    q4=$(field "$(b "$tmp/$w4.qonnx.onnx")" median_ms)
    of=$(field "$(node "$root/benchmarks/ort/ort_bench.js" "$model" --batch "$batch" --threads "$threads" --runs "$runs")" median_ms)
    oq=$(field "$(node "$root/benchmarks/ort/ort_bench.js" "$tmp/$w8.qcdq.onnx" --batch "$batch" --threads "$threads" --runs "$runs")" median_ms)
    python3 - "$name" "$batch" "$qf" "$q8" "$q4" "$of" "$oq" "$m" "$peak_core" "$threads" <<'PY'
import sys
name, batch, qf, q8, q4, of, oq, macs, peak, threads = sys.argv[1:]
qf, q8, q4, of, oq, macs, peak = map(float, (qf, q8, q4, of, oq, macs, peak))
batch, threads = int(batch), int(threads)
roof_ms = 2 * macs * batch / (peak * 1e9 * threads) * 1e3
print(f"| {name} | {batch} | {qf:.2f} | {q8:.2f} | {q4:.2f} | {of:.2f} | {oq:.2f} | {q8/oq:.2f}x | {q8/qf:.2f}x | {q4/q8:.2f}x | {roof_ms/q8:.2f} |")
PY
  done
done
