"""Temporal receptive fields (TRFs) for continuous MEG / EEG / sEEG (Card 9, "Continuous designs").

A forward TRF predicts each channel from the stimulus features at lags
``tmin..tmax`` seconds (positive lag = the stimulus precedes the response);
a backward model (stimulus reconstruction) predicts stimulus features from
the channels at the same latencies, i.e. from the response that *follows*
the stimulus. Both are ridge regressions on a lagged design (lags applied
within each run), solved here from sufficient statistics (see
:mod:`neurotoolkit.encoding._lags`), with one cross-validated alpha per
output and, for several feature bands, one penalty per band (banded ridge,
random search as in :func:`neurotoolkit.encoding.solve_banded_ridge_cv`).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._ridge._banded import sample_gammas
from .._ridge._scores import SCORINGS, score_predictions, score_r2
from .._ridge._selection import saturation, select_alphas
from .._utils.backend import get_backend
from .._utils.docs import fill_doc
from .._utils.logging import logger, progress
from .._utils.logging import verbose as verbose_decorator
from .._utils.random import check_random_state
from .._utils.validation import (
    _raise,
    check_array,
    check_int,
    check_option,
    check_positive_array,
    check_type,
    describe,
)
from ._lags import (
    LaggedStats,
    LagSpec,
    check_runs,
    fold_moments,
    lagged_predict,
    refit,
    score_folds,
    times_to_lags,
)

__all__ = ["TemporalReceptiveField"]

_DIRECTIONS = ("forward", "backward")


def _blas_limit(be):
    """One BLAS thread for numpy work (a no-op context for the torch backend)."""
    import contextlib

    from threadpoolctl import threadpool_limits

    if be is not None and be.name != "numpy":
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _as_timeseries(name, value):
    """(values (n, k), runs | None, sfreq | None, names | None, one_d) of an input."""
    from ..data._recording import Recording

    if isinstance(value, Recording):
        if not value.is_timeseries:
            _raise(name, "a time-series Recording (meta['mode'] == 'timeseries')",
                   f"a Recording in mode {value.meta.get('mode')!r}",
                   "Load continuous data, or fit trial-wise encoders on epoched data.")
        sfreq = value.meta.get("sfreq")
        if sfreq is None and value.meta.get("tr") is not None:
            sfreq = 1.0 / float(value.meta["tr"])
        return (np.asarray(value.responses, dtype=np.float64), value.runs,
                None if sfreq is None else float(sfreq), list(value.units.index), False)
    if hasattr(value, "values") and hasattr(value, "runs") and hasattr(value, "times"):
        vals = check_array(name, np.asarray(value.values, dtype=np.float64), ndim=(1, 2))
        vals = vals[:, None] if vals.ndim == 1 else vals
        runs, times = np.asarray(value.runs), np.asarray(value.times, dtype=np.float64)
        sfreq = None
        steps = [np.diff(times[runs == r]) for r in dict.fromkeys(runs.tolist())]
        steps = np.concatenate([s for s in steps if s.size] or [np.zeros(0)])
        if steps.size and np.all(steps > 0):
            sfreq = 1.0 / float(np.median(steps))
        names = getattr(value, "feature_names", None)
        return vals, runs, sfreq, None if names is None else list(names), False
    arr = check_array(name, value, ndim=(1, 2))
    one_d = arr.ndim == 1
    return (arr[:, None] if one_d else arr).astype(np.float64), None, None, None, one_d


@fill_doc
class TemporalReceptiveField(RegressorMixin, BaseEstimator):
    """Temporal receptive field (TRF) with cross-validated ridge, forward or backward.

    The lagged design has one column per (input, lag): input ``i`` at lag ``l``
    enters the prediction at time ``t`` as ``x_i[t - l]`` (zero outside the
    run). This is MNE's ``ReceptiveField`` convention (and the mTRF toolbox's),
    so ``coef_`` has MNE's shape (n_outputs, n_inputs, n_lags) and the same
    values as ``ReceptiveField(estimator=sklearn.linear_model.Ridge(alpha))``
    at the same alpha (see Notes for the intercept).

    Parameters
    ----------
    tmin, tmax : float
        Latencies of the stimulus-response relation, in seconds: the response
        at ``t`` depends on the stimulus at ``t - tmax .. t - tmin``. Negative
        values are allowed. Lags are ``round(tmin * sfreq) .. round(tmax *
        sfreq)`` samples.
    sfreq : float | None
        Sampling rate (Hz) of inputs and outputs. None takes it from a
        Recording's ``meta["sfreq"]`` or a feature time course's ``times``;
        when given, it must match theirs.
    alphas : array, shape (n_alphas,) | float | None
        Ridge penalties (on sums of squares, as scikit-learn's ``Ridge``).
        None: 25 log-spaced values over [1e-4, 1e4] times the mean squared
        singular value of the centred lagged design. A single value skips
        the cross-validation.
    bands : dict | None
        Feature bands, ``{name: columns}`` or ``{name: (columns, (tmin,
        tmax))}``, where ``columns`` are input columns (int, list of int or
        slice) and the optional window overrides ``tmin``/``tmax`` for that
        band. Every input column belongs to exactly one band. With two or
        more bands, each band gets its own penalty per output (banded ridge,
        ``n_iter`` random draws). None: one band of all inputs.
    direction : "forward" | "backward"
        "forward": inputs are stimulus features, outputs are channels.
        "backward" (stimulus reconstruction): inputs are channels, outputs
        stimulus features; the channels are used at ``t + tmin .. t + tmax``
        (design lags ``-tmax .. -tmin``), and Haufe patterns are computed.
    alpha_selection : "best" | "1se" | "shared"
        Per-output best CV score, the largest alpha within one standard error
        of it, or one alpha for all outputs ("1se" is not available with a
        banded search).
    cv : "runs" | int | splitter | iterable of (train, test)
        Folds (:func:`neurotoolkit.data.make_cv` semantics): "runs" leaves one
        run out; an int gives contiguous blocks (of runs when there are
        runs). Never shuffled.
    scoring : "r2" | "correlation" | "neg_mse"
        CV criterion for choosing alphas.
    fit_intercept : bool
        Fit an unpenalised intercept per output (centre the lagged design and
        the outputs with their training means).
    n_iter : int
        Banded search: number of band weightings tried (the first is uniform).
        Ignored with one band.
    %(random_state)s
        Used by the banded search only.
    %(backend)s
        The lagged products (the heavy part) run on it; the small (p, p)
        algebra runs in float64 numpy.
    %(device)s
    %(verbose)s

    Attributes
    ----------
    coef_ : ndarray, shape (n_outputs, n_inputs, n_lags)
        TRF weights; zero at lags outside an input's band window.
    intercept_ : ndarray, shape (n_outputs,)
    times_ : ndarray, shape (n_lags,)
        Lag of each ``coef_`` column in seconds, in the design convention
        (negative for a backward model: the channels after the stimulus).
    lags_ : ndarray of int, shape (n_lags,)
        The same lags in samples.
    best_alphas_ : ndarray, shape (n_outputs,)
        Chosen penalty per output (the overall penalty of the band-weighted
        design with several bands).
    band_alphas_ : ndarray, shape (n_bands, n_outputs)
        Penalty of each band on its unscaled columns (``best_alphas_`` with
        one band).
    best_gammas_ : ndarray, shape (n_bands, n_outputs)
        Chosen band weights (ones with one band).
    cv_scores_ : ndarray, shape (n_alphas, n_outputs) | None
        Mean CV score per alpha (at each output's chosen band weights); None
        when a single alpha was given.
    patterns_ : ndarray, shape (n_outputs, n_inputs, n_lags) | None
        Haufe et al. (2014) forward patterns ``cov(X) W cov(X W)^-1`` of a
        backward model (None for a forward model).
    band_names_ : list of str
    gammas_ : ndarray, shape (n_draws, n_bands)
        Band weights tried (one row of ones without a banded search).
    alphas_ : ndarray, shape (n_alphas,)
        The alpha grid searched.
    sfreq_ : float
    n_features_in_ : int

    Notes
    -----
    With ``fit_intercept=True`` the intercept is an unpenalised constant
    column next to the zero-filled lags (the mTRF toolbox's bias term);
    MNE's ``ReceptiveField`` with a scikit-learn estimator instead fills the
    cut-off edge of each lag with that column's mean, so the two differ by
    O(n_lags / n_samples); with ``fit_intercept=False`` they are the same
    model. The mTRF toolbox scales its penalty and weights by the sampling
    rate and averages trials: ``alpha = lambda * sfreq * n_trials`` and
    ``coef_ = weights / sfreq``.

    References
    ----------
    Crosse, M. J., Di Liberto, G. M., Bednar, A., & Lalor, E. C. (2016). The
    multivariate temporal response function (mTRF) toolbox. Frontiers in Human
    Neuroscience, 10, 604.
    Haufe, S., Meinecke, F., Goergen, K., et al. (2014). On the interpretation
    of weight vectors of linear models in multivariate neuroimaging.
    NeuroImage, 87, 96-110.
    """

    def __init__(self, tmin=0.0, tmax=0.4, sfreq=None, alphas=None, bands=None,
                 direction="forward", alpha_selection="best", cv="runs", scoring="r2",
                 fit_intercept=True, n_iter=20, random_state=None, backend="auto",
                 device="auto", verbose=None):
        self.tmin = tmin
        self.tmax = tmax
        self.sfreq = sfreq
        self.alphas = alphas
        self.bands = bands
        self.direction = direction
        self.alpha_selection = alpha_selection
        self.cv = cv
        self.scoring = scoring
        self.fit_intercept = fit_intercept
        self.n_iter = n_iter
        self.random_state = random_state
        self.backend = backend
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ inputs
    def _resolve(self, X, Y, runs, fitting):
        Xv, xr, xs, xnames, _ = _as_timeseries("X", X)
        if Y is not None:
            Yv, yr, ys, ynames, one_d = _as_timeseries("Y", Y)
            if Yv.shape[0] != Xv.shape[0]:
                _raise("Y", f"{Xv.shape[0]} samples (as X)", f"{Yv.shape[0]} samples")
        else:
            Yv, yr, ys, ynames, one_d = None, None, None, None, False
        sfreq = self.sfreq if fitting else self.sfreq_
        found = [(nm, s) for nm, s in (("X", xs), ("Y", ys)) if s is not None]
        if sfreq is None:
            if not found:
                _raise("sfreq", "the sampling rate in Hz (or inputs that carry it: a "
                       "time-series Recording or a feature time course)", "None")
            sfreq = found[0][1]
        else:
            check_type("sfreq", sfreq, "numeric")
            if not (np.isfinite(sfreq) and sfreq > 0):
                _raise("sfreq", "a positive sampling rate in Hz", repr(sfreq))
        for nm, s in found:
            if abs(s - sfreq) > 1e-6 * sfreq:
                _raise("sfreq", f"the sampling rate of `{nm}` ({s:g} Hz)",
                       f"{sfreq:g} Hz", "Resample the data or fix `sfreq`.")
        if runs is None:
            cands = [r for r in (xr, yr) if r is not None]
            if len(cands) == 2 and not np.array_equal(np.asarray(cands[0]),
                                                      np.asarray(cands[1])):
                _raise("runs", "the same runs in X and Y", "different run labels")
            runs = cands[0] if cands else None
        if runs is not None:
            runs = np.asarray(runs)
        return Xv, Yv, runs, float(sfreq), (xnames, ynames), one_d

    def _spec(self, n_inputs, sfreq):
        sign = 1 if self.direction == "forward" else -1

        def lags(tmin, tmax, name):
            lg = times_to_lags(tmin, tmax, sfreq, name)
            return np.sort(sign * lg)

        base = lags(self.tmin, self.tmax, "tmin")
        if self.bands is None:
            return LagSpec([np.arange(n_inputs)], [base], ["all"])
        if not isinstance(self.bands, dict) or not self.bands:
            _raise("bands", "a non-empty dict {name: columns or (columns, (tmin, tmax))}",
                   describe(self.bands))
        feats, lgs, names = [], [], []
        owner = np.full(n_inputs, -1)
        for k, (name, spec) in enumerate(self.bands.items()):
            window = None
            if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], tuple):
                spec, window = spec
            if isinstance(spec, slice):
                cols = np.arange(n_inputs)[spec]
            else:
                cols = np.atleast_1d(np.asarray(spec))
                if cols.dtype.kind not in "iu":
                    _raise("bands", f"integer input columns for band {name!r}",
                           describe(spec))
            if cols.size == 0 or cols.min() < 0 or cols.max() >= n_inputs:
                _raise("bands", f"columns in [0, {n_inputs}) for band {name!r}",
                       describe(spec))
            if (owner[cols] >= 0).any():
                _raise("bands", "each input column in one band",
                       f"column {int(cols[owner[cols] >= 0][0])} in two bands")
            owner[cols] = k
            if window is None:
                lg = base
            else:
                if len(window) != 2:
                    _raise("bands", f"a (tmin, tmax) window for band {name!r}",
                           describe(window))
                lg = lags(window[0], window[1], f"bands[{name!r}]")
            feats.append(cols)
            lgs.append(lg)
            names.append(str(name))
        if (owner < 0).any():
            _raise("bands", f"every input column in a band ({n_inputs} inputs)",
                   f"columns {np.flatnonzero(owner < 0)[:8].tolist()} in none")
        return LagSpec(feats, lgs, names)

    # --------------------------------------------------------------------- fit
    @fill_doc
    @verbose_decorator
    def fit(self, X, Y, runs=None, verbose=None):
        """Fit the TRF.

        Parameters
        ----------
        X : array, shape (n_times, n_inputs) | Recording | feature time course
            Inputs: stimulus features (forward) or channels (backward). A
            time-series :class:`~neurotoolkit.data.Recording` gives its
            responses, runs and ``meta["sfreq"]``; a ``FeatureTimeCourse``
            (or any object with ``values``, ``runs``, ``times``) its values,
            runs and rate.
        Y : array, shape (n_times, n_outputs) or (n_times,) | Recording | feature time course
            Outputs: channels (forward) or stimulus features (backward).
        runs : array, shape (n_times,) | None
            Run label of every sample (contiguous blocks); lags never cross
            a run boundary and ``cv="runs"`` leaves one run out. None takes
            the runs of a Recording or time course, else one run.
        %(verbose)s

        Returns
        -------
        self : TemporalReceptiveField
        """
        check_option("direction", self.direction, _DIRECTIONS)
        check_option("alpha_selection", self.alpha_selection, ("best", "1se", "shared"))
        check_option("scoring", self.scoring, SCORINGS)
        check_type("fit_intercept", self.fit_intercept, bool)
        Xv, Yv, runs, sfreq, (xnames, ynames), one_d = self._resolve(X, Y, runs, True)
        n, n_in = Xv.shape
        spec = self._spec(n_in, sfreq)
        bounds = check_runs(runs, n, spec.pad)
        alphas = self.alphas
        if alphas is not None:
            alphas = check_positive_array("alphas", np.atleast_1d(alphas)).astype(np.float64)
        m = len(spec.names)
        n_iter = check_int("n_iter", self.n_iter, min_value=1)
        banded = m > 1 and n_iter > 1
        if banded and self.alpha_selection == "1se":
            _raise("alpha_selection", "'best' or 'shared' with a banded search", "'1se'")
        cv_needed = alphas is None or alphas.size > 1 or banded
        folds = self._folds(runs, n) if cv_needed else []
        be = get_backend(self.backend, device=self.device, dtype="float64")
        logger.info("TRF: %d samples, %d inputs, %d outputs, %d design columns, %d folds "
                    "(%s backend)", n, n_in, Yv.shape[1], spec.n_columns, len(folds), be.name)
        # Skinny products (n x f by n x p): one BLAS thread is as fast and does not slow
        # down 10-20x when other processes share the cores (see _ridge._alpha_path.eigh).
        with _blas_limit(be):
            stats = LaggedStats(Xv, Yv, bounds, spec, folds, be)
        total = stats.total()
        if alphas is None:
            trace = np.trace(total["S"]) - (np.sum(total["sx"] ** 2) / total["n"]
                                            if self.fit_intercept else 0.0)
            scale = trace / max(min(n, spec.n_columns), 1)
            alphas = np.logspace(-4, 4, 25) * (scale if scale > 0 else 1.0)
        t = Yv.shape[1]
        gammas = np.ones((1, m))
        if banded:
            gammas = sample_gammas(n_iter, m, random_state=check_random_state(self.random_state))
        best_gamma = np.zeros(t, dtype=np.int64)
        best_alpha = np.full(t, alphas[0])
        cv_scores = None
        if cv_needed:
            moments = [fold_moments(stats, k, self.fit_intercept) for k in range(len(folds))]
            best_score = np.full(t, -np.inf)
            cv_scores = np.zeros((alphas.size, t))
            idx_all = np.zeros(t, dtype=np.int64)
            shared = self.alpha_selection == "shared"
            bar = progress(gammas, desc="TRF bands" if banded else "TRF CV")
            for g, gamma in enumerate(bar):
                colscale = self._column_scale(spec, gamma) if banded else None
                with _blas_limit(be):
                    fs = score_folds(moments, alphas, self.scoring, colscale)  # (k, A, t)
                idx = select_alphas(fs, alphas, self.alpha_selection)
                mean = fs.mean(0)
                score = mean[idx, np.arange(t)]
                if shared:  # one (gamma, alpha) for every output: compare mean scores
                    better = np.full(t, score.mean() > best_score.mean() + 1e-12)
                else:
                    better = score > best_score + 1e-12
                best_score[better] = score[better]
                best_gamma[better] = g
                best_alpha[better] = alphas[idx[better]]
                idx_all[better] = idx[better]
                cv_scores[:, better] = mean[:, better]
            const = np.zeros(t, dtype=bool)
            saturation(idx_all, cv_scores, alphas, const, 0.05, self.scoring)
        W = np.zeros((spec.n_columns, t))
        intercept = np.zeros(t)
        cov = None
        for g in np.unique(best_gamma):
            cols = best_gamma == g
            colscale = None if not banded else self._column_scale(spec, gammas[g])
            sub = dict(total, Sxy=total["Sxy"][:, cols], sy=total["sy"][cols])
            W[:, cols], intercept[cols], cov = refit(sub, best_alpha[cols], self.fit_intercept,
                                                     colscale)
        self.spec_ = spec
        self.sfreq_ = sfreq
        self.lags_ = spec.union.copy()
        self.times_ = self.lags_ / sfreq
        self.coef_ = spec.to_coef(W)
        self.intercept_ = intercept
        self.best_alphas_ = best_alpha
        self.best_gammas_ = gammas[best_gamma].T.copy()
        self.band_alphas_ = best_alpha[None, :] / self.best_gammas_
        self.band_names_ = list(spec.names)
        self.cv_scores_ = cv_scores
        self.alphas_ = alphas
        self.gammas_ = gammas
        self.n_features_in_ = n_in
        self.n_outputs_ = t
        self._one_d = one_d
        self.input_names_, self.output_names_ = xnames, ynames
        self._W = W
        self.patterns_ = None
        if self.direction == "backward":
            # Haufe et al. (2014): A = cov(X) W cov(X W)^-1 on the lagged design
            cyy = W.T @ cov @ W
            self.patterns_ = spec.to_coef(cov @ W @ np.linalg.pinv(cyy))
        return self

    @staticmethod
    def _column_scale(spec, gamma):
        s = np.empty(spec.n_columns)
        for sl, g in zip(spec.slices, gamma):
            s[sl] = np.sqrt(g)
        return s

    def _folds(self, runs, n):
        from ..data._splits import make_cv

        cv = self.cv
        if isinstance(cv, str) and cv == "runs":
            n_runs = 1 if runs is None else len(set(np.asarray(runs).tolist()))
            if n_runs < 2:
                _raise("cv", "at least 2 runs for cv='runs' (leave one run out)",
                       f"{n_runs} run", "Pass runs=, or cv=5 for 5 contiguous blocks.")
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            check_int("cv", cv, min_value=2)
        folds = make_cv(cv, runs=runs, n_samples=None if runs is not None else n)
        return [(np.asarray(tr), np.asarray(te)) for tr, te in folds]

    # ----------------------------------------------------------------- predict
    def predict(self, X, runs=None):
        """Predict the outputs from the inputs.

        Parameters
        ----------
        X : array, shape (n_times, n_inputs) | Recording | feature time course
        runs : array, shape (n_times,) | None
            Run labels (lags restart at each run); None takes X's runs.

        Returns
        -------
        Y_pred : ndarray, shape (n_times, n_outputs) (or (n_times,) when the
            model was fitted on a 1-D ``Y``)
        """
        check_is_fitted(self, "coef_")
        Xv, _, runs, _, _, _ = self._resolve(X, None, runs, False)
        if Xv.shape[1] != self.n_features_in_:
            _raise("X", f"{self.n_features_in_} input columns (as in fit)",
                   f"{Xv.shape[1]} columns")
        bounds = check_runs(runs, Xv.shape[0], self.spec_.pad)
        with _blas_limit(None):
            Y = lagged_predict(Xv, bounds, self.spec_, self._W) + self.intercept_
        return Y[:, 0] if self._one_d else Y

    def score_targets(self, X, Y, runs=None, scoring="r2"):
        """Score per output (R^2 by default) of the predictions of ``X`` against ``Y``.

        Parameters
        ----------
        X, Y, runs :
            As in :meth:`fit`.
        scoring : "r2" | "correlation" | "neg_mse"

        Returns
        -------
        scores : ndarray, shape (n_outputs,)
        """
        check_option("scoring", scoring, SCORINGS)
        Xv, Yv, runs, _, _, _ = self._resolve(X, Y, runs, False)
        pred = self.predict(Xv, runs=runs)
        pred = pred[:, None] if pred.ndim == 1 else pred
        return np.atleast_1d(score_predictions(Yv, pred, scoring))

    def score(self, X, Y, runs=None):
        """R^2 of the predictions, averaged uniformly over outputs.

        Parameters
        ----------
        X, Y, runs :
            As in :meth:`fit`.

        Returns
        -------
        score : float
        """
        Xv, Yv, runs, _, _, _ = self._resolve(X, Y, runs, False)
        pred = self.predict(Xv, runs=runs)
        pred = pred[:, None] if pred.ndim == 1 else pred
        return float(np.mean(score_r2(Yv, pred)))
