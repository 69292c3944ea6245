#!/usr/bin/env bash
# cmake --install into a fresh prefix, then a C program builds against the
# installed library through pkg-config alone and runs: examples/train.c,
# compiled with `cc $(pkg-config --cflags --libs vae)`. In a build with the
# CUDA backend the module must be installed beside libvae.so. Then a CMake
# project (tests/install_consumer) builds through find_package(vae) alone:
# examples/train.c with vae::vae and, in a build with MPI, a program that
# trains a step through vae::vae_mpi; both run (the second not in a sanitizer
# build).
# Usage: check_install.sh BUILD_DIR SOURCE_DIR C_COMPILER PKG_CONFIG VERSION CUDA(1|0)
#                         CMAKE MPI(1|0) [FLAGS]
#   FLAGS  more compiler flags, one string (a sanitizer build's runtime)
set -euo pipefail
build=$1
source=$2
cc=$3
pkg_config=$4
version=$5
cuda=$6
cmake=$7
mpi=$8
read -r -a flags <<<"${9:-}"

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
"$cmake" --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name vae.pc)
if [[ -z "$pc" ]]; then
  echo "FAIL: no vae.pc installed under $prefix"
  exit 1
fi
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
installed=$("$pkg_config" --modversion vae)
if [[ "$installed" != "$version" ]]; then
  echo "FAIL: pkg-config says version $installed, the project is $version"
  exit 1
fi
libdir=$("$pkg_config" --variable=libdir vae)
if [[ "$cuda" == 1 && ! -f "$libdir/libvae_cuda.so" ]]; then
  echo "FAIL: libvae_cuda.so is not installed beside libvae.so in $libdir"
  exit 1
fi
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
"$cc" -std=c99 -Wall -Wextra -Werror "$source/examples/train.c" -o "$prefix/train" \
  $("$pkg_config" --cflags --libs vae) -lm -Wl,-rpath,"$libdir" ${flags[@]+"${flags[@]}"}
"$prefix/train"
echo "ok: vae $installed from $pc: examples/train.c built with pkg-config and ran"

consumer=$prefix/consumer
"$cmake" -S "$source/tests/install_consumer" -B "$consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${flags[*]:-}" \
  -DCMAKE_BUILD_RPATH="$libdir" -DVAE_CONSUMER_MPI="$mpi" \
  -DVAE_CONSUMER_EXAMPLE="$source/examples/train.c" >"$prefix/consumer.log" 2>&1 ||
  { cat "$prefix/consumer.log"; echo "FAIL: find_package(vae) in tests/install_consumer"; exit 1; }
"$cmake" --build "$consumer" >>"$prefix/consumer.log" 2>&1 ||
  { cat "$prefix/consumer.log"; echo "FAIL: building tests/install_consumer"; exit 1; }
(cd "$consumer" && ./train >/dev/null)
if [[ "$mpi" == 1 && ${#flags[@]} -gt 0 ]]; then
  # In a sanitizer build Open MPI's own allocations would count as leaks
  # (as in tests/adapters): the program is built, not run.
  echo "ok: find_package(vae) gave vae::vae and vae::vae_mpi; both programs built, train ran"
elif [[ "$mpi" == 1 ]]; then
  "$consumer/mpi_consumer"
  echo "ok: find_package(vae) gave vae::vae and vae::vae_mpi; both programs built and ran"
else
  echo "ok: find_package(vae) gave vae::vae; examples/train.c built and ran"
fi
