#!/bin/bash
# vae-train --conditional trains a conditional VAE on the rows' class labels
# as one-hot conditions: samples.png holds a row of samples for each class
# (10 rows of 10 classes), the checkpoint holds the condition width, and a
# run resumed after its first epoch (with its labels again) gives the
# uninterrupted run's second epoch to the last digit. Labels that are not
# given or do not exist, that do not match the rows or lie beyond the
# model's classes, and label flags without a conditional model are refused
# with a message. Where Debian's dataset-fashion-mnist is installed, one
# short epoch on it finds its label files and draws its 10 classes.
# usage: check_vae_train_conditional.sh VAE_TRAIN
set -euo pipefail

vae_train=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 400 training rows and 100 test rows of 8x8 bytes (IDX), labelled i % 10.
# shellcheck source-path=SCRIPTDIR source=idx_data.sh
source "$(dirname "$0")/idx_data.sh"
idx_file 400 1 > "$work/train.idx"
idx_file 100 2 > "$work/test.idx"
idx_labels 400 10 > "$work/train-labels.idx"
idx_labels 100 10 > "$work/test-labels.idx"
data=(--data "$work/train.idx" --test "$work/test.idx")
labels=(--labels "$work/train-labels.idx" --test-labels "$work/test-labels.idx")
common=(--threads 1 --backend cpu --ll-samples 20 --gap-rows 10 --gap-steps 5)
model=(--hidden 16 --latent 2 --seed 3)

# The test ELBO of epoch N in DIR/metrics.csv.
elbo() { awk -F, -v epoch="$2" '$1 == epoch { print $3 }' "$1/metrics.csv"; }

# A PNG's height (IHDR's big-endian height at bytes 20..23).
png_height() {
  od -A n -t u1 -j 20 -N 4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'
}

expect_status() {
  local want=$1 name=$2 words=$3
  shift 3
  local status=0
  "$vae_train" "$@" > "$work/out" 2> "$work/err" || status=$?
  [[ $status == "$want" ]] || fail "$name: exit $status, expected $want: $(cat "$work/err")"
  grep -qF -- "$words" "$work/err" || fail "$name: the message lacks '$words': $(cat "$work/err")"
}

"$vae_train" --out "$work/plain" --epochs 1 "${model[@]}" "${data[@]}" "${common[@]}" \
  > /dev/null || fail "the run without conditions failed"
"$vae_train" --out "$work/whole" --epochs 2 --conditional "${model[@]}" "${data[@]}" \
  "${labels[@]}" "${common[@]}" > "$work/out" || fail "the conditional run failed"
grep -q "^conditions: each row's class label, one-hot over 10 classes" "$work/out" \
  || fail "the setup does not name the conditions: $(cat "$work/out")"
grep -aq '"VAE_OPT_CONDITION_DIM":"10"' "$work/whole/checkpoint.safetensors" \
  || fail "the checkpoint does not hold 10 condition values a row"
for picture in samples reconstructions manifold latent_usage loss; do
  [[ -s $work/whole/$picture.png ]] || fail "$picture.png was not written"
done
# Tiles of 8x8 pixels with 2-pixel gaps: 10 rows of classes where the run
# without conditions draws 8 rows, under the same caption band (both of
# three lines at the font's size, wider than the 82-pixel grid).
plain_height=$(png_height "$work/plain/samples.png")
class_height=$(png_height "$work/whole/samples.png")
(( class_height - plain_height == (10 - 8) * (8 + 2) )) \
  || fail "samples.png is $class_height pixels tall, $plain_height without conditions: not 10 rows"
echo "ok: a conditional run draws a row of samples for each of its 10 classes"

"$vae_train" --out "$work/parts" --epochs 1 --conditional "${model[@]}" "${data[@]}" \
  "${labels[@]}" "${common[@]}" > /dev/null || fail "the first part failed"
"$vae_train" --out "$work/parts" --resume --epochs 2 "${data[@]}" "${labels[@]}" "${common[@]}" \
  > /dev/null || fail "the resume failed"
[[ -n $(elbo "$work/whole" 2) && $(elbo "$work/whole" 2) == "$(elbo "$work/parts" 2)" ]] \
  || fail "epoch 2's test ELBO $(elbo "$work/parts" 2) resumed, $(elbo "$work/whole" 2) uninterrupted"
[[ $(png_height "$work/parts/samples.png") == "$class_height" ]] \
  || fail "the resumed run's samples.png is not of 10 classes"
echo "ok: a conditional run resumes exactly with its labels"

expect_status 2 "a resume without the labels" "give the class labels of --data" \
  --out "$work/parts" --resume --epochs 3 "${data[@]}" "${common[@]}"
expect_status 2 "a resume naming --conditional" "cannot be combined with --resume" \
  --out "$work/parts" --resume --epochs 3 --conditional "${data[@]}" "${labels[@]}"
expect_status 2 "a missing labels file" "does not exist" --out "$work/missing" --conditional \
  "${data[@]}" --labels "$work/none.idx" --test-labels "$work/test-labels.idx" "${common[@]}"
expect_status 2 "--conditional without --labels" "with --labels PATH" --out "$work/unlabelled" \
  --conditional "${data[@]}" "${common[@]}"
expect_status 2 "--conditional without --test-labels" "with --test-labels PATH" \
  --out "$work/unlabelled" --conditional "${data[@]}" --labels "$work/train-labels.idx"
expect_status 2 "--labels without --conditional" "applies only to --conditional" \
  --out "$work/unconditional" "${data[@]}" "${labels[@]}"
expect_status 2 "--labels of a resumed model without conditions" "takes no conditions" \
  --out "$work/plain" --resume --epochs 2 "${data[@]}" "${labels[@]}" "${common[@]}"
expect_status 2 "--labels with fashion-mnist" "fashion-mnist comes with its own labels" \
  --out "$work/fashion" --conditional --labels "$work/train-labels.idx"
idx_labels 399 10 > "$work/short-labels.idx"
expect_status 1 "labels of too few rows" "399 labels for the 400 rows" --out "$work/short" \
  --conditional "${data[@]}" --labels "$work/short-labels.idx" \
  --test-labels "$work/test-labels.idx" "${common[@]}"
idx_labels 100 12 > "$work/wide-labels.idx"
expect_status 1 "a test label beyond the training classes" "one-hot over 10 classes" \
  --out "$work/wide" --conditional "${data[@]}" --labels "$work/train-labels.idx" \
  --test-labels "$work/wide-labels.idx" "${common[@]}"
expect_status 1 "images as labels" "one byte (uint8) a row" --out "$work/images" \
  --conditional "${data[@]}" --labels "$work/train.idx" --test-labels "$work/test-labels.idx" \
  "${common[@]}"
echo "ok: missing, mismatched and unwanted labels are refused"

fashion=/usr/share/datasets/fashion-mnist
if [[ -e $fashion/train-labels-idx1-ubyte.gz && -e $fashion/t10k-labels-idx1-ubyte.gz ]]; then
  "$vae_train" --out "$work/fashion" --conditional --epochs 1 --hidden 16 --latent 2 \
    --threads 1 --backend cpu --ll-samples 0 --gap-rows 0 > "$work/out" \
    || fail "the conditional run on fashion-mnist failed"
  grep -q "one-hot over 10 classes ($fashion/train-labels-idx1-ubyte.gz)" "$work/out" \
    || fail "fashion-mnist's labels were not read: $(grep conditions "$work/out")"
  # Tiles of 28x28 pixels: 10 rows under the caption band of the run above.
  band=$((class_height - 2 - 10 * (8 + 2)))
  [[ $(png_height "$work/fashion/samples.png") == $((band + 2 + 10 * (28 + 2))) ]] \
    || fail "fashion-mnist's samples.png is $(png_height "$work/fashion/samples.png") pixels tall"
  echo "ok: fashion-mnist trains on its 10 classes"
else
  echo "dataset-fashion-mnist is not installed: its conditional run skipped"
fi
