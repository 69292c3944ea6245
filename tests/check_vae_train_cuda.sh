#!/bin/bash
# vae-train --backend cuda trains a small model as --backend cpu does: the
# same metrics.csv (train loss, test ELBO and its two terms, per epoch)
# within float rounding (relative 1e-4: the two backends sum in other
# orders), the same final log-likelihood as printed (0.01 nats), and the
# same diagnostics.json (every number within relative 1e-3: the latent
# usage, the inference gap's refined ELBOs after 20 Adam steps). On a build whose CUDA module has no
# device it skips (exit 77); on the simulated device (VAE_CUDA_SIMULATOR) it
# always runs.
# usage: check_vae_train_cuda.sh VAE_TRAIN
set -euo pipefail

vae_train=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source-path=SCRIPTDIR source=idx_data.sh
source "$(dirname "$0")/idx_data.sh"
idx_file 640 11 > "$work/train.idx"
idx_file 128 12 > "$work/test.idx"
common=(--data "$work/train.idx" --test "$work/test.idx" --hidden 48 --latent 4 --batch 32
        --epochs 2 --seed 5 --ll-samples 16 --gap-rows 12 --gap-steps 20)

if ! "$vae_train" "${common[@]}" --backend cuda --out "$work/cuda" > "$work/cuda.out" 2> "$work/cuda.err"; then
  if grep -q "CUDA backend unavailable" "$work/cuda.err"; then
    echo "skipped: $(head -1 "$work/cuda.err")"
    exit 77
  fi
  cat "$work/cuda.err" >&2
  exit 1
fi
"$vae_train" "${common[@]}" --backend cpu --threads 1 --out "$work/cpu" > "$work/cpu.out" 2> "$work/cpu.err" ||
  { cat "$work/cpu.err" >&2; exit 1; }

# Columns 2-5 of each epoch's row, compared relative to the CPU's value.
numbers() { cut -d, -f2-5 "$1/metrics.csv" | tail -n +2 | tr ',' '\n'; }
paste <(numbers "$work/cuda") <(numbers "$work/cpu") |
  awk '{
    n += 1
    err = ($1 - $2) / ($2 < 0 ? -$2 : ($2 > 1 ? $2 : 1))
    if (err < 0) err = -err
    printf "  cuda %-14s cpu %-14s relative difference %.2e\n", $1, $2, err
    if (!(err <= 1e-4)) bad += 1
  } END {
    if (n != 8) { print "FAIL: expected 8 metrics (2 epochs), found " n; exit 1 }
    if (bad > 0) { print "FAIL: " bad " metrics differ by more than 1e-4"; exit 1 }
  }'
log_likelihood() { grep -oE 'test log-likelihood: -?[0-9.]+' "$1" | grep -oE -- '-?[0-9.]+$'; }
cuda_ll=$(log_likelihood "$work/cuda.out")
cpu_ll=$(log_likelihood "$work/cpu.out")
awk -v a="$cuda_ll" -v b="$cpu_ll" 'BEGIN {
  d = a - b; if (d < 0) d = -d
  printf "  test log-likelihood: cuda %s, cpu %s nats\n", a, b
  if (a == "" || !(d <= 0.0100001)) { print "FAIL: the log-likelihoods differ"; exit 1 }
}'
# Every number of diagnostics.json, in document order, side by side.
json_numbers() { grep -oE -- '-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?' "$1/diagnostics.json"; }
paste <(json_numbers "$work/cuda") <(json_numbers "$work/cpu") |
  awk '{
    n += 1
    d = $1 - $2; if (d < 0) d = -d
    scale = $2 < 0 ? -$2 : $2; if (scale < 1) scale = 1
    if (!(d <= 1e-3 * scale)) { bad += 1; printf "  diagnostics.json number %d: cuda %s, cpu %s\n", n, $1, $2 }
  } END {
    if (n < 30) { print "FAIL: diagnostics.json holds " n " numbers"; exit 1 }
    if (bad > 0) { print "FAIL: " bad " numbers of diagnostics.json differ by more than 1e-3"; exit 1 }
    print "the CUDA backend trained as the CPU backend: 8 metrics within 1e-4, the log-likelihood to 0.01, " n " diagnostics within 1e-3"
  }'
