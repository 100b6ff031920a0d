#!/bin/sh
# Builds the benchmarks (-DBN_BUILD_BENCH=ON, in build-bench/) and runs them
# all: memory bandwidth, libbn per ISA path, oneDNN on 1 and 2 threads,
# PyTorch on 1 and 2 threads. Prints Markdown tables and keeps the raw
# RESULT lines and the tables in build-bench/bench-results/<date>/.
#
# Environment (all optional):
#   BENCH_MIB       sizes of x in MiB            (default 1,8,256)
#   BENCH_FEATURES  feature counts F             (default 64,256,1024,4096)
#   BENCH_ISAS      libbn paths via BN_ISA        (default default,avx2,generic;
#                   "default" is the widest the CPU has: avx512 here)
#   BENCH_REPS      samples per measurement      (default 7; median reported)
#   BENCH_BUDGET    seconds per measurement      (default 0.5, at least 3 samples)
# A full run takes 2-3 minutes on 2 cores. Benchmarks never fail a build:
# a missing oneDNN or PyTorch is reported and skipped.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD="$ROOT/build-bench"
MIB=${BENCH_MIB:-1,8,256}
FEATURES=${BENCH_FEATURES:-64,256,1024,4096}
ISAS=${BENCH_ISAS:-default,avx2,generic}
REPS=${BENCH_REPS:-7}
BUDGET=${BENCH_BUDGET:-0.5}
PY=/usr/bin/python3

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBN_BUILD_BENCH=ON \
  -DBN_BUILD_TESTS=OFF -DBN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD" -j2 --target bench_bandwidth bench_bn bench_isa_name >/dev/null
BENCH="$BUILD/tests/bench"
if cmake --build "$BUILD" -j2 --target bench_dnnl >/dev/null 2>&1; then HAVE_DNNL=1; else HAVE_DNNL=0; fi

OUT="$BUILD/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm)"
  echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  for isa in $(echo "$ISAS" | tr ',' ' '); do
    if [ "$isa" = default ]; then
      echo "# libbn path for BN_ISA unset: $(env -u BN_ISA "$BENCH/bench_isa_name")"
    else
      echo "# libbn path for BN_ISA=$isa: $(BN_ISA=$isa "$BENCH/bench_isa_name")"
    fi
  done
} | tee "$OUT/machine.txt"

echo "== memory bandwidth (1 and 2 threads)"
"$BENCH/bench_bandwidth" 256 2 | tee "$OUT/bandwidth.txt" | grep -v '^#   best'

echo "== libbn ($ISAS)"
"$BENCH/bench_bn" --isa "$ISAS" --features "$FEATURES" --mib "$MIB" --reps "$REPS" \
  --budget "$BUDGET" > "$OUT/libbn.txt"
grep -c RESULT "$OUT/libbn.txt" | sed 's/$/ measurements/'

if [ "$HAVE_DNNL" = 1 ]; then
  for t in 1 2; do
    echo "== oneDNN, OMP_NUM_THREADS=$t"
    OMP_NUM_THREADS=$t "$BENCH/bench_dnnl" --features "$FEATURES" --mib "$MIB" \
      --reps "$REPS" --budget "$BUDGET" > "$OUT/onednn_$t.txt"
    head -1 "$OUT/onednn_$t.txt"
  done
else
  echo "== oneDNN: skipped (bench_dnnl not built: libdnnl-dev missing)"
fi

if "$PY" -c 'import torch' 2>/dev/null; then
  echo "== PyTorch, torch.set_num_threads(1) and (2)"
  "$PY" "$ROOT/tests/bench/bench_torch.py" --threads 1,2 --features "$FEATURES" --mib "$MIB" \
    --reps "$REPS" --budget "$BUDGET" > "$OUT/torch.txt"
  head -1 "$OUT/torch.txt"
else
  echo "== PyTorch: skipped ($PY cannot import torch; Debian: python3-torch)"
fi

echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
"$PY" "$ROOT/tests/bench/report.py" "$OUT"/*.txt | tee "$OUT/tables.md"
echo "raw results and tables: $OUT"
