#!/usr/bin/env bash
# Runs one libFuzzer target of test/fuzz for a fixed time.
#
#   scripts/fuzz.sh TARGET SECONDS [JOBS]
#
# TARGET: onnx_import | qonnx_import | rule_file | image_decode. JOBS > 1 runs libFuzzer's fork
# mode with that many processes (default 1).
#
# The first run configures and builds build-fuzz with clang (ASan + UBSan + libFuzzer
# coverage on every library) and builds the seed corpus; later runs continue from the corpus
# they left. Work files live outside the repository, in ${QENGINE_FUZZ_DIR:-/tmp/qengine-fuzz}/TARGET:
#   seeds/      initial inputs (models, rule files, images), rebuilt when missing
#   corpus/     what libFuzzer kept (grows across runs)
#   artifacts/  crash-*, leak-*, timeout-*, oom-* inputs
#   fuzz.log    the last run's output
# Ends with one summary line; exits 1 when this run found a crash, leak, timeout or OOM.
# Saved crash inputs belong in test/data/fuzz_regressions/TARGET once fixed (see
# docs/reliability.md).
#
# Environment: QENGINE_SHARED (shared models and data, default ../shared), QENGINE_FUZZ_BUILD
# (build directory, default build-fuzz), QENGINE_FUZZ_BUILD_JOBS (compile jobs, default 2),
# QENGINE_CLI (a built qengine used to export QONNX / QCDQ seeds, default build/apps/qengine).
set -euo pipefail

usage() {
  echo "usage: $0 onnx_import|qonnx_import|rule_file|image_decode SECONDS [JOBS]" >&2
  exit 2
}
[[ $# -ge 2 && $# -le 3 ]] || usage
TARGET=$1
SECONDS_TO_RUN=$2
JOBS=${3:-1}
case $TARGET in onnx_import | qonnx_import | rule_file | image_decode) ;; *) usage ;; esac
[[ $SECONDS_TO_RUN =~ ^[0-9]+$ && $SECONDS_TO_RUN -gt 0 ]] || usage
[[ $JOBS =~ ^[0-9]+$ && $JOBS -gt 0 ]] || usage

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${QENGINE_FUZZ_BUILD:-$REPO/build-fuzz}
SHARED=${QENGINE_SHARED:-$REPO/../shared}
WORK=${QENGINE_FUZZ_DIR:-/tmp/qengine-fuzz}/$TARGET
ONNX_NODE_DATA=/usr/share/libonnx-testdata/data/node
CLI=${QENGINE_CLI:-$REPO/build/apps/qengine}

# --- build -------------------------------------------------------------------------------
sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if ! grep -q '^QENGINE_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
  echo "fuzz.sh: configuring $BUILD with clang" >&2
  # -O1 -g without NDEBUG: assertions stay on, so a broken invariant is a finding.
  CC=clang CXX=clang++ cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_C_FLAGS="$sanitize" \
    -DQENGINE_FUZZ=ON -DQENGINE_BUILD_TESTS=OFF -DQENGINE_BUILD_BENCHMARKS=OFF >/dev/null
fi
cmake --build "$BUILD" -j"${QENGINE_FUZZ_BUILD_JOBS:-2}" --target "fuzz_$TARGET" make_image_seeds >/dev/null
FUZZER=$BUILD/test/fuzz/fuzz_$TARGET

# --- seeds -------------------------------------------------------------------------------
mkdir -p "$WORK/corpus" "$WORK/artifacts"
SEEDS=$WORK/seeds
DICT=$WORK/dict.txt

# Copies FILE to DIR under a unique name; skips files over LIMIT bytes (libFuzzer would cut them
# to -max_len, which only makes a parse error).
add_seed() {
  local file=$1 dir=$2 limit=$3 prefix=${4:-}
  [[ -f $file ]] || return 0
  (($(stat -c %s "$file") <= limit)) || return 0
  cp "$file" "$dir/${prefix}$(echo "$file" | md5sum | cut -c1-8)_$(basename "$file")"
}

# Quoted strings of FILES as libFuzzer dictionary entries (printable, 3-40 characters).
dict_from_strings() {
  python3 - "$@" <<'EOF'
import re, sys
seen = set()
for path in sys.argv[1:]:
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    for m in re.finditer(r'"([A-Za-z0-9_./*?!\[\]<>=: -]{3,40})"', text):
        seen.add(m.group(1))
for s in sorted(seen):
    print('"%s"' % s.replace("\\", "\\\\").replace('"', '\\"'))
EOF
}

onnx_dict() {
  # Op names (graph/op_list.def and the QONNX ops) and the attribute names the importer reads.
  sed -n 's/^QE_OP(\([A-Za-z0-9_]*\)).*/"\1"/p' "$REPO/graph/op_list.def"
  printf '"%s"\n' Quant BipolarQuant IntQuant FloatQuant Trunc QuantizeLinear DequantizeLinear Constant \
    qonnx.custom_op.general onnx.brevitas finn.custom_op.general ai.onnx kernel_shape strides pads \
    dilations group axis axes perm transA transB alpha beta epsilon keepdims auto_pad ceil_mode \
    count_include_pad mode value signed narrow rounding_mode to shape location length offset
}

build_seeds() {
  rm -rf "$SEEDS"
  mkdir -p "$SEEDS"
  case $TARGET in
    onnx_import)
      add_seed "$REPO/examples/models/fmnist_tiny_cnn.onnx" "$SEEDS" 262144
      for f in "$SHARED"/models/*.onnx; do add_seed "$f" "$SEEDS" 262144; done
      for d in "$ONNX_NODE_DATA"/*/; do add_seed "$d/model.onnx" "$SEEDS" 262144 "$(basename "$d")_"; done
      onnx_dict >"$DICT"
      ;;
    qonnx_import)
      if [[ -x $CLI ]]; then
        local out=$WORK/export
        rm -rf "$out"
        local variants=("" "--config $REPO/examples/rules/finn_w4.json --policy finn"
          "--config $REPO/examples/rules/fp8_e4m3.json" "--config $REPO/examples/rules/mixed_w4a8.json --qcdq-int4"
          "--w-bits 4 --a-bits 4 --per-tensor --po2 --policy layerwise")
        local i=0
        for v in "${variants[@]}"; do
          # shellcheck disable=SC2086
          if "$CLI" calibrate "$REPO/examples/models/fmnist_tiny_cnn.onnx" "$REPO/examples/images" -o "$out/$i" \
            --samples 16 --sqnr-samples 2 --no-bias-correction --threads 1 --quiet $v >/dev/null 2>&1; then
            for f in "$out/$i"/*.onnx; do add_seed "$f" "$SEEDS" 262144 "v${i}_"; done
          else
            echo "fuzz.sh: warning: calibrate $v failed; seeds without it" >&2
          fi
          i=$((i + 1))
        done
      else
        echo "fuzz.sh: warning: no qengine CLI at $CLI (set QENGINE_CLI); QONNX seeds from test data only" >&2
      fi
      for d in "$ONNX_NODE_DATA"/*quantize* "$ONNX_NODE_DATA"/*qlinear*; do
        [[ -d $d ]] && add_seed "$d/model.onnx" "$SEEDS" 262144 "$(basename "$d")_"
      done
      onnx_dict >"$DICT"
      ;;
    rule_file)
      for f in "$REPO"/examples/rules/*.json; do add_seed "$f" "$SEEDS" 65536; done
      # Every ```json block of the docs that parses as a rule file's top level.
      python3 - "$SEEDS" "$REPO"/docs/*.md <<'EOF'
import json, re, sys, hashlib
out = sys.argv[1]
for path in sys.argv[2:]:
    for block in re.findall(r"```json\n(.*?)```", open(path, encoding="utf-8").read(), re.S):
        try:
            obj = json.loads(block)
        except ValueError:
            continue
        if isinstance(obj, dict):
            name = hashlib.md5(block.encode()).hexdigest()[:8]
            open(f"{out}/doc_{name}.json", "w").write(block)
EOF
      dict_from_strings "$REPO/docs/quant-rules.schema.json" "$REPO"/examples/rules/*.json >"$DICT"
      ;;
    image_decode)
      "$BUILD/test/fuzz/make_image_seeds" "$SEEDS" >/dev/null
      for d in "$REPO"/examples/images/*/; do
        for f in $(ls "$d" | head -2); do add_seed "$d/$f" "$SEEDS" 65536; done
      done
      for d in "$SHARED"/data/*/calib/*/; do
        for f in $(ls "$d" 2>/dev/null | head -1); do add_seed "$d/$f" "$SEEDS" 65536; done
      done
      printf '%s\n' '"\x89PNG\x0d\x0a\x1a\x0a"' '"IHDR"' '"IDAT"' '"IEND"' '"PLTE"' '"tRNS"' '"CgBI"' \
        '"BM"' '"\x28\x00\x00\x00"' '"\x6c\x00\x00\x00"' '"\x7c\x00\x00\x00"' \
        '"\xff\xd8"' '"\xff\xd9"' '"\xff\xc0"' '"\xff\xc2"' '"\xff\xc4"' '"\xff\xdb"' '"\xff\xda"' \
        '"\xff\xdd"' '"\xff\xe0"' '"\xff\xee"' '"JFIF"' '"Adobe"' >"$DICT"
      ;;
  esac
  echo "fuzz.sh: $(ls "$SEEDS" | wc -l) seeds in $SEEDS" >&2
}
[[ -d $SEEDS && -n $(ls -A "$SEEDS" 2>/dev/null) ]] || build_seeds

case $TARGET in
  onnx_import | qonnx_import) max_len=262144 ;;
  rule_file) max_len=16384 ;;
  image_decode) max_len=65536 ;;
esac

# --- run ---------------------------------------------------------------------------------
LOG=$WORK/fuzz.log
stamp=$WORK/.run-start
touch "$stamp"
args=(-max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len"
  -artifact_prefix="$WORK/artifacts/" -print_final_stats=1)
[[ -s $DICT ]] && args+=(-dict="$DICT")
regressions=$REPO/test/data/fuzz_regressions/$TARGET
dirs=("$WORK/corpus" "$SEEDS")
[[ -d $regressions ]] && dirs+=("$regressions")
((JOBS > 1)) && args+=(-fork="$JOBS" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)

echo "fuzz.sh: fuzz_$TARGET for ${SECONDS_TO_RUN}s (log: $LOG)" >&2
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$FUZZER" "${args[@]}" "${dirs[@]}" >"$LOG" 2>&1
status=$?
set -e

# --- summary -----------------------------------------------------------------------------
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$LOG" | tail -1)
last=$(grep -a -E '^#[0-9]+.*cov: ' "$LOG" | tail -1 || true)
[[ -n $execs ]] || execs=$(sed -E -n 's/^#([0-9]+).*/\1/p' <<<"$last")
[[ -n $rate ]] || rate=$(sed -E -n 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
cov=$(sed -E -n 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
ft=$(sed -E -n 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
found=$(find "$WORK/artifacts" -newer "$stamp" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
  -o -name 'oom-*' \) | wc -l)
corpus=$(ls "$WORK/corpus" | wc -l)
echo "fuzz_$TARGET: ${SECONDS_TO_RUN}s, executions ${execs:-?}, exec/s ${rate:-?}, cov ${cov:-?}, ft ${ft:-?}," \
  "corpus $corpus, crashes/leaks/timeouts/ooms $found (artifacts: $WORK/artifacts)"
if ((found > 0)); then
  exit 1
fi
# A non-zero libFuzzer exit without an artifact (e.g. a failure at start-up) is also a failure.
if ((status != 0)); then
  echo "fuzz.sh: fuzz_$TARGET exited with status $status; see $LOG" >&2
  exit 1
fi
