#!/usr/bin/env bash
# The CUDA backend on the simulated device (sim/; README, "The simulated CUDA
# device"), run by CI after the test suite: builds the backend's own sources
# with the host compiler against the simulator (-DVAE_CUDA_SIMULATOR=ON, in
# build-sim/; no nvcc, no GPU) and runs on it every CUDA test, the NCCL
# adapter's tests, the module loader's test and vae-train --backend cuda
# against the CPU backend. Fails when any of them fails or skips, and prints
# their count.
#
# Usage: tools/check_cuda_simulator.sh   (environment: JOBS, default: the CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${JOBS:-$(nproc)}
started=$SECONDS
echo "==== simulated device: build (build-sim/)"
mkdir -p build-sim
cmake -S . -B build-sim -G Ninja -DVAE_CUDA_SIMULATOR=ON -DVAE_BUILD_BENCHMARKS=OFF \
  >build-sim/configure.log 2>&1 || { cat build-sim/configure.log; exit 1; }
targets=(vae vae_cuda vae-train backend_probe stale_cuda_module_abi stale_cuda_module_build)
for source in tests/test_cuda_*.cpp tests/test_cudasim.cpp; do targets+=("$(basename "$source" .cpp)"); done
if grep -q "vae_nccl over the simulated" build-sim/configure.log; then
  targets+=(test_nccl_adapter test_nccl_mpi)
fi
cmake --build build-sim -j "$jobs" --target "${targets[@]}"

echo "==== simulated device: the CUDA tests"
log=build-sim/cuda-tests.log
status=0
ctest --test-dir build-sim -j "$jobs" --output-on-failure \
  -L '^(test_cuda_.*|test_cudasim|test_nccl_adapter|vae_train_cuda|cuda_module)$' 2>&1 | tee "$log" || status=$?
# The layers again with cuBLASLt's epilogues refused, so that the kernels
# that stand in for them run too.
CUDASIM_LT_REFUSE=BIAS,RELU_BIAS,BGRADB ctest --test-dir build-sim -j "$jobs" --output-on-failure \
  -L '^test_cuda_(training|primitives|shapes)$' 2>&1 | tee -a "$log" || status=$?
ran=$(sed -nE 's/.*tests passed, [0-9]+ tests failed out of ([0-9]+).*/\1/p' "$log" |
  awk '{ n += $1 } END { print n + 0 }')
failed=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of.*/\1/p' "$log" |
  awk '{ n += $1 } END { print n + 0 }')
skipped=$(grep -cE '\*\*\*Skipped|Not Run' "$log" || true)
echo "==== simulated device: ${ran:-0} CUDA test runs (the layers' twice, once with cuBLASLt's epilogues refused): $((${ran:-0} - ${failed:-0} - skipped)) passed, ${failed:-?} failed, $skipped skipped ($((SECONDS - started)) s)"
if [ "$status" -ne 0 ] || [ "${failed:-1}" -ne 0 ] || [ "$skipped" -ne 0 ] || [ "${ran:-0}" -eq 0 ]; then
  echo "==== simulated device: FAILED (a CUDA test failed or skipped on the simulator)" >&2
  exit 1
fi
