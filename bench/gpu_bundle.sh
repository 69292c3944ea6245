#!/usr/bin/env bash
# Run HERE (a Debian 12 amd64 machine with apt) before a GPU session: downloads
# the Debian packages (and the Python wheels) that bench/gpu_check.sh needs on
# a GPU machine that has nvcc, CMake, ninja and PyTorch but no -dev packages
# and no network, into one git-ignored folder (.gpu-bundle/) that the device
# call carries along:
#
#   bash bench/gpu_bundle.sh                  # about 10 MB of .debs
#   bash bench/gpu_bundle.sh --with-dataset   # plus Fashion-MNIST (31 MB more)
#
# then, on the GPU machine: bash bench/gpu_check.sh, with .gpu-bundle carried.
# The packages are the build's (GoogleTest, OpenBLAS, nlohmann-json, zlib,
# libpng, Google Benchmark, pkgconf) and, resolved through apt-cache depends,
# every package they need except the C and C++ runtimes and headers that any
# machine with a C++ compiler has (BASE below); and OpenMPI's C header and
# library without their dependency walk (SHALLOW below), for vae_nccl and its
# one-rank test. gpu_check.sh unpacks them with dpkg -x into a scratch
# prefix, never into /.
#
# Idempotent: a package already here in its candidate version is kept, one in
# another version is replaced, and a .deb that is no longer wanted is removed.
#
# Environment:
#   GPU_BUNDLE_DIR  the folder (default: <repo>/.gpu-bundle)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="${GPU_BUNDLE_DIR:-$ROOT/.gpu-bundle}"

WANTED=(libgtest-dev libopenblas-pthread-dev nlohmann-json3-dev zlib1g-dev libpng-dev
        libbenchmark-dev pkgconf-bin)
# Where the dependency walk stops: the C library, the C++ runtime and their
# headers, there wherever nvcc's host compiler is.
BASE=(libc6 libc6-dev libc-dev libstdc++6 libgcc-s1)
# Taken as they are, their dependencies not walked: mpi.h and libmpi.so (in
# libopenmpi-dev, whose Depends would add gfortran and mpirun, 60 MB) and
# what libmpi.so.40 needs to load (ldd: libopen-rte, libopen-pal, hwloc,
# libevent, libudev). Enough to build vae_nccl and load it in a process that
# never calls MPI_Init, as the one-rank NCCL test does; mpirun's 2-rank test
# is a CPU test and stays in CI.
SHALLOW=(libopenmpi-dev libopenmpi3 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libudev1)

usage() {
  echo "usage: bash bench/gpu_bundle.sh [--with-dataset]" >&2
  exit 2
}

for argument in "$@"; do
  case "$argument" in
    --with-dataset) WANTED+=(dataset-fashion-mnist) ;;
    *) usage ;;
  esac
done

if [[ "$(dpkg --print-architecture)" != "amd64" ]]; then
  echo "gpu_bundle.sh: this machine is $(dpkg --print-architecture); the GPU machine needs amd64 packages" >&2
  exit 1
fi

is_base() {
  local name="$1" base
  if [[ "$name" =~ ^gcc-[0-9]+-base$ ]]; then return 0; fi
  for base in "${BASE[@]}"; do
    if [[ "$name" == "$base" ]]; then return 0; fi
  done
  return 1
}

# The Depends and Pre-Depends of the packages named, the first alternative of
# each or-group; a virtual package comes out as <name>.
direct_dependencies() {
  apt-cache depends --important "$@" | awk '
    /^ [ |](Pre)?Depends: / {
      if (!in_group) print $2
      in_group = (substr($0, 2, 1) == "|")
    }'
}

if ! apt-cache show "${WANTED[0]}" >/dev/null 2>&1; then
  echo "== apt-get update (the package lists are missing)"
  apt-get update
fi

# Breadth-first walk from WANTED, one apt-cache call per level, stopping at BASE.
declare -A seen=()
level=("${WANTED[@]}")
packages=()
while [[ ${#level[@]} -gt 0 ]]; do
  new_names=()
  for name in "${level[@]}"; do
    if [[ -n "${seen[$name]:-}" ]] || is_base "$name"; then continue; fi
    seen[$name]=1
    if [[ "$name" == \<*\> ]]; then
      echo "gpu_bundle.sh: a dependency is the virtual package $name; add a provider to WANTED or BASE" >&2
      exit 1
    fi
    new_names+=("$name")
  done
  [[ ${#new_names[@]} -gt 0 ]] || break
  packages+=("${new_names[@]}")
  level=()
  while IFS= read -r dependency; do
    level+=("${dependency%%:*}")
  done < <(direct_dependencies "${new_names[@]}")
done

for name in "${SHALLOW[@]}"; do
  if [[ -z "${seen[$name]:-}" ]]; then
    seen[$name]=1
    packages+=("$name")
  fi
done

mkdir -p "$BUNDLE"
declare -A wanted_version=()
while read -r name version; do
  wanted_version[$name]="$version"
done < <(apt-cache policy "${packages[@]}" | awk '/^[^ ].*:$/ {name = substr($0, 1, length($0) - 1)}
                                                   /^  Candidate:/ {print name, $2}')
for name in "${packages[@]}"; do
  version="${wanted_version[$name]:-}"
  if [[ -z "$version" || "$version" == "(none)" ]]; then
    echo "gpu_bundle.sh: no candidate version of $name" >&2
    exit 1
  fi
done

# Keep what is current, drop the rest.
declare -A present=()
for deb in "$BUNDLE"/*.deb; do
  [[ -e "$deb" ]] || continue
  name="$(dpkg-deb -f "$deb" Package)"
  version="$(dpkg-deb -f "$deb" Version)"
  if [[ "${wanted_version[$name]:-}" == "$version" && -z "${present[$name]:-}" ]]; then
    present[$name]=1
  else
    echo "removing $(basename "$deb")"
    rm -f "$deb"
  fi
done

missing=()
for name in "${packages[@]}"; do
  if [[ -z "${present[$name]:-}" ]]; then missing+=("$name=${wanted_version[$name]}"); fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "== apt-get download ${missing[*]}"
  (cd "$BUNDLE" && apt-get download "${missing[@]}")
fi

# The Python package's build and test requirements as wheels, for pip without
# the network there (gpu_check.sh's python stage). All are pure Python or
# abi3, so they suit the GPU machine's interpreter too; tomli and
# exceptiongroup, in their pure Python builds, are what a Python older than
# 3.11 adds.
WHEELS=(scikit-build-core nanobind pytest safetensors)
BEFORE_3_11=(tomli exceptiongroup)
rm -rf "$BUNDLE/wheels"
echo "== pip download ${WHEELS[*]} ${BEFORE_3_11[*]}"
python3 -m pip download --quiet --disable-pip-version-check --dest "$BUNDLE/wheels" "${WHEELS[@]}"
python3 -m pip download --quiet --disable-pip-version-check --dest "$BUNDLE/wheels" \
  --only-binary=:all: --implementation py --python-version 3.9 "${BEFORE_3_11[@]}"

echo "== $BUNDLE: ${#packages[@]} packages"
for deb in "$BUNDLE"/*.deb; do
  printf '  %-58s %6d kB\n' "$(basename "$deb")" "$(( $(stat -c %s "$deb") / 1024 ))"
done
for wheel in "$BUNDLE"/wheels/*.whl; do
  printf '  %-58s %6d kB\n' "wheels/$(basename "$wheel")" "$(( $(stat -c %s "$wheel") / 1024 ))"
done
total="$(cat "$BUNDLE"/*.deb "$BUNDLE"/wheels/*.whl | wc -c)"
printf 'total: %d bytes (%.1f MiB; a device call carries at most 64 MiB with the working tree)\n' \
  "$total" "$(awk -v b="$total" 'BEGIN {print b / 1048576}')"
