#!/usr/bin/env bash
# Checks libvae.so: it has a SONAME, and the dynamic symbols it defines are
# exactly the functions that include/vae/vae.h declares.
# Usage: check_exports.sh LIBRARY HEADER
set -euo pipefail
library=$1
header=$2

soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -z "$soname" ]; then
  echo "FAIL: $library has no SONAME"
  exit 1
fi
echo "SONAME: $soname"

exported=$(nm -D --defined-only "$library" | awk '{print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -oE 'VAE_API [^;]*\b(vae_[a-z0-9_]+)\(' "$header" | grep -oE 'vae_[a-z0-9_]+\($' | tr -d '(' | sort -u)

if [ "$exported" != "$declared" ]; then
  echo "FAIL: exported and declared symbols differ (< exported, > declared):"
  diff <(echo "$exported") <(echo "$declared") || true
  exit 1
fi
echo "exports: $(echo "$exported" | wc -l) vae_* functions, nothing else"
