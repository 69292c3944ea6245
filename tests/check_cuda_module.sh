#!/usr/bin/env bash
# How libvae finds its CUDA module, checks it and falls back to the CPU, as
# tests/backend_probe sees it: each case a fresh process, since a process
# loads the module once.
# Usage: check_cuda_module.sh PROBE LIBRARY [MODULE STALE_ABI STALE_BUILD]
#   LIBRARY      libvae.so of the build
#   MODULE       its libvae_cuda.so (none: a build without the CUDA backend)
#   STALE_ABI    a module whose table has another ABI number
#   STALE_BUILD  a module whose table has this ABI number and another build tag
set -uo pipefail
probe=$1
library=$2
module=${3:-}
stale_abi=${4:-}
stale_build=${5:-}
failures=0

# expect NAME OUTPUT PATTERN...: each grep -E pattern matches a line of OUTPUT.
expect() {
  local name=$1 output=$2 pattern
  shift 2
  for pattern in "$@"; do
    if ! grep -qE -- "$pattern" <<<"$output"; then
      echo "FAIL: $name: no line matches '$pattern' in:"
      printf '    %s\n' "$output"
      failures=$((failures + 1))
      return
    fi
  done
  echo "ok: $name"
}

run() { env -u VAE_CUDA_MODULE "$probe" "$@" 2>&1; }
run_with_module() { VAE_CUDA_MODULE=$1 "$probe" "${@:2}" 2>&1; }

out=$(run cpu 2)
expect "a CPU trainer does not load the CUDA module" "$out" \
  '^status=0 backend=1$' '^error=$' '^module=not loaded$'

cuda=$(run cuda 4)
if [[ -z "$module" ]]; then
  expect "CUDA in a build without it: VAE_ERROR_DEVICE, as vae.h says" "$cuda" '^status=3 backend=-1$' \
    '^error=CUDA backend unavailable: this libvae was built without the CUDA backend'
  expect "AUTO in a build without CUDA" "$(run auto 4)" '^status=0 backend=1$' '^error=$'
  exit $((failures > 0))
fi

if grep -q '^status=0 ' <<<"$cuda"; then
  expect "CUDA where a GPU is present" "$cuda" '^status=0 backend=2$' '^module=loaded$'
  expect "AUTO where a GPU is present" "$(run auto 4)" '^status=0 backend=2$' '^error=$'
else
  expect "CUDA without a usable GPU: one clear sentence" "$cuda" '^status=3 backend=-1$' \
    '^error=CUDA backend unavailable: (no NVIDIA driver found \(.*libcuda\.so\.1|no CUDA device found|the NVIDIA driver supports CUDA up to)' \
    '^module=loaded$'
  if grep -qi 'insufficient' <<<"$cuda"; then
    echo "FAIL: the message still says the driver is insufficient: $cuda"
    failures=$((failures + 1))
  fi
  expect "AUTO without a usable GPU falls back to the CPU" "$(run auto 4)" \
    '^status=0 backend=1$' '^error=$'
fi

# libvae.so copied to a folder without the module, found first on the
# search path (the rest of it stays: the GPU machine's OpenBLAS is there).
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
cp "$library" "$folder/$soname"
out=$(env -u VAE_CUDA_MODULE LD_LIBRARY_PATH="$folder${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$probe" cuda 2 2>&1)
expect "no module beside libvae.so" "$out" "^library=$folder/$soname\$" '^status=3 backend=-1$' \
  "^error=CUDA backend unavailable: libvae_cuda\\.so was not found beside $soname \\(in $folder/\\) nor on the library search path \\(libvae_cuda\\.so: cannot open"
out=$(env -u VAE_CUDA_MODULE LD_LIBRARY_PATH="$folder${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$probe" auto 2 2>&1)
expect "no module beside libvae.so: AUTO takes the CPU" "$out" '^status=0 backend=1$' '^error=$'

out=$(run_with_module /nonexistent/libvae_cuda.so cuda 1)
expect "VAE_CUDA_MODULE names a missing file" "$out" '^status=3 backend=-1$' \
  '^error=CUDA backend unavailable: VAE_CUDA_MODULE=/nonexistent/libvae_cuda\.so could not be loaded \(/nonexistent/libvae_cuda\.so: cannot open'

out=$(run_with_module "$library" cuda 1)
expect "VAE_CUDA_MODULE names a library that is not the module" "$out" '^status=3 backend=-1$' \
  "^error=CUDA backend unavailable: .* is not a CUDA module of this version of libvae \\(it has no vae_cuda_backend_v1\\)\$"

out=$(run_with_module "$stale_abi" cuda 1)
expect "a module of another ABI is refused" "$out" '^status=3 backend=-1$' \
  "^error=CUDA backend unavailable: .*stale.* is from another build of libvae \\(module ABI 2, build unknown; this libvae needs ABI 1, build [0-9a-f]{16}\\): install libvae\\.so and libvae_cuda\\.so from one build\$"
out=$(run_with_module "$stale_build" auto 3)
expect "a module of another build: AUTO takes the CPU" "$out" '^status=0 backend=1$' '^error=$'
out=$(run_with_module "$stale_build" cuda 1)
expect "a module of another build is refused" "$out" '^status=3 backend=-1$' \
  "^error=CUDA backend unavailable: .* is from another build of libvae \\(module ABI 1, build 0000000000000000; this libvae needs ABI 1, build [0-9a-f]{16}\\)"

# A FIFO in the module's place is refused at once (dlopen would wait for a
# writer forever); the timeout makes a hang a failure.
mkfifo "$folder/fifo_module.so"
out=$(VAE_CUDA_MODULE="$folder/fifo_module.so" timeout 20 "$probe" cuda 1 2>&1)
expect "VAE_CUDA_MODULE names a FIFO" "$out" '^status=3 backend=-1$' \
  "^error=CUDA backend unavailable: VAE_CUDA_MODULE=.*fifo_module\\.so could not be loaded: it is a FIFO, not a regular file\$"

# The module with another machine in its ELF header (e_machine, offset 18):
# named as such, not as "No such file or directory".
cp "$module" "$folder/foreign_module.so"
printf '\363\000' | dd of="$folder/foreign_module.so" bs=1 seek=18 conv=notrunc status=none  # EM_RISCV
out=$(run_with_module "$folder/foreign_module.so" cuda 1)
expect "a module of another architecture says so" "$out" '^status=3 backend=-1$' \
  "^error=CUDA backend unavailable: .*foreign_module\\.so could not be loaded: it is an ELF object for another architecture \\(64-bit RISC-V; this process is 64-bit [^)]*\\)\$"

echo "$failures failure(s)"
exit $((failures > 0))
