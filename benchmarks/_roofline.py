"""Roofline figures for the ridge benchmarks: the machine's GEMM rate, measured in
the same run, and the FLOP count of each phase of neurotoolkit's ridge engine.

Phases are those of ``RidgeCVResults.info["timings"]`` (``neurotoolkit._ridge._profile``).
FLOP formulas count the dominant products of the engine as it runs them (a
multiply-add is 2 flops); eigendecompositions are counted at the nominal 9 m^3
of a symmetric eigensolver with vectors. The arithmetic intensity (AI) of a phase
is its flops over the bytes its main products must read and write at least once;
a phase whose AI is below the machine balance (GEMM rate / memory bandwidth) is
memory-bound whatever the code does.

    from _roofline import (gemm_rate, primal_phase_flops, dual_phase_flops,
                           dual_block_phase_flops, report)
"""

import time

import numpy as np

EIGH_NOMINAL = 9.0  # flops per m^3 of a symmetric eigendecomposition with vectors
F64_COST = 2.5  # as neurotoolkit._ridge._alpha_path.f64_cost_ratio on a CPU (float32 work)


def gemm_rate(dtype="float32", size=2048, repeats=5):
    """Best-of-``repeats`` GFLOP/s of a (size x size) @ (size x size) numpy product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def _uses_pf(r, m, n_alphas, w64=F64_COST):
    """The engine's choice (``_alpha_path.prepare_alpha_path``): one float64 r x r
    partial-fraction product, or one (m, r) product per alpha in the working dtype."""
    return r > 1 and w64 * r * r < n_alphas * m * r


def _scoring(r, n_te, t, A, b):
    """(flops, bytes, float64 flops) of one fold's alpha scoring."""
    m = min(n_te, r)
    if _uses_pf(r, m, A):
        return 2.0 * r * r * t + 8.0 * A * r * t, 8.0 * (r * r + 2 * r * t), 2.0 * r * r * t
    return 2.0 * A * m * r * t + 6.0 * A * r * t, b * (m * r + A * r * t + A * m * t), 0.0


def primal_phase_flops(n, p, t, n_alphas, folds, refit=True, itemsize=4):
    """{phase: (flops, bytes)} of the primal route (eigh of the (p, p) training Grams)."""
    A, b = n_alphas, itemsize
    out = {"x_statistics": [2.0 * n * p * p, 8.0 * (n * p + p * p)],
           "decompositions": [0.0, 0.0], "fold_setup": [0.0, 0.0],
           "y_statistics": [2.0 * n * p * t, b * (n * p + n * t + p * t)],
           "rotations": [0.0, 0.0], "scoring": [0.0, 0.0, 0.0]}
    for tr, te in folds:
        n_tr, n_te = len(tr), len(te)
        r = min(p, n_tr - 1)
        out["x_statistics"][0] += 2.0 * n_te * p * p
        out["decompositions"][0] += EIGH_NOMINAL * p**3
        out["fold_setup"][0] += 2.0 * n_te * p * r + 2.0 * n_te * r * r
        out["fold_setup"][1] += 8.0 * (n_te * p + p * r)
        out["rotations"][0] += 2.0 * (p + n_te) * r * t
        out["rotations"][1] += b * (r * p + p * t + n_te * t + 2 * r * t)
        f, by, f64 = _scoring(r, n_te, t, A, b)
        out["scoring"][0] += f
        out["scoring"][1] += by
        out["scoring"][2] += f64
    if refit:
        r = min(p, n - 1)
        out["decompositions"][0] += EIGH_NOMINAL * p**3
        out["refit"] = [4.0 * p * r * t, b * (2 * p * r + 2 * p * t + r * t)]
    return {k: tuple(v) for k, v in out.items()}


def dual_phase_flops(n, p, t, n_alphas, folds, refit=True, weights=False, itemsize=4):
    """{phase: (flops, bytes)} of the dual route (eigh of the training kernels)."""
    A, b = n_alphas, itemsize
    out = {"x_statistics": [1.0 * n * n * p, b * n * p + 8.0 * n * n],
           "decompositions": [0.0, 0.0], "fold_setup": [0.0, 0.0],
           "rotations": [0.0, 0.0], "scoring": [0.0, 0.0, 0.0]}
    for tr, te in folds:
        n_tr, n_te = len(tr), len(te)
        r = n_tr - 1
        out["decompositions"][0] += EIGH_NOMINAL * n_tr**3
        out["fold_setup"][0] += 4.0 * n_te * n_tr * r
        out["fold_setup"][1] += 8.0 * (n_te * n_tr + n_tr * r)
        out["rotations"][0] += 2.0 * (n_tr + n_te) * r * t
        out["rotations"][1] += b * (n_tr * r + n_te * r + (n_tr + n_te) * t + 2 * r * t)
        f, by, f64 = _scoring(r, n_te, t, A, b)
        out["scoring"][0] += f
        out["scoring"][1] += by
        out["scoring"][2] += f64
    if refit:
        out["decompositions"][0] += EIGH_NOMINAL * n**3
        fl, by = 4.0 * n * n * t, b * (2 * n * n + 2 * n * t)
        if weights:
            fl, by = fl + 2.0 * n * p * t, by + b * (n * p + p * t)
        out["refit"] = [fl, by]
    return {k: tuple(v) for k, v in out.items()}


def dual_block_phase_flops(n, p, t, n_alphas, folds, refit=True, weights=False, itemsize=4,
                           n_f64=0):
    """{phase: (flops, bytes)} of the dual route scored by block deletion on one
    decomposition (``neurotoolkit._ridge._dual_block``); ``n_f64`` alphas in float64."""
    A, b = n_alphas, itemsize
    m = n - 1
    rows = sum(len(te) for _, te in folds)
    setup = 4.0 * n * m * m  # float64 re-orthonormalization of the eigenvectors
    for _, te in folds:
        n_te = len(te)
        setup += A * (4.0 * n_te * n_te * m + 2.0 * n_te**3)  # M_T(a), its inverse, W_T(a)
    out = {"x_statistics": [1.0 * n * n * p, b * n * p + 8.0 * n * n],
           "decompositions": [EIGH_NOMINAL * n**3, 8.0 * n * n],
           "fold_setup": [setup, 8.0 * (A * rows * m + 2 * n * m), setup],  # float64
           "y_statistics": [2.0 * n * m * t, b * (n * m + n * t + m * t)],
           "scoring": [2.0 * A * rows * m * t + 2.0 * A * rows * t,
                       A * (b * rows * m + b * m * t + b * rows * t)
                       + n_f64 * 8 * (rows * m + m * t + rows * t),
                       2.0 * n_f64 * rows * m * t]}
    if refit:
        fl, by = 2.0 * n * m * t, b * (n * m + 2 * n * t)
        if weights:
            fl, by = fl + 2.0 * n * p * t, by + b * (n * p + p * t)
        out["refit"] = [fl, by]
    return {k: tuple(v) for k, v in out.items()}


def _split(entry):
    """(flops, bytes, float64 flops) of a phase entry of 2 or 3 values."""
    f, by, *rest = entry
    return f, by, (rest[0] if rest else 0.0)


def report(timings, flops, rate32, rate64=None, seconds=None, label="neurotoolkit"):
    """Print the per-phase roofline table; return (total GFLOP, achieved GFLOP/s, limiting phase).

    ``timings``: {phase: seconds} (``info["timings"]``); ``flops``: {phase: (flops, bytes)
    or (flops, bytes, float64 flops)}; ``rate32`` / ``rate64``: measured float32 / float64
    GEMM GFLOP/s; ``seconds``: wall time of the call. "of GEMM" is the achieved rate over
    the float32 GEMM rate; "of limit" counts float64 flops at the float64 rate: the time
    the phase would take at the measured GEMM rates over the time it took.
    """
    rate64 = rate64 or rate32
    total_f = sum(_split(e)[0] for e in flops.values())
    total_s = seconds if seconds is not None else sum(timings.values())
    print(f"\nroofline, {label}: float32 GEMM {rate32:.0f} GFLOP/s measured in this run"
          + f", float64 {rate64:.0f}")
    print(f"{'phase':16s} {'seconds':>8s} {'share':>6s} {'GFLOP':>8s} {'GFLOP/s':>8s} "
          f"{'of GEMM':>8s} {'of limit':>9s} {'AI flop/B':>10s}")
    worst, worst_s, ideal_total = None, -1.0, 0.0
    for ph, sec in timings.items():
        f, by, f64 = _split(flops.get(ph, (0.0, 0.0)))
        ideal = ((f - f64) / rate32 + f64 / rate64) / 1e9
        ideal_total += ideal
        rate = f / sec / 1e9 if sec > 0 else 0.0
        ai = f"{f / by:10.1f}" if by else f"{'-':>10s}"
        if ph == "decompositions":  # LAPACK syevd: the tridiagonal reduction is BLAS-2
            ai = f"{'~0.5 (*)':>10s}"
        limit = 100 * ideal / sec if sec > 0 else 0.0
        print(f"{ph:16s} {sec:8.2f} {100 * sec / total_s:5.0f}% {f / 1e9:8.1f} {rate:8.1f} "
              f"{100 * rate / rate32:7.0f}% {limit:8.0f}% {ai}")
        if sec > worst_s:
            worst, worst_s = ph, sec
    achieved = total_f / total_s / 1e9
    print(f"{'total':16s} {total_s:8.2f} {'':6s} {total_f / 1e9:8.1f} {achieved:8.1f} "
          f"{100 * achieved / rate32:7.0f}% {100 * ideal_total / total_s:8.0f}%")
    print("(*) half of an eigendecomposition's flops are the BLAS-2 tridiagonal reduction "
          "(symv/syr2, ~0.5 flop/B: memory-bound); the rest are BLAS-3")
    f, by, _ = _split(flops.get(worst, (0.0, 0.0)))
    ai = f"{f / by:.1f} flop/B" if by else "n/a"
    if worst == "decompositions":
        ai = "~0.5 flop/B for the tridiagonal reduction"
    print(f"limiting phase: {worst} ({100 * worst_s / total_s:.0f} % of the time, "
          f"AI {ai})")
    return total_f / 1e9, achieved, worst
