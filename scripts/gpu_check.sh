#!/usr/bin/env bash
# The whole real-GPU check in one call (GPU time is scarce): unpack what scripts/gpu_pack.sh
# packed (Deno, its package cache, the Vulkan loader), then on the GPU
#   1. `autoresearch platform` (adapter, features, peak),
#   2. the WebGPU bench, which tunes the matmul and attention variants on the training shapes,
#   3. the engine tests, the golden training test (f32 and f16) and the f16 loss gate, WebGPU
#      required,
#   4. the engine and train benches (per-op device time, dispatches per step, tokens/s, MFU),
#   5. `autoresearch platform` again (the tuned shapes).
# Each step has its own time limit so one slow step cannot eat the others'; the logs go to
# $OUT (the device tool brings them back) and stdout. The limits add up to about 5.5 minutes, so
# a rerun still fits a 15-minute device budget: run it with timeout_s 360 and carry [".gpu"].
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*" | tee -a "$OUT/summary.txt"; }

step "unpack"
if [ -d .gpu/debs ]; then
  for deb in .gpu/debs/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
mkdir -p /tmp/gpu-bin
if ! command -v deno >/dev/null; then
  xz -dc .gpu/deno.xz >/tmp/gpu-bin/deno && chmod +x /tmp/gpu-bin/deno
  export PATH=/tmp/gpu-bin:$PATH
fi
if [ -f .gpu/denodir.tar.xz ]; then
  tar -xJf .gpu/denodir.tar.xz -C /tmp && export DENO_DIR=/tmp/denodir
fi
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1 AUTORESEARCH_REQUIRE_WEBGPU=1
export XDG_CACHE_HOME=/tmp/gpu-cache XDG_RUNTIME_DIR=/tmp/gpu-runtime
mkdir -p "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$icd; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 |
  tee "$OUT/gpu.txt"
deno --version | head -1

run() { # run NAME SECONDS CMD...: one step, its log in $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  step "$name (limit ${limit} s): $*"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  step "$name exit $rc"
}

# The bench tunes for at most 50 s (the shape under way finishes), leaving time to measure.
export AUTORESEARCH_BENCH_TUNE_S=${AUTORESEARCH_BENCH_TUNE_S:-50}
run platform 30 deno run -A main.ts platform
run bench-webgpu "${GPU_CHECK_WEBGPU_S:-120}" deno run -A bench/main.ts webgpu
run tests "${GPU_CHECK_TESTS_S:-90}" deno test -A tests/engine/webgpu_*_test.ts \
  tests/engine/ops_test.ts tests/engine/golden_test.ts tests/engine/dispatch_test.ts \
  tests/train/golden_train_test.ts tests/train/precision_test.ts
run bench-engine-train "${GPU_CHECK_TRAIN_S:-60}" deno run -A bench/main.ts engine train
run platform-tuned 15 deno run -A main.ts platform
step "done"
