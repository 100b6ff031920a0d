#!/usr/bin/env bash
# Tests of the `bn` program on a small IDX dataset generated here (the real
# Fashion-MNIST is never used).
#   cli_test.sh e2e|errors BN MAKE_IDX WORKDIR
set -u
mode=$1 bn=$2 make_idx=$3 work=$4
rm -rf "$work" && mkdir -p "$work/data" "$work/plain" || exit 1
"$make_idx" "$work/data" 800 200 || { echo "make_idx failed"; exit 1; }
"$make_idx" "$work/plain" 300 100 plain || { echo "make_idx plain failed"; exit 1; }
export BN_DATA="$work/no-default-dataset"   # never the real dataset

. "$(dirname "$0")/lib.sh"

model=$work/model.bnm
train_small() {
  "$bn" train --data "$work/data" --hidden 32,16 --epochs 6 --batch-size 32 --seed 1 \
    --output "$model" "$@"
}

if [ "$mode" = e2e ]; then
  expect 0 '^bn [0-9]+\.[0-9]+\.[0-9]+ \(libbn' "version" -- "$bn" --version
  expect 0 'commands:' "help" -- "$bn" --help
  expect 0 '--hidden LIST' "train help" -- "$bn" train --help

  out=$(train_small --history "$work/history.csv" --save-optimizer 2>&1)
  rc=$?
  summary=$(printf '%s\n' "$out" | grep '^test accuracy')
  acc=$(printf '%s\n' "$summary" | sed -E 's/^test accuracy ([0-9.]+).*/\1/')
  if [ $rc -eq 0 ] && [ -n "$acc" ] && awk "BEGIN{exit !($acc >= 0.95)}"; then
    ok "train: $summary"
  else
    bad "train: exit $rc, summary '$summary'"
    printf '%s\n' "$out" | sed 's/^/    /'
  fi
  expect 0 '' "plain lines, no progress bar when not a terminal" -- \
    bash -c "! printf '%s' \"\$1\" | grep -q \$'\\r'" _ "$out"
  if command -v script > /dev/null; then  # a pseudo-terminal: the progress bar appears
    out=$(script -qec "'$bn' train --data '$work/data' --hidden 8 --epochs 2 --output '$work/tty.bnm'" /dev/null)
    printf '%s' "$out" | grep -Eq 'epoch 2/2 \[#+\] 100%  loss [0-9.]+  acc [0-9.]+  [0-9]+ samples/s  ETA 0:00' \
      && ok "progress bar on a terminal" || bad "progress bar on a terminal: $out"
  fi
  lines=$(wc -l < "$work/history.csv")
  head=$(head -1 "$work/history.csv")
  if [ "$lines" -eq 7 ] && [ "$head" = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds" ]; then
    ok "history CSV"
  else
    bad "history CSV: $lines lines, header '$head'"
  fi
  expect 0 'format version 2' "info" -- "$bn" info "$model"
  expect 0 'optimizer state: saved' "info: optimizer state" -- "$bn" info "$model"
  expect 0 'layer 1: dense 64 -> 32 \(no bias\), BatchNorm, relu' "info: layers" -- "$bn" info "$model"
  expect 0 'parameters: [0-9]+ trainable' "info: parameter count" -- "$bn" info "$model"
  expect 0 "accuracy $acc " "eval gives the training summary's accuracy" -- \
    "$bn" eval "$model" --data "$work/data"
  expect 0 'confusion matrix' "eval: confusion matrix" -- "$bn" eval "$model" --data "$work/data"
  expect 0 'saved to' "fold" -- "$bn" fold "$model" "$work/folded.bnm"
  expect 0 '784|64 -> 32 \(relu\) -> 16 \(relu\) -> 4 softmax' "folded architecture" -- \
    "$bn" info "$work/folded.bnm"
  expect 0 "accuracy $acc " "folded model, same accuracy" -- \
    "$bn" eval "$work/folded.bnm" --data "$work/data"

  "$bn" predict "$model" "$work/data/t10k-images-idx3-ubyte.gz" --output "$work/p_idx.csv" \
    --probabilities
  rc=$?
  n=$(wc -l < "$work/p_idx.csv")
  [ $rc -eq 0 ] && [ "$n" -eq 201 ] && head -1 "$work/p_idx.csv" | grep -q '^index,class,p0,p1,p2,p3$' \
    && ok "predict IDX" || bad "predict IDX: exit $rc, $n lines"
  "$bn" predict "$model" "$work/data/t10k.csv" > "$work/p_csv.csv"
  rc=$?
  if [ $rc -eq 0 ] && cmp -s <(cut -d, -f1,2 "$work/p_idx.csv") "$work/p_csv.csv"; then
    ok "predict CSV gives the IDX classes"
  else
    bad "predict CSV: exit $rc or different classes"
  fi
  expect 0 '^index,class$' "predict --limit" -- \
    bash -c "\"\$1\" predict \"\$2\" \"\$3\" --limit 3 | head -1" _ "$bn" "$model" "$work/data/t10k.csv"
  n=$("$bn" predict "$model" "$work/data/t10k.csv" --limit 3 | wc -l)
  [ "$n" -eq 4 ] && ok "predict --limit 3: 3 rows" || bad "predict --limit 3: $n lines"

  expect 0 '^test accuracy' "uncompressed IDX, other options" -- \
    "$bn" train --data "$work/plain" --hidden 16 --bn after --activation tanh --no-input-bn \
    --optimizer nesterov --lr 0.05 --schedule constant --epochs 2 --batch-size 50 \
    --threads 1 --recompute-stats --output "$work/plain.bnm"
  expect 0 'tanh, BatchNorm' "info of the AFTER model" -- "$bn" info "$work/plain.bnm"
  expect 0 '^test accuracy' "elu, sgd, no hidden BatchNorm, --quiet" -- \
    "$bn" train --data "$work/plain" --hidden 8,8,8 --bn none --activation elu --optimizer sgd \
    --epochs 1 --quiet --output "$work/elu.bnm"
  expect 0 '^test accuracy' "no hidden layer" -- \
    "$bn" train --data "$work/plain" --hidden none --epochs 1 --quiet --output "$work/lin.bnm"
  finish
fi

# ---- errors: a clear message and a non-zero exit -------------------------------
train_small --quiet > /dev/null 2>&1 || { echo "could not train the model the error tests use"; exit 1; }

expect 2 'usage: bn' "no command" -- "$bn"
expect 2 "unknown command 'frobnicate'" "unknown command" -- "$bn" frobnicate
expect 2 "unknown option '--bogus'" "unknown option" -- "$bn" train --bogus
expect 2 "unknown option '-x'" "short option" -- "$bn" train -x
expect 2 "'--epochs' needs a value" "missing value" -- "$bn" train --epochs
expect 2 'epochs: 0 is out of range' "epochs 0" -- "$bn" train --epochs 0
expect 2 "epochs: '1e3' is not a non-negative integer" "epochs not an integer" -- "$bn" train --epochs 1e3
expect 2 'lr: -1 is out of range' "negative learning rate" -- "$bn" train --lr -1
expect 2 "lr: 'nan' is not a finite number" "NaN learning rate" -- "$bn" train --lr nan
expect 2 'momentum: 1 is out of range' "momentum 1" -- "$bn" train --momentum 1
expect 2 'batch-size: 1 is out of range' "batch size 1" -- "$bn" train --batch-size 1
expect 2 'threads: 0 is out of range' "threads 0" -- "$bn" train --threads 0
expect 2 "seed: '-3' is not" "negative seed" -- "$bn" train --seed -3
expect 2 "hidden: 'x' is not" "bad hidden list" -- "$bn" train --hidden 12,x
expect 2 "hidden: '12,,3' is not" "empty hidden width" -- "$bn" train --hidden 12,,3
expect 2 "unknown value 'swish'" "unknown activation" -- "$bn" train --activation swish
expect 2 "unknown value 'middle'" "unknown placement" -- "$bn" train --bn middle
expect 2 "takes no value" "flag with a value" -- "$bn" train --quiet=1
expect 2 "unexpected argument 'extra'" "extra argument" -- "$bn" train extra
expect 2 'needs a MODEL' "eval without a model" -- "$bn" eval
expect 2 'needs a MODEL and an INPUT' "predict without input" -- "$bn" predict "$model"
expect 2 'needs a MODEL and an OUT' "fold without output" -- "$bn" fold "$model"

expect 1 'is missing: BN_DATA=.*no-default-dataset should hold' "a stale BN_DATA is named" -- \
  "$bn" train --epochs 1
expect 1 'unset BN_DATA .*apt-get install dataset-fashion-mnist' "... beside the package's directory" -- \
  "$bn" train --epochs 1
expect 1 'nowhere/train-images-idx3-ubyte.gz is missing' "missing --data dir" -- \
  "$bn" train --data "$work/nowhere"

bad_data() { rm -rf "$work/bad" && mkdir -p "$work/bad" && cp "$work/data/"*.gz "$work/bad/"; }
bad_data
head -c 300 "$work/data/train-images-idx3-ubyte.gz" > "$work/bad/train-images-idx3-ubyte.gz"
expect 1 'truncated' "truncated gzip images" -- "$bn" train --data "$work/bad" --epochs 1
bad_data
printf '\x00\x00\x08\x03\x00\x00\x03\x20\x00\x00\x00\x08' | gzip > "$work/bad/train-images-idx3-ubyte.gz"
expect 1 'truncated' "header only" -- "$bn" train --data "$work/bad" --epochs 1
bad_data
printf 'P5\n8 8\n255\n0123456789' | gzip > "$work/bad/train-images-idx3-ubyte.gz"
expect 1 'not an IDX file' "wrong magic" -- "$bn" train --data "$work/bad" --epochs 1
bad_data
cp "$work/data/train-labels-idx1-ubyte.gz" "$work/bad/train-images-idx3-ubyte.gz"
expect 1 '1 dimensions, expected 2 to 3' "labels given as images" -- "$bn" train --data "$work/bad" --epochs 1
bad_data
cp "$work/data/t10k-labels-idx1-ubyte.gz" "$work/bad/train-labels-idx1-ubyte.gz"
expect 1 'holds 800 images but .* holds 200 labels' "image/label count mismatch" -- \
  "$bn" train --data "$work/bad" --epochs 1
bad_data
rm "$work/bad/t10k-labels-idx1-ubyte.gz"
expect 1 't10k-labels-idx1-ubyte.gz is missing' "missing test labels" -- "$bn" train --data "$work/bad" --epochs 1
bad_data
{ gzip -dc "$work/data/train-labels-idx1-ubyte.gz"; printf 'xx'; } | gzip > "$work/bad/train-labels-idx1-ubyte.gz"
expect 1 'trailing data' "labels longer than the header says" -- "$bn" train --data "$work/bad" --epochs 1
bad_data
printf '\x00\x00\x08\x03\x00\xff\xff\xff\x00\x00\x00\xff\x00\x00\x00\xff' | gzip > "$work/bad/train-images-idx3-ubyte.gz"
expect 1 'cannot hold them' "a header announcing 1 TB allocates nothing" -- \
  "$bn" train --data "$work/bad" --epochs 1
printf '\x00\x00\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' | gzip > "$work/bad/train-images-idx3-ubyte.gz"
expect 1 'dimensions overflow' "a header announcing 2^96 bytes" -- \
  "$bn" train --data "$work/bad" --epochs 1
expect 1 'output: cannot write' "output in a missing directory" -- \
  "$bn" train --data "$work/data" --hidden 4 --epochs 1 --output "$work/nowhere/m.bnm"

expect 1 'cannot load the model: .*missing.bnm' "eval of a missing model" -- "$bn" eval "$work/missing.bnm"
head -c 100 "$model" > "$work/truncated.bnm"
expect 1 'truncated.*\[bad size\]' "eval of a truncated model" -- "$bn" eval "$work/truncated.bnm" --data "$work/data"
cp "$model" "$work/flipped.bnm"
printf '\x55' | dd of="$work/flipped.bnm" bs=1 seek=500 conv=notrunc status=none
expect 1 'checksum' "info of a corrupted model" -- "$bn" info "$work/flipped.bnm"
expect 1 'bad magic' "a CSV file is not a model" -- "$bn" info "$work/data/t10k.csv"
printf '1,2,3\n' > "$work/short.csv"
expect 1 'short.csv:1: 3 values, the model takes 64' "CSV row of the wrong length" -- \
  "$bn" predict "$model" "$work/short.csv"
printf 'a,b,c\n1,x,3\n' > "$work/text.csv"
expect 1 "text.csv:2: field 2 \('x'\) is not a number" "CSV with text" -- "$bn" predict "$model" "$work/text.csv"
expect 1 'samples of 1 values, the model takes 64' "predict on a labels file" -- \
  "$bn" predict "$model" "$work/data/t10k-labels-idx1-ubyte.gz"
finish
