#!/usr/bin/env bash
# qengine vs onnxruntime on the same machine, same threads, same run: the issue-3 model set.
# Usage: scripts/bench-models.sh [BUILD_DIR]   (writes a Markdown table to stdout)
# Each model is timed by `qengine bench --json` and by benchmarks/ort/ort_bench.js, interleaved
# per configuration so that load from other processes hits both alike.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"
threads="${THREADS:-2}"
runs="${RUNS:-50}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

[ -x "$qengine" ] || { echo "bench-models: $qengine not built" >&2; exit 1; }
command -v node >/dev/null || { echo "bench-models: node is required for the onnxruntime side" >&2; exit 1; }
if [ ! -d "$root/benchmarks/ort/node_modules/onnxruntime-node" ]; then
  (cd "$root/benchmarks/ort" && npm install --ignore-scripts --no-audit --no-fund >/dev/null)
fi

# onnxruntime gets resnet18 at 224 through a copy written by qengine's own exporter, with the
# input fixed at 224x224 (its shape inference then agrees with the run).
"$qengine" export "$shared/models/resnet18_fmnist64.onnx" "$tmp/resnet18_224.onnx" \
  --input-shape input=1,3,224,224 --keep-batch >/dev/null

# name | model file | qengine extra flags | ort extra flags
configs=(
  "resnet18_fmnist64@224|$tmp/resnet18_224.onnx||"
  "mobilenet_v2_tv_tflm@224|$shared/imagenet/models/mobilenet_v2_tv_tflm.onnx||"
  "mobilenet_v3_small_fmnist64@64|$shared/models/mobilenet_v3_small_fmnist64.onnx||"
)

field() { python3 -c "import json,sys; print('%.3f' % json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "| model | batch | threads | qengine median ms (min-max) | onnxruntime median ms (min-max) | qengine / ort |"
echo "|---|---|---|---|---|---|"
for cfg in "${configs[@]}"; do
  IFS='|' read -r name model qflags oflags <<<"$cfg"
  for batch in 1 8; do
    q=$("$qengine" bench "$model" --batch "$batch" --threads "$threads" --runs "$runs" --json $qflags)
    o=$(node "$root/benchmarks/ort/ort_bench.js" "$model" --batch "$batch" --threads "$threads" --runs "$runs" $oflags)
    qm=$(field "$q" median_ms); om=$(field "$o" median_ms)
    ratio=$(python3 -c "print('%.2f' % ($qm / $om))")
    echo "| $name | $batch | $threads | $qm ($(field "$q" min_ms)-$(field "$q" max_ms)) | $om ($(field "$o" min_ms)-$(field "$o" max_ms)) | ${ratio}x |"
  done
done
