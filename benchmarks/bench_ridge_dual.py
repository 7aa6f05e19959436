"""Benchmark 2 (issue 3): dual (kernel) cross-validated ridge against himalaya KernelRidgeCV.

n_samples 2000, n_features 20000, n_targets 5000, 10 alphas logspace(0, 5)
times n_features (the kernel scale), 5 contiguous folds, float32, linear
kernel, R^2 scoring and intercept for both. Held-out test set of 500 samples.

    python benchmarks/bench_ridge_dual.py [--quick] [--n-alphas 25]
"""

import warnings

import numpy as np
from _common import gb, kfold, machine_line, make_problem, measure, parse_args, table, warm_up

from neurotoolkit.encoding import score_r2, solve_ridge_cv


def main():
    args = parse_args(__doc__)
    n, p, t = (2000, 20000, 500) if args.quick else (2000, 20000, 5000)
    alphas = np.logspace(0, 5, args.n_alphas) * p / 100
    X, Y, Xt, Yt = make_problem(n, p, t, n_test=500, seed=args.seed)
    folds = kfold(n, 5)
    print(f"dual ridge CV: n={n} p={p} t={t}, {len(alphas)} alphas, 5 folds, float32")
    print(machine_line())

    warm_up(X, Y, folds, alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # like himalaya's KernelRidgeCV: dual coefficients only
        ours, t_ours, m_ours = measure(solve_ridge_cv, X, Y, alphas, folds, dtype="float32",
                                       return_weights=False)
        # and with the (p, t) primal weights formed as well
        _, t_w, m_w = measure(solve_ridge_cv, X, Y, alphas, folds, dtype="float32",
                              return_weights=True)

    import himalaya.backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")
    href = KernelRidgeCV(alphas=alphas, kernel="linear", cv=folds, fit_intercept=True,
                         solver_params=dict(score_func=r2_score))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, t_him, m_him = measure(href.fit, X, Y)

    same_mask = np.isclose(ours.best_alphas, href.best_alphas_, rtol=1e-5)
    C = ours.dual_coef
    W = X.T @ C - ours.x_mean.astype(np.float32)[:, None] * C.sum(0)[None, :]
    test_ours = score_r2(Yt, Xt @ W + ours.intercept.astype(np.float32))
    test_him = score_r2(Yt, href.predict(Xt))
    diff = np.abs(test_ours - test_him)
    d_cv = np.abs(ours.cv_scores.max(0) - href.cv_scores_.ravel()).max()
    table(
        [["neurotoolkit solve_ridge_cv", "dual coefs", f"{t_ours:.2f}", gb(m_ours)],
         ["neurotoolkit, + primal weights", "dual coefs + (p, t) weights", f"{t_w:.2f}",
          gb(m_w)],
         ["himalaya KernelRidgeCV", "dual coefs", f"{t_him:.2f}", gb(m_him)]],
        ["method", "output", "seconds", "peak RSS delta"],
    )
    print(f"form used: {ours.solver}")
    print(f"speed-up: {t_him / t_ours:.1f}x (dual coefficients, like for like), "
          f"{t_him / t_w:.1f}x with primal weights too")
    print(f"memory ratio (ours/himalaya): {m_ours / m_him:.2f}")
    print(f"same best alpha: {100 * same_mask.mean():.2f} % of targets")
    print(f"max |test R2 difference|: {diff[same_mask].max():.2e} on targets with the same "
          f"alpha, {diff.max():.2e} on all")
    print(f"max |best CV score difference|: {d_cv:.2e}")


if __name__ == "__main__":
    main()
