"""Benchmark 1 (issues 3, 16): primal cross-validated ridge against himalaya RidgeCV.

n_samples 4000, n_features 1024, n_targets 20000, 10 alphas logspace(0, 5),
leave-one-group-out over 6 runs of uneven length, float32, numpy backend, same
splits, alphas and BLAS threads, R^2 scoring and intercept for both. Held-out
test set of 1000 samples. Ours is timed best of ``--repeat``, himalaya best of
``--repeat-peer`` (one run takes minutes). A float64 run of ours is the
exact-CV reference for the chosen alphas (``--no-exact`` skips it). Prints the
roofline (per-phase GFLOP/s against the float32 GEMM rate measured in the same run).

    python benchmarks/bench_ridge_primal.py [--quick] [--repeat 3] [--repeat-peer 1]
    python benchmarks/bench_ridge_primal.py --kfold --n 5000 --p 512   # issue 3's problem
"""

import sys
import warnings

import numpy as np
from _common import (best_of, gb, kfold, logo_folds, machine_line, make_problem, table,
                     warm_up)
from _roofline import gemm_rate, primal_phase_flops, report

from neurotoolkit.encoding import score_r2, solve_ridge_cv


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-alphas", type=int, default=10)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--p", type=int, default=1024)
    ap.add_argument("--t", type=int, default=20000)
    ap.add_argument("--kfold", action="store_true", help="5 contiguous folds instead of LOGO")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repeat-peer", type=int, default=1)
    ap.add_argument("--no-exact", action="store_true")
    args = ap.parse_args()
    n, p, t = args.n, args.p, (2000 if args.quick else args.t)
    alphas = np.logspace(0, 5, args.n_alphas)
    X, Y, Xt, Yt = make_problem(n, p, t, n_test=1000, seed=args.seed)
    folds = kfold(n, 5) if args.kfold else logo_folds(n, 6)
    print(f"primal ridge CV: n={n} p={p} t={t}, {len(alphas)} alphas, "
          f"{'5-fold' if args.kfold else 'leave-one-run-out'} "
          f"({[len(te) for _, te in folds]}), float32")
    print(machine_line())
    rate32, rate64 = gemm_rate("float32"), gemm_rate("float64")
    warm_up(X, Y, folds, alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, t_ours, m_ours = best_of(args.repeat, solve_ridge_cv, X, Y, alphas, folds,
                                       backend="numpy")
        exact = None if args.no_exact else solve_ridge_cv(
            X.astype(np.float64), Y.astype(np.float64), alphas, folds, dtype="float64",
            refit=False, backend="numpy")

    import himalaya.backend
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")

    def him_fit():
        return HRidgeCV(alphas=alphas, cv=folds, fit_intercept=True,
                        solver_params=dict(score_func=r2_score)).fit(X, Y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        href, t_him, m_him = best_of(args.repeat_peer, him_fit)

    same_mask = np.isclose(ours.best_alphas, href.best_alphas_, rtol=1e-5)
    test_ours = score_r2(Yt, Xt @ ours.coef + ours.intercept.astype(np.float32))
    test_him = score_r2(Yt, href.predict(Xt))
    d_test = np.abs(test_ours - test_him)
    table(
        [["neurotoolkit solve_ridge_cv", f"{t_ours:.2f}", gb(m_ours)],
         ["himalaya RidgeCV", f"{t_him:.2f}", gb(m_him)]],
        ["method", "seconds", "peak RSS delta"],
    )
    print(f"route: {ours.info['route']} ({ours.info['why']})")
    print(f"speed-up: {t_him / t_ours:.1f}x   memory ratio (ours/himalaya): {m_ours / m_him:.2f}")
    if exact is not None:
        print(f"same best alpha as the exact float64 CV: ours "
              f"{100 * np.mean(ours.best_alphas == exact.best_alphas):.2f} %, himalaya "
              f"{100 * np.mean(np.isclose(href.best_alphas_, exact.best_alphas, rtol=1e-5)):.2f} %;"
              f" max |CV score - exact|: {np.abs(ours.cv_scores - exact.cv_scores).max():.2e}")
    print(f"same best alpha as himalaya: {100 * same_mask.mean():.2f} %; max |test R2 "
          f"difference|: {d_test[same_mask].max():.2e} (same alpha), {d_test.max():.2e} (all)")
    print(f"batch size: {ours.batch_size} targets, max rank {ours.info['max_rank']}")
    flops = primal_phase_flops(n, p, t, len(alphas), folds, refit=True)
    report(ours.info["timings"], flops, rate32, rate64, ours.info["seconds"])
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
