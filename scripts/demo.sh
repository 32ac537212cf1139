#!/usr/bin/env bash
# `make demo`: the main job on the bundled demo model and images (nothing outside the repo).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
qengine="$build/apps/qengine"
model="$root/examples/models/fmnist_tiny_cnn.onnx"
images="$root/examples/images"

echo "== qengine info"
"$qengine" info "$model"
echo
echo "== qengine run (two images)"
"$qengine" run "$model" "$images/7_sneaker/$(ls "$images/7_sneaker" | head -1)" "$images/8_bag/$(ls "$images/8_bag" | head -1)" --top 3
echo
echo "== qengine eval on $(find "$images" -name '*.png' | wc -l) bundled images"
"$qengine" eval "$model" "$images"
echo
echo "== qengine bench"
"$qengine" bench "$model" --runs 200
echo
echo "== qengine calibrate: W8A8 per-channel, QONNX + QCDQ, float vs quantized on the bundled images"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$qengine" calibrate "$model" "$images" -o "$out" --per-channel --val "$images"
echo
echo "== qengine eval of the QCDQ file it wrote, on the integer kernels"
"$qengine" eval "$out/fmnist_tiny_cnn.qcdq.onnx" "$images"
echo
echo "== qengine bench: float and W8A8 / W4A8 integer variants side by side"
"$qengine" bench "$model" --compare float,int8,w4a8 --runs 100
