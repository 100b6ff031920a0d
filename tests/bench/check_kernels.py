#!/usr/bin/python3
"""Accuracy and bit-exactness check of libbn's kernels (a tool for loop work,
not a ctest test).

1. Compares every kernel (forward training/inference, backward
   training/inference, fused ReLU or not, ld > F, in place) with a float64
   numpy reference, on every ISA path (BN_ISA=generic and the default).
2. Checks the fused-ReLU contract: the backward's mask is the forward's own
   output (dx == 0 wherever y == 0 and dy != 0 would otherwise flow).
3. With --ref-lib OLD.so, checks that the outputs are bit-identical to those
   of another build of the library (e.g. before a loop change that must not
   change results) for the same ISA path.
4. With --threads 1,2, runs the layer (bn_batchnorm_forward / _backward)
   with each thread count: its outputs against float64 and, with --ref-lib,
   bit for bit against the other build's at the same count (the stateless
   kernels run on one thread).

Usage: /usr/bin/python3 tests/bench/check_kernels.py --lib build/src/libbn.so
           [--ref-lib /path/to/old/libbn.so] [--large] [--isa generic,default]
           [--threads 1,2]
"""
import argparse
import ctypes as C
import os
import sys

import numpy as np

P = C.POINTER(C.c_float)
SZ = C.c_size_t


def load(path):
    lib = C.CDLL(os.path.abspath(path))
    lib.bn_batchnorm_forward_training.argtypes = [SZ, SZ, P, SZ, P, P, C.c_float, C.c_uint,
                                                  P, SZ, P, P, P]
    lib.bn_batchnorm_forward_inference.argtypes = [SZ, SZ, P, SZ, P, P, P, P, C.c_float,
                                                   C.c_uint, P, SZ]
    lib.bn_batchnorm_backward_training.argtypes = [SZ, SZ, P, SZ, P, SZ, P, P, P, P, C.c_uint,
                                                   P, SZ, P, P]
    lib.bn_batchnorm_backward_inference.argtypes = [SZ, SZ, P, SZ, P, SZ, P, P, P, P,
                                                    C.c_float, C.c_uint, P, SZ, P, P]
    lib.bn_batchnorm_create.argtypes = [C.POINTER(C.c_void_p), SZ, C.c_uint]
    lib.bn_batchnorm_destroy.argtypes = [C.c_void_p]
    lib.bn_batchnorm_set_eps.argtypes = [C.c_void_p, C.c_float]
    lib.bn_batchnorm_set_threads.argtypes = [C.c_void_p, C.c_uint]
    lib.bn_batchnorm_set.argtypes = [C.c_void_p, C.c_int, P, SZ]
    lib.bn_batchnorm_get.argtypes = [C.c_void_p, C.c_int, P, SZ]
    lib.bn_batchnorm_forward.argtypes = [C.c_void_p, C.c_int, SZ, P, SZ, P, SZ]
    lib.bn_batchnorm_backward.argtypes = [C.c_void_p, SZ, P, SZ, P, SZ, P, SZ]
    return lib


def ptr(a):
    return None if a is None else a.ctypes.data_as(P)


def layer_key(name, threads):
    """The output key of the layer's `name` run on `threads` threads."""
    return name if threads == 1 else f"{name}/t{threads}"


def run_all(lib, F, N, ld, relu, x, dy, gamma, beta, mean_in, var_in, inplace, threads=(1,)):
    """Every kernel once, the layer once per thread count; returns a dict of
    output arrays."""
    eps = np.float32(1e-3)
    flags = 1 if relu else 0
    out = {}
    y = x.copy() if inplace else np.full((N, ld), np.nan, np.float32)
    sm, si, bv = (np.zeros(F, np.float32) for _ in range(3))
    st = lib.bn_batchnorm_forward_training(F, N, ptr(y if inplace else x), ld, ptr(gamma),
                                           ptr(beta), eps, flags, ptr(y), ld, ptr(sm), ptr(si),
                                           ptr(bv))
    assert st == 0, st
    out.update(y=y, saved_mean=sm, saved_invstd=si, batch_var=bv)

    yi = np.full((N, ld), np.nan, np.float32)
    st = lib.bn_batchnorm_forward_inference(F, N, ptr(x), ld, ptr(mean_in), ptr(var_in),
                                            ptr(gamma), ptr(beta), eps, flags, ptr(yi), ld)
    assert st == 0, st
    out["y_inf"] = yi

    dx = dy.copy() if inplace else np.full((N, ld), np.nan, np.float32)
    dg, db = np.zeros(F, np.float32), np.zeros(F, np.float32)
    st = lib.bn_batchnorm_backward_training(F, N, ptr(x), ld, ptr(dx if inplace else dy), ld,
                                            ptr(sm), ptr(si), ptr(gamma), ptr(beta), flags,
                                            ptr(dx), ld, ptr(dg), ptr(db))
    assert st == 0, st
    out.update(dx=dx, dgamma=dg, dbeta=db)

    dxi = np.full((N, ld), np.nan, np.float32)
    dgi, dbi = np.zeros(F, np.float32), np.zeros(F, np.float32)
    st = lib.bn_batchnorm_backward_inference(F, N, ptr(x), ld, ptr(dy), ld, ptr(mean_in),
                                             ptr(var_in), ptr(gamma), ptr(beta), eps, flags,
                                             ptr(dxi), ld, ptr(dgi), ptr(dbi))
    assert st == 0, st
    out.update(dx_inf=dxi, dgamma_inf=dgi, dbeta_inf=dbi)

    # The layer keeps the forward's residual: its fused-ReLU backward takes
    # the two-pass path (grad_sums without the sum of d).
    for t in threads:
        h = C.c_void_p()
        assert lib.bn_batchnorm_create(C.byref(h), F, (1 << 5) if relu else 0) == 0
        try:
            assert lib.bn_batchnorm_set_eps(h, eps) == 0
            assert lib.bn_batchnorm_set_threads(h, t) == 0
            lib.bn_batchnorm_set(h, 1, ptr(gamma), F)
            lib.bn_batchnorm_set(h, 2, ptr(beta), F)
            ly = np.full((N, ld), np.nan, np.float32)
            assert lib.bn_batchnorm_forward(h, 1, N, ptr(x), ld, ptr(ly), ld) == 0
            ldx = np.full((N, ld), np.nan, np.float32)
            assert lib.bn_batchnorm_backward(h, N, ptr(x), ld, ptr(dy), ld, ptr(ldx), ld) == 0
            ldg, ldb = np.zeros(F, np.float32), np.zeros(F, np.float32)
            lib.bn_batchnorm_get(h, 5, ptr(ldg), F)
            lib.bn_batchnorm_get(h, 6, ptr(ldb), F)
            for name, value in (("layer_y", ly), ("layer_dx", ldx), ("layer_dgamma", ldg),
                                ("layer_dbeta", ldb)):
                out[layer_key(name, t)] = value
        finally:
            lib.bn_batchnorm_destroy(h)
    return out


def reference(F, N, relu, x, dy, gamma, beta, mean_in, var_in, lib_y):
    eps = float(np.float32(1e-3))
    X = x[:, :F].astype(np.float64)
    G = dy[:, :F].astype(np.float64)
    g, b = gamma.astype(np.float64), beta.astype(np.float64)
    mu, var = X.mean(0), X.var(0)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (X - mu) * invstd
    y = g * xhat + b
    ref = {"y": np.maximum(y, 0) if relu else y, "batch_var": var}
    # The mask of the fused ReLU is the library's own y > 0 (its boundary
    # cases are the float rounding of y, which the reference does not model).
    Gm = G * (lib_y[:, :F] > 0) if relu else G
    db = Gm.sum(0)
    dg = (Gm * xhat).sum(0)
    ref["dx"] = g * invstd / N * (N * Gm - db - xhat * dg)
    ref["dgamma"], ref["dbeta"] = dg, db
    si = 1.0 / np.sqrt(var_in.astype(np.float64) + eps)
    yi = g * (X - mean_in) * si + b
    ref["y_inf"] = np.maximum(yi, 0) if relu else yi
    return ref


def close(name, got, want, scale, tol, errors, ctx):
    got = np.asarray(got, np.float64)
    err = np.max(np.abs(got - want) / (scale + 1e-30)) if got.size else 0.0
    if not np.all(np.isfinite(got)) or err > tol:
        errors.append(f"{ctx}: {name} error {err:.3g} > {tol}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--ref-lib")
    ap.add_argument("--isa", default="generic,default")
    ap.add_argument("--large", action="store_true",
                    help="also cases above the streaming-store threshold (32 MiB of output), "
                         "whole-column streaming of F > 1024 included")
    ap.add_argument("--threads", default="1",
                    help="thread counts for the layer's runs, e.g. 1,2 (default 1)")
    a = ap.parse_args()
    threads = tuple(int(t) for t in a.threads.split(","))
    lib = load(a.lib)
    ref_lib = load(a.ref_lib) if a.ref_lib else None
    rng = np.random.default_rng(7)
    shapes = [(F, N) for F in (1, 3, 7, 8, 15, 16, 17, 33, 64, 100, 256, 1000)
              for N in (2, 3, 4, 5, 7, 8, 13, 64, 257)]
    # feature blocks (F > 1024), and from 16 MiB of input the prefetching walk
    # (columns of a page or more) and the reductions' one-column sweeps (shorter);
    # beyond 2048 features from 8 MiB, four columns per sweep of the normalize pass
    shapes += [(2000, 5), (1025, 9), (100, 6000), (1000, 700), (1500, 400), (3000, 250),
               (1100, 3900), (64, 66000), (3000, 800), (2100, 1100)]
    if a.large:
        shapes += [(256, 70000), (4096, 4503), (3001, 2900)]
    errors, checked, bitexact = [], 0, 0
    for isa in a.isa.split(","):
        if isa == "default":
            os.environ.pop("BN_ISA", None)
        else:
            os.environ["BN_ISA"] = isa
        for (F, N) in shapes:
            for ld in ((F, F + 3) if N * F < 4 * 10**6 else (F,)):
                for relu in (False, True):
                    inplace = (F + N + ld) % 3 == 0 and N * F < 4 * 10**6
                    ctx = f"isa={isa} F={F} N={N} ld={ld} relu={relu} inplace={inplace}"
                    shift = rng.uniform(-3, 3, F).astype(np.float32)
                    x = (rng.standard_normal((N, ld)) * rng.uniform(0.1, 2, ld) + np.r_[shift, np.zeros(ld - F)]).astype(np.float32)
                    dy = rng.standard_normal((N, ld)).astype(np.float32)
                    gamma = rng.uniform(0.5, 1.5, F).astype(np.float32)
                    beta = rng.uniform(-0.5, 0.5, F).astype(np.float32)
                    mean_in = (shift + rng.uniform(-0.1, 0.1, F)).astype(np.float32)
                    var_in = rng.uniform(0.5, 2, F).astype(np.float32)
                    out = run_all(lib, F, N, ld, relu, x, dy, gamma, beta, mean_in, var_in, inplace,
                                  threads)
                    r = reference(F, N, relu, x, dy, gamma, beta, mean_in, var_in, out["y"])
                    ys = np.abs(r["y"]).max() + 1
                    close("y", out["y"][:, :F], r["y"], ys, 1e-5, errors, ctx)
                    for t in threads:
                        close(layer_key("y (layer)", t), out[layer_key("layer_y", t)][:, :F], r["y"],
                              ys, 1e-5, errors, ctx)
                    close("batch_var", out["batch_var"], r["batch_var"], r["batch_var"] + 1e-30, 1e-5, errors, ctx)
                    close("y_inf", out["y_inf"][:, :F], r["y_inf"], np.abs(r["y_inf"]).max() + 1, 1e-5, errors, ctx)
                    if N > 2:  # N == 2 makes xhat = +-1 and dx ~ 0: only absolute error makes sense
                        dxs = np.abs(dy[:, :F]).max() * np.abs(gamma).max() * np.max(out["saved_invstd"]) + 1e-6
                        close("dx", out["dx"][:, :F], r["dx"], dxs, 2e-4, errors, ctx)
                        for t in threads:
                            close(layer_key("dx (layer)", t), out[layer_key("layer_dx", t)][:, :F],
                                  r["dx"], dxs, 2e-4, errors, ctx)
                    gs = np.abs(dy[:, :F]).sum(0).max() + 1e-6
                    close("dgamma", out["dgamma"], r["dgamma"], gs, 2e-5, errors, ctx)
                    close("dbeta", out["dbeta"], r["dbeta"], gs, 2e-5, errors, ctx)
                    if relu:  # the backward's mask is the forward's output, bit for bit
                        m = (out["y"][:, :F] == 0) & (out["dx"][:, :F] != out["dx"][:, :F])
                        if np.any(m):
                            errors.append(f"{ctx}: NaN in dx")
                        if 1 in threads and not np.array_equal(out["layer_y"][:, :F], out["y"][:, :F]):
                            errors.append(f"{ctx}: layer and kernel forward differ")
                        if 1 in threads and not np.array_equal(out["layer_dx"][:, :F], out["dx"][:, :F]):
                            errors.append(f"{ctx}: layer (kept residual) and kernel (measured residual) backward differ")
                    # padding columns of outputs must be untouched
                    if ld > F and not np.all(np.isnan(out["y_inf"][:, F:])):
                        errors.append(f"{ctx}: wrote outside F x N")
                    checked += 1
                    if ref_lib is not None:
                        o2 = run_all(ref_lib, F, N, ld, relu, x, dy, gamma, beta, mean_in, var_in,
                                     inplace, threads)
                        for k in out:
                            if not np.array_equal(out[k], o2[k], equal_nan=True):
                                d = np.nanmax(np.abs(out[k].astype(np.float64) - o2[k]))
                                errors.append(f"{ctx}: {k} not bit-identical to the reference library (max diff {d:.3g})")
                        bitexact += 1
    os.environ.pop("BN_ISA", None)
    for e in errors[:40]:
        print("FAIL", e)
    print(f"{checked} cases checked against float64, {bitexact} compared bit for bit, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
