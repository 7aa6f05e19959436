import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurotoolkit.data._splits import make_cv
from neurotoolkit.encoding import BandedRidgeCV, RidgeCV, sample_gammas, solve_banded_ridge_cv

ALPHAS = np.logspace(-2, 5, 15)

# small simulations put a few targets at the edge of the grid; tested on its own below
pytestmark = pytest.mark.filterwarnings("ignore:Alpha-grid saturation")


def _simulate(rng, n=160, widths=(9, 14), t=23, relevant=(0,), noise=1.0):
    """Spaces of unequal widths; Y depends on the `relevant` spaces only."""
    Xs = [rng.standard_normal((n, p)) for p in widths]
    Y = sum(Xs[i] @ rng.standard_normal((widths[i], t)) * 0.4 for i in relevant)
    Y = Y + noise * rng.standard_normal((n, t)) + 3.0  # nonzero mean: intercept matters
    return Xs, Y


def test_sample_gammas(rng):
    g = sample_gammas(7, 3, (0.1, 1.0), random_state=0)
    assert g.shape == (7, 3)
    np.testing.assert_allclose(g.sum(1), 1)
    np.testing.assert_allclose(g[0], 1 / 3)
    np.testing.assert_array_equal(g, sample_gammas(7, 3, (0.1, 1.0), random_state=0))
    assert not np.allclose(g, sample_gammas(7, 3, (0.1, 1.0), random_state=1))
    np.testing.assert_allclose(sample_gammas(3, 2, np.inf), 0.5)


@pytest.mark.parametrize(
    "widths, dtype",
    [((9, 14), "float64"), ((9, 14), "float32"), ((60, 90), "float64")],  # last: dual form
    ids=["primal-float64", "primal-float32", "dual-float64"],
)
def test_matches_himalaya_group_ridge_cv(rng, widths, dtype):
    """Same gammas, alphas and folds as himalaya: same choices and scores."""
    from himalaya.ridge import GroupRidgeCV
    from himalaya.scoring import r2_score

    Xs, Y = _simulate(rng, n=80 if widths[0] > 50 else 160, widths=widths, relevant=(0, 1))
    Xs[1][:, :4] *= 3.0
    Xs = [X.astype(dtype) for X in Xs]
    Y = Y.astype(dtype)
    folds = make_cv(4, n_samples=len(Y))
    gammas = np.array([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.99, 0.01], [0.3, 0.7]])
    ours = BandedRidgeCV(ALPHAS, folds, n_iter=gammas, stop_patience=None, dtype=dtype).fit(Xs, Y)
    ref = GroupRidgeCV(
        groups="input",
        fit_intercept=True,
        cv=folds,
        solver_params=dict(
            n_iter=gammas, alphas=ALPHAS, score_func=r2_score, progress_bar=False, warn=False
        ),
    ).fit(Xs, Y)
    tol = 1e-6 if dtype == "float64" else 1e-4
    same = np.all(np.isclose(np.exp(-ref.deltas_), ours.band_alphas_, rtol=1e-6), axis=0)
    assert same.mean() >= (1.0 if dtype == "float64" else 0.9)
    np.testing.assert_allclose(ours.deltas_[:, same], ref.deltas_[:, same], rtol=1e-5)
    np.testing.assert_allclose(ours.cv_scores_, ref.cv_scores_, atol=tol)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_[:, same], ref.coef_[:, same], atol=tol * scale)
    np.testing.assert_allclose(ours.intercept_[same], ref.intercept_[same], atol=tol * scale)


def test_irrelevant_space_is_switched_off(rng):
    n_train, n_test, t = 300, 200, 23
    Xs = [rng.standard_normal((n_train + n_test, p)) for p in (9, 14)]
    W = rng.standard_normal((9, t)) * 0.4
    Y = Xs[0] @ W + rng.standard_normal((n_train + n_test, t))  # space 1 is irrelevant
    train = [X[:n_train] for X in Xs]
    test = [X[n_train:] for X in Xs]
    model = BandedRidgeCV(ALPHAS, 5, n_iter=20, random_state=0).fit(train, Y[:n_train])
    band = np.log10(model.band_alphas_)
    # the irrelevant space gets a penalty orders of magnitude larger
    assert np.median(band[1] - band[0]) > 2
    split = model.score_split(test, Y[n_train:])
    assert split.shape == (2, t)
    assert np.abs(split[1]).max() < 0.03
    assert np.median(split[0]) > 0.3
    # the parts add up to the joint held-out R^2 of the mean-centred prediction
    y, pred = Y[n_train:], model.predict(test).astype(np.float64)
    yc, pc = y - y.mean(0), pred - pred.mean(0)
    np.testing.assert_allclose(split.sum(0), 1 - ((yc - pc) ** 2).sum(0) / (yc**2).sum(0))
    assert np.abs(split.sum(0) - model.score_targets(test, y)).mean() < 0.02


def test_single_space_equals_ridge_cv(rng):
    from neurotoolkit.encoding import RidgeCV

    Xs, Y = _simulate(rng, widths=(11,))
    folds = make_cv(5, n_samples=len(Y))
    banded = BandedRidgeCV(ALPHAS, folds, n_iter=3, dtype="float64").fit(Xs[0], Y)
    ridge = RidgeCV(ALPHAS, folds, dtype="float64").fit(Xs[0], Y)
    np.testing.assert_allclose(banded.best_alphas_, ridge.best_alphas_)
    np.testing.assert_allclose(banded.coef_, ridge.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(banded.intercept_, ridge.intercept_, rtol=1e-6)
    np.testing.assert_allclose(banded.best_gammas_, 1.0)
    assert banded.n_iter_ == 1  # one space: every gamma is the same point


def test_input_formats_agree_and_reproducible(rng):
    Xs, Y = _simulate(rng, n=90, t=7)
    kwargs = dict(alphas=ALPHAS, cv=3, n_iter=6, random_state=3)
    a = BandedRidgeCV(**kwargs).fit(Xs, Y)
    b = BandedRidgeCV(**kwargs).fit({"vis": Xs[0], "sem": Xs[1]}, Y)
    c = BandedRidgeCV(n_features_per_space=[9, 14], **kwargs).fit(np.hstack(Xs), Y)
    for other in (b, c):
        np.testing.assert_array_equal(a.coef_, other.coef_)
        np.testing.assert_array_equal(a.band_alphas_, other.band_alphas_)
    assert b.space_names_ == ["vis", "sem"]
    assert b.coef_by_space_["sem"].shape == (14, 7)
    assert np.shares_memory(b.coef_by_space_["sem"], b.coef_)
    d = BandedRidgeCV(**{**kwargs, "random_state": 4}).fit(Xs, Y)
    assert not np.allclose(a.gammas_[1:], d.gammas_[1:])


def test_attributes_and_predict_split(rng):
    Xs, Y = _simulate(rng, n=70, widths=(5, 6, 4), t=9, relevant=(0, 2))
    model = BandedRidgeCV(ALPHAS, 3, n_iter=8, random_state=0, stop_patience=None).fit(Xs, Y)
    assert model.n_iter_ == 8 and model.gammas_.shape == (8, 3)
    assert model.cv_scores_.shape == (8, 9)
    assert model.coef_.shape == (15, 9) and model.intercept_.shape == (9,)
    for attr in ("best_gammas_", "band_alphas_", "deltas_"):
        assert getattr(model, attr).shape == (3, 9)
    np.testing.assert_allclose(model.best_gammas_.sum(0), 1)
    np.testing.assert_allclose(model.band_alphas_, model.best_alphas_ / model.best_gammas_)
    np.testing.assert_allclose(model.deltas_, -np.log(model.band_alphas_))
    np.testing.assert_allclose(model.best_cv_scores_, model.cv_scores_.max(0))
    X_new = [rng.standard_normal((13, p)) for p in (5, 6, 4)]
    split = model.predict(X_new, split=True)
    assert split.shape == (3, 13, 9)
    np.testing.assert_allclose(
        split.sum(0) + model.intercept_, model.predict(X_new), rtol=1e-5, atol=1e-5
    )
    # the refit is ridge with the band penalties: closed form on centred data
    j = 4
    X = np.hstack(Xs).astype(np.float64)
    Xc, yc = X - X.mean(0), Y[:, j] - Y[:, j].mean()
    pen = np.repeat(model.band_alphas_[:, j], [5, 6, 4])
    w = np.linalg.solve(Xc.T @ Xc + np.diag(pen), Xc.T @ yc)
    np.testing.assert_allclose(model.coef_[:, j], w, rtol=1e-3, atol=1e-5)


def test_saturation_warning(rng):
    Xs, Y = _simulate(rng, n=200, relevant=(0, 1), noise=0.05)
    high_grid = np.logspace(3, 6, 4)  # far too strong for this high-SNR data
    with pytest.warns(UserWarning, match="Alpha-grid saturation: of 23 predictive targets, 23"):
        model = BandedRidgeCV(high_grid, 3, n_iter=3, random_state=0).fit(Xs, Y)
    assert model.saturated_.all()
    np.testing.assert_allclose(model.best_alphas_, 1e3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BandedRidgeCV(high_grid, 3, n_iter=3, saturation_threshold=None).fit(Xs, Y)


def test_constant_target_warned_once(rng):
    Xs, Y = _simulate(rng, n=60, t=4)
    Y[:, 2] = 5.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BandedRidgeCV(ALPHAS, 3, n_iter=5, random_state=0, stop_patience=None).fit(Xs, Y)
    constant = [w for w in caught if "constant targets" in str(w.message)]
    assert len(constant) == 1
    np.testing.assert_array_equal(model.coef_[:, 2], 0)
    np.testing.assert_allclose(model.predict(Xs)[:, 2], 5.0)


def test_early_stop(rng):
    Xs, Y = _simulate(rng, n=80, t=5)
    model = BandedRidgeCV(ALPHAS, 3, n_iter=60, stop_patience=4, random_state=0).fit(Xs, Y)
    assert model.n_iter_ < 60
    # no target took its best gamma within the last 4 draws
    best_iter = np.array(
        [np.flatnonzero(np.all(model.gammas_ == g, axis=1))[0] for g in model.best_gammas_.T]
    )
    assert (best_iter > model.n_iter_ - 1 - 4).sum() < 1e-3 * 5 + 1


def test_one_d_target_and_groups(rng):
    Xs, Y = _simulate(rng, n=60, t=1)
    runs = np.repeat([0, 1, 2], 20)
    model = BandedRidgeCV(ALPHAS, "runs", n_iter=3, random_state=0).fit(Xs, Y[:, 0], groups=runs)
    assert model.coef_.shape == (23,) and np.ndim(model.intercept_) == 0
    # per-target attributes keep the target axis whatever the shape of Y
    assert model.best_alphas_.shape == model.best_cv_scores_.shape == (1,)
    assert model.band_alphas_.shape == model.best_gammas_.shape == (2, 1)
    assert model.cv_scores_.shape == (model.n_iter_, 1)
    assert model.predict(Xs).shape == (60,)
    assert model.predict(Xs, split=True).shape == (2, 60)
    assert model.score_split(Xs, Y[:, 0]).shape == (2,)


@pytest.mark.parametrize(
    "params, X, match",
    [
        (dict(n_features_per_space=[5, 5]), "array", "Invalid value for `n_features_per_space`"),
        (dict(n_iter=np.ones((3, 3))), "list", "Invalid value for `n_iter`: expected an int or"),
        (dict(n_iter=0), "list", "Invalid value for `n_iter`"),
        (dict(alphas=[1.0, -1.0]), "list", "Invalid value for `alphas`"),
        (dict(stop_fraction=2.0), "list", "Invalid value for `stop_fraction`"),
    ],
)
def test_bad_parameters(rng, params, X, match):
    Xs, Y = _simulate(rng, n=30, t=3)
    X = np.hstack(Xs) if X == "array" else Xs
    with pytest.raises((ValueError, TypeError), match=match):
        BandedRidgeCV(cv=3, **params).fit(X, Y)


def test_bad_inputs(rng):
    Xs, Y = _simulate(rng, n=30, t=3)
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        BandedRidgeCV(cv=3).fit([Xs[0], Xs[1][:-1]], Y)
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        BandedRidgeCV(cv=3).fit(Xs, Y[:-1])
    Xbad = [Xs[0].copy(), Xs[1]]
    Xbad[0][3, 2] = np.nan
    with pytest.raises(ValueError, match="Invalid value for `X\\[0\\]`: expected finite"):
        BandedRidgeCV(cv=3).fit(Xbad, Y)
    model = BandedRidgeCV(ALPHAS, cv=3, n_iter=2).fit(Xs, Y)
    with pytest.raises(ValueError, match="Invalid value for `X`: expected 2 spaces of widths"):
        model.predict([Xs[1], Xs[0]])


@parametrize_with_checks([BandedRidgeCV(alphas=np.logspace(-3, 3, 7), cv=3, n_iter=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("widths", [(9, 14), (60, 90)], ids=["primal", "dual"])
def test_reused_statistics_equal_scaled_design(rng, widths):
    """Statistics computed once and rescaled per gamma equal a fit on the scaled design."""
    from neurotoolkit._utils.backend import get_backend
    from neurotoolkit._ridge._solve_ridge import (
        GroupScaledStats,
        solve_ridge,
        solve_ridge_cv,
    )

    Xs, Y = _simulate(rng, n=80, widths=widths, relevant=(0, 1))
    X = np.hstack(Xs)
    slices = [slice(0, widths[0]), slice(widths[0], sum(widths))]
    folds = make_cv(4, n_samples=len(Y))
    stats = GroupScaledStats(X, folds, slices, True, "auto", get_backend(dtype="float64"))
    assert stats.solver == ("dual" if widths[0] > 50 else "primal")
    for gamma in ([0.5, 0.5], [0.97, 0.03], [1e-4, 1 - 1e-4]):
        scale = np.concatenate([np.full(w, np.sqrt(g)) for w, g in zip(widths, gamma)])
        ref = solve_ridge_cv(X * scale, Y, ALPHAS, folds, dtype="float64")
        got = solve_ridge_cv(X, Y, ALPHAS, folds, dtype="float64",
                             _x_stats=stats.with_gamma(gamma))
        assert got.solver == ref.solver == stats.solver
        np.testing.assert_allclose(got.cv_scores, ref.cv_scores, rtol=1e-9, atol=1e-11)
        np.testing.assert_array_equal(got.best_alpha_index, ref.best_alpha_index)
        np.testing.assert_allclose(got.coef, ref.coef, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got.intercept, ref.intercept, rtol=1e-8, atol=1e-10)
        w_ref, b_ref = solve_ridge(X * scale, Y, got.best_alphas, dtype="float64",
                                   solver=stats.solver)
        w, b = solve_ridge(X, Y, got.best_alphas, dtype="float64",
                           _x_stats=stats.with_gamma(gamma))
        np.testing.assert_allclose(w, w_ref, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(b, b_ref, rtol=1e-8, atol=1e-10)


def test_estimator_is_the_function(rng):
    """BandedRidgeCV stores what solve_banded_ridge_cv returns, bit for bit."""
    Xs, Y = _simulate(rng, n=70, widths=(5, 6, 4), t=9, relevant=(0, 2))
    kwargs = dict(n_iter=6, random_state=0, stop_patience=None)
    model = BandedRidgeCV(ALPHAS, 3, **kwargs).fit(Xs, Y)
    res = solve_banded_ridge_cv(Xs, Y, ALPHAS, 3, **kwargs)
    for attr in ("coef", "intercept", "best_alphas", "best_gammas", "band_alphas", "deltas",
                 "cv_scores", "best_cv_scores", "gammas", "saturated"):
        np.testing.assert_array_equal(getattr(model, attr + "_"), getattr(res, attr))
    assert res.space_names == ["space0", "space1", "space2"] and res.n_iter == 6
    assert res.best_gamma_cv_scores.shape == (15, 9)
    np.testing.assert_array_equal(res.best_cv_scores, res.cv_scores.max(0))
    np.testing.assert_array_equal(res.alphas[res.best_alpha_index], res.best_alphas)
    # one array split by widths gives the same search
    flat = solve_banded_ridge_cv(np.hstack(Xs), Y, ALPHAS, 3, n_features_per_space=[5, 6, 4],
                                 **kwargs)
    np.testing.assert_array_equal(flat.coef, res.coef)
    no_refit = solve_banded_ridge_cv(Xs, Y, ALPHAS, 3, refit=False, **kwargs)
    assert no_refit.coef is None and no_refit.intercept is None
    np.testing.assert_array_equal(no_refit.best_alphas, res.best_alphas)


def test_more_folds_than_samples_is_an_error_as_in_ridge_cv(rng):
    Xs, Y = _simulate(rng, n=4, widths=(2, 3), t=2)
    match = r"Invalid value for `cv`: expected at most 4 folds \(the number of samples\), got 5"
    with pytest.raises(ValueError, match=match):
        RidgeCV(cv=5).fit(np.hstack(Xs), Y)
    with pytest.raises(ValueError, match=match):
        BandedRidgeCV(cv=5).fit(Xs, Y)
    with pytest.raises(ValueError, match=match):
        solve_banded_ridge_cv(Xs, Y, cv=5)


def test_shared_alpha_selection_matches_ridge_cv_on_scaled_design(rng):
    """One (gamma, alpha) for all targets: the gamma whose shared alpha has the best mean score."""
    Xs, Y = _simulate(rng, n=90, widths=(9, 14), t=7, relevant=(0,))
    folds = make_cv(3, n_samples=len(Y))
    gammas = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    model = BandedRidgeCV(ALPHAS, folds, n_iter=gammas, stop_patience=None, dtype="float64",
                          alpha_selection="shared").fit(Xs, Y)
    refs = []
    for g in gammas:
        scale = np.repeat(np.sqrt(g), (9, 14))
        ref = RidgeCV(ALPHAS, folds, dtype="float64", alpha_selection="shared").fit(
            np.hstack(Xs) * scale, Y)
        best = ref.cv_scores_[np.searchsorted(ALPHAS, ref.best_alphas_[0])]
        refs.append((best.mean(), g, ref, scale))
    _, g, ref, scale = max(refs, key=lambda r: r[0])
    np.testing.assert_allclose(model.best_gammas_, np.repeat(g[:, None], 7, axis=1))
    np.testing.assert_array_equal(model.best_alphas_, ref.best_alphas_)
    assert np.unique(model.best_alphas_).size == 1
    np.testing.assert_allclose(model.coef_, ref.coef_ * scale[:, None], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="Invalid value for `alpha_selection`"):
        BandedRidgeCV(ALPHAS, 3, alpha_selection="1se").fit(Xs, Y)


def test_score_is_sklearn_r2(rng):
    from sklearn.metrics import r2_score

    Xs, Y = _simulate(rng, n=90, t=5)
    model = BandedRidgeCV(ALPHAS, 3, n_iter=4, random_state=0).fit(Xs, Y)
    Xn, Yn = _simulate(np.random.default_rng(7), n=40, t=5)
    expected = r2_score(Yn, model.predict(Xn))
    assert model.score(Xn, Yn) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(model.score(Xn, Yn), model.score_targets(Xn, Yn).mean(),
                               rtol=1e-5)


def test_function_input_errors(rng):
    Xs, Y = _simulate(rng, n=30, t=3)
    with pytest.raises(ValueError, match="`n_features_per_space`: expected None when"):
        solve_banded_ridge_cv(Xs, Y, cv=3, n_features_per_space=[9, 14])
    with pytest.raises(ValueError, match="Invalid value for `n_features_per_space`: expected "
                                         "positive integers summing to the 23 columns"):
        solve_banded_ridge_cv(np.hstack(Xs), Y, cv=3, n_features_per_space=[9, 13])
    with pytest.raises(ValueError, match="Invalid value for `Xs`: expected at least one feature"):
        solve_banded_ridge_cv({}, Y, cv=3)
