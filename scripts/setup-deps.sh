#!/usr/bin/env bash
# Installs qengine's build and test dependencies from Debian's archive (idempotent).
# Skips apt entirely when every package is already present, so `make test` stays fast.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libeigen3-dev nlohmann-json3-dev libstb-dev catch2
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libcli11-dev libglpk-dev libbenchmark-dev
  jq  # benchmarks/mixed_table.sh reads qengine's JSON reports
  chromium fonts-dejavu-core  # test_cli_report renders the calibrate --report page headless
  valgrind  # test_c_api runs the C example under valgrind's leak checker
)
# onnxruntime (the independent cross-check of QCDQ files and the latency comparison) comes from npm
# as onnxruntime-node; Node.js itself from Debian unless a node is already on the PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

ort_dir="$(cd "$(dirname "$0")/.." && pwd)/benchmarks/ort"
if [ ! -f "$ort_dir/node_modules/onnxruntime-node/package.json" ]; then
  echo "setup-deps: installing onnxruntime-node into benchmarks/ort (npm, --ignore-scripts)"
  (cd "$ort_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
