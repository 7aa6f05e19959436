"""RidgeCV estimator: scikit-learn contract, predictions, degenerate inputs (hypothesis)."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurotoolkit.encoding import RidgeCV, solve_ridge_cv


@parametrize_with_checks([RidgeCV(alphas=np.logspace(-3, 3, 7)), RidgeCV()])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Alpha-grid saturation")
        warnings.filterwarnings("ignore", message=".*constant targets")
        check(estimator)


def _data(rng, n=47, p=9, t=6):
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, t)) + 0.5 * rng.standard_normal((n, t)) + 1.0
    return X, Y


def test_fit_predict_matches_ridge_with_chosen_alphas(rng):
    X, Y = _data(rng)
    model = RidgeCV(alphas=np.logspace(-2, 3, 11), dtype="float64").fit(X, Y)
    assert model.solver_ == "primal" and model.n_features_in_ == 9
    assert model.coef_.shape == (9, 6) and model.cv_scores_.shape == (11, 6)
    Xn = rng.standard_normal((5, 9))
    for j in range(6):
        ref = Ridge(alpha=model.best_alphas_[j]).fit(X, Y[:, j])
        np.testing.assert_allclose(model.predict(Xn)[:, j], ref.predict(Xn), rtol=1e-6)
    r2 = model.score_targets(X, Y)
    assert r2.shape == (6,)
    np.testing.assert_allclose(model.score(X, Y), r2.mean(), rtol=1e-10)
    r = model.score_targets(X, Y, scoring="correlation")
    assert (r > 0.5).all()
    with pytest.raises(ValueError, match="Invalid value for `scoring`"):
        model.score_targets(X, Y, scoring="auc")


def test_one_dimensional_y(rng):
    X, Y = _data(rng)
    model = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(X, Y[:, 0])
    assert model.coef_.shape == (9,) and isinstance(model.intercept_, float)
    # best_alphas_ is always an array of shape (n_targets,), also for a 1-D y
    assert isinstance(model.best_alphas_, np.ndarray) and model.best_alphas_.shape == (1,)
    assert model.predict(X).shape == (47,)


def test_shared_alpha_is_an_array_of_one_value(rng):
    X, Y = _data(rng)
    alphas = np.logspace(-2, 3, 11)
    model = RidgeCV(alphas=alphas, alpha_selection="shared", dtype="float64").fit(X, Y)
    assert model.best_alphas_.shape == (6,) and np.unique(model.best_alphas_).size == 1
    assert model.best_alphas_[0] == alphas[np.argmax(model.cv_scores_.mean(1))]


def test_score_is_sklearn_r2(rng):
    from sklearn.metrics import r2_score

    X, Y = _data(rng)
    model = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(X[:30], Y[:30])
    assert model.score(X[30:], Y[30:]) == pytest.approx(
        r2_score(Y[30:], model.predict(X[30:])), rel=1e-12)


def test_dual_form_and_predict_without_weights(rng):
    X, Y = _data(rng, n=30, p=2000, t=150)
    model = RidgeCV(alphas=[1.0, 100.0, 1e4], cv=3, dtype="float64").fit(X, Y)
    assert model.solver_ == "dual" and model.dual_coef_.shape == (30, 150)
    ref = model.predict(X[:4])
    small = RidgeCV(alphas=[1.0, 100.0, 1e4], cv=3, dtype="float64",
                    memory_budget=3_000_000).fit(X, Y)
    assert small.coef_ is None  # 2000 x 150 x 8 bytes > half the budget
    np.testing.assert_allclose(small.predict(X[:4]), ref, rtol=1e-8, atol=1e-10)


def test_runs_cv_with_groups(rng):
    X, Y = _data(rng, n=48)
    runs = np.repeat(np.arange(4), 12)
    model = RidgeCV(alphas=np.logspace(-2, 3, 6), cv="runs").fit(X, Y, groups=runs)
    assert model.results_.n_folds == 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(6, 30),
    p=st.integers(1, 40),
    t=st.integers(1, 5),
    dup=st.booleans(),
    rank=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_property_shapes_and_degenerate_designs(n, p, t, dup, rank, seed):
    """Any shape (1 target, 1 feature, p > n), duplicated columns, rank-deficient X."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if p > rank:  # rank-deficient design
        X = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p))
    if dup and p > 1:
        X[:, -1] = X[:, 0]
    Y = X @ rng.standard_normal((p, t)) + rng.standard_normal((n, t))
    alphas = np.logspace(-2, 3, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve_ridge_cv(X, Y, alphas, 3, dtype="float64")
    assert res.coef.shape == (p, t) and res.intercept.shape == (t,)
    assert res.cv_scores.shape == (6, t) and np.isfinite(res.cv_scores).all()
    assert np.isin(res.best_alphas, alphas).all()
    # the form comes from the cost model; rank-deficient designs take the low-rank route
    assert res.solver == res.info["route"] in ("primal", "dual", "lowrank")
    if res.solver != "lowrank":
        assert res.info["max_rank"] > 0.5 * min(n - n // 3 - 1, p)
    for j in range(t):
        ref = Ridge(alpha=res.best_alphas[j]).fit(X, Y[:, j])
        np.testing.assert_allclose(X @ res.coef[:, j] + res.intercept[j], ref.predict(X),
                                   rtol=1e-6, atol=1e-6)


def test_more_folds_than_samples_is_an_error(rng):
    X, Y = _data(rng, n=4, p=3, t=2)
    with pytest.raises(ValueError, match=r"Invalid value for `cv`: expected at most 4 folds"):
        RidgeCV(cv=5).fit(X, Y)


def test_dask_client_param_matches_single_process(rng):
    distributed = pytest.importorskip("distributed")
    X, Y = _data(rng, n=53, p=7, t=11)
    ref = RidgeCV(alphas=np.logspace(-2, 3, 6), dtype="float64").fit(X, Y)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        out = RidgeCV(alphas=np.logspace(-2, 3, 6), dtype="float64", client=client).fit(X, Y)
    np.testing.assert_array_equal(out.best_alphas_, ref.best_alphas_)
    np.testing.assert_allclose(out.coef_, ref.coef_, rtol=1e-10, atol=1e-12)


def test_extend_grid_moves_saturated_targets_off_the_edge(rng):
    X, Y = _data(rng, n=80, p=30, t=9)
    Y[:, :3] = rng.standard_normal((80, 3)) * 0.1 + X[:, :1] * 0.05   # weak signal: needs large alphas
    narrow = np.logspace(-3, -1, 3)                                     # far too small
    with pytest.warns(UserWarning, match="saturation"):
        plain = RidgeCV(alphas=narrow, dtype="float64").fit(X, Y)
    assert np.all(plain.best_alphas_ <= narrow[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ext = RidgeCV(alphas=narrow, dtype="float64", extend_grid=True).fit(X, Y)
    assert ext.results_.extended_alphas is not None
    assert ext.best_alphas_.max() > narrow[-1]
    assert ext.cv_scores_.shape == (3, 9)      # stays on the original grid
