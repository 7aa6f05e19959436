"""Benchmark 1 (issue 3): primal cross-validated ridge against himalaya RidgeCV.

n_samples 5000, n_features 512, n_targets 20000, 10 alphas logspace(0, 5),
5 contiguous folds, float32, numpy backend, same splits and alphas, R^2
scoring and intercept for both. Held-out test set of 1000 samples.

    python benchmarks/bench_ridge_primal.py [--quick] [--n-alphas 25]
"""

import warnings

import numpy as np
from _common import gb, kfold, machine_line, make_problem, measure, parse_args, table, warm_up

from neurotoolkit.encoding import score_r2, solve_ridge_cv


def main():
    args = parse_args(__doc__)
    n, p, t = (5000, 512, 2000) if args.quick else (5000, 512, 20000)
    alphas = np.logspace(0, 5, args.n_alphas)
    X, Y, Xt, Yt = make_problem(n, p, t, n_test=1000, seed=args.seed)
    folds = kfold(n, 5)
    print(f"primal ridge CV: n={n} p={p} t={t}, {len(alphas)} alphas, 5 folds, float32")
    print(machine_line())

    warm_up(X, Y, folds, alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, t_ours, m_ours = measure(solve_ridge_cv, X, Y, alphas, folds, dtype="float32")

    import himalaya.backend
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")
    href = HRidgeCV(alphas=alphas, cv=folds, fit_intercept=True,
                    solver_params=dict(score_func=r2_score))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, t_him, m_him = measure(href.fit, X, Y)

    same_mask = np.isclose(ours.best_alphas, href.best_alphas_, rtol=1e-5)
    same = same_mask.mean()
    test_ours = score_r2(Yt, Xt @ ours.coef + ours.intercept.astype(np.float32))
    test_him = score_r2(Yt, href.predict(Xt))
    d_test = np.abs(test_ours - test_him).max()
    d_test_same = np.abs(test_ours - test_him)[same_mask].max()
    d_cv = np.abs(ours.cv_scores.max(0) - href.cv_scores_.ravel()).max()
    table(
        [["neurotoolkit solve_ridge_cv", f"{t_ours:.2f}", gb(m_ours)],
         ["himalaya RidgeCV", f"{t_him:.2f}", gb(m_him)]],
        ["method", "seconds", "peak RSS delta"],
    )
    print(f"speed-up: {t_him / t_ours:.1f}x   memory ratio (ours/himalaya): {m_ours / m_him:.2f}")
    print(f"same best alpha: {100 * same:.2f} % of targets")
    print(f"max |test R2 difference|: {d_test_same:.2e} on targets with the same alpha, "
          f"{d_test:.2e} on all")
    print(f"max |best CV score difference|: {d_cv:.2e}")
    print(f"batch size: {ours.batch_size} targets, max rank {ours.info['max_rank']}")


if __name__ == "__main__":
    main()
