#!/bin/bash
# vae-train stopped by SIGINT and SIGTERM: exit status 130 / 143, one line
# naming the checkpoint, a checkpoint and metrics.csv that agree (one row per
# epoch done), and a --resume that ends as the uninterrupted run ends, to the
# last digit. Also: a run stopped between an epoch's row and its checkpoint,
# Ctrl-C in the final log-likelihood estimate, and SIGINT
# ignored when the run started (a background job of a script) stays ignored.
# With a launcher (MPIEXEC and its flags for two ranks): SIGTERM to both ranks,
# or to one of them, stops them together. Every wait is bounded.
# usage: check_vae_train_signals.sh VAE_TRAIN [MPIEXEC FLAG...]
set -euo pipefail

vae_train=$1
shift
launcher=("$@")
work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
readonly deadline_s=120

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/*.err; do
    [[ -f $f ]] && { echo "--- $f"; tail -5 "$f"; } >&2
  done
  exit 1
}

# 16000 training rows and 400 test rows of 8x8 bytes (IDX).
# shellcheck source-path=SCRIPTDIR source=idx_data.sh
source "$(dirname "$0")/idx_data.sh"
idx_file 16000 1 > "$work/train.idx"
idx_file 400 2 > "$work/test.idx"
model=(--hidden 256 --latent 2 --seed 7)
common=(--data "$work/train.idx" --test "$work/test.idx" --batch 8 --threads 1 --backend cpu)

# Starts vae-train in the background (SIGINT at its default action, whatever
# this shell inherited), its output in $work/NAME.out and .err.
start() {
  local name=$1
  shift
  env --default-signal=INT "$vae_train" "$@" > "$work/$name.out" 2> "$work/$name.err" &
  pid=$!
}

data_rows() {
  local file=$1/metrics.csv
  if [[ -f $file ]]; then echo $(($(wc -l < "$file") - 1)); else echo 0; fi
}

# Waits until metrics.csv in DIR holds N rows, while the run goes on.
wait_for_rows() {
  local dir=$1 rows=$2
  local end=$((SECONDS + deadline_s))
  until (($(data_rows "$dir") >= rows)); do
    kill -0 "$pid" 2>/dev/null || fail "the run ended before $dir/metrics.csv had $rows rows"
    ((SECONDS < end)) || fail "no $rows rows in $dir/metrics.csv after ${deadline_s}s"
    sleep 0.05
  done
}

# Waits for the run to end; sets $status to its exit status.
wait_for_exit() {
  local end=$((SECONDS + deadline_s))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || fail "the run did not end ${deadline_s}s after the signal"
    sleep 0.05
  done
  status=0
  wait "$pid" || status=$?
  pid=""
}

expect_stop() {
  local name=$1 want_status=$2 signal_name=$3 dir=$4
  wait_for_exit
  ((status == want_status)) || fail "$name: exit status $status, not $want_status"
  grep -q "^vae-train: interrupted by $signal_name.*continue with --resume --out $dir\$" \
    "$work/$name.err" || fail "$name: no 'interrupted by $signal_name' line"
  local rows
  rows=$(data_rows "$dir")
  grep -q "holds the $rows epoch(s) done" "$work/$name.err" ||
    fail "$name: the line does not name the $rows epochs of metrics.csv"
  [[ -f $dir/loss.png ]] || fail "$name: no loss.png"
}

run=$work/run
# Ctrl-C after the first epoch.
start first --out "$run" --epochs 1000 "${model[@]}" "${common[@]}" --ll-samples 0
wait_for_rows "$run" 1
kill -INT "$pid"
expect_stop first 130 SIGINT "$run"
epochs=$(data_rows "$run")

# SIGTERM after one more epoch of a resumed run, which loaded the checkpoint
# at the epoch metrics.csv ends with.
start second --out "$run" --resume --epochs 1000 "${common[@]}" --ll-samples 0
wait_for_rows "$run" $((epochs + 1))
kill -TERM "$pid"
expect_stop second 143 SIGTERM "$run"
grep -q "^resuming $run after epoch $epochs of 1000\$" "$work/second.out" ||
  fail "the resumed run did not start after epoch $epochs"
epochs=$(data_rows "$run")

# To the end: exactly one row per epoch, the same rows as a run never stopped.
total=$((epochs + 2))
"$vae_train" --out "$run" --resume --epochs "$total" "${common[@]}" --ll-samples 0 \
  > "$work/third.out" || fail "the last --resume failed"
seq 1 "$total" | diff - <(tail -n +2 "$run/metrics.csv" | cut -d, -f1) > /dev/null ||
  fail "metrics.csv does not hold epochs 1..$total once each"
"$vae_train" --out "$work/whole" --epochs "$total" "${model[@]}" "${common[@]}" --ll-samples 0 \
  > "$work/whole.out" || fail "the uninterrupted run failed"
diff <(cut -d, -f1-5 "$run/metrics.csv") <(cut -d, -f1-5 "$work/whole/metrics.csv") ||
  fail "the interrupted and resumed run differs from the uninterrupted one"

# A run stopped between an epoch's metrics.csv row, written first, and its
# checkpoint: --resume drops the row and trains that epoch again, to the
# same numbers.
between=$work/between
"$vae_train" --out "$between" --epochs $((total - 1)) "${model[@]}" "${common[@]}" \
  --ll-samples 0 > "$work/between.out" || fail "the run to epoch $((total - 1)) failed"
tail -n 1 "$work/whole/metrics.csv" | awk -F, -v OFS=, '{ $2 = 0; print }' >> "$between/metrics.csv"
"$vae_train" --out "$between" --resume --epochs "$total" "${common[@]}" --ll-samples 0 \
  > "$work/between_resumed.out" || fail "the --resume after a row past the checkpoint failed"
grep -q "dropped 1 row(s) of epochs after the checkpoint's $((total - 1))" \
  "$work/between_resumed.out" || fail "the --resume did not say it dropped the row"
diff <(cut -d, -f1-5 "$between/metrics.csv") <(cut -d, -f1-5 "$work/whole/metrics.csv") ||
  fail "the epoch trained again differs from the uninterrupted run's"

# Ctrl-C in the final log-likelihood estimate: the checkpoint stays as it was.
cp "$run/checkpoint.safetensors" "$work/saved.safetensors"
start estimate --out "$run" --resume --epochs "$total" "${common[@]}" --ll-samples 100000
end=$((SECONDS + deadline_s))
until grep -q '^estimating the test log-likelihood' "$work/estimate.out"; do
  kill -0 "$pid" 2>/dev/null || fail "the estimate run ended before it began the estimate"
  ((SECONDS < end)) || fail "no estimate after ${deadline_s}s"
  sleep 0.05
done
kill -INT "$pid"
expect_stop estimate 130 SIGINT "$run"
grep -q "during the log-likelihood estimate" "$work/estimate.err" ||
  fail "the line does not say that the estimate stopped"
cmp -s "$run/checkpoint.safetensors" "$work/saved.safetensors" ||
  fail "the stopped estimate changed the checkpoint"
(($(data_rows "$run") == total)) || fail "the stopped estimate changed metrics.csv"

# SIGINT ignored at the start stays ignored; SIGTERM still stops the run.
env --ignore-signal=INT "$vae_train" --out "$work/ignoring" --epochs 1000 "${model[@]}" \
  "${common[@]}" --ll-samples 0 > "$work/ignoring.out" 2> "$work/ignoring.err" &
pid=$!
wait_for_rows "$work/ignoring" 1
kill -INT "$pid"
wait_for_rows "$work/ignoring" 3
kill -TERM "$pid"
expect_stop ignoring 143 SIGTERM "$work/ignoring"
echo "vae-train stops at SIGINT and SIGTERM and resumes exactly ($total epochs)"

((${#launcher[@]} > 0)) || exit 0

# Starts two ranks under the launcher into $work/NAME, waits for their first
# epoch and sets rank_pids to the ranks' processes.
start_ranks() {
  local name=$1
  "${launcher[@]}" "$vae_train" --out "$work/$name" --epochs 1000 "${model[@]}" "${common[@]}" \
    --ll-samples 0 > "$work/$name.out" 2> "$work/$name.err" &
  pid=$!
  wait_for_rows "$work/$name" 1
  mapfile -t rank_pids < <(pgrep -f -- "--out $work/$name " | grep -vx "$pid")
  ((${#rank_pids[@]} == 2)) || fail "found ${#rank_pids[@]} ranks, not 2"
}

start_ranks ranks
kill -TERM "${rank_pids[@]}"
expect_stop ranks 143 SIGTERM "$work/ranks"
echo "two ranks stop together after epoch $(data_rows "$work/ranks")"

# SIGTERM to one rank alone: it asks the other in its part of its next step,
# and both stop at the same step, rank 0 reporting the signal.
start_ranks one_rank
kill -TERM "${rank_pids[1]}"
expect_stop one_rank 143 SIGTERM "$work/one_rank"
echo "a signal to one of two ranks stops both after epoch $(data_rows "$work/one_rank")"
