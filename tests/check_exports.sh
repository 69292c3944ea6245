#!/usr/bin/env bash
# Checks libvae.so: it has a SONAME, links no CUDA library (the CUDA backend
# is the module libvae_cuda.so, loaded with dlopen), and the dynamic symbols
# it defines are exactly the functions that include/vae/vae.h declares.
# With MODULE (a build with the CUDA backend), checks libvae_cuda.so too: it
# exports its entry point alone, and holds no copy of the core's state (the
# loader, the C API's error text, the CPU backend).
# Usage: check_exports.sh LIBRARY HEADER [MODULE]
set -euo pipefail
library=$1
header=$2
module=${3:-}

soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -z "$soname" ]; then
  echo "FAIL: $library has no SONAME"
  exit 1
fi
echo "SONAME: $soname"

cuda_needed=$(readelf -d "$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
              grep -E '^lib(cud|cublas|curand|nv)' || true)
if [ -n "$cuda_needed" ]; then
  echo "FAIL: $library links CUDA libraries: $(paste -sd" " <<<"$cuda_needed")"
  exit 1
fi
echo "NEEDED: no CUDA library"

exported=$(nm -D --defined-only "$library" | awk '{print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -oE 'VAE_API [^;]*\b(vae_[a-z0-9_]+)\(' "$header" | grep -oE 'vae_[a-z0-9_]+\($' | tr -d '(' | sort -u)

if [ "$exported" != "$declared" ]; then
  echo "FAIL: exported and declared symbols differ (< exported, > declared):"
  diff <(echo "$exported") <(echo "$declared") || true
  exit 1
fi
echo "exports: $(echo "$exported" | wc -l) vae_* functions, nothing else"

if [ -z "$module" ]; then exit 0; fi
module_exports=$(nm -D --defined-only "$module" | awk '{print $3}' | sed 's/@.*//' | sort -u)
if [ "$module_exports" != "vae_cuda_backend_v1" ]; then
  echo "FAIL: $module exports something other than vae_cuda_backend_v1: $(paste -sd" " <<<"$module_exports")"
  exit 1
fi
echo "$(basename "$module") exports: vae_cuda_backend_v1, nothing else"
copies=$(nm -C "$module" | grep -E 'load_module|last_error|make_cpu_trainer|CpuOps|vae_capi' || true)
if [ -n "$copies" ]; then
  echo "FAIL: $module holds a copy of the core's loader, C API or CPU backend:"
  echo "$copies" | head -n 5
  exit 1
fi
echo "$(basename "$module"): no copy of the loader, the C API or the CPU backend"
