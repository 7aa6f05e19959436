"""Banded ridge (issue 3, Card 2): BandedRidgeCV against himalaya GroupRidgeCV.

Two feature spaces, n_samples 2000, 2 x 128 features, 2000 targets, the same
10 gammas given explicitly to both tools (uniform first, then Dirichlet
draws), 10 alphas logspace(0, 5) x the kernel scale, 5 contiguous folds,
float32, R^2 scoring and intercept for both, numpy on the CPU for both
(``backend="numpy"``: the default "auto" would move ours to a GPU when one
is visible). Held-out test set of 500 samples. ``BandedRidgeCV`` is timed
through its function form, :func:`solve_banded_ridge_cv`, and as the estimator.

    python benchmarks/bench_banded.py [--quick] [--n-alphas N] [--dual]

``--dual``: n_samples 1000, 2 x 4000 features, 1000 targets (the dual form);
times only the CV search with and without reused statistics (no himalaya:
its GroupRidgeCV has no kernel form).
"""

import sys
import warnings

import numpy as np
from _common import gb, kfold, machine_line, measure, parse_args, table
from _roofline import dual_block_phase_flops, dual_phase_flops, gemm_rate, primal_phase_flops, report

from neurotoolkit.encoding import (
    BandedRidgeCV,
    sample_gammas,
    score_r2,
    solve_banded_ridge_cv,
    solve_ridge_cv,
)


def make_banded(n, widths, t, n_test, seed):
    rng = np.random.default_rng(seed)
    m = n + n_test
    Xs = [rng.standard_normal((m, w), dtype=np.float32) for w in widths]
    Y = rng.standard_normal((m, t), dtype=np.float32)
    # each target: a random mix of the two spaces with a log-uniform SNR, 30 % pure noise
    mix = rng.uniform(0, 1, t)
    snr = np.exp(rng.uniform(np.log(0.05), np.log(1.0), t))
    snr[rng.random(t) > 0.7] = 0.0
    for X, w_space in zip(Xs, (mix, 1 - mix)):
        W = rng.standard_normal((X.shape[1], t), dtype=np.float32)
        W *= (snr * np.sqrt(w_space) / np.sqrt(X.shape[1])).astype(np.float32)
        Y += X @ W
    return [X[:n] for X in Xs], Y[:n], [X[n:] for X in Xs], Y[n:]


def main():
    dual = "--dual" in sys.argv
    if dual:
        sys.argv.remove("--dual")
    args = parse_args(__doc__)
    n, widths, t = (2000, (128, 128), 400) if args.quick else (2000, (128, 128), 2000)
    if dual:
        n, widths, t = (1000, (4000, 4000), 1000)
    Xs, Y, Xts, Yt = make_banded(n, widths, t, 500, args.seed)
    alphas = np.logspace(0, 5, args.n_alphas) * sum(widths) / 100
    gammas = sample_gammas(10, len(widths), random_state=args.seed)
    folds = kfold(n, 5)
    print(f"banded ridge CV: n={n} widths={widths} t={t}, {len(gammas)} gammas, "
          f"{len(alphas)} alphas, 5 folds, float32")
    print(machine_line())

    import himalaya.backend
    from himalaya.ridge import GroupRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")

    def ours_fit(Xs, Y):
        return BandedRidgeCV(alphas, folds, n_iter=gammas, stop_patience=None,
                             dtype="float32", backend="numpy").fit(Xs, Y)

    def ours_function(Xs, Y):
        return solve_banded_ridge_cv(Xs, Y, alphas, folds, n_iter=gammas, stop_patience=None,
                                     dtype="float32", backend="numpy")

    def him_fit(Xs, Y):
        return GroupRidgeCV(groups="input", fit_intercept=True, cv=folds, solver_params=dict(
            n_iter=gammas, alphas=alphas, score_func=r2_score, progress_bar=False,
            warn=False)).fit(Xs, Y)

    def no_reuse(Xs, Y):
        """The search without reused statistics (what BandedRidgeCV did before): one
        solve_ridge_cv per gamma on the scaled design (CV only, no refit)."""
        for g in gammas:
            Xg = np.hstack([X * np.float32(np.sqrt(gi)) for X, gi in zip(Xs, g)])
            solve_ridge_cv(Xg, Y, alphas, folds, refit=False, saturation_threshold=1.0,
                           backend="numpy")

    def reuse(Xs, Y):
        """The same CV search with the statistics computed once (what BandedRidgeCV does)."""
        from neurotoolkit._utils.backend import get_backend
        from neurotoolkit._ridge._solve_ridge import GroupScaledStats

        X = np.hstack(Xs)
        edges = np.cumsum([0] + [x.shape[1] for x in Xs])
        slices = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
        be = get_backend("numpy", dtype="float32")
        stats = GroupScaledStats(X, folds, slices, True, "auto", be)
        for g in gammas:
            solve_ridge_cv(X, Y, alphas, folds, refit=False, saturation_threshold=1.0,
                           backend=be, _x_stats=stats.with_gamma(g))

    if dual:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reuse(Xs, Y[:, :32])  # warm-up
            for _ in range(2):
                _, t_new, _ = measure(reuse, Xs, Y)
                _, t_old, _ = measure(no_reuse, Xs, Y)
                print(f"CV search, dual form: statistics reused {t_new:.2f} s, recomputed per "
                      f"gamma {t_old:.2f} s ({t_old / t_new:.2f}x)")
        return

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours_fit(Xs, Y[:, :32])  # warm-up: imports, BLAS buffers
        him_fit(Xs, Y[:, :32])
        ours, t_ours, m_ours = measure(ours_fit, Xs, Y)
        res, t_fun, m_fun = measure(ours_function, Xs, Y)
        _, t_old, m_old = measure(no_reuse, Xs, Y)
        _, t_new, m_new = measure(reuse, Xs, Y)
        him, t_him, m_him = measure(him_fit, Xs, Y)

    him_band = np.exp(-him.deltas_)
    same = np.all(np.isclose(him_band, ours.band_alphas_, rtol=1e-5), axis=0)
    test_ours = score_r2(Yt, ours.predict(Xts))
    test_him = score_r2(Yt, him.predict(Xts))
    diff = np.abs(test_ours - test_him)
    d_cv = np.abs(ours.cv_scores_ - him.cv_scores_).max()
    assert np.array_equal(res.coef, ours.coef_), "estimator and function differ"
    table(
        [["neurotoolkit BandedRidgeCV", f"{t_ours:.2f}", gb(m_ours)],
         ["neurotoolkit solve_banded_ridge_cv (function)", f"{t_fun:.2f}", gb(m_fun)],
         ["  CV search only, statistics reused", f"{t_new:.2f}", gb(m_new)],
         ["  CV search only, statistics recomputed per gamma", f"{t_old:.2f}", gb(m_old)],
         ["himalaya GroupRidgeCV", f"{t_him:.2f}", gb(m_him)]],
        ["method", "seconds", "peak RSS delta"],
    )
    print(f"speed-up: {t_him / t_ours:.1f}x; reuse of statistics (CV search): "
          f"{t_old / t_new:.2f}x")
    print(f"same band alphas (all spaces): {100 * same.mean():.2f} % of targets")
    print(f"max |test R2 difference|: {diff[same].max():.2e} on targets with the same "
          f"band alphas, {diff.max():.2e} on all")
    print(f"max |CV score difference| (per gamma, at each target's best alpha): {d_cv:.2e}")
    print(f"route (first gamma): {res.info['why']}")
    report(res.info["timings"], banded_flops(res, n, sum(widths), t, len(alphas), folds),
           gemm_rate("float32"), gemm_rate("float64"), t_fun, label="BandedRidgeCV (function)")
    print(machine_line())


def banded_flops(res, n, p, t, n_alphas, folds):
    """Phase flops of a banded search: the shared statistics once, the per-gamma phases
    times the gammas run, one refit per distinct chosen gamma."""
    why = res.info["why"] or ""
    if res.solver == "primal":
        one = primal_phase_flops(n, p, t, n_alphas, folds, refit=True)
    elif "block deletion" in why:
        one = dual_block_phase_flops(n, p, t, n_alphas, folds, refit=True)
    else:
        one = dual_phase_flops(n, p, t, n_alphas, folds, refit=True)
    n_refits = len(np.unique(res.best_iter))
    out = {}
    for phase, entry in one.items():
        k = 1 if phase == "x_statistics" else n_refits if phase == "refit" else res.n_iter
        out[phase] = tuple(k * v for v in entry)
    return out


if __name__ == "__main__":
    main()
