#!/bin/bash
# vae-train --resume continues a run exactly, whatever training flags the run
# was given (--beta, --kl-warmup, --schedule, --transform, --batch, --lr, the
# learning rate's schedule and --clip-norm):
# they are kept in the run directory (training.txt), a resume that names one
# with another value is refused with the usage error's exit 2, and the
# second epoch's test ELBO of a run resumed after its first epoch is the
# uninterrupted run's, to the last digit; so does a model of --variance
# decoder and --min-log-variance, fixed by its checkpoint. Also: the directory a run killed
# between its first metrics.csv row and its first epoch's checkpoint leaves
# is resumed; a run with a learned prior (--prior-components) resumes
# exactly; a metrics.csv that lost rows is refused; values out of the
# library's ranges are usage errors (exit 2).
# usage: check_vae_train_resume.sh VAE_TRAIN
set -euo pipefail

vae_train=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 800 training rows and 100 test rows of 8x8 bytes (IDX).
# shellcheck source-path=SCRIPTDIR source=idx_data.sh
source "$(dirname "$0")/idx_data.sh"
idx_file 800 1 > "$work/train.idx"
idx_file 100 2 > "$work/test.idx"
common=(--data "$work/train.idx" --test "$work/test.idx" --threads 1 --backend cpu --ll-samples 0)
model=(--hidden 16 --latent 2 --seed 3)

# The test ELBO of epoch N in DIR/metrics.csv.
elbo() { awk -F, -v epoch="$2" '$1 == epoch { print $3 }' "$1/metrics.csv"; }

expect_status() {
  local want=$1 name=$2
  shift 2
  local status=0
  "$vae_train" "$@" > "$work/out" 2> "$work/err" || status=$?
  [[ $status == "$want" ]] || fail "$name: exit $status, expected $want: $(cat "$work/err")"
}

for flags in "--beta 0.5" "--kl-warmup 4" "--schedule alternate" "--transform scale" \
             "--batch 32" "--lr 0.003" "--lr-schedule cosine --lr-decay 10" \
             "--lr-warmup 9" "--lr-decay 5 --lr-schedule linear" \
             "--final-lr 0.0005 --lr-schedule cosine --lr-decay 9" "--clip-norm 0.5"; do
  read -r -a run_flags <<< "$flags"
  name=${run_flags[0]#--}
  whole=$work/$name-whole
  parts=$work/$name-parts
  "$vae_train" --out "$whole" --epochs 2 "${model[@]}" "${common[@]}" "${run_flags[@]}" \
    > /dev/null || fail "$flags: the whole run failed"
  "$vae_train" --out "$parts" --epochs 1 "${model[@]}" "${common[@]}" "${run_flags[@]}" \
    > /dev/null || fail "$flags: the first part failed"
  # The resume does not repeat the flag: the run's value holds.
  "$vae_train" --out "$parts" --resume --epochs 2 "${common[@]}" > /dev/null \
    || fail "$flags: the resume failed"
  [[ -n $(elbo "$whole" 2) && $(elbo "$whole" 2) == "$(elbo "$parts" 2)" ]] \
    || fail "$flags: epoch 2's test ELBO $(elbo "$parts" 2) resumed, $(elbo "$whole" 2) uninterrupted"
  # The same value again is accepted; another is a usage error.
  "$vae_train" --out "$parts" --resume --epochs 2 "${common[@]}" "${run_flags[@]}" > /dev/null \
    || fail "$flags: a resume repeating the run's value was refused"
  case $name in
    beta) other=(--beta 2) ;;
    kl-warmup) other=(--kl-warmup 1) ;;
    schedule) other=(--schedule joint) ;;
    transform) other=(--transform binarize) ;;
    batch) other=(--batch 16) ;;
    lr) other=(--lr 0.001) ;;
    lr-schedule) other=(--lr-schedule linear) ;;
    lr-warmup) other=(--lr-warmup 0) ;;
    lr-decay) other=(--lr-decay 6) ;;
    final-lr) other=(--final-lr 0) ;;
    clip-norm) other=(--clip-norm 1) ;;
  esac
  expect_status 2 "$flags: a resume with ${other[*]}" --out "$parts" --resume --epochs 3 \
    "${common[@]}" "${other[@]}"
  grep -q "contradicts the run's" "$work/err" || fail "$flags: $(cat "$work/err")"
  echo "ok: $flags"
done

# A model of --variance decoder and its bound resumes exactly from its
# checkpoint, which holds both; naming the bound again is refused.
"$vae_train" --out "$work/decoder-whole" --epochs 2 "${model[@]}" "${common[@]}" \
  --likelihood gaussian --variance decoder --min-log-variance -6 > /dev/null \
  || fail "the decoder variance's whole run failed"
"$vae_train" --out "$work/decoder-parts" --epochs 1 "${model[@]}" "${common[@]}" \
  --likelihood gaussian --variance decoder --min-log-variance -6 > /dev/null \
  || fail "the decoder variance's first part failed"
"$vae_train" --out "$work/decoder-parts" --resume --epochs 2 "${common[@]}" > /dev/null \
  || fail "the decoder variance's resume failed"
[[ -n $(elbo "$work/decoder-whole" 2) &&
   $(elbo "$work/decoder-whole" 2) == "$(elbo "$work/decoder-parts" 2)" ]] \
  || fail "--variance decoder: epoch 2's test ELBO $(elbo "$work/decoder-parts" 2) resumed, $(elbo "$work/decoder-whole" 2) uninterrupted"
expect_status 2 "a resume with --min-log-variance" --out "$work/decoder-parts" --resume \
  --epochs 3 "${common[@]}" --min-log-variance -6
echo "ok: --variance decoder --min-log-variance -6 resumes exactly"

# The schedule and the limit reach the trainer (the line is read from it),
# and the decay's default is the run's steps: 2 epochs of 7 steps less the
# warm-up's 4.
"$vae_train" --out "$work/rate" --epochs 2 "${model[@]}" "${common[@]}" --lr-schedule cosine \
  --lr-warmup 4 --final-lr 1e-05 --clip-norm 0.25 > "$work/out" || fail "the rate's run failed"
grep -q "^learning rate 0.001 after a 4-step warm-up, cosine decay to 1e-05 over 10 steps, gradients clipped to norm 0.25$" "$work/out" \
  || fail "the rate's line: $(grep "^learning rate" "$work/out")"
"$vae_train" --out "$work/plain" --epochs 2 "${model[@]}" "${common[@]}" > /dev/null \
  || fail "the plain run failed"
[[ $(elbo "$work/rate" 2) != "$(elbo "$work/plain" 2)" ]] \
  || fail "the schedule and the limit changed no figure: $(elbo "$work/plain" 2)"
echo "ok: the schedule and the limit reach the trainer"

# A run killed after its first metrics.csv row and before its first epoch's
# checkpoint: here made by putting back the checkpoint of epoch 0, which a
# run writes before training.
killed=$work/killed
"$vae_train" --out "$killed" --epochs 0 "${model[@]}" "${common[@]}" > /dev/null \
  || fail "a run of 0 epochs failed"
cp "$killed/checkpoint.safetensors" "$work/epoch0.safetensors"
"$vae_train" --out "$killed" --resume --epochs 1 "${common[@]}" > /dev/null \
  || fail "the first epoch failed"
cp "$work/epoch0.safetensors" "$killed/checkpoint.safetensors"
"$vae_train" --out "$killed" --resume --epochs 1 "${common[@]}" > "$work/out" \
  || fail "the directory of a run killed before its first checkpoint was not resumed"
grep -q "dropped 1 row" "$work/out" || fail "the resume did not drop the row: $(cat "$work/out")"
echo "ok: a run killed before its first epoch's checkpoint resumes"

# A metrics.csv that lost its rows, or holds an epoch twice, is refused.
broken=$work/broken
"$vae_train" --out "$broken" --epochs 2 "${model[@]}" "${common[@]}" > /dev/null \
  || fail "the run to damage failed"
cp "$broken/metrics.csv" "$work/metrics.csv"
head -n 1 "$work/metrics.csv" > "$broken/metrics.csv"
expect_status 1 "a resume with an empty history" --out "$broken" --resume --epochs 3 "${common[@]}"
grep -q "history is incomplete" "$work/err" || fail "$(cat "$work/err")"
rm "$broken/metrics.csv"
expect_status 1 "a resume without metrics.csv" --out "$broken" --resume --epochs 3 "${common[@]}"
{ cat "$work/metrics.csv"; tail -n 1 "$work/metrics.csv"; } > "$broken/metrics.csv"
expect_status 1 "a resume with an epoch twice" --out "$broken" --resume --epochs 3 "${common[@]}"
grep -q "where epoch 3 was expected" "$work/err" || fail "$(cat "$work/err")"
echo "ok: a damaged history is refused"

# A learned prior (--prior-components) is the checkpoint's: a run resumed
# after its first epoch gives the uninterrupted run's second epoch, and a
# resume may not name the flag.
"$vae_train" --out "$work/prior-whole" --epochs 2 "${model[@]}" "${common[@]}" \
  --prior-components 3 > /dev/null || fail "the run with a mixture prior failed"
"$vae_train" --out "$work/prior-parts" --epochs 1 "${model[@]}" "${common[@]}" \
  --prior-components 3 > /dev/null || fail "the first epoch with a mixture prior failed"
grep -aq '"VAE_OPT_PRIOR_COMPONENTS":"3"' "$work/prior-parts/checkpoint.safetensors" \
  || fail "the checkpoint does not hold --prior-components 3"
"$vae_train" --out "$work/prior-parts" --resume --epochs 2 "${common[@]}" > /dev/null \
  || fail "the resume with a mixture prior failed"
[[ $(elbo "$work/prior-parts" 2) == "$(elbo "$work/prior-whole" 2)" ]] \
  || fail "mixture prior: epoch 2's test ELBO resumed $(elbo "$work/prior-parts" 2), uninterrupted $(elbo "$work/prior-whole" 2)"
expect_status 2 "a resume with --prior-components" --out "$work/prior-parts" --resume --epochs 3 \
  "${common[@]}" --prior-components 3
echo "ok: a run with a mixture prior resumes exactly"

# Values outside the library's ranges are usage errors.
for bad in "--lr 2e6" "--beta 2e6" "--log-variance 31" "--min-log-variance -31" \
           "--variance decoder --min-log-variance nan" "--seed 9210000000000000000" \
           "--final-lr 2e6" "--clip-norm 1e31" "--lr-warmup 72057594037927936" \
           "--lr-decay 0" "--lr-schedule step" "--prior-components 1025"; do
  read -r -a bad_flags <<< "$bad"
  expect_status 2 "$bad" --out "$work/bad" --epochs 1 "${common[@]}" "${bad_flags[@]}" \
    --likelihood gaussian
done
echo "ok: out-of-range values exit 2"
