#!/usr/bin/env bash
# The HAWQ-style mixed-precision table of docs/mixed_precision.md. Per model: uniform W8A8, then
# size / BOPS / latency budgets at r = 0.75, 0.5, 0.25 (Hessian-guided choice, and the mean top-1
# of RANDOM_DRAWS random allocations with the same budget), then uniform W4A4 with the first and
# last layer at 8 bits. The Hessian sensitivity is measured once per model and reused.
#
# usage: benchmarks/mixed_table.sh [BUILD_DIR]
# env:   MODELS (default "resnet18_fmnist64 mobilenet_v2_fmnist64"), RATIOS ("0.75 0.5 0.25"),
#        BUDGETS ("size bops latency"), RANDOM_DRAWS (5), VAL_LIMIT (2000), SAMPLES (1000),
#        THREADS (2), OUT (/tmp/qengine-mixed), QENGINE_SHARED (../shared), EXTRA (more flags)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
qengine=$build/apps/qengine
shared=${QENGINE_SHARED:-$here/../shared}
models=${MODELS:-"resnet18_fmnist64 mobilenet_v2_fmnist64"}
ratios=${RATIOS:-"0.75 0.5 0.25"}
budgets=${BUDGETS:-"size bops latency"}
draws=${RANDOM_DRAWS:-5}
val_limit=${VAL_LIMIT:-2000}
samples=${SAMPLES:-1000}
threads=${THREADS:-2}
out=${OUT:-/tmp/qengine-mixed}
data=$shared/data/fashion-mnist

[ -x "$qengine" ] || { echo "mixed_table.sh: $qengine not built" >&2; exit 2; }
command -v jq >/dev/null || { echo "mixed_table.sh: needs jq (scripts/setup-deps.sh installs it)" >&2; exit 2; }
[ -d "$data/calib" ] && [ -d "$data/val" ] || { echo "mixed_table.sh: no Fashion-MNIST folders under $data" >&2; exit 2; }

row() {  # model label json-file
  jq -r --arg m "$1" --arg name "$2" '
    (.rows[0]) as $r
    | ([.rows[1:][] | .top1] | if length > 0 then (add / length) else null end) as $rand
    | [$m, $name, ($r.size_bytes / 1e6 | . * 1000 | round / 1000),
       ($r.bops / 1e9 | . * 1000 | round / 1000),
       (if $r.speedup_vs_float then ($r.speedup_vs_float | . * 100 | round / 100 | tostring) + "x" else "" end),
       ($r.top1 | . * 100 | round / 100),
       (if $rand then ($rand | . * 100 | round / 100) else "" end),
       (if $rand then (($r.top1 - $rand) | . * 100 | round / 100) else "" end),
       ([$r.bits[]] | map(tostring) | join(""))]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$3"
}

echo "| model | allocation | size (MB) | BOPS (G) | speed-up vs float | top-1 % | random mean top-1 % | Hessian − random | bits per layer |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
for m in $models; do
  model=$shared/models/$m.onnx
  [ -f "$model" ] || { echo "mixed_table.sh: missing $model" >&2; exit 2; }
  mkdir -p "$out/$m"
  common=(--val "$data/val" --val-limit "$val_limit" --samples "$samples" --threads "$threads"
          --sensitivity-file "$out/$m/sensitivity.json" --json --quiet ${EXTRA:-})
  "$qengine" mixed "$model" "$data/calib" --uniform 8 "${common[@]}" -o "$out/$m/uniform8" > "$out/$m/uniform8.json"
  row "$m" "uniform W8A8" "$out/$m/uniform8.json"
  for b in $budgets; do
    for r in $ratios; do
      name=$b-$r
      "$qengine" mixed "$model" "$data/calib" --$b "$r" --random "$draws" "${common[@]}" -o "$out/$m/$name" \
        > "$out/$m/$name.json"
      row "$m" "$b r=$r" "$out/$m/$name.json"
    done
  done
  "$qengine" mixed "$model" "$data/calib" --uniform 4 "${common[@]}" -o "$out/$m/uniform4" > "$out/$m/uniform4.json"
  row "$m" "uniform W4A4 (first/last 8)" "$out/$m/uniform4.json"
done
