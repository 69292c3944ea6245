#!/usr/bin/env bash
# The reliability checks of issue 10, run by CI after the test suite:
#
#   asan  the whole suite, built with clang under AddressSanitizer and
#         UndefinedBehaviorSanitizer (every finding fatal, leaks detected),
#         with the fuzz targets; ctest also replays each target's seed corpus;
#   tsan  the suite built with gcc under ThreadSanitizer (clang's shared TSan
#         runtime starts after OpenBLAS's libquadmath allocates, and crashes);
#         runs every test, the threaded ones (THREADS > 1, two trainers in two
#         threads) included;
#         both builds have the CUDA backend on the simulated device (sim/):
#         the suite runs as on a machine without a GPU (CUDASIM_DEVICES=0:
#         AUTO trainers are CPU ones), then the compute-sanitizer sweep's
#         cases (*CudaSanitizerSweep*) run on the simulator, its fibers
#         annotated for both sanitizers (the other CUDA tests run plain in
#         tools/check_cuda_simulator.sh, and are not built here:
#         VAE_CUDA_TESTS_SWEEP_ONLY; to run them all under a sanitizer, build
#         with it OFF and run ctest -L 'test_cuda_' with VAE_CUDA_MODULE set);
#   fuzz  each fuzz target of fuzz/ for VAE_FUZZ_SECONDS, starting from its
#         seed corpus and what earlier runs in this build folder found.
#
# Usage: tools/check_reliability.sh [asan] [tsan] [fuzz]   (no stage: all three)
# Environment:
#   VAE_FUZZ_SECONDS  seconds per fuzz target (default 60)
#   VAE_FUZZ_JOBS     fuzz targets run at once (default: the number of CPUs)
#   VAE_FUZZ_TARGETS  which targets (default: all four)
#   CLANG, CLANGXX    the clang to use (default clang-14 / clang++-14, else clang)
# Prints one line per stage and exits non-zero at the first stage with a
# finding. Build folders: build-asan/ and build-tsan/; a finding of the
# fuzzers is kept in build-asan/fuzz-findings/, to replay with
#   build-asan/fuzz/<target> build-asan/fuzz-findings/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=${VAE_FUZZ_SECONDS:-60}
fuzz_jobs=${VAE_FUZZ_JOBS:-$(nproc)}
fuzz_targets=${VAE_FUZZ_TARGETS:-"checkpoint_load idx_reader npy_reader api_calls"}
stages=${*:-asan tsan fuzz}

pick_compiler() {
  local versioned=$1 plain=$2
  if command -v "$versioned" >/dev/null 2>&1; then echo "$versioned"; else echo "$plain"; fi
}
clang=${CLANG:-$(pick_compiler clang-14 clang)}
clangxx=${CLANGXX:-$(pick_compiler clang++-14 clang++)}
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
if [ -n "$symbolizer" ]; then
  export ASAN_SYMBOLIZER_PATH=$symbolizer TSAN_SYMBOLIZER_PATH=$symbolizer
fi

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
export OPENBLAS_NUM_THREADS=1
# The tests' temporary files (gtest's TempDir()) in a folder of this run
# alone, so that other runs on the machine cannot disturb them.
TEST_TMPDIR=$(mktemp -d)
export TEST_TMPDIR
trap 'rm -rf "$TEST_TMPDIR"' EXIT

stage_started=0
begin_stage() {
  stage_started=$SECONDS
  echo "==== reliability: $1"
}
end_stage() {
  echo "==== reliability: $1 passed in $((SECONDS - stage_started)) s"
}
fail_stage() {
  echo "==== reliability: $1 FAILED after $((SECONDS - stage_started)) s: $2" >&2
  exit 1
}

# configure_and_build FOLDER C-COMPILER C++-COMPILER CMAKE-ARGS...
configure_and_build() {
  local folder=$1 cc=$2 cxx=$3
  shift 3
  mkdir -p "$folder"
  cmake -S . -B "$folder" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAE_ENABLE_CUDA=OFF -DVAE_CUDA_SIMULATOR=ON \
    -DVAE_BUILD_BENCHMARKS=OFF -DVAE_CUDA_TESTS_SWEEP_ONLY=ON "$@" \
    >"$folder/configure.log" 2>&1 || { cat "$folder/configure.log"; return 1; }
  cmake --build "$folder"
}

# run_suite FOLDER: the suite without a device, then the sweep's cases on
# the simulated one. The sanitizer's runtime intercepts dlopen, which then
# searches its own run path instead of the test's: the module is named
# outright.
readonly cuda_labels='^(test_cuda_.*|test_cudasim|test_nccl_adapter|vae_train_cuda|cuda_module)$'
run_suite() {
  CUDASIM_DEVICES=0 ctest --test-dir "$1" --output-on-failure -j2 -LE "$cuda_labels" &&
    VAE_CUDA_MODULE="$PWD/$1/src/libvae_cuda.so" ctest --test-dir "$1" --output-on-failure -j2 \
      -R 'CudaSanitizerSweep' --no-tests=error
}

stage_asan() {
  begin_stage "ASan+UBSan build and test suite (build-asan/)"
  configure_and_build build-asan "$clang" "$clangxx" -DVAE_SANITIZE=address,undefined -DVAE_BUILD_FUZZERS=ON ||
    fail_stage asan "the build failed"
  run_suite build-asan || fail_stage asan "a test failed (above)"
  end_stage "ASan+UBSan test suite"
}

stage_tsan() {
  begin_stage "TSan build and test suite (build-tsan/)"
  configure_and_build build-tsan gcc g++ -DVAE_SANITIZE=thread || fail_stage tsan "the build failed"
  run_suite build-tsan || fail_stage tsan "a test failed (above)"
  end_stage "TSan test suite"
}

# run_fuzzer TARGET: one bounded run; its log and exit status in
# build-asan/fuzz-logs/.
run_fuzzer() {
  local target=$1
  local corpus=build-asan/fuzz-corpus/$target findings=build-asan/fuzz-findings
  mkdir -p "$corpus" "$findings"
  # Inputs up to a few times the size of the largest seed.
  local max_len=4096
  case $target in
    checkpoint_load) max_len=16384 ;;
    api_calls) max_len=1024 ;;
  esac
  local status=0
  CUDASIM_DEVICES=0 build-asan/fuzz/fuzz_"$target" -max_total_time="$fuzz_seconds" -max_len="$max_len" -timeout=30 \
    -rss_limit_mb=2560 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$findings/$target-" "$corpus" fuzz/corpus/"$target" \
    >build-asan/fuzz-logs/"$target".log 2>&1 || status=$?
  echo "$status" >build-asan/fuzz-logs/"$target".status
}

stage_fuzz() {
  begin_stage "fuzzing: $fuzz_targets, ${fuzz_seconds} s each, $fuzz_jobs at a time"
  [ -x build-asan/fuzz/fuzz_api_calls ] || fail_stage fuzz "no fuzzers in build-asan/: run the asan stage first"
  rm -rf build-asan/fuzz-logs
  mkdir -p build-asan/fuzz-logs
  # Every run takes the same time, so they go in rounds of fuzz_jobs.
  local -a targets failed=()
  local first target
  read -r -a targets <<<"$fuzz_targets"
  for ((first = 0; first < ${#targets[@]}; first += fuzz_jobs)); do
    for target in "${targets[@]:first:fuzz_jobs}"; do run_fuzzer "$target" & done
    wait
  done
  for target in "${targets[@]}"; do
    report_fuzzer "$target"
    [ "$(cat build-asan/fuzz-logs/"$target".status)" = 0 ] || failed+=("$target")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    for target in "${failed[@]}"; do
      echo "---- fuzz_$target found (build-asan/fuzz-logs/$target.log):" >&2
      grep -E -A40 "ERROR|runtime error|fuzz finding" build-asan/fuzz-logs/"$target".log | head -60 >&2
      ls build-asan/fuzz-findings/"$target"-* >&2 2>/dev/null || true
    done
    fail_stage fuzz "${failed[*]}"
  fi
  end_stage "fuzzing"
}

# One line per target: its executions and corpus.
report_fuzzer() {
  local log=build-asan/fuzz-logs/$1.log
  local runs corpus
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  echo "     fuzz_$1: ${runs:-?} executions, ${corpus:-corpus ?}"
}

for stage in $stages; do
  case $stage in
    asan) stage_asan ;;
    tsan) stage_tsan ;;
    fuzz) stage_fuzz ;;
    *) echo "unknown stage '$stage' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
echo "==== reliability: all stages passed"
