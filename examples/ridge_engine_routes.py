"""Which form solves your ridge problem, and where the time goes.

    python examples/ridge_engine_routes.py [--out phases.png]

``solve_ridge_cv`` (behind ``RidgeCV``, ``VoxelwiseEncoder`` and ``BandedRidgeCV``)
picks a form from a cost model of the actual shapes and says which and why:

- **primal** (more samples than features): one eigendecomposition of the
  training Gram per fold, every alpha scored from rotated statistics;
- **dual** (more features than samples, e.g. stacked ViT layers or delayed
  banded designs): the kernel ``X X^T`` once; for R^2 or MSE with run-wise
  folds whose training sets are the other runs, ONE eigendecomposition of the
  full kernel scores every fold by block deletion (the block form of the
  leave-one-out identity, Hastie, Tibshirani & Friedman, 2009, eq. 7.52),
  else one decomposition per fold;
- **low-rank** when the design's numerical rank is far below its size.

This script fits a narrow and a wide design (leave-one-run-out over 6 runs),
prints ``info["route"]`` and ``info["why"]``, checks that the float32 fit chose
the alphas of an exact float64 cross-validation, and plots the per-phase
times the engine records (``info["timings"]``).
"""

import argparse
import time

import numpy as np

from neurotoolkit.encoding import solve_ridge_cv


def _problem(rng, n, p, t):
    X = rng.standard_normal((n, p)).astype("float32")
    W = rng.standard_normal((p, t)) * (rng.random(t) < 0.7) / np.sqrt(p)
    Y = (X @ W + rng.standard_normal((n, t))).astype("float32")
    return X, Y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="save the phase-time figure here")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    runs = np.repeat(np.arange(6), [90, 100, 110, 120, 130, 150])  # uneven runs
    results = {}
    for name, p in (("narrow", 200), ("wide", 6000)):
        X, Y = _problem(rng, runs.size, p, 1500)
        alphas = np.logspace(-2, 3, 8) * p
        t0 = time.perf_counter()
        res = solve_ridge_cv(X, Y, alphas, cv="runs", groups=runs)
        seconds = time.perf_counter() - t0
        exact = solve_ridge_cv(X.astype("float64"), Y.astype("float64"), alphas, cv="runs",
                               groups=runs, dtype="float64", refit=False)
        same = float(np.mean(res.best_alphas == exact.best_alphas))
        print(f"{name}: n={X.shape[0]}, p={p}, t={Y.shape[1]} -> {res.info['route']} form "
              f"in {seconds:.2f} s\n  why: {res.info['why']}\n  same alphas as the exact "
              f"float64 CV: {100 * same:.1f} %; max |CV score difference| "
              f"{np.abs(res.cv_scores - exact.cv_scores).max():.1e}")
        results[name] = {"route": res.info["route"], "why": res.info["why"], "same": same,
                         "timings": res.info["timings"], "seconds": seconds}
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 2.6))
        for row, (name, r) in enumerate(results.items()):
            left = 0.0
            for phase_name, sec in r["timings"].items():
                ax.barh(row, sec, left=left, label=phase_name if row == 0 else None,
                        color=plt.cm.tab10(list(r["timings"]).index(phase_name) % 10))
                left += sec
        ax.set_yticks(range(len(results)),
                      [f"{n} ({r['route']})" for n, r in results.items()])
        ax.set_xlabel("seconds (engine phases)")
        ax.legend(ncol=3, fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(args.out, dpi=100)
        print(f"figure: {args.out}")
    return results


if __name__ == "__main__":
    main()
