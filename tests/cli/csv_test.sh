#!/usr/bin/env bash
# The CSV reader through `bn predict`, `bn train` and `bn eval`: which first
# row is a header, which rows are errors (named by file and line), what is
# accepted (CRLF, a byte-order mark, blank trailing lines, subnormals), that
# predictions stay aligned with their rows, and that --output is replaced
# atomically.
#   csv_test.sh csv|output BN WORKDIR
set -u
mode=$1 bn=$2 work=$3
rm -rf "$work" && mkdir -p "$work" || exit 1
export BN_DATA="$work/no-default-dataset"   # never the real dataset
. "$(dirname "$0")/lib.sh"

# A model with 3 inputs, trained on rows x0,x1,x2,label (label: x0 + x1 > 1).
awk 'BEGIN { srand(7); print "x0,x1,x2,label";
             for (i = 0; i < 200; i++) { a = rand(); b = rand(); c = rand();
               printf "%.4f,%.4f,%.4f,%d\n", a, b, c, (a + b > 1) } }' > "$work/train3.csv"
"$bn" train --train "$work/train3.csv" --hidden 8 --epochs 20 --batch-size 20 --quiet \
  --output "$work/m3.bnm" > /dev/null || { echo "could not train the 3-input model"; exit 1; }
m3=$work/m3.bnm

# put NAME CONTENT: write CONTENT (printf escapes) to $work/NAME.
put() { printf "$2" > "$work/$1"; }

if [ "$mode" = csv ]; then
  # ---- the same three samples in every accepted form: identical predictions
  put ref.csv '0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n'
  "$bn" predict "$m3" "$work/ref.csv" --probabilities > "$work/ref.out" || bad "predict ref.csv"
  [ "$(wc -l < "$work/ref.out")" -eq 4 ] && ok "a numeric first row is data (3 samples)" \
    || bad "ref.csv: $(wc -l < "$work/ref.out") lines of output, expected 4"
  same() {  # same NAME CONTENT DESCRIPTION [options]: predictions equal ref.out
    put "$1" "$2"
    local out
    out=$("$bn" predict "$m3" "$work/$1" --probabilities "${@:4}" 2>&1)
    if [ "$out" = "$(cat "$work/ref.out")" ]; then ok "$3"; else
      bad "$3"; printf '%s\n' "$out" | head -5 | sed 's/^/    /'; fi
  }
  same header.csv 'a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "a text first row is a header"
  same quoted.csv '"a","b","c"\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "quoted header names"
  same crlf.csv 'a,b,c\r\n0.1,0.2,0.3\r\n0.9,0.8,0.7\r\n0.5,0.5,0.5\r\n' "CRLF line ends"
  same bom.csv '\xef\xbb\xbf0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "a BOM before a numeric first row"
  same bomhead.csv '\xef\xbb\xbfa,b,c\r\n0.1,0.2,0.3\r\n0.9,0.8,0.7\r\n0.5,0.5,0.5\r\n' \
    "a BOM before a header, CRLF"
  same trailing.csv '0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n\n  \n\r\n\n' "blank trailing lines"
  same leading.csv '\n\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "blank lines before the first row"
  same leadhead.csv '\xef\xbb\xbf\r\n\na,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "a BOM, blank lines, then a header"
  same nolf.csv '0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5' "no newline at the end"
  same spaces.csv ' 0.1 , 0.2,0.3\n0.9,\t0.8,0.7\n0.5,0.5,0.5 \n' "blanks around fields"
  same label.csv 'y,a,b,c\n1,0.1,0.2,0.3\n0,0.9,0.8,0.7\n1,0.5,0.5,0.5\n' "--label NAME skips the label column" --label y
  same label0.csv '1,0.1,0.2,0.3\n0,0.9,0.8,0.7\n1,0.5,0.5,0.5\n' "--label 0 (no header)" --label 0
  same labelm.csv '0.1,0.2,7,0.3\n0.9,0.8,7,0.7\n0.5,0.5,7,0.5\n' "--label -2" --label -2
  same forced.csv '9,9,9\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "--header skips a numeric first row" --header
  same stdin.csv '0.1,0.2,0.3\n0.9,0.8,0.7\n0.5,0.5,0.5\n' "the same from standard input"
  out=$("$bn" predict "$m3" - --probabilities < "$work/stdin.csv")
  [ "$out" = "$(cat "$work/ref.out")" ] && ok "predict - reads standard input" || bad "predict -"

  # A subnormal (strtof's ERANGE) is a number like any other: here it gives the same
  # prediction as 0 (the input BatchNorm subtracts a mean near 0.5).
  put zero.csv '0,0.2,0.3\n0.9,0.8,0.7\n'
  put subnormal.csv '1e-40,0.2,0.3\n0.9,0.8,1.4e-45\n'
  a=$("$bn" predict "$m3" "$work/zero.csv" --probabilities | sed -n 2p)
  b=$("$bn" predict "$m3" "$work/subnormal.csv" --probabilities 2>&1)
  if [ "$(printf '%s\n' "$b" | wc -l)" -eq 3 ] && [ "$(printf '%s\n' "$b" | sed -n 2p)" = "$a" ]; then
    ok "subnormal values in the first row are data"
  else bad "subnormals: '$b' vs '$a'"; fi

  # ---- a first row of numbers that are not usable is an error, never a header
  err() {  # err NAME CONTENT PATTERN DESCRIPTION [options]
    put "$1" "$2"
    expect 1 "$1:$3" "$4" -- "$bn" predict "$m3" "$work/$1" "${@:5}"
  }
  err nan.csv 'nan,0.2,0.3\n0.9,0.8,0.7\n' "1: field 1 \\('nan'\\) is NaN" "NaN in the first row"
  err inf.csv '0.1,inf,0.3\n0.9,0.8,0.7\n' "1: field 2 \\('inf'\\) is infinite" "inf in the first row"
  err minf.csv '0.1,0.2,-Infinity\n' "1: field 3 .* is infinite" "-Infinity in the first row"
  err big.csv '1e39,0.2,0.3\n0.9,0.8,0.7\n' "1: field 1 \\('1e39'\\) is outside float's range" "1e39 in the first row"
  err huge.csv '0.1,0.2,1e400\n' "1: field 3 .* is outside float's range" "1e400 (beyond double)"
  err comma.csv '0.1,0.2,0.3,\n0.9,0.8,0.7,\n' "1: field 4 \\(''\\) is empty" "a trailing comma in the first row"
  err bomnan.csv '\xef\xbb\xbfnan,0.2,0.3\n' "1: field 1 .* is NaN" "a BOM and NaN in the first row"
  err nan3.csv 'a,b,c\n0.1,0.2,0.3\n0.4,NaN,0.6\n' "3: field 2 \\('NaN'\\) is NaN" "NaN in a later row: its line"
  err crlf3.csv 'a,b,c\r\n0.1,0.2,0.3\r\n0.4,x,0.6\r\n' "3: field 2 \\('x'\\) is not a number" "CRLF: line numbers"
  err short.csv '0.1,0.2,0.3\n0.4,0.5\n' "2: 2 fields, the first row has 3" "a row with too few fields"
  err long.csv 'a,b,c\n0.1,0.2,0.3\n0.4,0.5,0.6,0.7\n' "3: 4 fields, the first row has 3" "a row with too many fields"
  err trail2.csv '0.1,0.2,0.3\n0.4,0.5,0.6,\n' "2: 4 fields, the first row has 3" "a trailing comma in a later row"
  err double.csv '0.1,0.2,0.3\n0.4,,0.6\n' "2: field 2 \\(''\\) is empty" "a doubled comma"
  err stray.csv '0.1,0.2,0.3\n0.4,0.5;0.6,0.7\n' "2: field 2 \\('0.5;0.6'\\) is not a number" "a stray separator"
  err space.csv '0.1,0.2,0.3\n0.4,0.5 0.6,0.7\n' "2: field 2 .* is not a number" "two numbers in one field"
  err blank1.csv '\n\r\n  \na,b,c\n0.1,0.2,0.3\n0.4,nan,0.6\n' "6: field 2 \\('nan'\\) is NaN" \
    "blank first lines: later lines keep their numbers"
  err blank2.csv '\n0.1,0.2,0.3\n0.4,0.5\n' "3: 2 fields" "a blank first line before numeric rows: numbering"
  err blank3.csv 'a,b,c\n0.1,0.2,0.3\n\n0.4,0.5,0.6\n' "3: blank line between rows" "a blank line inside the data"
  err blank5.csv 'a,b,c\n\n\n\n0.4,0.5,0.6\n' "2: blank line between rows" "blank lines after the header"
  err nohead.csv 'a,b,c\n0.1,0.2,0.3\n' "1: field 1 \\('a'\\) is not a number" "--no-header: a text row is an error" --no-header
  err wide.csv '0.1,0.2,0.3,0.4\n' "1: 4 values, the model takes 3" "rows wider than the model's input"
  err semicolon.csv '0.1;0.2;0.3\n0.4;0.5;0.6\n' "2: field 1 .* is not a number" "semicolon-separated rows"
  printf '0.1,0.2,0.3\n0.4,0\0005,0.6\n' > "$work/nul.csv"
  expect 1 'nul.csv:2: holds a NUL byte' "a NUL byte" -- "$bn" predict "$m3" "$work/nul.csv"
  put head.csv 'a,b,c\n'
  expect 1 'head.csv: no samples \(only a header row\)' "a header without rows" -- "$bn" predict "$m3" "$work/head.csv"
  put empty.csv ''
  expect 1 'empty.csv: no samples' "an empty file" -- "$bn" predict "$m3" "$work/empty.csv"
  expect 1 'missing.csv: No such file' "a missing file" -- "$bn" predict "$m3" "$work/missing.csv"
  expect 2 'exclude each other' "--header with --no-header" -- \
    "$bn" predict "$m3" "$work/ref.csv" --header --no-header
  expect 1 "no column is named 'z'" "--label of an unknown name" -- \
    "$bn" predict "$m3" "$work/label.csv" --label z
  expect 1 'label 4: the rows have 4 fields' "--label out of range" -- \
    "$bn" predict "$m3" "$work/label.csv" --label 4
  expect 1 'names a column, but the file has no header' "--label NAME without a header" -- \
    "$bn" predict "$m3" "$work/label0.csv" --label y

  # ---- labels in training and evaluation
  lbl() {  # lbl NAME CONTENT PATTERN DESCRIPTION [options]
    put "$1" "$2"
    expect 1 "$1:$3" "$4" -- "$bn" train --train "$work/$1" --hidden 4 --epochs 1 --quiet \
      --output "$work/l.bnm" "${@:5}"
  }
  lbl frac.csv 'a,b,y\n1,2,0\n3,4,1\n5,6,2.5\n' "4: label 2.5 is not a class index" "a fractional class label: its line"
  lbl neg.csv '1,2,0\n3,4,-1\n' "2: label -1 is not a class index" "a negative class label"
  lbl target.csv 'a,b,y\n1,2,0\n3,4,1.5\n' "3: target 1.5 is outside \\[0, 1\\]" "a sigmoid target above 1" --head sigmoid
  lbl nanlab.csv '1,2,0\n3,4,nan\n' "2: field 3 \\('nan'\\) is NaN" "a NaN label"
  put mid.csv 'a,y,b\n0.1,0,0.2\n0.9,1,0.8\n0.2,0,0.1\n0.8,1,0.9\n'
  expect 0 '^training accuracy' "--label NAME in the middle, no test data" -- \
    "$bn" train --train "$work/mid.csv" --label y --hidden 4 --epochs 2 --batch-size 2 \
    --output "$work/mid.bnm"
  expect 0 'data: .*mid.csv \(4 test samples\)' "eval --test CSV --label NAME" -- \
    "$bn" eval "$work/mid.bnm" --test "$work/mid.csv" --label y
  expect 1 'the model takes 3 inputs, .*mid.csv has 2 features' "eval: a model of another width" -- \
    "$bn" eval "$m3" --test "$work/mid.csv" --label y
  expect 2 '--data and --train/--test exclude each other' "train --data with --train" -- \
    "$bn" train --data "$work" --train "$work/mid.csv"
  expect 2 'go with --train FILE' "train --test without --train" -- "$bn" train --test "$work/mid.csv"
  expect 2 '--data and --test exclude each other' "eval --data with --test" -- \
    "$bn" eval "$m3" --data "$work" --test "$work/mid.csv"
  expect 1 'a separate labels file is for .npy' "--train-labels with a CSV" -- \
    "$bn" train --train "$work/mid.csv" --train-labels "$work/mid.csv"
  # Every training row is used: 200 rows in, 200 samples trained on.
  expect 0 'data: .*train3.csv \(200 training, 200 test samples, 3 inputs, 2 classes\)' \
    "train and test from the same CSV: every row counted" -- \
    "$bn" train --train "$work/train3.csv" --test "$work/train3.csv" --hidden 4 --epochs 1 \
    --output "$work/all.bnm"
  finish
fi

# ---- output: bn predict --output replaces the file atomically -----------------------
out=$work/out.csv
"$bn" predict "$m3" "$work/train3.csv" --label label --output "$out" || bad "predict --output"
[ "$(wc -l < "$out")" -eq 201 ] && ok "predict --output writes 200 rows" || bad "predict --output: $(wc -l < "$out") lines"
cp "$out" "$work/before.csv"
printf '0.1,0.2,0.3\n' > "$work/one.csv"
leftovers() { ls -A "$1" | grep -c '^\.out\.csv\.' ; }
# A file-size limit of 1 KiB: the 4 KiB of output cannot be written.
(ulimit -f 1; "$bn" predict "$m3" "$work/train3.csv" --label label --probabilities --output "$out") \
  > "$work/ulimit.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'File too large' "$work/ulimit.log" && cmp -s "$out" "$work/before.csv" \
   && [ "$(leftovers "$work")" -eq 0 ]; then
  ok "a file-size limit: error, old file intact, no temporary file left"
else
  bad "file-size limit: exit $rc, $(cat "$work/ulimit.log"), leftovers $(leftovers "$work")"
fi
mkdir -p "$work/dir.csv"
expect 1 'cannot write .*dir.csv' "--output names a directory" -- \
  "$bn" predict "$m3" "$work/one.csv" --output "$work/dir.csv"
[ -d "$work/dir.csv" ] && [ "$(ls -A "$work" | grep -c '^\.dir\.csv\.')" -eq 0 ] \
  && ok "the directory is untouched, no temporary file left" || bad "directory target"
expect 1 'cannot write .*nowhere/p.csv' "--output in a missing directory" -- \
  "$bn" predict "$m3" "$work/one.csv" --output "$work/nowhere/p.csv"
cmp -s "$out" "$work/before.csv" && ok "failed runs left the old output intact" || bad "old output changed"
chmod 640 "$out"
"$bn" predict "$m3" "$work/one.csv" --output "$out"
[ "$(stat -c %a "$out")" = 640 ] && [ "$(wc -l < "$out")" -eq 2 ] \
  && ok "replacing keeps the file's mode (640)" || bad "mode after replace: $(stat -c %a "$out")"
(umask 077; "$bn" predict "$m3" "$work/one.csv" --output "$work/new.csv")
[ "$(stat -c %a "$work/new.csv")" = 600 ] && ok "a new file honours the umask (077 -> 600)" \
  || bad "new file mode $(stat -c %a "$work/new.csv")"
printf 'old\n' > "$work/target.csv"
ln -sf target.csv "$work/link.csv"
"$bn" predict "$m3" "$work/one.csv" --output "$work/link.csv"
[ -L "$work/link.csv" ] && [ "$(wc -l < "$work/target.csv")" -eq 2 ] \
  && ok "a symbolic link is written through to its target" || bad "symlink replaced"
expect 0 '' "--output /dev/null is written, not replaced" -- \
  "$bn" predict "$m3" "$work/one.csv" --output /dev/null
[ -c /dev/null ] && ok "/dev/null is still a device" || bad "/dev/null was replaced"
out2=$("$bn" predict "$m3" "$work/one.csv" --output /dev/stdout | cat)
[ "$(printf '%s\n' "$out2" | wc -l)" -eq 2 ] && ok "--output /dev/stdout into a pipe" \
  || bad "--output /dev/stdout: '$out2'"
if [ -w /dev/full ]; then
  expect 1 'cannot write the output: No space left' "--output /dev/full" -- \
    "$bn" predict "$m3" "$work/train3.csv" --label label --output /dev/full
fi
# An unwritable directory (as root, whom permissions do not stop, run as nobody).
as_user=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
if [ "$(id -u)" -ne 0 ] || [ ${#as_user[@]} -gt 0 ]; then
  mkdir -p "$work/ro" && cp "$work/before.csv" "$work/ro/out.csv" && chmod 555 "$work/ro"
  chmod 644 "$m3" "$work/one.csv"
  expect 1 'cannot write .*ro/out.csv: Permission denied' "an unwritable directory" -- \
    "${as_user[@]}" "$bn" predict "$m3" "$work/one.csv" --output "$work/ro/out.csv"
  cmp -s "$work/ro/out.csv" "$work/before.csv" && ok "unwritable directory: old file intact" \
    || bad "unwritable directory: old file changed"
  chmod 755 "$work/ro"
else
  echo "note: running as root without setpriv: the unwritable-directory case is not testable"
fi
if [ -w /dev/full ]; then
  expect 1 'cannot write the predictions to standard output' "standard output full" -- \
    bash -c '"$1" predict "$2" "$3" > /dev/full' _ "$bn" "$m3" "$work/one.csv"
fi
finish
