#!/usr/bin/env bash
# The Python package's tests, as the README's test command runs them after
# ctest: `pip install .` (libvae.so and the extension from one CMake build,
# the CUDA backend included where nvcc is found) into a fresh virtual
# environment, then pytest over tests/python, then the README's Python
# example, whose printed line bench/check_readme_examples.py compares with the
# README's (about a minute; it skips, exit 77, without Fashion-MNIST).
#
#   bash tests/python/run.sh [pytest arguments]
#
# Environment:
#   PYTHON        the interpreter that makes the environment (default: python3;
#                 Debian's needs python3-venv and python3-dev)
#   LIBVAE_VENV   the environment's folder (default: <repo>/build/venv)
#   PIP_ARGS      more arguments for `pip install .`, such as
#                 -Ccmake.define.VAE_ENABLE_CUDA=OFF
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${LIBVAE_VENV:-$ROOT/build/venv}"

"${PYTHON:-python3}" -m venv "$VENV"
start=$SECONDS
# shellcheck disable=SC2086 # PIP_ARGS is a list of arguments
"$VENV/bin/python" -m pip install --disable-pip-version-check ${PIP_ARGS:-} "$ROOT" pytest safetensors
echo "pip install: $(( SECONDS - start )) s"
cd "$ROOT"
"$VENV/bin/python" -m pytest tests/python "$@"
# A skip (77: the script says why) is not a failure.
status=0
"$VENV/bin/python" bench/check_readme_examples.py --python "$VENV/bin/python" python-example ||
  status=$?
if [[ $status -ne 77 ]]; then exit "$status"; fi
