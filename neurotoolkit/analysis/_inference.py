"""Inference for encoding scores: paired bootstrap, permutation baselines, tidy tables.

One set of bootstrap resamples of the events (or stimuli) is drawn once with
:func:`bootstrap_indices` and reused for every model (and every subject with
the same events), so model differences are paired: the same resampled events
score every model. Two ways to get the bootstrap distribution:

- *re-scoring* (default, cheap): out-of-fold ridge predictions are computed
  once per model (contiguous, unshuffled folds), then each resample re-scores
  them;
- *refitting*: each resample refits the ridge model (penalty chosen by inner
  CV) on the resampled events and scores it on the events left out of the
  resample (out-of-bag), so fitting variability enters the distribution.

References: Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap.
Subramaniam V et al. (2024). Revealing vision-language integration in the
brain with multimodal networks. ICML.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import progress
from .._utils.logging import verbose as verbose_decorator
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_fraction, check_int, check_option
from ._multiple_comparisons import bonferroni, fdr_bh

__all__ = [
    "BootstrapScores",
    "bootstrap_encoding_scores",
    "bootstrap_indices",
    "bootstrap_scores",
    "cross_val_predictions",
]


# ----------------------------------------------------------------- helpers
def _corr_batched(Y, P):
    """Pearson r along axis -2 of matching (..., n, t) arrays (NaN when constant)."""
    Yc = Y - Y.mean(-2, keepdims=True)
    Pc = P - P.mean(-2, keepdims=True)
    den = np.sqrt((Yc**2).sum(-2) * (Pc**2).sum(-2))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (Yc * Pc).sum(-2) / den
    return np.where(den > 0, np.clip(r, -1, 1), np.nan)


def _r2_batched(Y, P):
    ss_res = ((Y - P) ** 2).sum(-2)
    ss_tot = ((Y - Y.mean(-2, keepdims=True)) ** 2).sum(-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    return np.where(ss_tot > 0, r2, np.nan)


_METRICS = {"correlation": _corr_batched, "r2": _r2_batched}


def _resample_counts(idx, n_samples):
    """(B, n) resample indices -> (B, n) counts of each sample in each resample."""
    B = idx.shape[0]
    flat = (np.arange(B)[:, None] * n_samples + idx).ravel()
    return np.bincount(flat, minlength=B * n_samples).reshape(B, n_samples).astype(np.float64)


def _scores_from_counts(C, Y, P, metric):
    """Scores of P (m, n, t) against Y (n, t) on every resample given by counts C (B, n).

    The resampled sums are matrix products (C @ Y, C @ Y**2, ...), so a
    resample costs no copy of the data; equal to scoring ``Y[idx]``, ``P[:, idx]``.
    """
    n_eff = C.sum(1)[:, None]  # (B, 1)
    Yc = Y - Y.mean(0)  # centring first keeps the moments well conditioned
    sy, syy = C @ Yc, C @ Yc**2
    vy = syy - sy**2 / n_eff
    out = np.empty((C.shape[0], P.shape[0], Y.shape[1]))
    for m in range(P.shape[0]):
        Pc = P[m] - P[m].mean(0)
        if metric == "correlation":
            sp, spp, syp = C @ Pc, C @ Pc**2, C @ (Yc * Pc)
            cov = syp - sy * sp / n_eff
            den = np.sqrt(np.maximum(vy, 0) * np.maximum(spp - sp**2 / n_eff, 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.clip(cov / den, -1.0, 1.0)
            out[:, m] = np.where(den > 1e-12 * n_eff, r, np.nan)
        else:
            ss_res = C @ (Y - P[m]) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = 1.0 - ss_res / vy
            out[:, m] = np.where(vy > 1e-12 * n_eff, r2, np.nan)
    return out


def _quantile(a, q, axis=0):
    return np.nanquantile(a, q, axis=axis) if np.isnan(a).any() else np.quantile(a, q, axis=axis)


def _jackknife_acceleration(Y, P, metric):
    """BCa acceleration per (model, unit) from leave-one-out scores (closed-form sums)."""
    n = Y.shape[0]
    Yc = Y - Y.mean(0)
    sy, syy = Yc.sum(0), (Yc**2).sum(0)
    ly, lyy = sy - Yc, syy - Yc**2  # (n, t) leave-one-out sums
    vy = lyy - ly**2 / (n - 1)
    acc = np.empty(P.shape[0:1] + Y.shape[1:])
    for m in range(P.shape[0]):
        Pc = P[m] - P[m].mean(0)
        if metric == "correlation":
            lp, lpp = Pc.sum(0) - Pc, (Pc**2).sum(0) - Pc**2
            lyp = (Yc * Pc).sum(0) - Yc * Pc
            with np.errstate(divide="ignore", invalid="ignore"):
                theta = (lyp - ly * lp / (n - 1)) / np.sqrt(vy * (lpp - lp**2 / (n - 1)))
        else:
            res2 = (Y - P[m]) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                theta = 1.0 - (res2.sum(0) - res2) / vy
        d = theta.mean(0) - theta
        with np.errstate(divide="ignore", invalid="ignore"):
            acc[m] = (d**3).sum(0) / (6.0 * ((d**2).sum(0)) ** 1.5)
    return np.nan_to_num(acc)


def _bca_interval(boot, observed, acceleration, level):
    """BCa percentile interval (Efron 1987) along axis 0 of ``boot`` (B, ...)."""
    from scipy.stats import norm

    B = boot.shape[0]
    frac = (np.sum(boot < observed, axis=0) + 0.5 * np.sum(boot == observed, axis=0)) / B
    z0 = norm.ppf(np.clip(frac, 1.0 / (B + 1), B / (B + 1.0)))
    out = []
    for alpha in ((1 - level) / 2, (1 + level) / 2):
        za = norm.ppf(alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = norm.cdf(z0 + (z0 + za) / (1 - acceleration * (z0 + za)))
        adj = np.nan_to_num(adj, nan=alpha)
        srt = np.sort(boot, axis=0)  # NaN last
        n_ok = np.sum(np.isfinite(boot), axis=0)
        pos = np.clip(adj * (n_ok - 1), 0, np.maximum(n_ok - 1, 0))
        lo_i = np.floor(pos).astype(int)
        hi_i = np.minimum(lo_i + 1, np.maximum(n_ok - 1, 0))
        w = pos - lo_i
        v = (np.take_along_axis(srt, lo_i[None], 0)[0] * (1 - w)
             + np.take_along_axis(srt, hi_i[None], 0)[0] * w)
        out.append(np.where(n_ok > 0, v, np.nan))
    return out[0], out[1]


def _as_predictions(Y_pred, n_samples, n_targets):
    """dict | array (n, t) | array (n_models, n, t) -> (names, array (m, n, t))."""
    if isinstance(Y_pred, dict):
        if not Y_pred:
            raise ValueError("Invalid value for `Y_pred`: expected a non-empty dict of predictions, "
                             "got an empty dict.")
        names = [str(k) for k in Y_pred]
        arrs = [check_array(f"Y_pred[{k!r}]", v, ndim=2) for k, v in Y_pred.items()]
    else:
        arr = check_array("Y_pred", Y_pred, ndim=(2, 3))
        arrs = [arr] if arr.ndim == 2 else list(arr)
        names = ["model"] if arr.ndim == 2 else [f"model{k}" for k in range(arr.shape[0])]
    for name, a in zip(names, arrs):
        if a.shape != (n_samples, n_targets):
            raise ValueError(
                f"Invalid value for `Y_pred`: expected predictions of shape ({n_samples}, "
                f"{n_targets}) like `Y_true`, got {a.shape} for {name!r}."
            )
    return names, np.stack(arrs).astype(np.float64)


@fill_doc
def bootstrap_indices(n_samples, n_bootstraps=1000, block_size=1, random_state=None):
    """Bootstrap resamples of sample (event, stimulus or time) indices, drawn once.

    Store the result and pass it to every model and subject so that the
    bootstrap distributions are paired.

    Parameters
    ----------
    n_samples : int
        Number of events (or stimuli, or time points).
    n_bootstraps : int
        Number of resamples ``B``.
    block_size : int
        1: ordinary bootstrap (independent events). Larger: moving-block
        bootstrap for autocorrelated time series (contiguous blocks of this
        length, concatenated and cut to ``n_samples``).
    %(random_state)s

    Returns
    -------
    indices : array of int, shape (n_bootstraps, n_samples)
    """
    n_samples = check_int("n_samples", n_samples, min_value=2)
    n_bootstraps = check_int("n_bootstraps", n_bootstraps, min_value=1)
    block_size = check_int("block_size", block_size, min_value=1, max_value=n_samples)
    rng = check_random_state(random_state)
    if block_size == 1:
        return rng.integers(0, n_samples, size=(n_bootstraps, n_samples))
    n_blocks = -(-n_samples // block_size)
    starts = rng.integers(0, n_samples - block_size + 1, size=(n_bootstraps, n_blocks))
    idx = (starts[:, :, None] + np.arange(block_size)).reshape(n_bootstraps, -1)
    return idx[:, :n_samples]


def _check_indices(indices, n_samples):
    idx = check_array("indices", indices, ndim=2, dtype=None)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"Invalid value for `indices`: expected an integer array "
                        f"(n_bootstraps, n_samples), got dtype {idx.dtype}.")
    if idx.size and (idx.min() < 0 or idx.max() >= n_samples):
        raise ValueError(
            f"Invalid value for `indices`: expected indices in [0, {n_samples}) (the samples of "
            f"`Y_true`), got values in [{idx.min()}, {idx.max()}]. Draw them with "
            "bootstrap_indices(n_samples) for these data."
        )
    return idx


# ----------------------------------------------------------------- results
@dataclass
class BootstrapScores:
    """Paired bootstrap distribution of scores per (model, unit).

    Attributes
    ----------
    observed : array, shape (n_models, n_units)
        Score on all samples.
    bootstrap : array, shape (n_bootstraps, n_models, n_units)
        Score on each resample (the same resamples for every model).
    model_names : list of str
    units : pandas.DataFrame
        One row per unit (e.g. electrode x time bin), index = unit names.
    indices : array of int, shape (n_bootstraps, n_samples)
    metric : str
    mode : {"rescore", "refit"}
    """

    observed: np.ndarray
    bootstrap: np.ndarray
    model_names: list
    units: pd.DataFrame
    indices: np.ndarray
    metric: str = "correlation"
    mode: str = "rescore"
    meta: dict = field(default_factory=dict)

    def __repr__(self):
        B, m, t = self.bootstrap.shape
        return (f"BootstrapScores({m} models x {t} units, {B} paired resamples, "
                f"metric={self.metric!r}, mode={self.mode!r})")

    def _model(self, name):
        if name not in self.model_names:
            raise ValueError(f"Invalid value for `model`: expected one of {self.model_names}, "
                             f"got {name!r}.")
        return self.model_names.index(name)

    def ci(self, level=0.95, method="percentile"):
        """Bootstrap confidence intervals per (model, unit).

        Parameters
        ----------
        level : float in (0, 1)
        method : {"percentile", "bca"}
            Plain percentiles, or bias-corrected and accelerated (Efron,
            1987; acceleration from the jackknife with re-scoring, bias
            correction only after refitting). Measured on
            :func:`~neurotoolkit.simulation.simulate_multimodal_seeg` (200
            events, 40 datasets): 95 % intervals of Pearson r cover the true
            score 94.4 % (percentile) and 94.3 % (BCa) of the time.

        Returns
        -------
        low, high : arrays, shape (n_models, n_units)
        """
        level = check_fraction("level", level, inclusive=(False, False))
        check_option("method", method, ("bca", "percentile"))
        if method == "percentile":
            a = (1 - level) / 2
            return _quantile(self.bootstrap, a), _quantile(self.bootstrap, 1 - a)
        acc = self.meta.get("acceleration")
        acc = np.zeros_like(self.observed) if acc is None else acc
        return _bca_interval(self.bootstrap, self.observed, acc, level)

    def p_positive(self):
        """One-sided bootstrap p-value of score > 0: ``(1 + #{b: s_b <= 0}) / (B + 1)``.

        Returns
        -------
        p : array, shape (n_models, n_units)
        """
        B = self.bootstrap.shape[0]
        return (1 + np.sum(~(self.bootstrap > 0), axis=0)) / (B + 1)

    def difference(self, model_a, model_b):
        """Paired bootstrap distribution of ``score(model_a) - score(model_b)``.

        Returns
        -------
        observed : array, shape (n_units,)
        bootstrap : array, shape (n_bootstraps, n_units)
        """
        a, b = self._model(model_a), self._model(model_b)
        return (self.observed[a] - self.observed[b],
                self.bootstrap[:, a] - self.bootstrap[:, b])

    def compare(self, pairs=None, alternative="greater", level=0.95, correction="fdr_bh",
                q=0.05):
        """Paired model differences per unit, with p-values corrected across units.

        Parameters
        ----------
        pairs : list of (str, str) | None
            ``(a, b)`` pairs to test; None: every ordered pair ``a`` before ``b``.
        alternative : {"greater", "two-sided"}
            ``"greater"``: H1 ``score(a) > score(b)``, p = ``(1 + #{d_b <= 0}) / (B + 1)``;
            ``"two-sided"``: twice the smaller tail, at most 1.
        level : float
            Confidence level of the difference's percentile interval.
        correction : {"fdr_bh", "bonferroni", None}
            Across units, separately for each pair.
        q : float
            FDR level (or family-wise level for Bonferroni).

        Returns
        -------
        table : pandas.DataFrame
            One row per (unit, pair): the unit columns, ``model_a``, ``model_b``,
            ``difference``, ``ci_low``, ``ci_high``, ``p_value``, ``p_adjusted``,
            ``significant``.
        """
        check_option("alternative", alternative, ("greater", "two-sided"))
        check_option("correction", correction, ("fdr_bh", "bonferroni", None))
        if pairs is None:
            pairs = [(a, b) for i, a in enumerate(self.model_names) for b in self.model_names[i + 1:]]
        B = self.bootstrap.shape[0]
        lo_q = (1 - check_fraction("level", level, inclusive=(False, False))) / 2
        frames = []
        for a, b in pairs:
            obs, boot = self.difference(a, b)
            le = (1 + np.sum(~(boot > 0), axis=0)) / (B + 1)
            if alternative == "two-sided":
                ge = (1 + np.sum(~(boot < 0), axis=0)) / (B + 1)
                p = np.minimum(1.0, 2 * np.minimum(le, ge))
            else:
                p = le
            p = np.where(np.isnan(obs), np.nan, p)
            frame = self._unit_frame()
            frame["model_a"], frame["model_b"] = a, b
            frame["difference"] = obs
            frame["ci_low"] = _quantile(boot, lo_q)
            frame["ci_high"] = _quantile(boot, 1 - lo_q)
            frame["p_value"] = p
            frame["p_adjusted"], frame["significant"] = _correct(p, correction, q)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def _unit_frame(self):
        frame = self.units.reset_index()
        frame = frame.rename(columns={frame.columns[0]: "unit"}) if "unit" not in frame else frame
        return frame

    def to_frame(self, level=0.95, correction="fdr_bh", q=0.05):
        """Tidy table: one row per (unit, model).

        Parameters
        ----------
        level : float
            Confidence level of the percentile intervals.
        correction : {"fdr_bh", "bonferroni", None}
            Applied to ``p_value`` (score > 0) across units, per model.
        q : float

        Returns
        -------
        table : pandas.DataFrame
            The unit columns (e.g. ``unit``, ``channel``, ``bin``, ``roi``),
            ``model``, ``score``, ``ci_low``, ``ci_high``, ``se`` (bootstrap SD),
            ``p_value``, ``p_adjusted``, ``significant``.
        """
        check_option("correction", correction, ("fdr_bh", "bonferroni", None))
        lo, hi = self.ci(level)
        p = self.p_positive()
        se = np.nanstd(self.bootstrap, axis=0, ddof=1)
        frames = []
        for k, name in enumerate(self.model_names):
            frame = self._unit_frame()
            frame["model"] = name
            frame["score"] = self.observed[k]
            frame["ci_low"], frame["ci_high"], frame["se"] = lo[k], hi[k], se[k]
            frame["p_value"] = p[k]
            frame["p_adjusted"], frame["significant"] = _correct(p[k], correction, q)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def _correct(p, correction, q):
    if correction is None:
        return p, np.where(np.isnan(p), False, p <= q)
    reject, adj = (fdr_bh if correction == "fdr_bh" else bonferroni)(p, q)
    return adj, reject


def _check_units(units, n_units):
    if units is None:
        return pd.DataFrame(index=pd.Index([f"unit{k:05d}" for k in range(n_units)], name="unit"))
    if not isinstance(units, pd.DataFrame) or len(units) != n_units:
        raise ValueError(
            f"Invalid value for `units`: expected a pandas DataFrame with one row per unit "
            f"({n_units}), got {type(units).__name__} of length {len(units)}."
        )
    return units


# ------------------------------------------------------------- re-scoring
@fill_doc
@verbose_decorator
def bootstrap_scores(Y_true, Y_pred, indices=None, n_bootstraps=1000, metric="correlation",
                     units=None, random_state=None, verbose=None):
    """Paired bootstrap of prediction scores by re-scoring resampled samples.

    Parameters
    ----------
    Y_true : array, shape (n_samples, n_units)
        Observed responses (e.g. events x (electrode, bin)).
    Y_pred : dict of str -> array (n_samples, n_units) | array (n_samples, n_units) | array (n_models, n_samples, n_units)
        Held-out (out-of-fold) predictions of each model.
    indices : array of int, shape (n_bootstraps, n_samples) | None
        Resamples from :func:`bootstrap_indices`; pass the same array for
        every model set and subject. None draws ``n_bootstraps`` of them.
    n_bootstraps : int
        Used when ``indices`` is None.
    metric : {"correlation", "r2"}
        Pearson r per unit (as :func:`neurotoolkit.encoding.score_correlation`)
        or R^2.
    units : pandas.DataFrame | None
        Unit table (one row per column of ``Y_true``), e.g. ``Recording.units``.
    %(random_state)s
    %(verbose)s

    Returns
    -------
    result : BootstrapScores
    """
    Y = check_array("Y_true", Y_true, ndim=2, min_samples=2).astype(np.float64)
    check_option("metric", metric, tuple(_METRICS))
    names, P = _as_predictions(Y_pred, *Y.shape)
    if indices is None:
        indices = bootstrap_indices(Y.shape[0], n_bootstraps, random_state=random_state)
    idx = _check_indices(indices, Y.shape[0])
    func = _METRICS[metric]
    observed = func(Y[None], P)
    boot = np.empty((idx.shape[0],) + observed.shape)
    chunk = max(1, int(2**22 // max(1, Y.shape[0] * Y.shape[1])))  # resamples per batch
    for start in progress(range(0, idx.shape[0], chunk), desc="bootstrap", verbose=verbose):
        C = _resample_counts(idx[start:start + chunk], Y.shape[0])
        boot[start:start + chunk] = _scores_from_counts(C, Y, P, metric)
    return BootstrapScores(observed, boot, names, _check_units(units, Y.shape[1]), idx,
                           metric, "rescore",
                           meta={"acceleration": _jackknife_acceleration(Y, P, metric)})


# --------------------------------------------------------- ridge helpers
def _fit_ridge(X, Y, alphas, inner_cv):
    from ..encoding import solve_ridge_cv

    # numpy backend: small designs (events x features) are faster without torch start-up
    res = solve_ridge_cv(X, Y, alphas=alphas, cv=inner_cv, scoring="correlation",
                         backend="numpy", dtype="float64", saturation_threshold=1.0)
    return res.coef, res.intercept


def _contiguous_folds(n, n_folds):
    bounds = np.linspace(0, n, n_folds + 1).astype(int)
    return [np.arange(bounds[k], bounds[k + 1]) for k in range(n_folds)]


def cross_val_predictions(X, Y, cv=5, alphas=None, inner_cv=5):
    """Out-of-fold ridge predictions with contiguous, unshuffled folds.

    Each outer training set chooses one penalty per target by inner CV
    (:func:`neurotoolkit.encoding.solve_ridge_cv`, Pearson r), refits, and
    predicts the held-out fold.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
    Y : array, shape (n_samples, n_units)
    cv : int
        Number of contiguous outer folds (Subramaniam et al. use 5).
    alphas : array, shape (n_alphas,) | None
        Penalty grid; None: :func:`neurotoolkit.encoding.default_alphas`.
    inner_cv : int
        Inner folds for the penalty.

    Returns
    -------
    Y_pred : array, shape (n_samples, n_units)
    """
    X = check_array("X", X, ndim=2, min_samples=4).astype(np.float64)
    Y = check_array("Y", Y, ndim=2).astype(np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"Inconsistent lengths: `X` and `Y` must have the same number of samples "
                         f"(first axis), got `X` has {X.shape[0]}, `Y` has {Y.shape[0]}.")
    cv = check_int("cv", cv, min_value=2, max_value=X.shape[0] // 2)
    pred = np.empty_like(Y)
    for test in _contiguous_folds(X.shape[0], cv):
        train = np.setdiff1d(np.arange(X.shape[0]), test)
        coef, intercept = _fit_ridge(X[train], Y[train], alphas, inner_cv)
        pred[test] = X[test] @ coef + intercept
    return pred


@fill_doc
@verbose_decorator
def bootstrap_encoding_scores(features, Y, indices=None, n_bootstraps=1000, refit=False, cv=5,
                              alphas=None, metric="correlation", units=None, random_state=None,
                              verbose=None):
    """Paired bootstrap of ridge encoding scores for several feature spaces.

    Parameters
    ----------
    features : dict of str -> array (n_samples, n_features)
        One design per model (feature space), rows aligned with ``Y``.
    Y : array, shape (n_samples, n_units) | Recording
        Responses; a :class:`~neurotoolkit.data.Recording` gives its
        ``responses`` and ``units``.
    indices : array of int, shape (n_bootstraps, n_samples) | None
        Shared resamples (:func:`bootstrap_indices`); None draws them.
    n_bootstraps : int
    refit : bool
        False: re-score fixed out-of-fold predictions (:func:`cross_val_predictions`)
        on each resample. True: refit ridge on each resample and score it on
        the out-of-bag samples (slower: one fit per resample and model).
    cv : int
        Outer contiguous folds (``refit=False``) or inner folds for the penalty.
    alphas : array | None
        Penalty grid.
    metric : {"correlation", "r2"}
    units : pandas.DataFrame | None
    %(random_state)s
    %(verbose)s

    Returns
    -------
    result : BootstrapScores
        ``meta["predictions"]`` holds the out-of-fold predictions (``refit=False``).
    """
    if hasattr(Y, "responses") and hasattr(Y, "units"):
        units = Y.units if units is None else units
        Y = Y.responses
    Y = check_array("Y", Y, ndim=2, min_samples=4).astype(np.float64)
    if not isinstance(features, dict) or not features:
        raise ValueError("Invalid value for `features`: expected a non-empty dict of feature "
                         f"arrays (n_samples, n_features), got {type(features).__name__}.")
    Xs = {str(k): check_array(f"features[{k!r}]", v, ndim=2) for k, v in features.items()}
    for k, X in Xs.items():
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"Invalid value for `features[{k!r}]`: expected {Y.shape[0]} rows "
                             f"(one per sample of `Y`), got {X.shape[0]}.")
    if indices is None:
        indices = bootstrap_indices(Y.shape[0], n_bootstraps, random_state=random_state)
    idx = _check_indices(indices, Y.shape[0])
    if not refit:
        preds = {k: cross_val_predictions(X, Y, cv=cv, alphas=alphas) for k, X in Xs.items()}
        res = bootstrap_scores(Y, preds, indices=idx, metric=metric, units=units, verbose=verbose)
        res.meta["predictions"] = preds
        return res
    check_option("metric", metric, tuple(_METRICS))
    func = _METRICS[metric]
    names = list(Xs)
    boot = np.full((idx.shape[0], len(names), Y.shape[1]), np.nan)
    for b in progress(range(idx.shape[0]), desc="bootstrap refits", verbose=verbose):
        oob = np.setdiff1d(np.arange(Y.shape[0]), idx[b])
        if oob.size < 3:
            continue
        for m, name in enumerate(names):
            coef, intercept = _fit_ridge(Xs[name][idx[b]], Y[idx[b]], alphas, cv)
            boot[b, m] = func(Y[oob], Xs[name][oob] @ coef + intercept)
    observed = np.stack([
        func(Y, cross_val_predictions(Xs[n], Y, cv=cv, alphas=alphas)) for n in names])
    return BootstrapScores(observed, boot, names, _check_units(units, Y.shape[1]), idx,
                           metric, "refit")
