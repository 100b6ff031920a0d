#!/usr/bin/env bash
# The `bn` program as a person meets it: the progress line on terminals of
# 40, 80 and 120 columns, Ctrl-C and SIGTERM during training, checkpoints,
# early checks of the output paths, --validation-split, plots, and
# byte-identical models from identical runs. Small generated data only.
#   cli_ux_test.sh BN MAKE_IDX WORKDIR HAVE_CAIRO(0|1)
set -u
bn=$1 make_idx=$2 work=$3 have_cairo=$4
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$make_idx" "$work/data" 800 200 || { echo "make_idx failed"; exit 1; }
export BN_DATA="$work/no-default-dataset"   # never the real dataset

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
small=(--data "$work/data" --hidden 32,16 --batch-size 32 --seed 1)

# ---- the progress line on a pseudo-terminal of each width -----------------
for cols in 40 80 120; do
  script -qec "stty cols $cols rows 24; '$bn' train ${small[*]} --epochs 3 --output '$work/tty$cols.bnm'" \
    /dev/null < /dev/null > "$work/tty$cols.txt" 2>&1
  # Every redraw starts with "\r\033[K" and ends at the next "\r"; the
  # per-epoch lines on stdout ("epoch   1/3  loss ...") are printed once.
  widest=$(tr '\r' '\n' < "$work/tty$cols.txt" | sed -n 's/^\x1b\[K\(epoch [0-9]\)/\1/p' |
           awk '{ if (length > w) w = length } END { print w + 0 }')
  draws=$(grep -o $'\x1b\\[Kepoch' "$work/tty$cols.txt" | wc -l)
  check "progress at $cols columns: $draws redraws, widest line $widest < $cols" \
    '[ "$draws" -ge 3 ] && [ "$widest" -lt "$cols" ]'
done
check "120 columns: bar, loss, accuracy, rate and ETA" \
  "grep -Eq 'epoch [0-9]/3 \\[[#.]+\\] +[0-9]+%  loss [0-9.]+  acc [0-9.]+  [0-9]+ samples/s  ETA [0-9]+:[0-9]{2}' '$work/tty120.txt'"
check "40 columns: epoch, bar, loss" \
  "grep -Eq 'epoch [0-9]/3 \\[[#.]+\\] +[0-9]+%  loss [0-9.]+'\$'\\r' '$work/tty40.txt'"
check "the evaluation after each epoch is shown" \
  "grep -q '100%  evaluating  200 test samples' '$work/tty120.txt' && grep -q '100%  evaluating'\$'\\r' '$work/tty40.txt'"
"$bn" train "${small[@]}" --epochs 2 --output "$work/plain.bnm" > "$work/plain.txt" 2> "$work/plain.err"
check "not a terminal: plain lines, no redraws" \
  "! grep -q \$'\\r' '$work/plain.txt' '$work/plain.err' && [ \$(grep -c '^epoch ' '$work/plain.txt') -eq 2 ]"

# ---- SIGINT / SIGTERM: end the step, save, exit 128 + signal ----------------
interrupt_run() {  # interrupt_run SIGNAL CODE
  local sig=$1 code=$2 out=$work/int_$1.bnm hist=$work/int_$1.csv
  rm -f "$out" "$hist"
  # With job control on, the background job keeps SIGINT (a script's
  # background jobs otherwise start with it ignored, and bn respects that).
  set -m
  "$bn" train "${small[@]}" --epochs 100000 --output "$out" --history "$hist" \
    > "$work/int_$sig.txt" 2>&1 &
  local pid=$! waited=0
  set +m
  # Wait until an epoch is done (bounded: 30 s), then signal.
  while [ "$({ wc -l < "$hist"; } 2>/dev/null || echo 0)" -lt 2 ] && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  kill -s "$sig" $pid
  wait $pid
  local rc=$?
  check "SIG$sig: exit $rc (expected $code)" "[ $rc -eq $code ]"
  check "SIG$sig: says it saved" \
    "grep -Eq 'interrupted by signal [0-9]+ after [0-9]+ complete epochs?; model and optimizer state saved to' '$work/int_$sig.txt'"
  check "SIG$sig: the saved model loads, with its optimizer state" \
    "'$bn' info '$out' | grep -q 'optimizer state: saved'"
  check "SIG$sig: no temporary file left" "[ -z \"\$(ls -A '$work' | grep -i tmp)\" ]"
}
interrupt_run INT 130
interrupt_run TERM 143
# An ignored SIGINT (as for a script's background job) stays ignored.
"$bn" train "${small[@]}" --epochs 100000 --output "$work/ign.bnm" --history "$work/ign.csv" \
  > /dev/null 2>&1 &
pid=$! waited=0
while [ "$({ wc -l < "$work/ign.csv"; } 2>/dev/null || echo 0)" -lt 2 ] && [ $waited -lt 300 ]; do
  sleep 0.1
  waited=$((waited + 1))
done
kill -s INT $pid
sleep 0.5
check "an ignored SIGINT does not stop training" "kill -0 $pid 2> /dev/null"
kill -s TERM $pid
wait $pid
rc=$?
check "SIGTERM still does (exit $rc)" "[ $rc -eq 143 ]"

# ---- checkpoints and early checks of the output paths -----------------------
out=$("$bn" train "${small[@]}" --epochs 5 --checkpoint-every 2 --output "$work/ck.bnm" 2>&1)
check "checkpoints at epochs 2 and 4, then the final model" \
  "[ \"\$(printf '%s\n' \"\$out\" | grep -c '^checkpoint: epoch [24] saved to')\" -eq 2 ] && '$bn' info '$work/ck.bnm' > /dev/null"
out=$("$bn" train "${small[@]}" --epochs 1 --output "$work/nowhere/m.bnm" 2>&1); rc=$?
check "unwritable --output fails before training (exit $rc)" \
  "[ $rc -eq 1 ] && printf '%s' \"\$out\" | grep -q -- '--output: cannot write' && ! printf '%s' \"\$out\" | grep -q '^data:'"
out=$("$bn" train "${small[@]}" --epochs 1 --output "$work" 2>&1); rc=$?
check "--output a directory (exit $rc)" "[ $rc -eq 1 ] && printf '%s' \"\$out\" | grep -q 'is a directory'"
out=$("$bn" train "${small[@]}" --epochs 1 --output "$work/p.bnm" --plot "$work/nowhere/c.png" 2>&1); rc=$?
check "unwritable --plot fails before training (exit $rc)" "[ $rc -eq 1 ] && ! printf '%s' \"\$out\" | grep -q '^data:'"
"$bn" train --checkpoint-every x > /dev/null 2>&1; rc=$?
check "--checkpoint-every x is a usage error" "[ $rc -eq 2 ]"

# ---- --validation-split ------------------------------------------------------
for f in 0 1 -0.1 nan; do
  "$bn" train "${small[@]}" --validation-split "$f" > /dev/null 2>&1; rc=$?
  check "--validation-split $f is a usage error" "[ $rc -eq 2 ]"
done
out=$("$bn" train "${small[@]}" --epochs 3 --validation-split 0.25 --history "$work/val.csv" \
      --output "$work/val.bnm" 2>&1); rc=$?
check "validation split: 600 training and 200 validation samples" \
  "[ $rc -eq 0 ] && printf '%s' \"\$out\" | grep -q '(600 training, 200 validation samples'"
check "validation split: epoch lines and summary name the validation set" \
  "printf '%s' \"\$out\" | grep -Eq 'val_loss [0-9.]+  val_acc' && printf '%s' \"\$out\" | grep -q '^validation accuracy'"
check "validation split: history columns val_*" \
  "[ \"\$(head -1 '$work/val.csv')\" = epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds ] && [ \$(wc -l < '$work/val.csv') -eq 4 ]"
"$bn" train "${small[@]}" --epochs 3 --validation-split 0.25 --output "$work/val2.bnm" --quiet > /dev/null
check "validation split: the same seed holds out the same samples (identical models)" \
  "cmp -s '$work/val.bnm' '$work/val2.bnm'"
"$bn" train "${small[@]}" --epochs 3 --validation-split 0.25 --seed 2 --history "$work/val3.csv" \
  --output "$work/val3.bnm" --quiet > /dev/null
check "validation split: another seed, another split" \
  "! cmp -s <(cut -d, -f4 '$work/val.csv') <(cut -d, -f4 '$work/val3.csv')"
check "bn eval still judges on the test set" \
  "'$bn' eval '$work/val.bnm' --data '$work/data' | grep -q 'samples: 200\\|200 samples\\|200 test'"

# ---- plots --------------------------------------------------------------------
png_size() {  # prints "WIDTH HEIGHT" of a PNG after checking its signature and IHDR
  [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = 89504e470d0a1a0a ] || return 1
  [ "$(dd if="$1" bs=1 skip=12 count=4 status=none)" = IHDR ] || return 1
  local w h
  w=$(od -An -tu1 -j16 -N4 "$1" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }')
  h=$(od -An -tu1 -j20 -N4 "$1" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }')
  echo "$w $h"
}
"$bn" train "${small[@]}" --epochs 4 --history "$work/h.csv" --output "$work/h.bnm" \
  --plot "$work/train.png" > /dev/null 2>&1; rc=$?
if [ "$have_cairo" = 1 ]; then
  check "train --plot: a 1000x420 PNG" "[ $rc -eq 0 ] && [ \"\$(png_size '$work/train.png')\" = '1000 420' ]"
  "$bn" plot "$work/h.csv" -o "$work/plot.png" --width 640 --height 300 > /dev/null; rc=$?
  check "bn plot -o: a 640x300 PNG" "[ $rc -eq 0 ] && [ \"\$(png_size '$work/plot.png')\" = '640 300' ]"
  "$bn" plot "$work/val.csv" --output "$work/val.png" > /dev/null; rc=$?
  check "bn plot of a validation history" "[ $rc -eq 0 ] && [ \"\$(png_size '$work/val.png')\" = '1000 420' ]"
  check "PNG chunks are intact (zlib CRC-checked by a decoder)" \
    "! command -v /usr/bin/python3 > /dev/null || /usr/bin/python3 -c 'import sys, zlib, struct
d = open(sys.argv[1], \"rb\").read(); i = 8; idat = b\"\"
while i < len(d):
    n, = struct.unpack(\">I\", d[i:i+4]); t = d[i+4:i+8]; body = d[i+8:i+8+n]
    assert zlib.crc32(t + body) == struct.unpack(\">I\", d[i+8+n:i+12+n])[0], t
    idat += body if t == b\"IDAT\" else b\"\"; i += 12 + n
assert len(zlib.decompress(idat)) == 300 * (1 + 640 * 3)' '$work/plot.png'"
else
  check "without cairo, --plot says so" "[ $rc -eq 1 ]"
  out=$("$bn" plot "$work/h.csv" -o "$work/plot.png" 2>&1); rc=$?
  check "without cairo, bn plot says so" "[ $rc -eq 1 ] && printf '%s' \"\$out\" | grep -q 'built without cairo'"
fi
"$bn" plot "$work/h.csv" > /dev/null 2>&1; rc=$?
check "bn plot without -o is a usage error" "[ $rc -eq 2 ]"
"$bn" plot "$work/h.csv" -o "$work/x.png" --width 10 > /dev/null 2>&1; rc=$?
check "bn plot --width 10 is a usage error" "[ $rc -eq 2 ]"
printf 'epoch,loss\n1,2\n' > "$work/bad.csv"
out=$("$bn" plot "$work/bad.csv" -o "$work/x.png" 2>&1); rc=$?
check "bn plot of a foreign CSV" "[ $rc -eq 1 ] && printf '%s' \"\$out\" | grep -q 'not a header written by bn train'"
head -1 "$work/h.csv" > "$work/empty.csv"; printf '1,0.5,nan,0.1,0.2,1\n' >> "$work/empty.csv"
out=$("$bn" plot "$work/empty.csv" -o "$work/x.png" 2>&1); rc=$?
check "bn plot of a non-finite value names the line" "[ $rc -eq 1 ] && printf '%s' \"\$out\" | grep -q 'empty.csv:2:'"

# ---- determinism (docs/cli.md): same seed, threads, ISA -> identical bytes ----
det() { "$bn" train "${small[@]}" --epochs 3 --quiet --output "$work/$1.bnm" "${@:2}" > /dev/null; }
det d1 --threads 1 && det d2 --threads 1
check "same seed, 1 thread: byte-identical models" "cmp -s '$work/d1.bnm' '$work/d2.bnm'"
det d3 --threads 2 && det d4 --threads 2
check "same seed, 2 threads: byte-identical models" "cmp -s '$work/d3.bnm' '$work/d4.bnm'"
BN_ISA=generic det d5 --threads 1 && BN_ISA=generic det d6 --threads 1
check "same seed, portable loops: byte-identical models" "cmp -s '$work/d5.bnm' '$work/d6.bnm'"
det d7 --threads 1 --seed 2
check "another seed: another model" "! cmp -s '$work/d1.bnm' '$work/d7.bnm'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
