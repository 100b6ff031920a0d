#!/usr/bin/env bash
# The contract of `bn train` across processes: `mpirun -np N bn train` writes
# the same model as `bn train` (every parameter and running statistic within
# 1e-5 of its tensor's largest value), for SGD, momentum and Batch
# Renormalization (fixed limits that clip: the schedule would keep r = 1 and
# d = 0 for the first 5000 steps, plain BatchNorm), on a small
# generated CSV whose last global batch (203 = 8*25 + 3) still has a sample
# per process. Then a failing run: a rank's data file differs, and every
# rank stops with an error instead of hanging, leaving no model file. Then
# Ctrl-C reaching one process only: every process stops after the same step
# and rank 0 saves a resumable model.
#   mpi_test.sh NPROCS BN PYTHON WORKDIR [MPIRUN ARGS...]
set -u
np=$1 bn=$2 python=$3 work=$4
shift 4
mpirun=("$@")
rm -rf "$work" && mkdir -p "$work" || exit 1
export BN_DATA="$work/no-default-dataset"   # never the real dataset
. "$(dirname "$0")/lib.sh"

awk 'BEGIN { srand(11); print "x0,x1,x2,x3,x4,label";
             for (i = 0; i < 203; i++) { a = rand(); b = rand(); c = rand(); d = 3 * rand();
               e = rand() - 0.5;
               printf "%.4f,%.4f,%.4f,%.4f,%.4f,%d\n", a, b, c, d, e, (a + b > 1) + (d > 1.5) } }' \
  > "$work/train.csv"
common=(train --train "$work/train.csv" --hidden 16,8 --epochs 3 --batch-size 25
        --schedule constant --quiet)

for options in "--optimizer sgd" "--optimizer momentum" \
               "--optimizer momentum --renorm --rmax 1.5 --dmax 0.5"; do
  read -r -a extra <<< "$options"
  optimizer=${options#--optimizer }
  "$bn" "${common[@]}" "${extra[@]}" --output "$work/one.bnm" > /dev/null \
    || { bad "bn train ($optimizer)"; continue; }
  out=$("${mpirun[@]}" -np "$np" "$bn" "${common[@]}" "${extra[@]}" \
        --output "$work/many.bnm" 2>&1) || { bad "mpirun -np $np bn train ($optimizer)";
                                             printf '%s\n' "$out" | head -20; continue; }
  lines=$(printf '%s\n' "$out" | grep -c "model saved")
  [ "$lines" -eq 1 ] && ok "only rank 0 prints the summary ($optimizer)" \
    || bad "$lines summary lines from $np processes"
  check=$(LD_PRELOAD="${BN_PYTHON_PRELOAD:-}" "$python" - "$work/one.bnm" "$work/many.bnm" <<'PY'
import sys
import numpy as np
import bn
one, many = bn.MLP.load(sys.argv[1]), bn.MLP.load(sys.argv[2])
worst = 0.0
for key, a in one.parameters().items():
    b = many.parameters()[key]
    worst = max(worst, float(np.max(np.abs(a.astype(float) - b)) / max(np.max(np.abs(a)), 1e-2)))
for layer in range(len(one.hidden) + 1):
    for which in ("running_mean", "running_var"):
        if one.has(layer, which):
            a, b = one.get(layer, which), many.get(layer, which)
            worst = max(worst, float(np.max(np.abs(a.astype(float) - b)) / max(np.max(np.abs(a)), 1e-2)))
print(f"{worst:.3g}")
sys.exit(0 if worst <= 1e-5 else 1)
PY
  ) && ok "mpirun -np $np writes the model of one process ($optimizer; worst $check)" \
    || bad "the models differ ($optimizer): worst relative difference $check"
done

# A rank whose data differs (another sample count): every rank fails, no hang, no model.
head -n 150 "$work/train.csv" > "$work/short.csv"
rm -f "$work/fail.bnm"
out=$(timeout 120 "${mpirun[@]}" -np "$np" bash -c '
  data=$1; shift
  if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then data=${data%train.csv}short.csv; fi
  exec "$@" --train "$data"' _ "$work/train.csv" "$bn" train --hidden 8 --epochs 2 \
  --batch-size 25 --quiet --output "$work/fail.bnm" 2>&1)
status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && [ ! -e "$work/fail.bnm" ]; then
  ok "a rank with other data: every rank stops with an error (exit $status), no model"
else
  bad "a rank with other data: exit $status (124 = hung), model file: $(ls "$work/fail.bnm" 2>&1)"
fi
printf '%s\n' "$out" | grep -q "disagree on sample count" \
  && ok "the error names the disagreement" || { bad "no message about the data"; printf '%s\n' "$out" | head; }

# A global batch smaller than the process count is refused before training.
if [ "$np" -ge 3 ]; then
  rm -f "$work/small.bnm"
  out=$(timeout 120 "${mpirun[@]}" -np "$np" "$bn" train --train "$work/train.csv" --hidden 8 \
        --epochs 1 --batch-size 2 --quiet --output "$work/small.bnm" 2>&1)
  status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && [ ! -e "$work/small.bnm" ] \
     && printf '%s\n' "$out" | grep -q "batch-size 2 is smaller than the $np processes"; then
    ok "--batch-size below the process count is refused (exit $status)"
  else
    bad "--batch-size 2 on $np processes: exit $status"; printf '%s\n' "$out" | head -5
  fi
fi

# SIGINT to the last process alone, once an epoch is done (the history file
# has its row): the processes agree to stop, rank 0 saves, nobody hangs.
awk 'BEGIN { srand(5); print "a,b,c,d,label";
             for (i = 0; i < 3000; i++) { a = rand(); b = rand(); c = rand(); d = rand();
               printf "%.4f,%.4f,%.4f,%.4f,%d\n", a, b, c, d, (a + b > c + d) } }' > "$work/long.csv"
rm -f "$work/stopped.bnm" "$work"/pid.* "$work/history.csv"
timeout 200 "${mpirun[@]}" -np "$np" bash -c 'echo $$ > "$1/pid.${OMPI_COMM_WORLD_RANK:-0}"
  shift; exec "$@"' _ "$work" "$bn" train --train "$work/long.csv" --hidden 16,8 --epochs 100000 \
  --batch-size 16 --history "$work/history.csv" --output "$work/stopped.bnm" \
  > "$work/interrupt.out" 2>&1 &
runner=$!
for _ in $(seq 1500); do
  [ "$(wc -l < "$work/history.csv" 2> /dev/null || echo 0)" -ge 2 ] && break
  sleep 0.1
done
kill -INT "$(cat "$work/pid.$((np - 1))")"
wait "$runner"
status=$?
if [ "$status" -ne 124 ] && grep -q "interrupted by signal 2" "$work/interrupt.out" \
   && "$bn" info "$work/stopped.bnm" > /dev/null 2>&1; then
  ok "Ctrl-C reaching one process: every process stops, rank 0 saves (exit $status)"
else
  bad "Ctrl-C reaching one process: exit $status (124 = hung)"; tail -5 "$work/interrupt.out"
fi
finish
