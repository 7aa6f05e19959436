"""Benchmark 4 (issue 3): against scikit-learn RidgeCV(alpha_per_target=True) on problem 1.

n_samples 5000, n_features 512, 10 alphas logspace(0, 5), float32 data.
scikit-learn's RidgeCV with ``alpha_per_target=True`` only supports
``cv=None``: efficient leave-one-out (generalized) cross-validation, not the
5-fold CV that neurotoolkit runs here, so the two choose alphas on different
criteria (LOO on i.i.d. samples is close to 5-fold; on autocorrelated time
series it is optimistic). The timing compares the tools as a user would call
them. scikit-learn runs on all targets (set ``t_sub`` lower to run a subset
and extrapolate linearly: its cost is one SVD plus a LOO pass per alpha that
is linear in the number of targets).

    python benchmarks/bench_ridge_sklearn.py [--quick]
"""

import warnings

import numpy as np
from _common import gb, kfold, machine_line, make_problem, measure, parse_args, table, warm_up
from sklearn.linear_model import RidgeCV as SkRidgeCV

from neurotoolkit.encoding import score_r2, solve_ridge_cv


def main():
    args = parse_args(__doc__)
    n, p, t = (5000, 512, 2000) if args.quick else (5000, 512, 20000)
    t_sub = t  # all targets (a subset would be extrapolated linearly)
    alphas = np.logspace(0, 5, 10)
    X, Y, Xt, Yt = make_problem(n, p, t, n_test=1000, seed=args.seed)
    print(f"n={n} p={p} t={t}, {len(alphas)} alphas; scikit-learn on {t_sub} targets")
    print(machine_line())

    warm_up(X, Y, kfold(n, 5), alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, t_ours, m_ours = measure(solve_ridge_cv, X, Y, alphas, kfold(n, 5))
    sk = SkRidgeCV(alphas=alphas, alpha_per_target=True)
    Ysub = np.ascontiguousarray(Y[:, :t_sub])
    _, t_sk, m_sk = measure(sk.fit, X, Ysub)
    t_sk_full = t_sk * t / t_sub
    same = np.isclose(sk.alpha_, ours.best_alphas[:t_sub], rtol=1e-5).mean()
    test_sk = score_r2(Yt[:, :t_sub], sk.predict(Xt))
    test_ours = score_r2(Yt[:, :t_sub], Xt @ ours.coef[:, :t_sub] + ours.intercept[:t_sub])
    rows = [
        ["neurotoolkit solve_ridge_cv (5-fold)", t, f"{t_ours:.2f}", gb(m_ours)],
        ["scikit-learn RidgeCV (LOO/GCV)", t_sub, f"{t_sk:.2f}", gb(m_sk)],
    ]
    if t_sub < t:
        rows.append(["scikit-learn, extrapolated", t, f"{t_sk_full:.1f}", "-"])
    table(rows, ["method", "targets", "seconds", "peak RSS delta"])
    print(f"speed-up: {t_sk_full / t_ours:.1f}x"
          + (" (scikit-learn extrapolated linearly)" if t_sub < t else ""))
    print(f"same alpha as LOO: {100 * same:.1f} % of the {t_sub} targets; mean test R2 "
          f"{test_ours.mean():.4f} (5-fold) vs {test_sk.mean():.4f} (LOO)")


if __name__ == "__main__":
    main()
