#!/usr/bin/env bash
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
#                                    5-15 s here), 49 CUDA tests and the 2 of
#                                    test_nccl_adapter, -j16; the "cuda tests" row
#                                    reads its log. mpirun's 2-rank test is left out
#                                    (a CPU test: the bundle carries MPI's library,
#                                    not mpirun; CI runs it)
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

# --- stages ------------------------------------------------------------------
stage_environment() {
  begin environment 20 || { no_time; return; }
  local log="$LOGS/environment.log" gpu torch os glibc smi
  nvcc="$(find_nvcc)"
  os="$(grep -m1 '^PRETTY_NAME=' /etc/os-release 2>/dev/null | cut -d= -f2- | tr -d '"')"
  glibc="$(ldd --version 2>&1 | head -n 1)"
  smi="$(command -v nvidia-smi || echo /usr/local/nvidia/bin/nvidia-smi)"
  gpu="$(timeout 5 "$smi" --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
  torch="$(timeout $(( limit - 5 )) python3 -c 'import torch
print(torch.__version__, "cuda" if torch.cuda.is_available() else "no-cuda")' 2>/dev/null | tail -n 1)"
  {
    echo "os: ${os:-unknown}"
    echo "glibc: $glibc"
    echo "kernel: $(uname -r); $(nproc) cores"
    echo "gpu: ${gpu:-none (nvidia-smi missing or failed)}"
    echo "nvcc: ${nvcc:-not found}"
    if [[ -n "$nvcc" ]]; then "$nvcc" --version | tail -n 2; fi
    echo "cmake: $(cmake --version 2>/dev/null | head -n 1)"
    echo "c++: $(c++ --version 2>/dev/null | head -n 1)"
    echo "ninja: $(ninja --version 2>/dev/null || echo 'not found')"
    echo "python3: $(command -v python3) $(python3 --version 2>&1)"
    echo "torch: ${torch:-not importable}"
    echo "compute-sanitizer: $(find_sanitizer)"
    echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
  } >"$log" 2>&1
  cat "$log"
  details environment "$log"
  if [[ "$torch" == *" cuda" ]]; then torch_ok=1; fi
  local detail
  detail="${gpu:-no GPU}; nvcc ${nvcc:+$("$nvcc" --version | grep -oE 'release [0-9.]+' | cut -d' ' -f2)}; torch ${torch:-none}; ${os:-?}; ${glibc##* }"
  if [[ -n "$gpu" && -n "$nvcc" ]]; then
    finish PASS "$detail"
  elif [[ "$DRY_RUN" == 1 && -n "$nvcc" ]]; then
    finish SKIP "dry run: $detail"
  else
    finish FAIL "$detail"
  fi
}

# Unpacks the bundle's .debs into $DEPS and points pkg-config, CMake and the
# dynamic loader at it.
stage_dependencies() {
  begin dependencies 15 || { no_time; return; }
  local log="$LOGS/dependencies.log" debs=("$BUNDLE"/*.deb) deb link target
  : >"$log"
  if [[ ! -e "${debs[0]}" ]]; then
    finish FAIL "no .debs in $BUNDLE: run bash bench/gpu_bundle.sh here first and carry .gpu-bundle"
    return
  fi
  if ! command -v dpkg >/dev/null 2>&1; then
    finish FAIL "dpkg not found: cannot unpack $BUNDLE"
    return
  fi
  rm -rf "$DEPS" && mkdir -p "$DEPS"
  for deb in "${debs[@]}"; do
    if ! timeout "$limit" dpkg -x "$deb" "$DEPS" >>"$log" 2>&1; then
      finish FAIL "dpkg -x $(basename "$deb") failed"
      return
    fi
  done
  # Absolute links (zlib1g-dev's libz.so -> /lib/...) lead into the prefix.
  while IFS= read -r link; do
    target="$(readlink "$link")"
    if [[ "$target" == /* && -e "$DEPS$target" ]]; then ln -sfn "$DEPS$target" "$link"; fi
  done < <(find "$DEPS" -type l)
  # .pc files name /usr (prefix=/usr, libdir=/usr/lib/...): the prefix instead.
  find "$DEPS" -name '*.pc' -exec sed -i -E "s#(^|[= ]|-[IL])/usr(/|\$)#\\1$DEPS/usr\\2#g" {} +

  local pc_dirs
  pc_dirs="$(find "$DEPS" -type d -name pkgconfig | sort | paste -sd: -)"
  # The bundle's alone: a system's .pc files (its mpi-c.pc, say) stay out.
  export PKG_CONFIG_LIBDIR="$pc_dirs"
  # The loader takes a shared library from the system where it has one (as
  # new as bookworm's or newer), and from the bundle (links in $DEPS/runtime)
  # only what the system lacks.
  local runtime="$DEPS/runtime" system_libraries library path
  system_libraries="$(ldconfig -p 2>/dev/null | awk 'NR > 1 {print $1}')"
  mkdir -p "$runtime"
  while read -r library path; do
    if ! grep -qxF "$library" <<<"$system_libraries"; then ln -sfn "$path" "$runtime/$library"; fi
  done < <(find "$DEPS" -regex '.*/lib[^/]*\.so\.[^./]+' -printf '%f %p\n')
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$runtime"
  if command -v pkg-config >/dev/null 2>&1; then
    pkg_config="$(command -v pkg-config)"
  elif [[ -x "$DEPS/usr/bin/pkgconf" ]]; then
    pkg_config="$DEPS/usr/bin/pkgconf"
  fi
  {
    echo "PKG_CONFIG_LIBDIR=$PKG_CONFIG_LIBDIR"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    echo "pkg-config: ${pkg_config:-none}"
    echo "shared libraries taken from the bundle: $(find "$runtime" -mindepth 1 -printf '%f ')"
  } >>"$log" 2>&1
  local openblas=""
  if [[ -n "$pkg_config" ]]; then openblas="$("$pkg_config" --modversion openblas 2>>"$log")"; fi
  finish PASS "${#debs[@]} packages into $DEPS ($(du -sm "$DEPS" | cut -f1) MB); pkg-config: ${pkg_config:-none, CMake finds OpenBLAS itself}; openblas ${openblas:-?}"
}

# NCCL where the CUDA toolkit has none: python3's nvidia-nccl wheel (PyTorch's
# own), as "HEADER_DIR LIBRARY". Empty where the toolkit has nccl.h (CMake
# finds it there) or no wheel has it.
find_wheel_nccl() {
  local toolkit header library
  toolkit="$(dirname "$(dirname "$(readlink -f "$nvcc")")")"
  if [[ -n "$(find "$toolkit/include" "$toolkit"/targets/*/include -maxdepth 1 -name nccl.h 2>/dev/null)" ]]; then
    return
  fi
  header="$(python3 -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null |
            xargs -r -I{} find {} -name nccl.h 2>/dev/null | head -n 1)"
  [[ -n "$header" ]] || return
  library="$(find "$(dirname "$(dirname "$header")")" -name 'libnccl.so*' 2>/dev/null | sort | head -n 1)"
  if [[ -n "$library" ]]; then echo "$(dirname "$header") $library"; fi
}

# The configure line, deliberate: Release, the CUDA backend for $ARCH, the
# bundle's packages first; MPI from the bundle (its C header and library, no
# compiler wrapper: FindMPI is told where they are), so vae_mpi and vae_nccl
# build; NCCL from the toolkit or PyTorch's wheel. The dry run confines every
# find_* to the bundle and the toolkit.
stage_configure() {
  begin configure 40 || { no_time; return; }
  local log="$LOGS/configure.log" rc=0
  local args=(-S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVAE_ENABLE_CUDA=ON
              -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DVAE_BUILD_ADAPTERS=ON)
  if command -v ninja >/dev/null 2>&1 && [[ ! -f "$BUILD/CMakeCache.txt" ]]; then args+=(-G Ninja); fi
  if [[ -n "$nvcc" ]]; then
    export CUDACXX="$nvcc"
    args+=(-DCMAKE_CUDA_COMPILER="$nvcc")
  fi
  if [[ -d "$DEPS/usr" ]]; then args+=(-DCMAKE_PREFIX_PATH="$DEPS/usr"); fi
  if [[ -n "$pkg_config" ]]; then args+=(-DPKG_CONFIG_EXECUTABLE="$pkg_config"); fi
  local mpi="$DEPS/usr/lib/x86_64-linux-gnu/openmpi" mpi_note="MPI not in the bundle: no vae_nccl"
  if [[ -f "$mpi/include/mpi.h" && -e "$mpi/lib/libmpi.so" ]]; then
    args+=(-DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_C_ADDITIONAL_INCLUDE_DIRS="$mpi/include"
           -DMPI_C_LIB_NAMES=mpi -DMPI_mpi_LIBRARY="$mpi/lib/libmpi.so")
    mpi_note="MPI from the bundle"
  fi
  local nccl=""
  if [[ -n "$nvcc" ]]; then nccl="$(find_wheel_nccl)"; fi
  if [[ -n "$nccl" ]]; then
    args+=(-DVAE_NCCL_INCLUDE_DIR="${nccl%% *}" -DVAE_NCCL_LIBRARY="${nccl#* }")
  fi
  if [[ "$DRY_RUN" == 1 ]]; then
    local roots="$DEPS"
    # The toolkit by the path nvcc was found at and by the path it links to.
    if [[ -n "$nvcc" ]]; then
      roots+=";$(dirname "$(dirname "$nvcc")");$(dirname "$(dirname "$(readlink -f "$nvcc")")")"
    fi
    args+=(-DCMAKE_FIND_ROOT_PATH="$roots" -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY
           -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY
           -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER)
  fi
  echo "cmake ${args[*]}" >"$log"
  timeout "$limit" cmake "${args[@]}" >>"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$log"
    finish "$(status_of $rc)" "cmake exited $rc; see configure.log"
    return
  fi
  build_ok=1
  local benchmarks="built" nccl_note="vae_nccl built"
  if grep -q "Google Benchmark not found" "$log"; then benchmarks="not found, not built"; fi
  if ! grep -q "libvae: vae_nccl over" "$log"; then
    nccl_note="vae_nccl NOT built ($mpi_note; $(grep -m1 -oE 'NCCL not found|MPI not found' "$log"))"
  fi
  finish PASS "Release, CUDA arch $ARCH, ${nvcc:-nvcc not found}; benchmarks $benchmarks; $nccl_note"
}

stage_build() {
  begin build 95 || { no_time; build_ok=0; return; }
  if [[ $build_ok -ne 1 ]]; then finish SKIP "not configured"; return; fi
  local log="$LOGS/build.log" rc=0 warnings
  timeout "$limit" cmake --build "$BUILD" -j "$JOBS" >"$log" 2>&1 || rc=$?
  warnings="$(grep -ci 'warning' "$log")"
  if [[ $rc -ne 0 ]]; then
    build_ok=0
    grep -m 20 -E 'error:|FAILED:' "$log" || tail -n 5 "$log"
    finish "$(status_of $rc)" "exit $rc, $warnings warning lines; see build.log"
    return
  fi
  finish PASS "-j $JOBS, $warnings warning lines"
}

# The whole suite once (but mpirun's 2-rank CPU test; the dry run: the GPU
# tests alone); the "cuda tests" row then reads, from the same log, what
# happened to the tests of GPU_LABELS: on a GPU none may skip.
stage_ctest() {
  begin ctest 70 || { no_time; record "cuda tests" TIMEOUT 0 "no time left"; return; }
  if [[ $build_ok -ne 1 ]]; then
    finish SKIP "not built"
    record "cuda tests" SKIP 0 "not built"
    return
  fi
  local log="$LOGS/ctest.log" rc=0 summary=""
  # The tests' files go to a folder of this run's own (gtest's TEST_TMPDIR),
  # not to a /tmp that other runs on the machine may share.
  rm -rf "$BUILD/test-tmp" && mkdir -p "$BUILD/test-tmp"
  local select=(-E '^mpi_training_2_ranks$')
  if [[ "$DRY_RUN" == 1 ]]; then select=(-L "$GPU_LABELS"); fi
  TEST_TMPDIR="$BUILD/test-tmp/" timeout "$limit" ctest --test-dir "$BUILD" -j "$JOBS" --timeout 60 \
    --output-on-failure "${select[@]}" >"$log" 2>&1 || rc=$?
  if [[ "$DRY_RUN" == 1 && $rc -eq 0 ]]; then
    # How libvae finds libvae_cuda.so from the build tree, which needs no GPU.
    timeout "$limit" ctest --test-dir "$BUILD" --output-on-failure -R '^cuda_module_loading$' \
      >"$LOGS/ctest_module.log" 2>&1 || rc=$?
    summary="module loading: $(grep -m1 -E 'tests passed' "$LOGS/ctest_module.log"); "
  fi
  summary="${summary:-}$(grep -m1 -E 'tests passed' "$log")"
  local all_skipped
  all_skipped="$(grep -cE '^[[:space:]]+[0-9]+ - .* \(Skipped\)$' "$log")"
  if [[ $rc -ne 0 ]]; then sed -n '/The following tests FAILED/,$p' "$log" | head -n 20; fi
  finish "$(status_of $rc)" "${summary:-no summary (exit $rc)}; $all_skipped skipped"

  # ctest lists each test that did not pass as "<number> - <name> (<why>)".
  local cuda_names total=0 skipped=0 failures=0 name outcome
  cuda_names="$(ctest --test-dir "$BUILD" -N -L "$GPU_LABELS" 2>/dev/null |
                sed -nE 's/^[[:space:]]*Test[[:space:]]+#[0-9]+: (.*)$/\1/p')"
  while IFS= read -r name; do
    [[ -n "$name" ]] || continue
    total=$(( total + 1 ))
    outcome="$(grep -F -m1 " - $name (" "$log")"
    if [[ "$outcome" == *"(Skipped)" ]]; then
      skipped=$(( skipped + 1 ))
    elif [[ -n "$outcome" ]]; then
      failures=$(( failures + 1 ))
    fi
  done <<<"$cuda_names"
  local nccl_total
  nccl_total="$(ctest --test-dir "$BUILD" -N -L '^test_nccl_adapter$' 2>/dev/null | grep -cE '^[[:space:]]*Test[[:space:]]+#')"
  local detail="$total GPU tests ($nccl_total of test_nccl_adapter): $(( total - skipped - failures )) ran and passed, $skipped skipped, $failures failed"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    record "cuda tests" TIMEOUT 0 "ctest did not finish ($total GPU tests listed)"
  elif [[ $nccl_total -eq 0 ]]; then
    record "cuda tests" FAIL 0 "$detail; test_nccl_adapter not built (see the configure row)"
  elif [[ "$DRY_RUN" == 1 && $failures -eq 0 ]]; then
    record "cuda tests" SKIP 0 "dry run, no GPU: $detail"
  elif [[ $total -gt 0 && $skipped -eq 0 && $failures -eq 0 ]]; then
    record "cuda tests" PASS 0 "$detail"
  else
    record "cuda tests" FAIL 0 "$detail (on a GPU none may skip)"
  fi
}

# The four compute-sanitizer tools at once, each over the sweep's tests; a
# filter that matches no test fails, so the row cannot pass by running nothing.
stage_sanitizers() {
  local tools=(memcheck racecheck initcheck synccheck) tool
  begin sanitizers 90 || { no_time; return; }
  if [[ $build_ok -ne 1 || ! -x "$TEST_BIN" ]]; then finish SKIP "test_cuda_training not built"; return; fi
  local matched
  matched="$(timeout 30 "$TEST_BIN" --gtest_list_tests --gtest_filter="$FILTER" 2>/dev/null | grep -c '^  ')"
  if [[ "${matched:-0}" -eq 0 ]]; then
    finish FAIL "0 tests matched --gtest_filter=$FILTER: the sweep reaches no kernel"
    return
  fi
  local sanitizer
  sanitizer="$(find_sanitizer)"
  if [[ -z "$sanitizer" ]]; then
    finish SKIP "compute-sanitizer not found (PATH, the toolkit, COMPUTE_SANITIZER)"
    return
  fi
  local -A pid=()
  for tool in "${tools[@]}"; do
    local extra=()
    if [[ "$tool" == memcheck ]]; then extra=(--leak-check full); fi
    timeout -k 5 "$limit" "$sanitizer" --tool "$tool" ${extra[@]+"${extra[@]}"} --error-exitcode 99 \
      "$TEST_BIN" --gtest_filter="$FILTER" --gtest_brief=1 >"$LOGS/sanitizer_$tool.log" 2>&1 &
    pid[$tool]=$!
  done
  local results=() status=PASS rc errors passed skipped log
  for tool in "${tools[@]}"; do
    rc=0
    wait "${pid[$tool]}" || rc=$?
    log="$LOGS/sanitizer_$tool.log"
    errors="$(grep -oE 'ERROR SUMMARY: [0-9]+' "$log" | tail -n 1 | awk '{print $3}')"
    passed="$(grep -oE '\[  PASSED  \] [0-9]+' "$log" | tail -n 1 | awk '{print $4}')"
    skipped="$(grep -oE '\[  SKIPPED \] [0-9]+ test' "$log" | tail -n 1 | awk '{print $4}')"
    if [[ $rc -ne 0 || "${errors:-}" != 0 || "${passed:-0}" -ne "$matched" ]]; then
      if [[ $rc -eq 124 || $rc -eq 137 ]]; then status=TIMEOUT; elif [[ $status == PASS ]]; then status=FAIL; fi
      tail -n 15 "$log"
    fi
    results+=("$tool ${errors:-?} errors, ${passed:-0}/$matched passed${skipped:+, $skipped skipped}$([[ $rc -ne 0 ]] && echo " (exit $rc)")")
  done
  local joined
  joined="$(printf '%s; ' "${results[@]}")"
  finish "$status" "${joined%; }"
}

stage_benchmarks() {
  begin benchmarks 20 || { no_time; return; }
  local cpu="$BUILD/bench/bench_cpu_step" cuda="$BUILD/bench/bench_cuda_step" log="$LOGS/benchmarks.log"
  if [[ $build_ok -ne 1 || ! -x "$cpu" ]]; then
    finish SKIP "not built (Google Benchmark missing, or the build failed)"
    return
  fi
  local rc=0 ran=() cuda_note="no bench_cuda_step binary"
  : >"$log"
  if [[ -x "$cuda" ]]; then
    timeout "$limit" "$cuda" --benchmark_min_time=0.2 >>"$log" 2>&1 || rc=$?
    ran+=(bench_cuda_step)
    cuda_note=""
  fi
  local left=$(( limit - (SECONDS - stage_start) ))
  if [[ $rc -eq 0 && $left -ge 5 ]]; then
    timeout "$left" "$cpu" --benchmark_min_time=0.05 >>"$log" 2>&1 || rc=$?
    ran+=(bench_cpu_step)
  fi
  details benchmarks "$log"
  finish "$(status_of $rc)" "ran ${ran[*]:-nothing}${cuda_note:+; $cuda_note}; tables in gpu_check_details.md"
}

be32() {  # be32 N: N as four big-endian bytes
  printf '%b' "$(printf '\\0%03o' $(( $1 >> 24 & 255 )) $(( $1 >> 16 & 255 )) $(( $1 >> 8 & 255 )) $(( $1 & 255 )))"
}

# An IDX file (uint8, ROWS x 28 x 28) of random images: a stand-in for Fashion-MNIST.
synthetic_idx() {  # synthetic_idx PATH ROWS
  { be32 2051; be32 "$2"; be32 28; be32 28; head -c $(( $2 * 784 )) /dev/urandom; } >"$1"
}

stage_train() {
  begin vae-train 25 || { no_time; return; }
  if [[ $build_ok -ne 1 || ! -x "$BUILD/vae-train" ]]; then finish SKIP "not built"; return; fi
  local log="$LOGS/vae_train.log" run="$BUILD/vae-train-run" data=() source="" dir
  for dir in "${FASHION_DIRS[@]}"; do
    if [[ -f "$dir/train-images-idx3-ubyte.gz" ]]; then
      data=(--data "$dir/train-images-idx3-ubyte.gz" --test "$dir/t10k-images-idx3-ubyte.gz")
      source="Fashion-MNIST"
      break
    fi
  done
  if [[ -z "$source" ]]; then
    synthetic_idx "$BUILD/synthetic-images-idx3-ubyte" 6000
    data=(--data "$BUILD/synthetic-images-idx3-ubyte")
    source="6000 random images (Fashion-MNIST not found: bundle it with gpu_bundle.sh --with-dataset)"
  fi
  rm -rf "$run"
  local rc=0
  timeout "$limit" "$BUILD/vae-train" --backend cuda --epochs 2 --ll-rows 1000 --ll-samples 100 \
    --out "$run" "${data[@]}" >"$log" 2>&1 || rc=$?
  tail -n 5 "$log"
  # Its pictures and metrics travel with the logs; the checkpoint stays.
  mkdir -p "$LOGS/vae-train"
  find "$run" -maxdepth 1 \( -name '*.png' -o -name metrics.csv \) -exec cp {} "$LOGS/vae-train/" \; 2>/dev/null
  if [[ -f "$run/metrics.csv" ]]; then details "vae-train metrics.csv ($source)" "$run/metrics.csv"; fi
  local last
  last="$(tail -n 1 "$run/metrics.csv" 2>/dev/null)"
  finish "$(status_of $rc)" "$source; last metrics row: ${last:-none} (exit $rc)"
}

# The Python package, installed by pip without the network (the bundle's
# wheels, into python3's own environment: the machine is a fresh one), with
# the CUDA backend; then its pytest suite, whose CUDA tests run only here.
stage_python() {
  begin "python package" 90 || { no_time; return; }
  if [[ $build_ok -ne 1 ]]; then finish SKIP "libvae not built"; return; fi
  local log="$LOGS/python.log" rc=0 summary
  local args=(-Cbuild-dir="$BUILD-python" -Ccmake.define.VAE_ENABLE_CUDA=ON
              -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$ARCH")
  if [[ -n "$nvcc" ]]; then args+=(-Ccmake.define.CMAKE_CUDA_COMPILER="$nvcc"); fi
  if [[ -d "$DEPS/usr" ]]; then args+=(-Ccmake.define.CMAKE_PREFIX_PATH="$DEPS/usr"); fi
  if [[ -n "$pkg_config" ]]; then args+=(-Ccmake.define.PKG_CONFIG_EXECUTABLE="$pkg_config"); fi
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  PIP_BREAK_SYSTEM_PACKAGES=1 CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" timeout "$limit" bash -c '
    set -e
    wheels="$1" root="$2"
    shift 2
    python3 -m pip install --no-index --find-links "$wheels" scikit-build-core nanobind pytest safetensors
    python3 -m pip install --no-index --no-deps --no-build-isolation "$@" "$root"
    cd "$root" && python3 -m pytest tests/python -q -rs' _ "$BUNDLE/wheels" "$ROOT" "${args[@]}" \
    >"$log" 2>&1 || rc=$?
  tail -n 12 "$log"
  details "pip install . and pytest tests/python" "$log"
  summary="$(grep -E '^[0-9]+ (passed|failed)|(passed|failed).* in [0-9.]+s' "$log" | tail -n 1)"
  if grep -q "Successfully installed libvae" "$log"; then python_ok=1; fi
  # pytest -rs names each skip: on a GPU, test_cuda.py must not skip.
  local cuda_skips
  cuda_skips="$(grep -cE '^SKIPPED .*test_cuda\.py' "$log")"
  if [[ $rc -eq 0 && $cuda_skips -gt 0 ]]; then
    finish FAIL "${summary:-no pytest summary}; tests/python/test_cuda.py skipped on a GPU machine: $(grep -m1 -oE 'test_cuda\.py:[0-9]+: .*' "$log")"
    return
  fi
  finish "$(status_of $rc)" "${summary:-no pytest summary}; test_cuda.py ran, no skip (exit $rc)"
}

stage_pytorch() {
  begin "pytorch race" 105 || { no_time; return; }
  if [[ $torch_ok -ne 1 ]]; then finish SKIP "PyTorch with CUDA not importable by python3"; return; fi
  if [[ $python_ok -ne 1 ]]; then finish SKIP "the libvae package is not installed"; return; fi
  local log="$LOGS/compare_with_pytorch.log" rc=0 dir data_dir="${FASHION_DIRS[0]}"
  for dir in "${FASHION_DIRS[@]}"; do
    if [[ -d "$dir" ]]; then data_dir="$dir"; break; fi
  done
  PYTHONUNBUFFERED=1 timeout "$limit" python3 "$ROOT/bench/compare_with_pytorch.py" --device cuda \
    --sizes "$PYTORCH_SIZES" --modes "$PYTORCH_MODES" --data-dir "$data_dir" >"$log" 2>&1 || rc=$?
  tail -n 12 "$log"
  details "compare_with_pytorch.py --sizes $PYTORCH_SIZES --modes $PYTORCH_MODES" "$log"
  local agree
  agree="$(grep -oE 'AGREE|DISAGREE' "$log" | tail -n 1)"
  finish "$(status_of $rc)" "answers ${agree:-not compared}; table in gpu_check_details.md (exit $rc)"
}

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
