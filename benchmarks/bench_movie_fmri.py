"""Movie fMRI (issue 14, Card 2): VoxelwiseEncoder with FIR delays against himalaya.

The design of a voxelwise_tutorials movie experiment: 3,600 TRs in 12 runs,
two feature spaces (1,000 + 6,000 features) with 4 delays (28,000 delayed
features), 50,000 voxels, leave-one-run-out CV, 10 alphas, plus a held-out
test run of 300 TRs. Both tools get the same z-scored, per-run delayed,
trimmed design, the same alphas and the same folds, with an intercept, R^2
scoring, float32 and the numpy backend (CPU).

- ``ridge``: one band (the two spaces side by side). Ours:
  ``VoxelwiseEncoder(features=..., delays=[1, 2, 3, 4])`` on the Recording
  (our preprocessing and design included in the time). himalaya:
  ``KernelRidgeCV`` (dual form, as in voxelwise_tutorials, since 28,000
  features > 3,300 training samples) on the design built with the
  voxelwise_tutorials Delayer applied run by run (design time included).
- ``banded`` (``--banded``): one band per space, the same ``--n-gammas``
  band weightings for both. Ours: the same encoder with two spaces
  (``BandedRidgeCV``). himalaya: ``MultipleKernelRidgeCV`` (random search
  with the given gammas, linear kernels).

    python benchmarks/bench_movie_fmri.py [--quick] [--banded] [--n-voxels N] [--n-gammas G]

``--quick``: 12 runs x 50 TRs, 100 + 600 features, 2,000 voxels.
"""

import argparse
import warnings

import numpy as np
from _common import gb, machine_line, measure, table

from neurotoolkit.data import Recording
from neurotoolkit.encoding import VoxelwiseEncoder, score_r2


def parse():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--banded", action="store_true")
    parser.add_argument("--n-voxels", type=int, default=None)
    parser.add_argument("--n-trs", type=int, default=None, help="TRs per training run")
    parser.add_argument("--n-gammas", type=int, default=5)
    parser.add_argument("--n-alphas", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def make_movie(n_runs, n_per_run, widths, n_voxels, delays, seed):
    """Smooth feature time courses (AR(1), 13 runs incl. test) and responses of rank 20."""
    rng = np.random.default_rng(seed)
    n = (n_runs + 1) * n_per_run
    runs = np.repeat([f"run-{k:02d}" for k in range(n_runs)] + ["test"], n_per_run)
    feats = []
    for w in widths:
        x = rng.standard_normal((n, w), dtype=np.float32)
        for k in range(1, n):  # temporal smoothness, as resampled movie features have
            x[k] += 0.7 * x[k - 1]
        feats.append(x)
    Y = np.zeros((n, n_voxels), dtype=np.float32)
    for x in feats:
        for d in delays:  # rank-20 weights per space and delay, the same in every run
            A = rng.standard_normal((x.shape[1], 20), dtype=np.float32) / np.sqrt(x.shape[1])
            B = rng.standard_normal((20, n_voxels), dtype=np.float32) * 0.1
            for r in np.unique(runs):
                rows = np.flatnonzero(runs == r)
                Y[rows[d:]] += (x[rows[:len(rows) - d]] @ A) @ B
    Y += rng.standard_normal(Y.shape, dtype=np.float32)
    return feats, Y, runs


def ref_design(feats, runs, delays, trim):
    """The voxelwise_tutorials recipe: z-score each run, Delayer per run, trim run starts."""
    blocks, keep = [], []
    for x in feats:
        out = np.zeros((len(runs), x.shape[1] * len(delays)), dtype=np.float32)
        for r in np.unique(runs):
            rows = np.flatnonzero(runs == r)
            z = (x[rows] - x[rows].mean(0)) / x[rows].std(0)
            for k, d in enumerate(delays):
                out[rows[d:], k * x.shape[1]:(k + 1) * x.shape[1]] = z[:len(rows) - d]
        blocks.append(out)
    for r in np.unique(runs):
        k = np.zeros((runs == r).sum(), bool)
        k[trim:] = True
        keep.append(k)
    return blocks, np.concatenate(keep)


def zscore_runs(Y, runs):
    Y = Y.copy()
    for r in np.unique(runs):
        m = runs == r
        Y[m] = (Y[m] - Y[m].mean(0)) / Y[m].std(0)
    return Y


def main():
    args = parse()
    n_runs = 12
    n_per_run = args.n_trs or (50 if args.quick else 300)
    widths = (100, 600) if args.quick else (1000, 6000)
    n_vox = args.n_voxels or (2000 if args.quick else 50000)
    delays = [1, 2, 3, 4]
    feats, Y, runs = make_movie(n_runs, n_per_run, widths, n_vox, delays, args.seed)
    train = runs != "test"
    alphas = np.logspace(1, 6, args.n_alphas)
    print(f"movie fMRI: {n_runs} runs x {n_per_run} TRs (+ test run), spaces {widths} x "
          f"{len(delays)} delays, {n_vox} voxels, {len(alphas)} alphas, leave-one-run-out, "
          f"float32, numpy backend; {'banded' if args.banded else 'one band'}")
    print(machine_line())
    rec = Recording(Y[train], [""] * int(train.sum()), runs=runs[train],
                    meta={"mode": "timeseries", "tr": 2.0})
    test = Recording(Y[~train], [""] * int((~train).sum()), runs=runs[~train],
                     meta={"mode": "timeseries", "tr": 2.0})
    names = ["low", "high"]
    gammas = None
    if args.banded:
        from neurotoolkit.encoding import sample_gammas

        gammas = sample_gammas(args.n_gammas, 2, random_state=args.seed)

    def ours():
        if args.banded:
            feat = {n: x[train] for n, x in zip(names, feats)}
        else:
            feat = {"joint": np.hstack(feats)[train]}
        return VoxelwiseEncoder(features=feat, delays=delays, alphas=alphas, backend="numpy",
                                n_iter=gammas if args.banded else 100).fit(rec)

    import himalaya.backend
    from himalaya.kernel_ridge import KernelRidgeCV, MultipleKernelRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")

    def him():
        blocks, keep = ref_design([x[train] for x in feats], runs[train], delays, max(delays))
        Yz = zscore_runs(Y[train][keep], runs[train][keep])
        from sklearn.model_selection import LeaveOneGroupOut

        folds = list(LeaveOneGroupOut().split(Yz, groups=runs[train][keep]))
        if args.banded:
            Xs = [b[keep] for b in blocks]
            Ks = np.stack([X @ X.T for X in Xs])
            model = MultipleKernelRidgeCV(kernels="precomputed", solver="random_search",
                                          fit_intercept=True, cv=folds, solver_params=dict(
                                              n_iter=gammas, alphas=alphas, score_func=r2_score,
                                              progress_bar=False))
            return model.fit(Ks, Yz), Xs
        X = np.hstack(blocks)[keep]
        model = KernelRidgeCV(alphas=alphas, cv=folds, fit_intercept=True,
                              solver_params=dict(score_func=r2_score))
        return model.fit(X, Yz), X

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc, t_ours, m_ours = measure(ours)
        (ref, X_fit), t_him, m_him = measure(him)
    # held-out test run, both models, same trimmed z-scored targets
    trim = max(delays)
    Yt = zscore_runs(Y[~train][trim:], runs[~train][trim:])
    feat_test = ({n: x[~train] for n, x in zip(names, feats)} if args.banded
                 else {"joint": np.hstack(feats)[~train]})
    pred_ours = enc.predict(feat_test if args.banded else feat_test["joint"])[trim:]
    blocks_t, _ = ref_design([x[~train] for x in feats], runs[~train], delays, trim)
    if args.banded:
        Kt = np.stack([bt[trim:] @ X.T for bt, X in zip(blocks_t, X_fit)])
        pred_him = np.asarray(ref.predict(Kt))
    else:
        pred_him = np.asarray(ref.predict(np.hstack(blocks_t)[trim:]))
    s_ours, s_him = score_r2(Yt, pred_ours), score_r2(Yt, pred_him)
    if args.banded:
        band = np.exp(-np.asarray(ref.deltas_))
        same = np.all(np.isclose(band, enc.estimator_.band_alphas_, rtol=1e-4), axis=0)
    else:
        same = np.isclose(enc.estimator_.best_alphas_, np.asarray(ref.best_alphas_), rtol=1e-5)
    table([["neurotoolkit VoxelwiseEncoder(delays=...)", f"{t_ours:.1f}", gb(m_ours)],
           [f"himalaya {'MultipleKernelRidgeCV' if args.banded else 'KernelRidgeCV'} "
            "+ Delayer per run", f"{t_him:.1f}", gb(m_him)]],
          ["method", "seconds", "peak RSS delta"])
    print(f"speed ratio (himalaya / ours): {t_him / t_ours:.2f}x; memory ratio "
          f"{m_him / max(m_ours, 1):.2f}x")
    print(f"same best {'band alphas' if args.banded else 'alpha'}: {100 * same.mean():.2f} % "
          "of voxels (the differences below are over these voxels)")
    print(f"max |prediction difference| on the test run: "
          f"{np.abs(pred_ours - pred_him)[:, same].max():.2e}; mean test R2 ours "
          f"{s_ours.mean():.4f}, himalaya {s_him.mean():.4f}, max |diff| "
          f"{np.abs(s_ours - s_him).max():.2e}")


if __name__ == "__main__":
    main()
