"""VoxelwiseEncoder: stimulus features + ridge + per-unit scores in one object."""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._utils.deprecation import DEPRECATED, renamed_parameter
from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose as verbose_decorator
from .._utils.validation import check_min_samples, check_type, describe
from ..data._recording import Recording
from ..data._splits import make_cv
from ..features._feature_space import FeatureSpace
from . import _timeseries as _ts
from ._encoder_io import _FORMAT_VERSION, load_encoder
from ._evaluation import evaluate_units
from ._hrf import TemporalWeightsMixin

__all__ = ["VoxelwiseEncoder", "load_encoder"]



@fill_doc
class VoxelwiseEncoder(TemporalWeightsMixin, BaseEstimator):
    """Fit one linear model per unit from stimulus features, and score it.

    A notebook-sized wrapper around :class:`RidgeCV` (one feature space) or
    :class:`BandedRidgeCV` (several): it turns a :class:`~neurotoolkit.data.Recording`
    and its stimuli into a design, standardizes features with training
    statistics, keeps repeats of a stimulus in one CV fold (or holds out
    whole runs), fits, and scores held-out data per unit against the noise
    ceiling.

    With ``delays`` it models a time-series recording (fMRI during a movie or
    a story): feature time courses at the recording's sample times are
    z-scored and FIR-delayed within each run (no delay crosses a run
    boundary), ``trim`` samples at each run's edges are left out of fitting
    and scoring, and penalties are chosen by leave-one-run-out CV; banded
    ridge gives each space (all its delays) one band. A time-series
    recording without ``delays`` raises a ``ValueError``.

    Parameters
    ----------
    features : FeatureSpace | transformer | FeatureTimeCourse | array | dict of those
        Trials: a :class:`~neurotoolkit.features.FeatureSpace` (features
        already computed for the stimulus ids), or a transformer with
        ``transform(stimuli) -> (n_stimuli, n_features)`` such as
        :class:`~neurotoolkit.features.GaborPyramid` (applied to the
        StimulusSet passed to :meth:`fit`), or a dict name -> either, for
        several feature spaces (banded ridge, one penalty per space).
        Time series: also a :class:`~neurotoolkit.features.FeatureTimeCourse`
        (matched to the rows by run and time: one may cover train and test
        runs), an array with one row per sample, or anything
        :func:`~neurotoolkit.features.feature_timecourses` resamples over the
        ``timeline`` given to :meth:`fit` (a FeatureSpace keyed by its
        stimulus ids, an array with one row per event, a transformer such as
        :class:`~neurotoolkit.features.MotionEnergy`, a name: "word_rate").
    alphas : array (n_alphas,) | None
        Ridge penalties; None uses the data-scaled default grid of
        :func:`solve_ridge_cv`.
    cv : "auto" | int | "runs" | CV splitter
        Cross-validation for choosing alphas. "auto": 5 folds of whole
        stimuli for trials, leave-one-run-out for time series. An int makes
        that many folds of whole stimuli (all repeats of a stimulus in one
        fold) for trials, or of contiguous whole runs for time series
        (K-runs-out); "runs" leaves one run out (needs ``recording.runs``).
        A splitter or explicit folds index the rows kept after trimming.
    delays : sequence of int or float | None
        FIR delays of the time-series model, in ``delay_unit``; e.g.
        ``[1, 2, 3, 4]`` TRs (2-8 s at a TR of 2 s). None: trial model.
    delay_unit : "samples" | "s"
        Unit of ``delays`` and ``trim``; seconds must be whole multiples of
        the sampling period.
    trim : "auto" | int | (int, int)
        Samples left out at the (start, end) of each run; "auto": those with
        incomplete delayed features (``max(delays)``, ``max(-min(delays), 0)``).
    zscore_runs : bool
        z-score responses within each run (and test repeat); predictions are
        then in z units. Features are always z-scored within each run.
    resample : "lanczos" | "average" | "hrf"
        Method of :func:`~neurotoolkit.features.feature_timecourses` for
        features given with a ``timeline`` (see ``timecourse_provenance_``).
    n_iter : int | array (n_gammas, n_spaces)
        Draws of the banded-ridge search (several feature spaces), or the
        band weightings to try (see :class:`BandedRidgeCV`).
    dtype : "float32" | "float64"
        Precision of the ridge solvers (and of the delayed design).
    average_train_repeats : bool
        Average training repeats before fitting (faster; the same solution
        when every stimulus has the same number of repeats).
    %(backend)s
    %(device)s
    %(memory_budget)s
    client : dask.distributed.Client | None
        Fit voxel chunks on a Dask cluster (single feature space).
    estimator : estimator | None
        Replace the default ridge model (advanced): anything with
        ``fit(X, Y, groups=...)`` and ``predict``.
    alpha_selection : "best" | "shared"
        Forwarded to :class:`RidgeCV` / :class:`BandedRidgeCV`: each unit
        its own penalty ("best"), or one for all units ("shared").
    %(random_state)s
        Used by the banded search (several feature spaces) to draw the
        feature-space weights.
    %(verbose)s

    Attributes
    ----------
    estimator_ : fitted RidgeCV or BandedRidgeCV
    mode_ : "trials" | "timeseries"
    space_names_ : list of str
    feature_spaces_ : dict of FeatureSpace
        Trial model only.
    delays_, delay_times_ : ndarray, shape (n_delays,)
        Time series: delays in samples and in seconds.
    sample_period_ : float
    trim_ : (int, int)
        Time series: samples trimmed at the start and end of each run.
    n_features_per_space_ : dict of str -> int
        Time series: features of each space before delaying.
    timecourse_provenance_ : dict of str -> dict
        Time series: how each time course was made (method, window, cutoff).
    units_ : pandas.DataFrame, one row per unit (from the training recording)
    subject_ : str
    scores_ : pandas.DataFrame | None
        Per-unit scores of the last :meth:`evaluate` call.

    Notes
    -----
    :meth:`score` is scikit-learn's R^2 on held-out data (repeats averaged,
    uniform average over units); :meth:`evaluate` gives the per-unit table
    (Pearson r, R^2, noise ceiling, normalized score). Time series: see
    :meth:`temporal_weights`, :meth:`hrf`, :meth:`peak_latencies` and
    :meth:`plot_hrf` for the fitted FIR (haemodynamic) responses.

    References
    ----------
    Huth, de Heer, Griffiths, Theunissen & Gallant (2016). Natural speech
    reveals the semantic maps that tile human cerebral cortex. Nature 532,
    453-458. Dupre la Tour, Eickenberg, Nunez-Elizalde & Gallant (2022).
    Feature-space selection with banded ridge regression. NeuroImage 264,
    119728.
    """

    def __init__(self, features=None, alphas=None, cv="auto", average_train_repeats=False,
                 backend="auto", device="auto", memory_budget=None, client=None,
                 estimator=None, alpha_selection="best", random_state=None, verbose=None,
                 delays=None, delay_unit="samples", trim="auto", zscore_runs=True,
                 resample="lanczos", n_iter=100, dtype="float32"):
        self.features = features
        self.alphas = alphas
        self.cv = cv
        self.average_train_repeats = average_train_repeats
        self.backend = backend
        self.device = device
        self.memory_budget = memory_budget
        self.client = client
        self.estimator = estimator
        self.alpha_selection = alpha_selection
        self.random_state = random_state
        self.verbose = verbose
        self.delays = delays
        self.delay_unit = delay_unit
        self.trim = trim
        self.zscore_runs = zscore_runs
        self.resample = resample
        self.n_iter = n_iter
        self.dtype = dtype

    # ----------------------------------------------------------------- design
    def _compute_spaces(self, stimuli, needed_ids, all_stimuli=False):
        features = self.features
        if features is None:
            raise ValueError(
                "Invalid value for `features`: expected a FeatureSpace, a transformer such as "
                "GaborPyramid(), or a dict of those, got None."
            )
        if not isinstance(features, dict):
            features = {"features": features}
        spaces = {}
        for name, feat in features.items():
            if isinstance(feat, FeatureSpace):
                spaces[name] = feat
            elif hasattr(feat, "transform"):
                if stimuli is None:
                    raise ValueError(
                        f"Feature space {name!r} is a transformer ({type(feat).__name__}); pass the "
                        "StimulusSet to fit(recording, stimuli) so it can compute features."
                    )
                # every stimulus of the set (held-out ones too, so evaluate() needs no
                # second pass), unless only a few new ids are asked for
                ids = [i for i in stimuli.ids if all_stimuli or i in needed_ids]
                missing = sorted(set(needed_ids) - set(ids))
                if missing:
                    raise KeyError(
                        f"Invalid value for `stimuli`: {len(missing)} stimulus id(s) of the "
                        f"recording are not in the StimulusSet, e.g. {missing[:5]}."
                    )
                values = feat.transform(stimuli.subset(ids))
                spaces[name] = FeatureSpace(
                    np.asarray(values), ids, name=name,
                    provenance={"transformer": repr(feat)},
                )
            else:
                raise TypeError(
                    f"Invalid value for `features[{name!r}]`: expected a FeatureSpace or a "
                    f"transformer with .transform(), got {describe(feat)}."
                )
        return spaces

    def _spaces_for(self, ids, stimuli):
        """Fitted feature spaces, extended with features of ids not seen in fit."""
        spaces = dict(self.feature_spaces_)
        unseen = [str(i) for i in ids if any(str(i) not in fs for fs in spaces.values())]
        if unseen:
            extra = self._compute_spaces(stimuli, set(unseen))
            for name in spaces:
                spaces[name] = spaces[name].append_stimuli(extra[name])
        return spaces

    def _design(self, ids, spaces):
        blocks = []
        for name in self.space_names_:
            x = np.asarray(spaces[name].for_ids(ids), dtype=np.float64)
            blocks.append((x - self.feature_mean_[name]) / self.feature_scale_[name])
        return blocks

    # -------------------------------------------------------------------- fit
    def _make_estimator(self, folds, n_spaces):
        from ._banded import BandedRidgeCV
        from ._ridge_cv import RidgeCV

        if self.estimator is not None:
            return self.estimator
        common = dict(alphas=self.alphas, cv=folds, backend=self.backend, device=self.device,
                      memory_budget=self.memory_budget, alpha_selection=self.alpha_selection,
                      dtype=self.dtype)
        if n_spaces == 1:
            return RidgeCV(client=self.client, **common)
        if self.client is not None:
            logger.info("BandedRidgeCV runs in this process (`client` is used by RidgeCV).")
        return BandedRidgeCV(random_state=self.random_state, n_iter=self.n_iter, **common)

    @fill_doc
    @verbose_decorator
    def fit(self, recording, stimuli=None, timeline=None, verbose=None):
        """Fit the encoder on a training recording.

        Parameters
        ----------
        recording : Recording
            Training trials (n_trials, n_units), or with ``delays`` a
            time-series recording (one row per sample, ``runs`` labelled).
        stimuli : StimulusSet | None
            Needed when ``features`` holds transformers.
        timeline : Timeline | None
            Time series: what was shown when, to resample ``features`` that
            are not time courses yet to the recording's sample times.
        %(verbose)s

        Returns
        -------
        self
        """
        check_type("recording", recording, Recording)
        if self.delays is not None:
            if not recording.is_timeseries:
                raise ValueError(
                    "Invalid value for `recording`: expected a time-series recording "
                    "(meta['mode'] == 'timeseries') for an encoder with delays, got a recording "
                    f"of {recording.n_trials} trials. Set delays=None to model trials."
                )
            _ts.fit_timeseries(self, recording, timeline, stimuli, self._make_estimator)
            self._fit_common(recording)
            return self
        if recording.is_timeseries:
            raise _ts.time_model_error(recording)
        _ts.check_empty_ids(recording, "VoxelwiseEncoder.fit")
        rec = recording.average_repeats() if self.average_train_repeats else recording
        check_min_samples("recording", len(set(rec.stimulus_ids)), 2,
                          "(trials with a stimulus id) to fit and cross-validate",
                          what="distinct stimuli")
        ids = list(rec.stimulus_ids)
        spaces = self._compute_spaces(stimuli, set(ids), all_stimuli=True)
        self.space_names_ = list(spaces)
        self.feature_spaces_ = spaces
        self.feature_mean_, self.feature_scale_ = {}, {}
        for name, fs in spaces.items():
            x = np.asarray(fs.for_ids(ids), dtype=np.float64)
            mean, std = x.mean(axis=0), x.std(axis=0)
            std[std == 0] = 1.0
            self.feature_mean_[name], self.feature_scale_[name] = mean, std
        blocks = self._design(ids, spaces)

        cv = 5 if (isinstance(self.cv, str) and self.cv == "auto") else self.cv
        cv_runs = rec.runs if (isinstance(cv, str) and cv == "runs") else None
        folds = make_cv(cv, stimulus_ids=rec.stimulus_ids, runs=cv_runs)
        est = self._make_estimator(folds, len(blocks))
        Y = rec.responses
        X = blocks[0] if len(blocks) == 1 else blocks
        logger.info(
            "Fitting %s on %d trials x %d units, %s features",
            type(est).__name__, len(ids), rec.n_units,
            " + ".join(str(b.shape[1]) for b in blocks),
        )
        self.estimator_ = est.fit(X, Y)
        self.mode_ = "trials"
        self._fit_common(recording)
        return self

    def _fit_common(self, recording):
        self.units_ = recording.units.copy()
        self.subject_ = recording.subject
        self.modality_ = recording.modality
        self.scores_ = None

    # ---------------------------------------------------------------- predict
    def predict(self, data=None, stimuli=None, timeline=None, stimulus_ids=DEPRECATED):
        """Predicted responses for stimuli, or for the samples of a time series.

        Parameters
        ----------
        data : sequence of str, shape (n,) | Recording | FeatureTimeCourse | dict
            Trial model: the stimulus ids to predict (repeats allowed).
            Time-series model: a time-series Recording (its runs and sample
            times; features from ``features`` and ``timeline``), or the
            feature time courses themselves (a FeatureTimeCourse or array
            for one space, a dict name -> either for several).
        stimuli : StimulusSet | None
            Needed when features are computed by a transformer and the ids
            were not seen in :meth:`fit`.
        timeline : Timeline | None
            Time series: what was shown when in the runs to predict.
        stimulus_ids : sequence of str
            Deprecated name of ``data``.

        Returns
        -------
        Y_pred : array, shape (n, n_units)
            Time series: one row per sample (trimmed samples included), in z
            units when ``zscore_runs``.
        """
        data, _ = renamed_parameter("VoxelwiseEncoder.predict", "stimulus_ids", stimulus_ids,
                                    "data", data)
        check_is_fitted(self, "estimator_")
        if getattr(self, "mode_", "trials") == "timeseries":
            return _ts.predict_timeseries(self, data, timeline, stimuli)[1]
        if isinstance(data, Recording):
            raise TypeError("Invalid value for `data`: expected stimulus ids, got a Recording; "
                            "pass recording.stimulus_ids (a trial encoder predicts stimuli).")
        ids = [str(i) for i in data]
        blocks = self._design(ids, self._spaces_for(ids, stimuli))
        X = blocks[0] if len(blocks) == 1 else blocks
        return np.asarray(self.estimator_.predict(X))

    def linear_readout(self):
        """The fitted linear map from raw features to responses.

        ``predict`` computes ``((X - feature_mean) / feature_scale) @ coef + intercept``
        with ``X`` the raw features (all feature spaces side by side, in
        ``space_names_`` order). Differentiable probes (activation
        maximization, guided diffusion) apply it to features computed in torch.

        Returns
        -------
        readout : dict
            ``coef`` (n_features, n_units), ``intercept`` (n_units,),
            ``feature_mean`` (n_features,), ``feature_scale`` (n_features,),
            ``space_names`` (list of str), ``space_sizes`` (list of int).
        """
        check_is_fitted(self, "estimator_")
        if getattr(self, "mode_", "trials") == "timeseries":
            raise ValueError("Invalid value for `self`: a time-series encoder maps delayed, "
                             "run-z-scored time courses, not stimulus features; use "
                             "temporal_weights() for its weights.")
        est = self.estimator_
        coef = _ts.coef_matrix(est)
        mean = np.concatenate([self.feature_mean_[n] for n in self.space_names_])
        scale = np.concatenate([self.feature_scale_[n] for n in self.space_names_])
        intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64), (coef.shape[1],))
        return {"coef": coef, "intercept": intercept.copy(), "feature_mean": mean,
                "feature_scale": scale, "space_names": list(self.space_names_),
                "space_sizes": [len(self.feature_mean_[n]) for n in self.space_names_]}

    # ------------------------------------------------------------------ score
    def evaluate(self, recording, stimuli=None, timeline=None, features=None):
        """Per-unit held-out scores against the noise ceiling.

        The test recording's repeats are averaged before scoring; the noise
        ceiling is estimated from the same repeats (NSD ncsnr) for the
        number of repeats actually averaged.

        Time series: the repeats are recordings of the same test run(s),
        given as a list of Recordings or as one Recording whose runs are
        labelled ``<run>-rep1``, ``<run>-rep2``, ... Each repeat is trimmed
        and z-scored within runs, the repeats are averaged and z-scored
        again (Card 2), and the ceiling comes from the repeats (ncsnr with
        each sample as a stimulus, for the average of all repeats).

        Parameters
        ----------
        recording : Recording | list of Recording
            Held-out trials (or test-run repeats), with the units of the
            training recording.
        stimuli : StimulusSet | None
            Needed when test stimuli were not seen in :meth:`fit` and
            features come from a transformer.
        timeline : Timeline | None
            Time series: what was shown when in the test run(s).
        features : dict | FeatureTimeCourse | array | None
            Time series: test time courses replacing ``features`` (e.g.
            precomputed arrays with one row per test sample).

        Returns
        -------
        scores : pandas.DataFrame
            One row per unit: ``roi`` (and the other unit columns), ``r``
            (Pearson), ``r2``, ``noise_ceiling`` (variance fraction),
            ``noise_ceiling_r`` (its square root), ``normalized`` (Algonauts
            2023: 100 r^2 / NC, capped at 100), ``best_alpha`` and, with several
            feature spaces, ``r2_<space>``: each space's share of the held-out
            R^2 (product measure; they sum to the joint R^2). Time series
            add ``n_repeats`` and, with repeats, ``ev`` (the bias-corrected
            explainable variance of one repeat, himalaya's convention).
        """
        if getattr(self, "mode_", "trials") == "timeseries":
            check_is_fitted(self, "estimator_")
            table = _ts.evaluate_timeseries(self, recording, timeline, stimuli, features,
                                            self._check_units)[0]
            return self._finish_table(table)
        avg = self._check_test(recording)
        Y_pred = self.predict(avg.stimulus_ids, stimuli=stimuli)
        table = evaluate_units(recording, avg, Y_pred, self.units_, owner="VoxelwiseEncoder")
        if len(self.space_names_) > 1 and hasattr(self.estimator_, "score_split"):
            blocks = self._design(list(avg.stimulus_ids), self._spaces_for(avg.stimulus_ids, stimuli))
            split = self.estimator_.score_split(blocks, avg.responses)
            for name, values in zip(self.space_names_, split):
                table[f"r2_{name}"] = values
        return self._finish_table(table)

    def _finish_table(self, table):
        alphas = getattr(self.estimator_, "best_alphas_", None)
        if alphas is not None and np.ndim(alphas) == 1:
            table["best_alpha"] = alphas
        table.insert(0, "subject", self.subject_)
        self.scores_ = table
        return table

    def _check_units(self, recording):
        if list(recording.units.index) != list(self.units_.index):
            raise ValueError(
                "Invalid value for `recording`: its units differ from those the encoder was "
                f"fitted on ({recording.n_units} vs {len(self.units_)} units, or a different order)."
            )

    def _check_test(self, recording):
        """The held-out recording, checked against the fitted units, repeats averaged."""
        check_is_fitted(self, "estimator_")
        check_type("recording", recording, Recording)
        if recording.is_timeseries:
            raise _ts.time_model_error(recording)
        _ts.check_empty_ids(recording, "VoxelwiseEncoder")
        self._check_units(recording)
        return recording.average_repeats()

    def score(self, recording, stimuli=None, timeline=None):
        """Held-out R^2, averaged over units (scikit-learn's meaning).

        Repeats of the test recording are averaged first, as in
        :meth:`evaluate`, whose ``r2`` column holds the per-unit values.

        Parameters
        ----------
        recording : Recording | list of Recording
            Held-out trials (or test-run repeats, see :meth:`evaluate`), with
            the units of the training recording.
        stimuli : StimulusSet | None
            Needed when test stimuli were not seen in :meth:`fit` and
            features come from a transformer.
        timeline : Timeline | None
            Time series: what was shown when in the test run(s).

        Returns
        -------
        r2 : float
            ``sklearn.metrics.r2_score`` of the repeat-averaged responses,
            ``multioutput="uniform_average"``.
        """
        from sklearn.metrics import r2_score

        if getattr(self, "mode_", "trials") == "timeseries":
            check_is_fitted(self, "estimator_")
            _, Y, pred = _ts.evaluate_timeseries(self, recording, timeline, stimuli, None,
                                                 self._check_units)
            return float(r2_score(Y, pred))
        avg = self._check_test(recording)
        Y_pred = self.predict(avg.stimulus_ids, stimuli=stimuli)
        return float(r2_score(avg.responses, Y_pred))

    # ------------------------------------------------------------------ plots
    def plot_scores(self, score="r", **kwargs):
        """Violin plot of the last :meth:`evaluate` scores per ROI, with ceilings."""
        from ..viz import plot_roi_scores

        if self.scores_ is None:
            raise RuntimeError("Call evaluate(test_recording) before plot_scores().")
        ceiling = "noise_ceiling_r" if score == "r" else "noise_ceiling"
        if ceiling not in self.scores_.columns:
            ceiling = None
        return plot_roi_scores(self.scores_, score=score, ceiling=ceiling, **kwargs)

    # -------------------------------------------------------------- save/load
    def save(self, fname, overwrite=False):
        """Save the fitted encoder to a checksummed HDF5 file (no pickle), atomically.

        Parameters are stored as JSON, fitted arrays as HDF5 datasets, with a
        sha256 checksum verified by :func:`load_encoder`.

        Parameters
        ----------
        fname : path-like
            Target file (e.g. ``encoder.h5``).
        overwrite : bool
            If False (default), an existing file raises ``FileExistsError``.

        Returns
        -------
        fname : pathlib.Path

        Notes
        -----
        ``client`` (a live Dask connection) is not saved: the loaded encoder
        has ``client=None``. Feature extractors other than FeatureSpace and
        neurotoolkit transformers (e.g. your own torch module) cannot be
        saved safely and raise ``TypeError``: pass their output as a
        FeatureSpace to ``features`` instead.
        """
        from pathlib import Path

        from .._utils.safe_io import save_object

        from ._encoder_io import _saveable_classes

        check_is_fitted(self, "estimator_")
        fname = Path(fname)
        if fname.exists() and not overwrite:
            raise FileExistsError(
                f"Invalid value for `fname`: '{fname}' exists; pass overwrite=True to replace it."
            )
        state = dict(vars(self), client=None)
        return save_object(fname, "VoxelwiseEncoder", _FORMAT_VERSION,
                           {"class": "VoxelwiseEncoder", "state": state}, _saveable_classes())
