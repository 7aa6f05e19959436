"""Benchmark 2 (issues 3, 16): dual (kernel) cross-validated ridge against himalaya KernelRidgeCV.

n_samples 1500, n_features 20000, n_targets 5000, 10 alphas logspace(0, 5)
times n_features / 100 (the kernel scale), leave-one-group-out over 6 runs of
uneven length, float32, linear kernel, R^2 scoring and intercept for both,
numpy backend, same BLAS threads for both (the process's). Held-out test set
of 500 samples. Times are best of ``--repeat``; a float64 run of ours is the
exact-CV reference for the chosen alphas. Prints the roofline (per-phase
GFLOP/s against the float32 GEMM rate measured in the same run).

    python benchmarks/bench_ridge_dual.py [--quick] [--n-alphas 10] [--repeat 3]
"""

import re
import sys
import warnings

import numpy as np
from _common import (best_of, gb, logo_folds, machine_line, make_problem, measure, table,
                     warm_up)
from _roofline import dual_block_phase_flops, dual_phase_flops, gemm_rate, report

from neurotoolkit.encoding import score_r2, solve_ridge_cv


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-alphas", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, p, t = (1500, 20000, 500) if args.quick else (1500, 20000, 5000)
    alphas = np.logspace(0, 5, args.n_alphas) * p / 100
    X, Y, Xt, Yt = make_problem(n, p, t, n_test=500, seed=args.seed)
    folds = logo_folds(n, 6)
    print(f"dual ridge CV: n={n} p={p} t={t}, {len(alphas)} alphas, leave-one-run-out "
          f"(6 runs: {[len(te) for _, te in folds]}), float32, best of {args.repeat}")
    print(machine_line())
    rate32, rate64 = gemm_rate("float32"), gemm_rate("float64")
    warm_up(X, Y, folds, alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # like himalaya's KernelRidgeCV: dual coefficients only
        ours, t_ours, m_ours = best_of(args.repeat, solve_ridge_cv, X, Y, alphas, folds,
                                       return_weights=False, backend="numpy")
        _, t_w, m_w = measure(solve_ridge_cv, X, Y, alphas, folds, return_weights=True,
                              backend="numpy")
        exact = solve_ridge_cv(X.astype(np.float64), Y.astype(np.float64), alphas, folds,
                               dtype="float64", solver="dual", refit=False, backend="numpy")

    import himalaya.backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")

    def him_fit():
        return KernelRidgeCV(alphas=alphas, kernel="linear", cv=folds, fit_intercept=True,
                             solver_params=dict(score_func=r2_score)).fit(X, Y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        href, t_him, m_him = best_of(args.repeat, him_fit)

    same_mask = np.isclose(ours.best_alphas, href.best_alphas_, rtol=1e-5)
    C = ours.dual_coef
    W = X.T @ C - ours.x_mean.astype(np.float32)[:, None] * C.sum(0)[None, :]
    test_ours = score_r2(Yt, Xt @ W + ours.intercept.astype(np.float32))
    test_him = score_r2(Yt, href.predict(Xt))
    diff = np.abs(test_ours - test_him)
    d_cv = np.abs(ours.cv_scores - exact.cv_scores).max()
    table(
        [["neurotoolkit solve_ridge_cv", "dual coefs", f"{t_ours:.2f}", gb(m_ours)],
         ["neurotoolkit, + primal weights", "dual coefs + (p, t) weights", f"{t_w:.2f}",
          gb(m_w)],
         ["himalaya KernelRidgeCV", "dual coefs", f"{t_him:.2f}", gb(m_him)]],
        ["method", "output", "seconds", "peak RSS delta"],
    )
    print(f"route: {ours.info['route']} ({ours.info['why']})")
    print(f"speed-up: {t_him / t_ours:.1f}x (dual coefficients, like for like), "
          f"{t_him / t_w:.1f}x with primal weights too")
    print(f"memory ratio (ours/himalaya): {m_ours / m_him:.2f}")
    print(f"same best alpha as the exact float64 CV: ours {100 * np.mean(ours.best_alphas == exact.best_alphas):.2f} %, "
          f"himalaya {100 * np.mean(np.isclose(href.best_alphas_, exact.best_alphas, rtol=1e-5)):.2f} %")
    print(f"max |CV score - exact float64 CV score|: {d_cv:.2e}")
    print(f"same best alpha as himalaya: {100 * same_mask.mean():.2f} %; max |test R2 "
          f"difference|: {diff[same_mask].max():.2e} (same alpha), {diff.max():.2e} (all)")
    if "block deletion" in ours.info["why"]:
        n64 = int(re.search(r"(\d+) small alphas", ours.info["why"]).group(1)) \
            if "small alphas" in ours.info["why"] else 0
        flops = dual_block_phase_flops(n, p, t, len(alphas), folds, refit=True, weights=False,
                                       n_f64=n64)
    else:
        flops = dual_phase_flops(n, p, t, len(alphas), folds, refit=True, weights=False)
    report(ours.info["timings"], flops, rate32, rate64, ours.info["seconds"])
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
