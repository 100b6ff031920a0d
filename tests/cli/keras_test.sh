#!/usr/bin/env bash
# `bn train` with Keras' conventions, and .npy input; checked against
# model_check.py (numpy and the Python binding, reading the saved models).
#   keras_test.sh keras|npy BN MAKE_IDX PYTHON WORKDIR
# keras: the Keras example of the documents (Dense 64 -> BN -> ReLU -> Dense 32 -> BN ->
#        ReLU -> Dense 1 sigmoid, Adam, binary cross-entropy, 15 epochs, batch 16, 100
#        samples of 10 random features and random 0/1 labels, from a CSV written here);
#        the two Keras Fashion-MNIST models on a small generated IDX dataset; --init,
#        --bn-eps, --bn-momentum, --biased-running-var.
# npy:   .npy features and labels: dtypes, layouts, and what is refused.
set -u
mode=$1 bn=$2 make_idx=$3 python=$4 work=$5
rm -rf "$work" && mkdir -p "$work" || exit 1
export BN_DATA="$work/no-default-dataset"   # never the real dataset
. "$(dirname "$0")/lib.sh"
check() {
  if [ -n "${BN_PYTHON_PRELOAD:-}" ]; then  # an ASan build: the runtime first, no leak report
    LD_PRELOAD=$BN_PYTHON_PRELOAD ASAN_OPTIONS=detect_leaks=0 "$python" "$(dirname "$0")/model_check.py" "$@"
  else
    "$python" "$(dirname "$0")/model_check.py" "$@"
  fi
}

# 100 samples of 10 uniform features and a random 0/1 label, with a header row.
awk 'BEGIN { srand(3); printf "f0"; for (j = 1; j < 10; j++) printf ",f%d", j; print ",label";
             for (i = 0; i < 100; i++) { for (j = 0; j < 10; j++) printf "%.6f,", rand();
                                        print (rand() < 0.5 ? 0 : 1) } }' > "$work/keras.csv"

if [ "$mode" = keras ]; then
  keras=(--train "$work/keras.csv" --head sigmoid --hidden 64,32 --activation relu --bn before
         --no-input-bn --init glorot-uniform --bn-eps 1e-3 --bn-momentum 0.99 --biased-running-var
         --optimizer adam --lr 0.001 --schedule constant --epochs 15 --batch-size 16 --seed 1)
  out=$("$bn" train "${keras[@]}" --output "$work/keras.bnm" 2>&1)
  rc=$?
  epochs=$(printf '%s\n' "$out" | grep -c '^epoch ')
  if [ $rc -eq 0 ] && [ "$epochs" -eq 15 ] \
     && printf '%s\n' "$out" | grep -q '10 -> 64 (BN, relu) -> 32 (BN, relu) -> 1 sigmoid; 2913 parameters' \
     && printf '%s\n' "$out" | grep -q '^training accuracy'; then
    ok "the Keras example trains: $(printf '%s\n' "$out" | tail -1)"
  else
    bad "the Keras example: exit $rc, $epochs epochs"; printf '%s\n' "$out" | sed 's/^/    /'
  fi
  # Keras counts 3009 trainable parameters: the same plus the biases of the two dense
  # layers before BatchNorm (64 + 32), which BatchNorm's shift makes redundant.
  "$bn" eval "$work/keras.bnm" --test "$work/keras.csv" > "$work/eval.txt" 2>&1 || bad "eval: $(cat "$work/eval.txt")"
  grep -Eq '^precision [0-9.]+  recall [0-9.]+' "$work/eval.txt" && ok "eval of a sigmoid unit: precision and recall" \
    || bad "eval output: $(cat "$work/eval.txt")"
  "$bn" predict "$work/keras.bnm" "$work/keras.csv" --label label --probabilities > "$work/p.csv"
  expect 0 '^accuracy' "eval's accuracy, loss, precision and recall equal a float64 reference" -- \
    check metrics "$work/p.csv" "$work/keras.csv" "$work/eval.txt"
  expect 0 '^ok' "the model keeps eps 1e-3, update factor 0.01, biased running variance" -- \
    check constants "$work/keras.bnm" 0.001 0.01 1
  # Training accuracy over the epochs (batch statistics) and the evaluation (running
  # statistics) agree once the running statistics have converged: with momentum 0.9
  # (update factor 0.1) 15 epochs of 7 steps are enough.
  "$bn" train "${keras[@]}" --bn-momentum 0.9 --output "$work/keras9.bnm" > /dev/null 2>&1
  acc=$("$bn" eval "$work/keras9.bnm" --test "$work/keras.csv" | sed -nE 's/^accuracy ([0-9.]+).*/\1/p')
  awk "BEGIN{exit !($acc >= 0.75)}" && ok "random labels are learnt: training-set accuracy $acc" \
    || bad "training-set accuracy $acc < 0.75"

  expect 2 'exclude each other' "--bn-momentum with --bn-update-factor" -- \
    "$bn" train --bn-momentum 0.99 --bn-update-factor 0.1
  expect 2 'bn-momentum: 1 is out of range' "--bn-momentum 1 (no update at all)" -- "$bn" train --bn-momentum 1
  expect 2 'bn-update-factor: 0 is out of range' "--bn-update-factor 0" -- "$bn" train --bn-update-factor 0
  expect 2 'bn-eps: 0 is out of range' "--bn-eps 0" -- "$bn" train --bn-eps 0
  expect 2 "unknown value 'lecun'" "unknown --init" -- "$bn" train --init lecun
  expect 2 "unknown value 'tanh'" "unknown --head" -- "$bn" train --head tanh
  expect 0 '' "train with --bn-update-factor 0.25 --bn-eps 0.01" -- bash -c \
    "'$bn' train --train '$work/keras.csv' --hidden 4 --epochs 1 --bn-update-factor 0.25 --bn-eps 0.01 \
     --quiet --output '$work/f.bnm' > /dev/null"
  expect 0 '^ok' "--bn-update-factor 0.25 and --bn-eps 0.01 in the model" -- check constants "$work/f.bnm" 0.01 0.25 0

  # Running variance: one epoch, one batch of all 100 samples, update factor 1, no
  # learning (SGD with lr 1e-30): the input BatchNorm's running variance is the
  # data's variance, biased (n) with --biased-running-var, unbiased (n - 1) without.
  stats=(--train "$work/keras.csv" --head sigmoid --hidden 4 --epochs 1 --batch-size 100
         --bn-update-factor 1 --optimizer sgd --lr 1e-30 --quiet)
  "$bn" train "${stats[@]}" --biased-running-var --output "$work/biased.bnm" > /dev/null
  expect 0 '^ok' "--biased-running-var: running variance = var(x, ddof=0)" -- \
    check running_var "$work/biased.bnm" "$work/keras.csv" 1
  "$bn" train "${stats[@]}" --output "$work/unbiased.bnm" > /dev/null
  expect 0 '^ok' "default: running variance = var(x, ddof=1)" -- \
    check running_var "$work/unbiased.bnm" "$work/keras.csv" 0

  # --init and --head-init: the weights (no learning) are exactly the documented draws
  # from the seeded generator, with each scheme's spread and bound.
  mkdir -p "$work/idx" "$work/fm"
  "$make_idx" "$work/idx" 400 100 > /dev/null || { echo "make_idx failed"; exit 1; }
  for schemes in "he-uniform glorot-uniform" "he-normal glorot-uniform" "glorot-normal glorot-normal" \
                 "he-uniform he-uniform" "glorot-uniform he-normal"; do
    set -- $schemes
    "$bn" train --data "$work/idx" --hidden 300,100 --init "$1" --head-init "$2" --seed 7 \
      --optimizer sgd --lr 1e-30 --epochs 1 --quiet --output "$work/init.bnm" > /dev/null
    expect 0 '^ok' "--init $1 --head-init $2: exact draws, right spread" -- \
      check init "$work/init.bnm" 7 "$1" "$2"
  done

  # The Keras Fashion-MNIST models (input BN, Dense 300 and 100, ELU, He normal, a
  # Glorot-uniform head, eps 1e-3, momentum 0.99, biased running variance, SGD lr 1e-3,
  # batch 32, 10 epochs) on 8x8 images of 4 classes: BN after the activation, and BN
  # before it without bias.
  "$make_idx" "$work/fm" 800 200 > /dev/null || { echo "make_idx failed"; exit 1; }
  fashion=(--data "$work/fm" --hidden 300,100 --activation elu --init he-normal
           --head-init glorot-uniform --bn-eps 1e-3 --bn-momentum 0.99 --biased-running-var
           --optimizer sgd --lr 0.001 --schedule constant --batch-size 32 --epochs 10)
  for place in after:50932 before:50532; do
    out=$("$bn" train "${fashion[@]}" --bn "${place%:*}" --output "$work/fm_${place%:*}.bnm" 2>&1)
    acc=$(printf '%s\n' "$out" | sed -nE 's/^test accuracy ([0-9.]+).*/\1/p')
    if printf '%s\n' "$out" | grep -q "; ${place#*:} parameters, he-normal init (head glorot-uniform)" \
       && [ -n "$acc" ] && awk "BEGIN{exit !($acc >= 0.95)}"; then
      ok "Keras Fashion-MNIST model, BN ${place%:*} the activation: test accuracy $acc"
    else
      bad "Keras Fashion-MNIST model, BN ${place%:*}"; printf '%s\n' "$out" | tail -3 | sed 's/^/    /'
    fi
  done
  expect 0 'layer 1: dense 64 -> 300, elu, BatchNorm' "BN after: the layers" -- "$bn" info "$work/fm_after.bnm"
  expect 0 'layer 2: dense 300 -> 100 \(no bias\), BatchNorm, elu' "BN before: no bias" -- \
    "$bn" info "$work/fm_before.bnm"
  expect 0 '^ok' "the Fashion-MNIST model keeps Keras' constants" -- \
    check constants "$work/fm_before.bnm" 0.001 0.01 1
  finish
fi

# ---- npy ----------------------------------------------------------------------------
check write_npy "$work" "$work/keras.csv" > /dev/null || { echo "cannot write the .npy files"; exit 1; }
common=(--head sigmoid --hidden 16 --epochs 3 --batch-size 10 --quiet)
"$bn" train --train "$work/keras.csv" "${common[@]}" --output "$work/csv.bnm" > /dev/null
"$bn" train --train "$work/x64.npy" --train-labels "$work/y64.npy" "${common[@]}" --output "$work/npy.bnm" > /dev/null
check same_model "$work/csv.bnm" "$work/npy.bnm" > /dev/null && ok "float64 .npy + int64 labels: the CSV's model, byte for byte" \
  || bad "the .npy-trained model differs from the CSV-trained one"
for y in yu8 yf ybool; do
  "$bn" train --train "$work/x32.npy" --train-labels "$work/$y.npy" "${common[@]}" --output "$work/$y.bnm" > /dev/null
  check same_model "$work/csv.bnm" "$work/$y.bnm" > /dev/null && ok "float32 .npy + $y labels: the same model" || bad "labels $y: another model"
done
"$bn" predict "$work/csv.bnm" "$work/keras.csv" --label label --probabilities > "$work/p_csv.csv"
"$bn" predict "$work/csv.bnm" "$work/x32.npy" --probabilities > "$work/p_npy.csv"
cmp -s "$work/p_csv.csv" "$work/p_npy.csv" && ok "predict .npy: the CSV's predictions" || bad "predict .npy differs"
"$bn" predict "$work/csv.bnm" "$work/xv2.npy" --probabilities > "$work/p_v2.csv"
cmp -s "$work/p_csv.csv" "$work/p_v2.csv" && ok ".npy format version 2.0" || bad ".npy version 2.0 differs"
diff <("$bn" eval "$work/csv.bnm" --test "$work/keras.csv" | tail -n +3) \
     <("$bn" eval "$work/csv.bnm" --test "$work/x32.npy" --test-labels "$work/y64.npy" | tail -n +3) > /dev/null \
  && ok "eval .npy: the CSV's figures" || bad "eval .npy differs"
"$bn" predict "$work/csv.bnm" "$work/xi32.csv" --probabilities > "$work/p_i.csv"
"$bn" predict "$work/csv.bnm" "$work/xi32.npy" --probabilities > "$work/p_inpy.csv"
cmp -s "$work/p_i.csv" "$work/p_inpy.csv" && ok "int32 .npy: the predictions of the same integers in CSV" \
  || bad "int32 .npy differs from its CSV"
expect 0 '^test accuracy' "2-D float targets: two sigmoid units" -- \
  "$bn" train --train "$work/x32.npy" --train-labels "$work/y2.npy" --test "$work/x32.npy" \
  --test-labels "$work/y2.npy" --head sigmoid --hidden 8 --epochs 2 --output "$work/two.bnm"
expect 0 '2 sigmoid units' "eval of two sigmoid units: accuracy over the units" -- \
  "$bn" eval "$work/two.bnm" --test "$work/x32.npy" --test-labels "$work/y2.npy"
expect 0 '1 inputs, 2 classes' "1-D features: one feature per sample" -- \
  "$bn" train --train "$work/x1d.npy" --train-labels "$work/y64.npy" --hidden 4 --epochs 1 --output "$work/one.bnm"
expect 1 '2 label columns; a softmax head takes one' "2-D labels with a softmax head" -- \
  "$bn" train --train "$work/x32.npy" --train-labels "$work/y2.npy" --epochs 1
expect 1 'x32.npy holds 100 samples but .*y99.npy holds 99 labels' "label count mismatch" -- \
  "$bn" train --train "$work/x32.npy" --train-labels "$work/y99.npy" --epochs 1
expect 1 'x32.npy: no labels' ".npy features without labels" -- "$bn" train --train "$work/x32.npy" --epochs 1
expect 1 'is big-endian' "big-endian" -- "$bn" predict "$work/csv.bnm" "$work/big.npy"
expect 1 'Fortran-ordered' "Fortran order" -- "$bn" predict "$work/csv.bnm" "$work/fortran.npy"
expect 1 'more than 2 dimensions' "3-D array" -- "$bn" predict "$work/csv.bnm" "$work/x3d.npy"
expect 1 "dtype '<f2' is not supported" "float16" -- "$bn" predict "$work/csv.bnm" "$work/half.npy"
expect 1 "dtype '<c8' is not supported" "complex" -- "$bn" predict "$work/csv.bnm" "$work/complex.npy"
expect 1 "dtype '\\|O' is not supported" "object array" -- "$bn" predict "$work/csv.bnm" "$work/objects.npy"
expect 1 'nan.npy: element \[3, 2\] is NaN' "NaN in the features: its element" -- \
  "$bn" predict "$work/csv.bnm" "$work/nan.npy"
expect 1 'truncated: the header announces 4000 data bytes, the file holds 3996' "truncated" -- \
  "$bn" predict "$work/csv.bnm" "$work/truncated.npy"
expect 1 'longer than its header says' "trailing bytes" -- "$bn" predict "$work/csv.bnm" "$work/long.npy"
expect 1 'not a NumPy .npy file' "a CSV named .npy" -- \
  bash -c 'cp "$1" "$2" && "$3" predict "$4" "$2"' _ "$work/keras.csv" "$work/fake.npy" "$bn" "$work/csv.bnm"
expect 2 'go with --train FILE' "--train-labels without --train" -- "$bn" train --train-labels "$work/y64.npy"
expect 1 '--label selects a CSV column' "--label with .npy" -- \
  "$bn" train --train "$work/x32.npy" --train-labels "$work/y64.npy" --label 0
finish
