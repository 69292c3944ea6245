#!/bin/bash
# vae-train --patience N stops after N epochs in a row without a better test
# ELBO, at the epoch that the rule, restated here in awk, finds in the test
# ELBOs of a run without --patience (the same training, noisy enough to
# stop), and its best.safetensors is, byte for byte, the checkpoint of a run
# of the best epoch's --epochs. A run stopped midway by --epochs (also just
# after its best epoch, and with best.safetensors left older, as a kill
# between the checkpoint and it leaves it) and resumed stops at the same
# epoch with the same best.safetensors; a resume of a run that stopped
# trains no further. Every --patience out of range, and one that contradicts
# the run's, is a usage error (exit 2) that writes nothing. With a launcher
# (MPIEXEC and its flags for two ranks), two ranks stop together.
# usage: check_vae_train_early_stopping.sh VAE_TRAIN [MPIEXEC FLAG...]
set -euo pipefail

vae_train=$1
shift
launcher=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 64 training rows of 8x8 bytes and 100 test rows of another seed (IDX):
# with a learning rate of 0.01 the test ELBO stops rising after 5 epochs and
# wanders, so that every patience below stops within 40 epochs.
# shellcheck source-path=SCRIPTDIR source=idx_data.sh
source "$(dirname "$0")/idx_data.sh"
idx_file 64 1 > "$work/train.idx"
idx_file 100 2 > "$work/test.idx"
common=(--data "$work/train.idx" --test "$work/test.idx" --threads 1 --backend cpu
        --ll-samples 0 --gap-rows 0)
model=(--hidden 64 --latent 4 --seed 3 --batch 8 --lr 0.01)
readonly max_epochs=40

run() {
  local name=$1
  shift
  "$vae_train" --out "$work/$name" "$@" > "$work/$name.out" 2> "$work/$name.err" \
    || fail "$name: exit $?: $(cat "$work/$name.err")"
}

expect_status() {
  local want=$1 name=$2
  shift 2
  local status=0
  "$vae_train" "$@" > "$work/out" 2> "$work/err" || status=$?
  [[ $status == "$want" ]] || fail "$name: exit $status, expected $want: $(cat "$work/err")"
}

# "STOP BEST": the epoch the rule stops after (0: none) and the best epoch
# then, for DIR/metrics.csv's test ELBOs and patience P.
expected() {
  awk -F, -v patience="$2" 'NR > 1 && !stop {
      if (best_epoch == 0 || $3 + 0 > best + 0) { best = $3; best_epoch = $1; since = 0 }
      else if (++since >= patience) stop = $1
    } END { print stop + 0, best_epoch + 0 }' "$1/metrics.csv"
}

# The figures of metrics.csv's rows without the seconds.
figures() { cut -d, -f1-5 "$1/metrics.csv"; }

# The checkpoint of a run of E epochs without --patience, made once.
checkpoint_of() {
  local epochs=$1
  [[ -d $work/epochs$epochs ]] || run "epochs$epochs" --epochs "$epochs" "${model[@]}" "${common[@]}"
  echo "$work/epochs$epochs/checkpoint.safetensors"
}

run reference --epochs "$max_epochs" "${model[@]}" "${common[@]}"
[[ ! -e $work/reference/best.safetensors ]] || fail "a run without --patience wrote best.safetensors"

for patience in 1 3 7; do
  read -r stop best < <(expected "$work/reference" "$patience")
  ((stop > 0)) || fail "--patience $patience: the reference run does not stop within $max_epochs epochs"
  name=patience$patience
  run "$name" --epochs "$max_epochs" --patience "$patience" "${model[@]}" "${common[@]}"
  [[ $(figures "$work/$name") == "$(figures "$work/reference" | head -n $((stop + 1)))" ]] \
    || fail "--patience $patience: metrics.csv is not the reference's first $stop epochs"
  grep -q "early stop after epoch $stop: .* is epoch $best's" "$work/$name.out" \
    || fail "--patience $patience: no line of the stop after epoch $stop, best $best"
  cmp -s "$work/$name/best.safetensors" "$(checkpoint_of "$best")" \
    || fail "--patience $patience: best.safetensors is not the checkpoint of epoch $best"
  grep -qx -- "--patience=$patience" "$work/$name/training.txt" \
    || fail "--patience $patience: not kept in training.txt"
  echo "ok: --patience $patience stops after epoch $stop, best.safetensors of epoch $best"
done

# Resumes of patience 7's run: after epoch 1, after its best epoch, and one
# epoch before its stop; each ends as the uninterrupted run.
patience=7
whole=$work/patience$patience
read -r stop best < <(expected "$work/reference" "$patience")
for epochs in 1 "$best" $((stop - 1)); do
  name=resumed$epochs
  run "$name" --epochs "$epochs" --patience "$patience" "${model[@]}" "${common[@]}"
  run "$name" --resume --epochs "$max_epochs" "${common[@]}"
  [[ $(figures "$work/$name") == "$(figures "$whole")" ]] \
    || fail "resumed after epoch $epochs: metrics.csv differs from the uninterrupted run's"
  cmp -s "$work/$name/best.safetensors" "$whole/best.safetensors" \
    || fail "resumed after epoch $epochs: best.safetensors differs from the uninterrupted run's"
  echo "ok: resumed after epoch $epochs, the run stops after epoch $stop as uninterrupted"
done

# A run killed after its best epoch's checkpoint and before best.safetensors
# (made by putting back an older one): the resume writes it again.
name=killed
run "$name" --epochs "$best" --patience "$patience" "${model[@]}" "${common[@]}"
cp "$(checkpoint_of 1)" "$work/$name/best.safetensors"
run "$name" --resume --epochs "$max_epochs" "${common[@]}"
cmp -s "$work/$name/best.safetensors" "$whole/best.safetensors" \
  || fail "a best.safetensors left older by a kill was not written again"
echo "ok: a best.safetensors older than the checkpoint's best epoch is written again"

# A resume of a run that stopped trains no further, whatever --epochs says,
# and changes none of its files.
cp -r "$whole" "$work/before"
run "patience$patience" --resume --epochs $((max_epochs + 10)) --patience "$patience" \
  "${common[@]}"
grep -q "early stop after epoch $stop: .*; no training" "$whole.out" \
  || fail "the resume of a stopped run did not say so: $(cat "$whole.out")"
for file in metrics.csv checkpoint.safetensors best.safetensors training.txt; do
  cmp -s "$whole/$file" "$work/before/$file" || fail "the resume of a stopped run changed $file"
done
echo "ok: the resume of a run that stopped early trains no further"

# Usage errors: out of range, not an integer, and a resume that contradicts
# the run's patience (or its lack of one); none writes anything.
for bad in 0 -1 1000001 99999999999999999999 2.5 abc ""; do
  expect_status 2 "--patience '$bad'" --out "$work/bad" --epochs 1 --patience "$bad" "${common[@]}"
  grep -q -- "--patience" "$work/err" || fail "--patience '$bad': $(cat "$work/err")"
  [[ ! -e $work/bad ]] || fail "--patience '$bad' made the output directory"
done
expect_status 2 "--patience twice" --out "$work/bad" --patience 2 --patience 3 "${common[@]}"
for resume in "patience$patience 3" "reference 3"; do
  read -r name other <<< "$resume"
  cp -r "$work/$name" "$work/before-$name"
  expect_status 2 "a resume of $name with --patience $other" --out "$work/$name" --resume \
    --epochs $((max_epochs + 1)) --patience "$other" "${common[@]}"
  grep -q "contradicts the run's --patience" "$work/err" || fail "$(cat "$work/err")"
  diff -r "$work/$name" "$work/before-$name" > /dev/null || fail "a refused resume changed $name"
done
echo "ok: bad --patience values and contradicting resumes exit 2 and write nothing"

# The training.txt of a vae-train before --patience lacks its line: such a
# run resumes without early stopping.
name=older
run "$name" --epochs 2 "${model[@]}" "${common[@]}"
sed -i '/^--patience=/d' "$work/$name/training.txt"
run "$name" --resume --epochs 3 "${common[@]}"
[[ $(figures "$work/$name") == "$(figures "$work/reference" | head -n 4)" ]] \
  || fail "the run of an older vae-train did not resume as the reference"
echo "ok: a training.txt without --patience resumes without early stopping"

# Two ranks stop together (their sums differ from one process's in the
# last bits, so the stop is checked against their own figures).
((${#launcher[@]} > 0)) || exit 0
name=ranks
status=0
timeout 120 "${launcher[@]}" "$vae_train" --out "$work/$name" --epochs "$max_epochs" \
  --patience 3 "${model[@]}" "${common[@]}" > "$work/$name.out" 2> "$work/$name.err" || status=$?
((status == 0)) || fail "two ranks: exit $status: $(cat "$work/$name.err")"
read -r stop best < <(expected "$work/$name" 3)
rows=$(($(wc -l < "$work/$name/metrics.csv") - 1))
((stop > 0 && rows == stop)) || fail "two ranks: $rows epochs, but the rule stops after $stop"
grep -q "early stop after epoch $stop: .* is epoch $best's" "$work/$name.out" \
  || fail "two ranks: no line of the stop after epoch $stop"
echo "ok: two ranks stop together after epoch $stop"
