#!/bin/sh
# End to end (issue 11): `bn train` with its defaults against PyTorch's same
# recipe (bench_train_torch.py), data loading, training and per-epoch
# evaluation included, alternating runs. Wall time and the process's CPU
# time (user + system, all threads) of each; on a loaded machine the CPU
# time of the one-thread runs is the figure to compare.
# Usage: tests/bench/bench_train.sh BN_BINARY [EPOCHS] [REPEATS]
# (TORCH_THREADS="1 2" by default: PyTorch's thread counts. PyTorch's runs
# get OMP_WAIT_POLICY=PASSIVE unless the caller set it: its OpenMP workers
# otherwise spin against OpenBLAS's on this 2-core machine, 2.5x slower on
# two threads than on one; bench_train_torch.py prints the policy.)
# Lines: RESULT_TRAIN,<who>,<threads>,<batch>,<epochs>,<wall s>,<cpu s>,<test accuracy>
set -eu
bn=$1
epochs=${2:-10}
repeats=${3:-1}
here=$(dirname "$0")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_WAIT_POLICY
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg); PyTorch's OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
i=0
while [ "$i" -lt "$repeats" ]; do
  for threads in 1 default; do
    if [ "$threads" = default ]; then opt=""; else opt="--threads $threads"; fi
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e %U %S" -o "$out/time" "$bn" train --epochs "$epochs" $opt \
      --output "$out/model.bnm" --quiet > "$out/log"
    acc=$(grep -o 'accuracy [0-9.]*' "$out/log" | tail -1 | cut -d' ' -f2)
    awk -v t="$threads" -v e="$epochs" -v a="${acc:-?}" \
      '{printf "RESULT_TRAIN,bn,%s,256,%s,%.2f,%.2f,%s\n", t, e, $1, $2 + $3, a}' "$out/time"
  done
  for threads in ${TORCH_THREADS:-1 2}; do
    /usr/bin/python3 "$here/bench_train_torch.py" --threads "$threads" --epochs "$epochs"
  done
  i=$((i + 1))
done
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
