#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The GPU check, in one ten-minute device call on an H100 (sm_90) machine
# that has nvcc, CMake, ninja and PyTorch but no -dev packages and no network:
#
#   here, beforehand:   bash bench/gpu_bundle.sh    (the .debs, into .gpu-bundle/)
#   the device call:    bash bench/gpu_check.sh     with carry: [".gpu-bundle"]
#
# Stages, in order; every stage runs even when an earlier one failed, each
# under its own timeout, and each appends its row to the summary table as it
# ends: on stdout and in $OUT/gpu_check.md (when $OUT is set; else in the
# logs folder), so a call killed at its ten minutes still returns every
# finished stage's result. Longer output (benchmarks, vae-train's metrics,
# the PyTorch table) goes to gpu_check_details.md beside it, and after each
# stage the logs folder is packed into $OUT/gpu_check_logs.tar.gz. Exit
# status 1 when any row is FAIL or TIMEOUT; SKIP marks an optional part that
# is missing (Google Benchmark, PyTorch, compute-sanitizer, the data set).
#
# Budget on an H100 machine with 16 cores (seconds). The ceilings are the
# stages' timeouts and add up to TIME_BUDGET_S (570, nine and a half minutes), which
# also caps every stage at the time that is left; the estimates come from
# the counts on the right:
#   stage          ceiling estimate  from
#   environment        20       8    nvidia-smi, nvcc --version, one import torch
#   dependencies       15       3    dpkg -x of 21 .debs (19 MB packed, 136 MB unpacked)
#   configure          40      15    CMake's compiler, CUDA and package checks
#   build              95      50    149 build steps, 164 s at -j2 on a 2-core dev
#                                    machine from scratch (the dry run below; the 10
#                                    .cu files, 25 kernels for sm_90 alone; the longest
#                                    step 11 s; libvae_cuda.so, libvae_nccl.so and 26
#                                    test programs to link), so about 20 s of work per
#                                    core on 16 plus the longest chain; then gtest
#                                    discovery
#   ctest              70      30    about 200 CPU tests (the longest, the damaged-
#                                    checkpoint sweep and the allocation-failure loops,
#                                    5-15 s here), 51 CUDA tests and the 2 of
#                                    test_nccl_adapter, -j16; the "cuda tests" row
#                                    reads its log. mpirun's 2-rank test is left out
#                                    (a CPU test: the bundle carries MPI's library,
#                                    not mpirun; CI runs it), and so is the README's
#                                    vae-train run (a CPU run of minutes; CI runs it)
#   sanitizers         90      40    memcheck, racecheck, initcheck, synccheck at once,
#                                    each over *CudaSanitizerSweep.* (every kernel once,
#                                    small sizes: each ~10-40x slower than plain)
#   benchmarks         20       8    bench_cpu_step's 8 cases at 50 ms each;
#                                    bench_cuda_step where built
#   vae-train          25      15    2 epochs of batch 128 on 6000 rows (synthetic) or
#                                    60000 (Fashion-MNIST), a 1000-row test bound
#   python package     90      50    pip install . from the bundle's wheels: libvae
#                                    with CUDA again (its 7 .cu files in parallel)
#                                    and the extension; pytest tests/python (~10 s,
#                                    its CUDA tests included)
#   pytorch race      105      90    same answers (200 steps of S), then S and M:
#                                    eager and torch.compile's default mode (~30 s of
#                                    compilation per size), 200 timed steps each
#   total             570     300    about five minutes expected
#
# Environment:
#   BUILD_DIR          build folder (default: <repo>/build-gpu-check)
#   JOBS               parallel build and test jobs (default: nproc)
#   CUDA_ARCH          CMAKE_CUDA_ARCHITECTURES (default: 90)
#   GPU_BUNDLE_DIR     the .debs of bench/gpu_bundle.sh (default: <repo>/.gpu-bundle)
#   DEPS_PREFIX        where they are unpacked (default: /tmp/vae-deps)
#   COMPUTE_SANITIZER  the compute-sanitizer to use (default: PATH, then the toolkit)
#   SANITIZER_FILTER   --gtest_filter of the sanitizer runs (default: *CudaSanitizerSweep.*)
#   PYTORCH_SIZES      sizes of the race (default: S,M; L is the third)
#   PYTORCH_MODES      its modes (default: eager,default; also reduce-overhead,max-autotune)
#   TIME_BUDGET_S      the whole run's budget in seconds (default: 570)
#   TIME_SCALE         multiplies every ceiling and the budget (default: 1; a
#                      2-core machine without a GPU needs about 8 for the build)
#   GPU_CHECK_DRY_RUN  1: here, without a GPU, the stages that need none: unpack
#                      the bundle, configure with every find_* and pkg-config
#                      confined to it and the CUDA toolkit (so a package missing
#                      from the bundle fails the configure or the build), build,
#                      and run the CUDA tests (which skip: the "cuda tests" row
#                      then lists them as skipped, and reads SKIP, not PASS).
#                      With JOBS=2 TIME_SCALE=8 on a 2-core machine.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-gpu-check}"
JOBS="${JOBS:-$(nproc)}"
ARCH="${CUDA_ARCH:-90}"
BUNDLE="${GPU_BUNDLE_DIR:-$ROOT/.gpu-bundle}"
DEPS="${DEPS_PREFIX:-/tmp/vae-deps}"
FILTER="${SANITIZER_FILTER:-*CudaSanitizerSweep.*}"
PYTORCH_SIZES="${PYTORCH_SIZES:-S,M}"
PYTORCH_MODES="${PYTORCH_MODES:-eager,default}"
SCALE="${TIME_SCALE:-1}"
DRY_RUN="${GPU_CHECK_DRY_RUN:-0}"
BUDGET=$(( ${TIME_BUDGET_S:-570} * SCALE ))
DEADLINE=$(( SECONDS + BUDGET ))

LOGS="$BUILD/gpu-check-logs"
REPORT_DIR="${OUT:-$LOGS}"
REPORT="$REPORT_DIR/gpu_check.md"
DETAILS="$REPORT_DIR/gpu_check_details.md"
TEST_BIN="$BUILD/tests/test_cuda_training"
# The ctest labels whose every test must run on a GPU: the CUDA suites and the
# one-rank NCCL test.
GPU_LABELS='^test_(cuda_.*|nccl_adapter)$'
FASHION_DIRS=("$DEPS/usr/share/datasets/fashion-mnist" /usr/share/datasets/fashion-mnist)

rows=()
failed=0
build_ok=0
python_ok=0
torch_ok=0
pkg_config=""
nvcc=""

# --- the table ---------------------------------------------------------------
TABLE_HEADER="| stage | status | seconds | detail |
| --- | --- | --- | --- |"

# Packs the logs into $OUT (through a temporary name, so a kill mid-way
# leaves the previous archive whole).
archive_logs() {
  if [[ -z "${OUT:-}" ]]; then return; fi
  tar -czf "$OUT/gpu_check_logs.tar.gz.tmp" -C "$BUILD" gpu-check-logs 2>/dev/null &&
    mv -f "$OUT/gpu_check_logs.tar.gz.tmp" "$OUT/gpu_check_logs.tar.gz"
}

record() {  # record STAGE STATUS SECONDS DETAIL
  local row="| $1 | $2 | $3 | $4 |"
  rows+=("$row")
  echo "$row" >>"$REPORT"
  echo "ROW $row"
  case "$2" in PASS | SKIP) ;; *) failed=1 ;; esac
  archive_logs
}

# begin NAME CEILING: starts a stage; its timeout, the ceiling or the time
# left if less, goes to $limit. False when under 5 seconds are left.
begin() {
  stage_name="$1"
  stage_start=$SECONDS
  limit=$(( DEADLINE - SECONDS ))
  if (( limit > $2 * SCALE )); then limit=$(( $2 * SCALE )); fi
  echo "== $1 (at ${SECONDS}s, limit ${limit}s)"
  (( limit >= 5 ))
}

finish() {  # finish STATUS DETAIL
  record "$stage_name" "$1" "$(( SECONDS - stage_start ))" "$2"
}

no_time() { finish TIMEOUT "no time left in the $BUDGET s budget"; }

# The status of a command's exit code: timeout(1) gives 124, or 137 once it
# had to kill.
status_of() {
  case "$1" in 0) echo PASS ;; 124 | 137) echo TIMEOUT ;; *) echo FAIL ;; esac
}

details() {  # details TITLE FILE: appends FILE under a heading to the details
  { echo; echo "## $1"; echo; echo '```'; cat "$2"; echo '```'; } >>"$DETAILS"
}

find_nvcc() {
  if [[ -n "${CUDACXX:-}" && -x "${CUDACXX:-}" ]]; then echo "$CUDACXX"; return; fi
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return; fi
  if [[ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]]; then echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"; fi
}

find_sanitizer() {
  if [[ -n "${COMPUTE_SANITIZER:-}" ]]; then echo "$COMPUTE_SANITIZER"; return; fi
  if command -v compute-sanitizer >/dev/null 2>&1; then command -v compute-sanitizer; return; fi
  local candidate
  for candidate in "${nvcc:+$(dirname "$nvcc")/compute-sanitizer}" \
                   "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" \
                   "${CUDA_HOME:-/usr/local/cuda}/compute-sanitizer/compute-sanitizer"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
}

# --- stages: gpu_check_build_stages.sh (environment to ctest) and
# gpu_check_gpu_stages.sh (those that need the GPU), in this shell ---------
# shellcheck source=gpu_check_build_stages.sh
source "$ROOT/bench/gpu_check_build_stages.sh"
# shellcheck source=gpu_check_gpu_stages.sh
source "$ROOT/bench/gpu_check_gpu_stages.sh"

# --- the run -------------------------------------------------------------------
rm -rf "$LOGS"
mkdir -p "$LOGS" "$REPORT_DIR"
{ echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo; echo "$TABLE_HEADER"; } >"$REPORT"
echo "# GPU check details" >"$DETAILS"

stage_environment
stage_dependencies
stage_configure
stage_build
stage_ctest
if [[ "$DRY_RUN" == 1 ]]; then
  for stage in sanitizers benchmarks vae-train "python package" "pytorch race"; do
    record "$stage" SKIP 0 "dry run: needs a GPU"
  done
else
  stage_sanitizers
  stage_benchmarks
  stage_train
  stage_python
  stage_pytorch
fi

echo
echo "==================== GPU check summary (${SECONDS}s; $REPORT) ===================="
echo "$TABLE_HEADER"
printf '%s\n' "${rows[@]}"
exit "$failed"
