#!/usr/bin/env bash
# The PTQ-algorithm table of docs/accuracy.md: every shared model × {W8A8, W4A8, W4A4, W3A8}
# (below 8 bits the first and last compute layers stay at 8, as in AdaRound's and Brevitas'
# benchmarks) × {round-to-nearest, +equalization+bias correction, +GPTQ, +GPFQ, +AdaRound, best
# combination}; per-channel weights, `full` policy, percentile activations. Each row gives the
# top-1 on the val folder against float, the calibration wall time (the whole command minus the
# --val comparison) and the peak memory of the process.
# "best" is, of the rows before it and the combinations in COMBOS, the one with the highest
# output SQNR against float on calibration images (chosen without looking at the val folder).
# Usage: benchmarks/ptq_table.sh [BUILD_DIR]        (Markdown table on stdout)
# Environment: SAMPLES (calibration images, default 500), PTQ_SAMPLES (images for GPTQ / GPFQ /
# AdaRound, default 256), FMNIST_VAL_LIMIT (default 2000 of the 10,000 Fashion-MNIST val images;
# ImageNet val always uses all 500), MODELS (glob filter, default *), CONFIGS (names, default
# all), DATASETS (default "fmnist imagenet"), THREADS (per run, default all cores), JSONL (append
# every run's JSON summary to this file), METHODS and COMBOS (names of the rows and
# combinations below to run, default all but the block-wise AdaRound ones, "none" for none;
# "best" is chosen among the ones run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shared="${QENGINE_SHARED:-$root/../shared}"
qengine="$build/apps/qengine"
samples="${SAMPLES:-500}"
ptq_samples="${PTQ_SAMPLES:-256}"
fmnist_limit="${FMNIST_VAL_LIMIT:-2000}"
filter="${MODELS:-*}"
configs_wanted="${CONFIGS:-W8A8 W4A8 W4A4 W3A8}"
datasets="${DATASETS:-fmnist imagenet}"
threads="${THREADS:-0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[ -x "$qengine" ] || { echo "ptq_table: $qengine not built" >&2; exit 1; }

# name | flags
bit_configs=(
  "W8A8|--w-bits 8 --a-bits 8"
  "W4A8|--w-bits 4 --a-bits 8 --first-last-bits 8"
  "W4A4|--w-bits 4 --a-bits 4 --first-last-bits 8"
  "W3A8|--w-bits 3 --a-bits 8 --first-last-bits 8"
)
# name | flags (round-to-nearest has equalization and bias correction off — calibrate's defaults
# turn both on, as Brevitas does — so that every algorithm's own effect shows)
methods=(
  "nearest|--no-equalize --no-bias-correction"
  "eq+bc|--equalize --bias-correction"
  "gptq|--gptq --no-equalize --no-bias-correction"
  "gpfq|--gpfq --no-equalize --no-bias-correction"
  "adaround|--adaround --no-equalize --no-bias-correction"
)
# Bias correction after GPFQ / AdaRound undoes part of their work (they already match the float
# layer's output from quantized inputs; bias correction only looks at the weight error), so the
# combinations pair it with GPTQ only.
# The combinations also try MSE activation ranges, which matter at 4-bit activations.
combos=(
  "eq+gptq+bc|--equalize --gptq --bias-correction"
  "eq+gpfq|--equalize --gpfq --no-bias-correction"
  "eq+adaround|--equalize --adaround --no-bias-correction"
  "eq+gpfq+mse-act|--equalize --gpfq --no-bias-correction --a-method mse"
  "eq+adaround+mse-act|--equalize --adaround --no-bias-correction --a-method mse"
  "adaround+mse-w|--adaround --no-equalize --no-bias-correction --w-method mse"
)
# MSE weight ranges: at 4 bits the abs-max scale wastes grid points on a few large weights;
# AdaRound only chooses up or down, so the scale it is given matters.
keep_wanted() {  # wanted-names-or-empty array-name → filters the array in place
  local wanted="$1" kept=() e
  local -n arr="$2"
  [ -n "$wanted" ] || return 0
  for e in "${arr[@]}"; do [[ " $wanted " == *" ${e%%|*} "* ]] && kept+=("$e"); done
  for e in $wanted; do  # "none" selects nothing; any other unknown name is a typo
    [[ "$e" == none || " ${arr[*]%%|*} " == *" $e "* ]] || { echo "ptq_table: unknown $2 entry '$e'" >&2; exit 1; }
  done
  arr=("${kept[@]}")
}
# Block-wise AdaRound (BRECQ refinement) costs 5-25 minutes per ImageNet run on 2 cores, so
# its combinations run only when COMBOS names them.
extra_combos=(
  "adaround+blocks|--adaround --adaround-blocks --no-equalize --no-bias-correction"
  "adaround+blocks+mse-w|--adaround --adaround-blocks --no-equalize --no-bias-correction --w-method mse"
  "adaround+blocks+mse-act|--adaround --adaround-blocks --no-equalize --no-bias-correction --a-method mse"
)
[ -z "${COMBOS:-}" ] || combos+=("${extra_combos[@]}")
keep_wanted "${METHODS:-}" methods
keep_wanted "${COMBOS:-}" combos
echo "| model | bits | method | float top-1 | quantized top-1 | Δ points | same top-1 | output SQNR dB | calibration s | peak MB |"
echo "|---|---|---|---|---|---|---|---|---|---|"

run_one() {  # model calib val limit bits-name bits-flags method-name method-flags → JSON line on stdout
  local json
  json=$("$qengine" calibrate "$1" "$2" -o "$tmp/out" --samples "$samples" --ptq-samples "$ptq_samples" \
           --val "$3" ${4:+--val-limit "$4"} --per-channel --threads "$threads" $6 $8 --json --quiet)
  [ -n "${JSONL:-}" ] && echo "{\"model\":\"$(basename "$1" .onnx)\",\"bits\":\"$5\",\"method\":\"$7\",\"result\":$json}" >>"$JSONL"
  echo "$json"
}

row() {  # name bits method json
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
r = json.loads(sys.argv[4])
print(f"| {sys.argv[1]} | {sys.argv[2]} | {sys.argv[3]} | {100*r['float_top1']:.2f}% | {100*r['quant_top1']:.2f}% | "
      f"{100*(r['quant_top1']-r['float_top1']):+.2f} | {100*r['top1_agreement']:.1f}% | "
      f"{r['output_sqnr_db'] if isinstance(r['output_sqnr_db'], str) else format(r['output_sqnr_db'], '.1f')} | {r['total_seconds'] - r.get('validation_seconds', 0):.1f} | "
      f"{r['peak_rss_bytes']/1048576:.0f} |")
PY
}

run_model() {
  local model="$1" calib="$2" val="$3" limit="$4"
  local name; name="$(basename "$model" .onnx)"
  for wanted in $configs_wanted; do  # in the order CONFIGS gives
    local bc="" bname bflags
    for c in "${bit_configs[@]}"; do [[ "$c" == "$wanted|"* ]] && bc="$c"; done
    [ -n "$bc" ] || { echo "ptq_table: unknown config $wanted" >&2; exit 1; }
    IFS='|' read -r bname bflags <<<"$bc"
    local best_json="" best_sqnr=-1e9 best_name=""
    for m in "${methods[@]}" "${combos[@]}"; do
      IFS='|' read -r mname mflags <<<"$m"
      local json sqnr
      json=$(run_one "$model" "$calib" "$val" "$limit" "$bname" "$bflags" "$mname" "$mflags")
      sqnr=$(python3 -c 'import json,sys; v=json.loads(sys.argv[1])["output_sqnr_db"]; print(v if isinstance(v,(int,float)) else 1e9)' "$json")
      case " ${combos[*]} " in *" $m "*) ;; *) row "$name" "$bname" "$mname" "$json" ;; esac
      if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$sqnr" "$best_sqnr"; then
        best_sqnr="$sqnr"; best_json="$json"; best_name="$mname"
      fi
    done
    [ -z "$best_json" ] || row "$name" "$bname" "best ($best_name)" "$best_json"
  done
}
for m in "$shared"/models/$filter.onnx; do
  [ -e "$m" ] && [[ " $datasets " == *" fmnist "* ]] || continue
  run_model "$m" "$shared/data/fashion-mnist/calib" "$shared/data/fashion-mnist/val" "$fmnist_limit"
done
for m in "$shared"/imagenet/models/$filter.onnx; do
  [ -e "$m" ] && [[ " $datasets " == *" imagenet "* ]] || continue
  run_model "$m" "$shared/imagenet/calib" "$shared/imagenet/val" ""
done
