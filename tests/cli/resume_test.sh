#!/usr/bin/env bash
# bn train --resume: a run stopped after k epochs (--stop-after, a
# checkpoint, Ctrl-C) and resumed ends where the uninterrupted run ends; the
# recipe in the model file and bn info; errors for files without a record
# or with a damaged one. Small generated data only.
#   resume_test.sh BN MAKE_IDX WORKDIR PYTHONPATH
set -u
bn=$1 make_idx=$2 work=$3 pythonpath=$4
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$make_idx" "$work/data" 600 150 > /dev/null || { echo "make_idx failed"; exit 1; }
export BN_DATA="$work/no-default-dataset"   # never the real dataset

. "$(dirname "$0")/lib.sh"
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
# Cosine schedule, Adam, a validation split: every piece of state a resume must restore.
run=(--data "$work/data" --hidden 24,12 --epochs 5 --batch-size 32 --seed 7
     --validation-split 0.2 --lr 0.004 --quiet)

# The largest difference of the probabilities two models give the test set.
max_diff() {
  "$bn" predict "$1" "$work/data/t10k.csv" --probabilities > "$work/p1.csv" &&
  "$bn" predict "$2" "$work/data/t10k.csv" --probabilities > "$work/p2.csv" &&
  paste -d, "$work/p1.csv" "$work/p2.csv" | awk -F, 'NR > 1 {
      h = NF / 2; for (i = 3; i <= h; i++) { d = $i - $(i + h); if (d < 0) d = -d; if (d > m) m = d } }
      END { printf "%.3g\n", m + 0 }'
}
agrees() { awk "BEGIN { exit !($1 <= 1e-5) }"; }

"$bn" train "${run[@]}" --output "$work/full.bnm" > /dev/null || bad "the uninterrupted run"

# ---- --stop-after, then --resume -----------------------------------------
expect 0 'stopped after epoch 2 of 5; resumable model saved' "--stop-after 2" -- \
  "$bn" train "${run[@]}" --stop-after 2 --output "$work/stopped.bnm"
expect 0 'recipe: 5 epochs \(2 done\), batch 32, seed 7, init he-normal' "bn info: the recipe" -- \
  "$bn" info "$work/stopped.bnm"
expect 0 'learning rate 0.004 \(cosine schedule; last step [0-9.e-]+\)' \
  "bn info: the base rate, not the decayed one" -- "$bn" info "$work/stopped.bnm"
expect 0 "data: data $work/data validation_split 0.2" "bn info: the data" -- \
  "$bn" info "$work/stopped.bnm"
expect 0 'resumable: bn train --resume continues with epoch 3' "bn info: resumable" -- \
  "$bn" info "$work/stopped.bnm"
cp "$work/stopped.bnm" "$work/stopped-copy.bnm"
expect 0 'resuming .* after epoch 2' "--resume" -- \
  "$bn" train --resume "$work/stopped.bnm" --history "$work/resumed.csv"
d=$(max_diff "$work/full.bnm" "$work/stopped.bnm")
check "resumed after 2 of 5 epochs = uninterrupted (max probability difference $d)" "agrees '$d'"
check "resumed: the model file is byte-identical (same threads and ISA)" \
  "cmp -s '$work/full.bnm' '$work/stopped.bnm'"
check "the resumed history has epochs 3 to 5" \
  "[ \"\$(cut -d, -f1 '$work/resumed.csv' | tail -n +2 | tr '\n' ' ')\" = '3 4 5 ' ]"
expect 0 'recipe: 5 epochs \(5 done\)' "bn info: a finished run" -- "$bn" info "$work/full.bnm"

# ---- checkpoints resume exactly, also a chain of resumes to another --output
"$bn" train --resume "$work/stopped-copy.bnm" --stop-after 4 --checkpoint-every 1 \
  --output "$work/chain.bnm" > "$work/chain.txt" 2>&1
check "a resumed run checkpoints (epoch 3) and stops again (epoch 4)" \
  "grep -q '^checkpoint: epoch 3 saved' '$work/chain.txt' && grep -q 'stopped after epoch 4 of 5' '$work/chain.txt'"
"$bn" train --resume "$work/chain.bnm" > /dev/null 2>&1
d=$(max_diff "$work/full.bnm" "$work/chain.bnm")
check "2 + 1 + 1 + 1 epochs in three runs = uninterrupted (max difference $d)" "agrees '$d'"

# ---- an interrupted run resumes (the interrupted epoch is trained again) --
set -m
"$bn" train --data "$work/data" --hidden 24,12 --epochs 100000 --batch-size 32 \
  --history "$work/int.csv" --output "$work/int.bnm" > /dev/null 2>&1 &
pid=$! waited=0
set +m
while [ "$({ wc -l < "$work/int.csv"; } 2>/dev/null || echo 0)" -lt 2 ] && [ $waited -lt 300 ]; do
  sleep 0.1
  waited=$((waited + 1))
done
kill -s INT $pid
wait $pid
expect 0 'recipe: 100000 epochs \([1-9][0-9]* done' "an interrupted run's file records its position" -- \
  "$bn" info "$work/int.bnm"
# The record counts complete epochs only: an epoch cut short by the signal
# is "part of the next", not done (the history has a row per complete epoch,
# but not one for an epoch completed just as the signal came).
info=$("$bn" info "$work/int.bnm")
done_epochs=$(sed -n 's/^recipe: 100000 epochs (\([0-9]*\) done.*/\1/p' <<< "$info")
rows=$(($(wc -l < "$work/int.csv") - 1))
if grep -q 'done and part of the next' <<< "$info"; then
  check "an epoch cut short is not done ($done_epochs done, $rows in the history)" \
    "[ '$done_epochs' = $rows ]"
  expect 0 "saved inside epoch $((rows + 1)), which is trained again" \
    "resuming an interrupted run trains the cut epoch again" -- \
    "$bn" train --resume "$work/int.bnm" --stop-after $((rows + 1)) --output "$work/int2.bnm"
else
  check "the interrupted run's epochs ($done_epochs done, $rows in the history)" \
    "[ '$done_epochs' = $rows ] || [ '$done_epochs' = $((rows + 1)) ]"
fi

# ---- errors -----------------------------------------------------------------
"$bn" train "${run[@]}" --epochs 1 --output "$work/plain.bnm" > /dev/null
expect 1 'run is complete \(1 of 1 epochs\)' "resuming a finished run" -- \
  "$bn" train --resume "$work/plain.bnm"
expect 2 '--epochs cannot go with --resume' "a recipe option with --resume" -- \
  "$bn" train --resume "$work/stopped-copy.bnm" --epochs 9
expect 2 '--stop-after 2: 2 epochs are already done' "--stop-after behind the record" -- \
  "$bn" train --resume "$work/stopped-copy.bnm" --stop-after 2
py=(env PYTHONPATH="$pythonpath")
if [ -n "${BN_PYTHON_PRELOAD:-}" ]; then  # an ASan build: the runtime first, no leak report
  py+=(LD_PRELOAD="$BN_PYTHON_PRELOAD" ASAN_OPTIONS=detect_leaks=0)
fi
"${py[@]}" /usr/bin/python3 - "$work" <<'PY' || bad "writing the test's models in Python"
import sys, bn
work = sys.argv[1]
m = bn.MLP.load(work + "/stopped-copy.bnm")
m.training_record = b""
m.save(work + "/norecord.bnm", optimizer=True)
good = bn.MLP.load(work + "/stopped-copy.bnm").training_record
m.training_record = good.replace(b"epochs_done=2", b"epochs_done=x")
m.save(work + "/damaged.bnm", optimizer=True)
m.training_record = b"something else\n"
m.save(work + "/foreign.bnm", optimizer=True)
PY
expect 1 'cannot resume .*norecord.bnm: it has no training record' "a file without a record" -- \
  "$bn" train --resume "$work/norecord.bnm"
expect 1 'cannot resume .*damaged.bnm: bad value "x" of epochs_done' "a damaged record" -- \
  "$bn" train --resume "$work/damaged.bnm"
expect 1 'does not start with "bn-train-record v1"' "another program's record" -- \
  "$bn" train --resume "$work/foreign.bnm"
expect 0 'training record: not one of bn train' "bn info on another program's record" -- \
  "$bn" info "$work/foreign.bnm"
expect 1 'cannot read|No such file|cannot open' "a missing file" -- \
  "$bn" train --resume "$work/missing.bnm"
finish
