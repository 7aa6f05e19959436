"""Ridge with one alpha per target on plain arrays: RidgeCV vs scikit-learn.

    python examples/ridge_on_arrays.py

Fits 2,000 targets that share one design, with the penalty of each target chosen
by 5-fold cross-validation, and checks one target against scikit-learn's Ridge at
the chosen alpha.
"""

import time

import numpy as np
from sklearn.linear_model import Ridge

from neurotoolkit.encoding import RidgeCV


def main():
    rng = np.random.default_rng(0)
    n_samples, n_features, n_targets = 1200, 300, 2000
    X = rng.standard_normal((n_samples, n_features)).astype("float32")
    W = rng.standard_normal((n_features, n_targets)) * (rng.random(n_targets) > 0.3)
    Y = (X @ W / np.sqrt(n_features) + rng.standard_normal((n_samples, n_targets))).astype("float32")

    t0 = time.perf_counter()
    model = RidgeCV(alphas=np.logspace(-1, 5, 13), cv=5).fit(X[:1000], Y[:1000])
    elapsed = time.perf_counter() - t0
    r2 = model.score_targets(X[1000:], Y[1000:])
    print(f"RidgeCV ({model.solver_} form): {n_targets} targets in {elapsed:.2f} s; "
          f"median held-out R2 {np.median(r2):.3f}")

    j = int(np.argmax(r2))
    ref = Ridge(alpha=model.best_alphas_[j]).fit(X[:1000].astype("float64"), Y[:1000, j])
    err = np.max(np.abs(ref.coef_ - model.coef_[:, j])) / np.max(np.abs(ref.coef_))
    print(f"target {j}: alpha {model.best_alphas_[j]:.3g}; max relative difference to sklearn Ridge {err:.1e}")
    return err


if __name__ == "__main__":
    main()
