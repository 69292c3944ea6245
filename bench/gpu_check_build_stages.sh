# Sourced by bench/gpu_check.sh, in its shell (its settings, the table's
# begin/finish/record and the paths are its own): the stages that
# need no GPU, from the environment to ctest (the dry run runs these alone).
# shellcheck shell=bash

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

# The whole suite once (but mpirun's 2-rank CPU test and the README's
# vae-train run, CPU work that CI does; the dry run: the GPU tests alone);
# the "cuda tests" row then reads, from the same log, what happened to the
# tests of GPU_LABELS: on a GPU none may skip.
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
  local select=(-E '^(mpi_training_2_ranks|readme_vae_train_output)$')
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
