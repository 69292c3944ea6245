#!/usr/bin/env bash
# The race of bench/race.py in a virtual environment of its own,
# bench/.venv-race (ignored by git), never the test command's: JAX, optax
# and PyTorch from PyPI, and libvae built from this checkout without the
# CUDA backend (incrementally, in build/python-*), then race.py with the
# arguments given.
#
#   bash bench/race.sh --quick                     # a smoke run (S, 1 thread, few rounds)
#   bash bench/race.sh --json /tmp/race.json       # the whole race
#
# Environment:
#   PYTHON       the interpreter that makes the environment (default: python3)
#   RACE_VENV    the environment's folder (default: <repo>/bench/.venv-race)
#   TORCH_INDEX  an index of PyTorch's CPU-only wheels, consulted beside PyPI
#                (default: PyTorch's own). Where it cannot be reached, pip
#                takes PyPI's wheel, which brings CUDA's libraries (about
#                5 GB) and runs on the CPU all the same.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RACE_VENV:-$ROOT/bench/.venv-race}"

[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
install=("$VENV/bin/python" -m pip install --disable-pip-version-check --quiet)
"${install[@]}" --retries 1 --extra-index-url "${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
  "torch>=2.4" jax optax
"${install[@]}" -Ccmake.define.VAE_ENABLE_CUDA=OFF "$ROOT"
exec "$VENV/bin/python" "$ROOT/bench/race.py" "$@"
