#!/usr/bin/env bash
# The GPU check, for a machine with an H100 (sm_90): configure and build
# libvae with the CUDA backend in Release, run the whole test suite, then run
# the CUDA test binary under compute-sanitizer's memcheck, racecheck,
# initcheck and synccheck, and last, where PyTorch is installed, the race
# against it (bench/compare_with_pytorch.py: same answers, then the timing
# table). Every stage runs even when an earlier one fails;
# the last thing printed is a summary table (tool | errors | status), and the
# exit status is non-zero when any row failed.
#
# Environment:
#   BUILD_DIR          build folder (default: <repo>/build-gpu-check)
#   JOBS               parallel build jobs (default: nproc)
#   CUDA_ARCH          CMAKE_CUDA_ARCHITECTURES (default: 90)
#   COMPUTE_SANITIZER  the compute-sanitizer to use (default: from PATH or the toolkit)
#   SANITIZER_FILTER   --gtest_filter for the sanitizer runs (default: all tests)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-gpu-check}"
JOBS="${JOBS:-$(nproc)}"
ARCH="${CUDA_ARCH:-90}"
FILTER="${SANITIZER_FILTER:-*}"
LOGS="$BUILD/gpu-check-logs"
TEST_BIN="$BUILD/tests/test_cuda_backend"

rows_name=()
rows_errors=()
rows_status=()
failed=0

record() {  # record NAME ERRORS STATUS
  rows_name+=("$1")
  rows_errors+=("$2")
  rows_status+=("$3")
  if [[ "$3" != "PASS" ]]; then failed=1; fi
}

print_table() {
  echo
  echo "==================== GPU check summary ===================="
  printf '%-22s | %-8s | %s\n' "tool" "errors" "status"
  printf '%-22s-+-%-8s-+-%s\n' "----------------------" "--------" "------"
  local i
  for i in "${!rows_name[@]}"; do
    printf '%-22s | %-8s | %s\n' "${rows_name[$i]}" "${rows_errors[$i]}" "${rows_status[$i]}"
  done
}

find_sanitizer() {
  if [[ -n "${COMPUTE_SANITIZER:-}" ]]; then echo "$COMPUTE_SANITIZER"; return; fi
  if command -v compute-sanitizer >/dev/null 2>&1; then command -v compute-sanitizer; return; fi
  local nvcc_path
  nvcc_path="$(command -v nvcc 2>/dev/null || true)"
  local candidate
  for candidate in "${nvcc_path:+$(dirname "$nvcc_path")/compute-sanitizer}" \
                   "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" \
                   "${CUDA_HOME:-/usr/local/cuda}/compute-sanitizer/compute-sanitizer"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
  echo ""
}

mkdir -p "$LOGS"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
fi

# --- configure and build -----------------------------------------------------
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
build_ok=1
echo "== configure ($BUILD)"
if ! cmake -S "$ROOT" -B "$BUILD" ${generator[@]+"${generator[@]}"} -DVAE_ENABLE_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DCMAKE_BUILD_TYPE=Release >"$LOGS/configure.log" 2>&1; then
  tail -n 30 "$LOGS/configure.log"
  build_ok=0
fi
if [[ $build_ok -eq 1 ]]; then
  echo "== build"
  if ! cmake --build "$BUILD" -j "$JOBS" >"$LOGS/build.log" 2>&1; then
    tail -n 40 "$LOGS/build.log"
    build_ok=0
  fi
fi
warnings="$(grep -c -i 'warning' "$LOGS/build.log" 2>/dev/null || true)"
if [[ $build_ok -eq 1 ]]; then
  record "build" "${warnings:-0} warn" "PASS"
else
  record "build" "-" "FAIL"
fi

# --- the test suite ----------------------------------------------------------
if [[ $build_ok -eq 1 ]]; then
  echo "== ctest"
  ctest_rc=0
  (cd "$BUILD" && ctest -j "$JOBS" --output-on-failure) >"$LOGS/ctest.log" 2>&1 || ctest_rc=$?
  tail -n 25 "$LOGS/ctest.log"
  ctest_failed="$(grep -oE '[0-9]+ tests failed' "$LOGS/ctest.log" | tail -n 1 | awk '{print $1}' || true)"
  if [[ $ctest_rc -eq 0 ]]; then
    record "ctest" "${ctest_failed:-0}" "PASS"
  else
    record "ctest" "${ctest_failed:-?}" "FAIL"
  fi

  # On a GPU machine no CUDA test may skip itself.
  skip_rc=0
  "$TEST_BIN" >"$LOGS/cuda_tests.log" 2>&1 || skip_rc=$?
  skipped="$(grep -oE '^\[  SKIPPED \] [0-9]+ test' "$LOGS/cuda_tests.log" | awk '{print $4}' | tail -n 1 || true)"
  if [[ $skip_rc -eq 0 && -z "$skipped" ]]; then
    record "cuda tests ran" "0 skip" "PASS"
  else
    record "cuda tests ran" "${skipped:-0} skip" "FAIL"
  fi
else
  record "ctest" "-" "SKIP"
fi

# --- compute-sanitizer ---------------------------------------------------------
SANITIZER="$(find_sanitizer)"
for tool in memcheck racecheck initcheck synccheck; do
  if [[ $build_ok -ne 1 || ! -x "$TEST_BIN" ]]; then
    record "$tool" "-" "SKIP"
    continue
  fi
  if [[ -z "$SANITIZER" ]]; then
    record "$tool" "-" "NO TOOL"
    continue
  fi
  echo "== compute-sanitizer --tool $tool"
  extra=()
  if [[ "$tool" == "memcheck" ]]; then extra=(--leak-check full); fi
  log="$LOGS/sanitizer_$tool.log"
  rc=0
  "$SANITIZER" --tool "$tool" ${extra[@]+"${extra[@]}"} --error-exitcode 99 \
      "$TEST_BIN" --gtest_filter="$FILTER" --gtest_brief=1 >"$log" 2>&1 || rc=$?
  tail -n 5 "$log"
  errors="$(grep -oE 'ERROR SUMMARY: [0-9]+' "$log" | tail -n 1 | awk '{print $3}' || true)"
  if [[ $rc -eq 0 && "${errors:-}" == "0" ]]; then
    record "$tool" "0" "PASS"
  elif [[ $rc -ne 0 && "${errors:-0}" == "0" ]]; then
    # The tests themselves failed (or the tool did) without a reported error.
    record "$tool" "${errors:-?} (rc $rc)" "FAIL"
  else
    record "$tool" "${errors:-?}" "FAIL"
  fi
done

# --- the race with PyTorch -------------------------------------------------------
if [[ $build_ok -eq 1 ]] && python3 -c "import torch" >/dev/null 2>&1; then
  echo "== compare_with_pytorch.py"
  race_rc=0
  python3 "$ROOT/bench/compare_with_pytorch.py" --device cuda --library "$BUILD/src/libvae.so" \
      >"$LOGS/compare_with_pytorch.log" 2>&1 || race_rc=$?
  tail -n 30 "$LOGS/compare_with_pytorch.log"
  if [[ $race_rc -eq 0 ]]; then
    record "pytorch race" "-" "PASS"
  else
    record "pytorch race" "rc $race_rc" "FAIL"
  fi
else
  record "pytorch race" "-" "SKIP"
fi

echo "logs: $LOGS"
print_table
exit "$failed"
