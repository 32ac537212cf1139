#!/usr/bin/env bash
# Float accuracy of every shared model next to onnxruntime's number from its sidecar.
# Usage: scripts/accuracy.sh [BUILD_DIR]   (Markdown table on stdout; takes a few minutes)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"

echo "| model | images | qengine top-1 | onnxruntime top-1 | difference (points) | qengine top-5 | onnxruntime top-5 |"
echo "|---|---|---|---|---|---|---|"
row() {
  local model="$1" data="$2"
  local json sidecar="${model%.onnx}.json"
  json=$("$qengine" eval "$model" "$data" --json --quiet --batch 16)
  python3 - "$json" "$sidecar" "$(basename "$model" .onnx)" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); acc = json.load(open(sys.argv[2]))["accuracy"]
d = 100 * (r["top1"] - acc["ort_top1"])
print(f"| {sys.argv[3]} | {r['images']} | {100*r['top1']:.2f}% | {100*acc['ort_top1']:.2f}% | {d:+.2f} | "
      f"{100*r['top5']:.2f}% | {100*acc['ort_top5']:.2f}% |")
PY
}
for m in "$shared"/models/*.onnx; do row "$m" "$shared/data/fashion-mnist/val"; done
for m in "$shared"/imagenet/models/*.onnx; do row "$m" "$shared/imagenet/val"; done
