# Sourced by bench/gpu_check.sh, in its shell (its settings, the table's
# begin/finish/record and the paths are its own): the stages that
# need the GPU: compute-sanitizer, benchmarks, vae-train, the Python
# package and the race with PyTorch.
# shellcheck shell=bash

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
