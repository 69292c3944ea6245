#!/usr/bin/env bash
# Does the simulated device catch real mistakes? Plants known ones into a
# copy of the sources, one at a time, rebuilds the CUDA backend for the
# simulator there and runs every CUDA test on it: each mistake must make at
# least one test fail. Prints a line per mistake with the tests that caught
# it; exits 1 when one goes uncaught. Not part of CI (a build and seven test
# runs, about ten minutes on 2 cores); its output is in bench/RESULTS.md.
#
# Usage: tools/cuda_simulator_mutations.sh [WORK_DIR]   (default: a temporary one)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
jobs=${JOBS:-$(nproc)}

echo "copying the tracked sources into $work/src"
mkdir -p "$work/src"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
cd "$work/src"
cmake -S . -B build-sim -G Ninja -DVAE_CUDA_SIMULATOR=ON -DVAE_BUILD_BENCHMARKS=OFF \
  -DVAE_BUILD_PYTHON=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
targets=(vae vae_cuda vae-train)
for source in tests/test_cuda_*.cpp; do targets+=("$(basename "$source" .cpp)"); done

# mutate NAME FILE OLD NEW: replaces the one occurrence of OLD in FILE.
mutate() {
  python3 - "$2" "$3" "$4" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"{path}: expected exactly one occurrence of {old!r}, found {text.count(old)}")
open(path, "w").write(text.replace(old, new))
PY
}

# run_suite LOG [ENV...]: the CUDA tests of the simulator build; returns
# ctest's status.
run_suite() {
  local log=$1
  shift
  env "$@" ctest --test-dir build-sim -j "$jobs" --timeout 120 \
    -L '^(test_cuda_.*|vae_train_cuda)$' >"$log" 2>&1
}

echo "building the unmutated sources and checking that they pass"
cmake --build build-sim -j "$jobs" --target "${targets[@]}" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; exit 1; }
run_suite "$work/baseline.log" || { echo "the unmutated suite fails:"; tail -30 "$work/baseline.log"; exit 1; }
echo "  baseline: $(grep -E 'tests passed' "$work/baseline.log")"

uncaught=0
# try NAME FILE OLD NEW [ENV...]
try() {
  local name=$1 file=$2 old=$3 new=$4
  shift 4
  cp "$file" "$work/original"
  mutate "$name" "$file" "$old" "$new"
  local log="$work/$name.log"
  if ! cmake --build build-sim -j "$jobs" --target "${targets[@]}" >"$log.build" 2>&1; then
    echo "  $name: the mutated sources do not build"
    uncaught=1
  elif run_suite "$log" "$@"; then
    echo "  $name: NOT CAUGHT, every CUDA test passed"
    uncaught=1
  else
    local failed
    failed=$(sed -nE 's/^[[:space:]]*[0-9]+ - (.*) \((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception|Child aborted)\)$/\1/p' "$log")
    echo "  $name: caught by $(echo "$failed" | grep -c .) tests, e.g. $(echo "$failed" | head -2 | tr '\n' ' ')"
    grep -m1 -h "cudasim:" "$log" | sed 's/^/      /' || true
  fi
  cp "$work/original" "$file"
}

echo "planting mistakes, one at a time"
try wrong_row_in_latent_forward kernels/latent.cu \
  'const float* mu = mu_logvar + (r % n) * 2 * latent;' \
  'const float* mu = mu_logvar + ((r + 1) % n) * 2 * latent;'
try missing_syncthreads_in_block_sum kernels/launch.cuh \
  'if (lane == 0) warp_totals[warp] = v;
  __syncthreads();' \
  'if (lane == 0) warp_totals[warp] = v;'
try transposed_gemm_operand src/cuda/cuda_layers.cpp \
  'g.trans_a = true;' 'g.trans_a = false;'
try off_by_one_in_column_reduction kernels/reductions.cu \
  'for (int k = 0; k < chunks; ++k)' 'for (int k = 0; k + 1 < chunks; ++k)' \
  CUDASIM_LT_REFUSE=BGRADB
try host_read_without_a_wait src/cuda/cuda_ops.cpp \
  '               "cudaMemcpyAsync");
  }
  synchronize();
  return host;' \
  '               "cudaMemcpyAsync");
  }
  return host;' \
  CUDASIM_DELAY_US=200
try cudamalloc_inside_capture src/cuda/cuda_ops.cpp \
  '                          const StepState* epoch, float* x) const {
  cuda::GatherSource src;' \
  '                          const StepState* epoch, float* x) const {
  const cuda_detail::DeviceMemory scratch = cuda_detail::device_allocate(16, "cudaMalloc");
  cuda::GatherSource src;'

cmake --build build-sim -j "$jobs" --target "${targets[@]}" >/dev/null 2>&1 || true
if [ "$uncaught" -ne 0 ]; then
  echo "some mistakes went uncaught (logs in $work)"
  exit 1
fi
echo "every planted mistake was caught (logs in $work)"
