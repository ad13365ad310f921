#!/usr/bin/env bash
# The test command: installs what is missing, builds, fetches the offline data, runs every CTest
# test (the reduced main job among them), then builds the LibTorch-free code (tokenizer,
# safetensors, JSON) with ASan/UBSan and runs its tests, fuzzers included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh  # the offline data of the main-job test (idempotent)
(cd build && ctest --output-on-failure --timeout 900)

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYBERT_BASE_ONLY=ON \
  -DTINYBERT_SANITIZE=ON -DTINYBERT_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan --parallel "$(nproc)"
(cd build-asan && ctest --output-on-failure --timeout 600)
