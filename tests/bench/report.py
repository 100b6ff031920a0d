#!/usr/bin/python3
"""Turns the RESULT lines of the benchmarks into Markdown tables.

Usage: /usr/bin/python3 report.py FILE... (files holding RESULT lines; other
lines are ignored). When a measurement appears more than once (several
runs), the best of the medians is kept.

Printed: the bandwidth probe; then, per data size, one table per operation
with a row per feature count F and a column per implementation (GB/s of
minimal bytes; libbn's time per call in microseconds); for data beyond the
caches, the share of the measured bandwidth each column reaches (forward
passes against the better of "copy" and "copy_nt", backward passes against
"triad"/"triad_nt": the same mix of reads and writes, same thread count) and
the rate of the bytes libbn's passes actually move (TRAFFIC below; outputs
that large are written with streaming stores, so there is no write-allocate
read to add).
"""
import sys

# Bytes per element libbn's pass structure moves, over the minimal bytes:
# training forward reads x three times (sum, centered sums, normalize) and
# writes y: 16/8; the backward reads x and dy twice and writes dx: 20/12; the
# kernel's fused-ReLU backward first re-measures the forward's residual (one
# more read of x): 24/12; the layer keeps the residual: 20/12.
TRAFFIC = {"fwd_train": 2.0, "fwd_train_relu": 2.0, "fwd_inf": 1.0, "fwd_inf_relu": 1.0,
           "bwd_train": 20 / 12, "bwd_train_relu": 2.0, "layer_bwd_relu": 20 / 12}

OPS = ["fwd_train", "fwd_train_relu", "fwd_inf", "fwd_inf_relu", "bwd_train",
       "bwd_train_relu", "layer_bwd_relu"]


def load(paths):
    res = {}
    for path in paths:
        with open(path) as fh:
            for line in fh:
                if not line.startswith("RESULT,"):
                    continue
                _, bench, impl, threads, op, F, N, nbytes, ns, gbs = line.strip().split(",")
                key = (bench, impl, int(threads), op, int(F), int(nbytes))
                val = (float(gbs), float(ns))
                if key not in res or val[0] > res[key][0]:
                    res[key] = val
    return res


def column_list(res):
    cols = []
    isas = sorted({k[1] for k in res if k[0] == "libbn"},
                  key=lambda s: {"default": 0, "avx512": 1, "avx2": 2, "generic": 3}.get(s, 9))
    for isa in isas:
        cols.append((f"libbn {isa}", ("libbn", isa, 1)))
    for t in sorted({k[2] for k in res if k[0] == "onednn"}):
        cols.append((f"oneDNN {t}T", ("onednn", "nhwc", t)))
    for t in sorted({k[2] for k in res if k[0] == "torch" and k[1] == "functional"}):
        cols.append((f"torch {t}T", ("torch", "functional", t)))
    return cols


def bandwidth(res):
    bw = {}
    for k, (gbs, _) in res.items():
        if k[0] == "bandwidth":
            bw[(k[3], k[2])] = gbs
    return bw


def main(paths):
    res = load(paths)
    bw = bandwidth(res)
    if bw:
        print("### Memory bandwidth (STREAM counting, 256 MiB arrays)\n")
        kinds = [k for k in ("read", "copy", "triad", "copy_nt", "triad_nt")
                 if any(kk == k for (kk, _) in bw)]
        print("| threads | " + " | ".join(f"{k} GB/s" for k in kinds) + " |")
        print("|---|" + "---|" * len(kinds))
        for t in sorted({t for (_, t) in bw}):
            print(f"| {t} | " + " | ".join(f"{bw.get((k, t), 0):.1f}" for k in kinds) + " |")
        print()
        for t in {t for (_, t) in bw}:  # the ceiling: ordinary or streaming stores
            for k in ("copy", "triad"):
                bw[(k, t)] = max(bw.get((k, t), 0), bw.get((k + "_nt", t), 0))
    cols = column_list(res)
    sizes = sorted({k[5] // (8 if k[3].startswith("fwd") else 12) * 4
                    for k in res if k[0] in ("libbn", "onednn", "torch") and k[3] in OPS})
    for nbytes_x in sizes:
        mib = nbytes_x / 2**20
        print(f"### x = {mib:g} MiB (GB/s of minimal bytes; libbn default: us per call)\n")
        for op in OPS:
            per = 8 if op.startswith("fwd") else 12
            nb = nbytes_x // 4 * per
            rows = sorted({k[4] for k in res if k[3] == op and k[5] == nb})
            if not rows:
                continue
            present = [c for c in cols if any((c[1][0], c[1][1], c[1][2], op, F, nb) in res
                                              for F in rows)]
            head = ["F", "N"] + [c[0] for c in present] + ["us/call"]
            print(f"**{op}**\n")
            print("| " + " | ".join(head) + " |")
            print("|" + "---|" * len(head))
            for F in rows:
                N = nbytes_x // 4 // F
                cells = [str(F), str(N)]
                for _, (b, impl, t) in present:
                    v = res.get((b, impl, t, op, F, nb))
                    cells.append(f"{v[0]:.1f}" if v else "-")
                d = res.get(("libbn", "default", 1, op, F, nb))
                cells.append(f"{d[1] / 1e3:.0f}" if d else "-")
                print("| " + " | ".join(cells) + " |")
            print()
        if mib >= 64 and bw:
            share_table(res, bw, cols, nbytes_x)
    print_extra(res)


def share_table(res, bw, cols, nbytes_x):
    """Each column as a share of the bandwidth its thread count measured."""
    print(f"**x = {nbytes_x / 2**20:g} MiB as % of the measured bandwidth** (forward: "
          "best of copy/copy_nt, backward: best of triad/triad_nt, same thread count; "
          "last column: the rate of the bytes libbn's passes really move, default path)\n")
    head = ["op", "F"] + [c[0] for c in cols] + ["libbn traffic GB/s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for op in OPS:
        per = 8 if op.startswith("fwd") else 12
        nb = nbytes_x // 4 * per
        ref = "copy" if op.startswith("fwd") else "triad"
        for F in sorted({k[4] for k in res if k[3] == op and k[5] == nb}):
            cells = [op, str(F)]
            for _, (b, impl, t) in cols:
                v = res.get((b, impl, t, op, F, nb))
                cells.append(f"{100 * v[0] / bw[(ref, t)]:.0f}%" if v and (ref, t) in bw else "-")
            d = res.get(("libbn", "default", 1, op, F, nb))
            cells.append(f"{d[0] * TRAFFIC[op]:.1f}" if d else "-")
            print("| " + " | ".join(cells) + " |")
    print()


def print_extra(res):
    torch_clone = {k: v for k, v in res.items() if k[0] == "torch" and k[3] == "clone"}
    if torch_clone:
        print("### torch x.clone() (reference: the forward's bytes, fresh output per call)\n")
        print("| x MiB | F | 1T GB/s | 2T GB/s |")
        print("|---|---|---|---|")
        for (nb, F) in sorted({(k[5], k[4]) for k in torch_clone}):
            one = torch_clone.get(("torch", "functional", 1, "clone", F, nb))
            two = torch_clone.get(("torch", "functional", 2, "clone", F, nb))
            print(f"| {nb / 2 / 2**20:g} | {F} | {one[0] if one else 0:.1f} | "
                  f"{two[0] if two else 0:.1f} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
