"""VoxelwiseEncoder: stimulus features + ridge + per-unit scores in one object."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose as verbose_decorator, warn
from .._utils.validation import check_min_samples, check_type, describe
from ..data._noise_ceiling import noise_ceiling as _noise_ceiling
from ..data._recording import Recording
from ..data._splits import make_cv
from ..features._feature_space import FeatureSpace
from .._ridge._scores import noise_normalized, score_correlation, score_r2

__all__ = ["VoxelwiseEncoder", "load_encoder"]

_FORMAT_VERSION = 2  # 2: safe_io container (no pickle); 1: joblib pickle


@fill_doc
class VoxelwiseEncoder(BaseEstimator):
    """Fit one linear model per unit from stimulus features, and score it.

    A notebook-sized wrapper around :class:`RidgeCV` (one feature space) or
    :class:`BandedRidgeCV` (several): it turns a :class:`~neurotoolkit.data.Recording`
    and its stimuli into a design, standardizes features with training
    statistics, keeps repeats of a stimulus in one CV fold (or holds out
    whole runs), fits, and scores held-out data per unit against the noise
    ceiling.

    Parameters
    ----------
    features : FeatureSpace | transformer | dict of those
        A :class:`~neurotoolkit.features.FeatureSpace` (features already
        computed for the stimulus ids), or a transformer with
        ``transform(stimuli) -> (n_stimuli, n_features)`` such as
        :class:`~neurotoolkit.features.GaborPyramid` (applied to the
        StimulusSet passed to :meth:`fit`), or a dict name -> either, for
        several feature spaces (banded ridge, one penalty per space).
    alphas : array (n_alphas,) | None
        Ridge penalties; None uses the data-scaled default grid of
        :func:`solve_ridge_cv`.
    cv : int | "runs" | CV splitter
        Cross-validation for choosing alphas. An int makes that many folds
        of whole stimuli (all repeats of a stimulus in one fold); "runs"
        leaves one run out (needs ``recording.runs``).
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
    feature_spaces_ : dict of FeatureSpace
    units_ : pandas.DataFrame, one row per unit (from the training recording)
    subject_ : str
    scores_ : pandas.DataFrame | None
        Per-unit scores of the last :meth:`evaluate` call.

    Notes
    -----
    :meth:`score` is scikit-learn's R^2 on held-out data (repeats averaged,
    uniform average over units); :meth:`evaluate` gives the per-unit table
    (Pearson r, R^2, noise ceiling, normalized score).
    """

    def __init__(self, features=None, alphas=None, cv=5, average_train_repeats=False,
                 backend="auto", device="auto", memory_budget=None, client=None,
                 estimator=None, alpha_selection="best", random_state=None, verbose=None):
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
    @fill_doc
    @verbose_decorator
    def fit(self, recording, stimuli=None, verbose=None):
        """Fit the encoder on a training recording.

        Parameters
        ----------
        recording : Recording
            Training trials (n_trials, n_units).
        stimuli : StimulusSet | None
            Needed when ``features`` holds transformers.
        %(verbose)s

        Returns
        -------
        self
        """
        from ._banded import BandedRidgeCV
        from ._ridge_cv import RidgeCV

        check_type("recording", recording, Recording)
        rec = recording.average_repeats() if self.average_train_repeats else recording
        keep = rec.stimulus_ids != ""
        check_min_samples("recording", len(set(rec.stimulus_ids[keep])), 2,
                          "(trials with a stimulus id) to fit and cross-validate",
                          what="distinct stimuli")
        if not keep.all():
            rec = rec.select_trials(keep)
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

        cv_runs = rec.runs if (isinstance(self.cv, str) and self.cv == "runs") else None
        folds = make_cv(self.cv, stimulus_ids=rec.stimulus_ids, runs=cv_runs)
        if self.estimator is not None:
            est = self.estimator
        else:
            common = dict(alphas=self.alphas, cv=folds, backend=self.backend, device=self.device,
                          memory_budget=self.memory_budget,
                          alpha_selection=self.alpha_selection)
            if len(blocks) == 1:
                est = RidgeCV(client=self.client, **common)
            else:
                if self.client is not None:
                    logger.info("BandedRidgeCV runs in this process (`client` is used by RidgeCV).")
                est = BandedRidgeCV(random_state=self.random_state, **common)
        Y = rec.responses
        X = blocks[0] if len(blocks) == 1 else blocks
        logger.info(
            "Fitting %s on %d trials x %d units, %s features",
            type(est).__name__, len(ids), rec.n_units,
            " + ".join(str(b.shape[1]) for b in blocks),
        )
        self.estimator_ = est.fit(X, Y)
        self.units_ = recording.units.copy()
        self.subject_ = recording.subject
        self.modality_ = recording.modality
        self.scores_ = None
        return self

    # ---------------------------------------------------------------- predict
    def predict(self, stimulus_ids, stimuli=None):
        """Predicted responses for stimuli.

        Parameters
        ----------
        stimulus_ids : sequence of str, shape (n,)
            Stimuli to predict (repeats allowed).
        stimuli : StimulusSet | None
            Needed when features are computed by a transformer and the ids
            were not seen in :meth:`fit`.

        Returns
        -------
        Y_pred : array, shape (n, n_units)
        """
        check_is_fitted(self, "estimator_")
        ids = [str(i) for i in stimulus_ids]
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
        est = self.estimator_
        coef = getattr(est, "coef_", None)
        if coef is None:
            if getattr(est, "dual_coef_", None) is not None and hasattr(est, "X_fit_"):
                coef = est.X_fit_.T @ est.dual_coef_
            else:
                raise ValueError(
                    f"Invalid value for `estimator`: {type(est).__name__} exposes no linear "
                    "weights (`coef_`), so the encoder has no linear readout."
                )
        coef = np.asarray(coef, dtype=np.float64)
        if coef.ndim == 1:
            coef = coef[:, None]
        mean = np.concatenate([self.feature_mean_[n] for n in self.space_names_])
        scale = np.concatenate([self.feature_scale_[n] for n in self.space_names_])
        intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64), (coef.shape[1],))
        return {"coef": coef, "intercept": intercept.copy(), "feature_mean": mean,
                "feature_scale": scale, "space_names": list(self.space_names_),
                "space_sizes": [len(self.feature_mean_[n]) for n in self.space_names_]}

    # ------------------------------------------------------------------ score
    def evaluate(self, recording, stimuli=None):
        """Per-unit held-out scores against the noise ceiling.

        The test recording's repeats are averaged before scoring; the noise
        ceiling is estimated from the same repeats (NSD ncsnr) for the
        number of repeats actually averaged.

        Parameters
        ----------
        recording : Recording
            Held-out trials, with the units of the training recording.
        stimuli : StimulusSet | None
            Needed when test stimuli were not seen in :meth:`fit` and
            features come from a transformer.

        Returns
        -------
        scores : pandas.DataFrame
            One row per unit: ``roi`` (and the other unit columns), ``r``
            (Pearson), ``r2``, ``noise_ceiling`` (variance fraction),
            ``noise_ceiling_r`` (its square root), ``normalized`` (Algonauts
            2023: 100 r^2 / NC, capped at 100), ``best_alpha`` and, with several
            feature spaces, ``r2_<space>``: each space's share of the held-out
            R^2 (product measure; they sum to the joint R^2).
        """
        avg = self._check_test(recording)
        Y_pred = self.predict(avg.stimulus_ids, stimuli=stimuli)
        table = self.units_.copy()
        if avg.n_trials < 2:  # r and r2 undefined: one warning, in evaluate's words
            warn(f"VoxelwiseEncoder.evaluate: the test recording has {avg.n_trials} "
                 "distinct stimulus; r and r2 are undefined with fewer than 2 test stimuli "
                 "and are NaN. Hold out at least 2 stimuli.")
        with warnings.catch_warnings():
            if avg.n_trials < 2:
                warnings.simplefilter("ignore", UserWarning)
            table["r"] = score_correlation(avg.responses, Y_pred)
            table["r2"] = score_r2(avg.responses, Y_pred)
        if recording.repeat_counts().max() >= 2:
            nc = _noise_ceiling(recording, n_average="data")
            table["noise_ceiling"] = nc
            table["noise_ceiling_r"] = np.sqrt(nc)
            table["normalized"] = noise_normalized(table["r"].to_numpy(), nc, kind="r")
        else:
            logger.info("No repeats in the test recording: noise ceiling not estimated.")
        if len(self.space_names_) > 1 and hasattr(self.estimator_, "score_split"):
            blocks = self._design(list(avg.stimulus_ids), self._spaces_for(avg.stimulus_ids, stimuli))
            split = self.estimator_.score_split(blocks, avg.responses)
            for name, values in zip(self.space_names_, split):
                table[f"r2_{name}"] = values
        alphas = getattr(self.estimator_, "best_alphas_", None)
        if alphas is not None and np.ndim(alphas) == 1:
            table["best_alpha"] = alphas
        table.insert(0, "subject", self.subject_)
        self.scores_ = table
        return table

    def _check_test(self, recording):
        """The held-out recording, checked against the fitted units, repeats averaged."""
        check_is_fitted(self, "estimator_")
        check_type("recording", recording, Recording)
        if list(recording.units.index) != list(self.units_.index):
            raise ValueError(
                "Invalid value for `recording`: its units differ from those the encoder was "
                f"fitted on ({recording.n_units} vs {len(self.units_)} units, or a different order)."
            )
        return recording.average_repeats()

    def score(self, recording, stimuli=None):
        """Held-out R^2, averaged over units (scikit-learn's meaning).

        Repeats of the test recording are averaged first, as in
        :meth:`evaluate`, whose ``r2`` column holds the per-unit values.

        Parameters
        ----------
        recording : Recording
            Held-out trials, with the units of the training recording.
        stimuli : StimulusSet | None
            Needed when test stimuli were not seen in :meth:`fit` and
            features come from a transformer.

        Returns
        -------
        r2 : float
            ``sklearn.metrics.r2_score`` of the repeat-averaged responses,
            ``multioutput="uniform_average"``.
        """
        from sklearn.metrics import r2_score

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

        check_is_fitted(self, "estimator_")
        fname = Path(fname)
        if fname.exists() and not overwrite:
            raise FileExistsError(
                f"Invalid value for `fname`: '{fname}' exists; pass overwrite=True to replace it."
            )
        state = dict(vars(self), client=None)
        return save_object(fname, "VoxelwiseEncoder", _FORMAT_VERSION,
                           {"class": "VoxelwiseEncoder", "state": state}, _saveable_classes())


def _saveable_classes():
    """The only classes :func:`load_encoder` rebuilds (never a class named by the file)."""
    from sklearn import model_selection as ms

    from .._ridge._banded import BandedRidgeCVResults
    from .._ridge._solve_ridge import RidgeCVResults
    from ..data._splits import StimulusKFold
    from ..features import GaborPyramid
    from ._banded import BandedRidgeCV
    from ._delayer import Delayer
    from ._ridge_cv import RidgeCV

    return (VoxelwiseEncoder, RidgeCV, BandedRidgeCV, RidgeCVResults, BandedRidgeCVResults,
            Delayer, FeatureSpace,
            GaborPyramid, StimulusKFold, ms.KFold, ms.GroupKFold, ms.LeaveOneGroupOut,
            ms.PredefinedSplit, ms.ShuffleSplit, ms.GroupShuffleSplit, ms.TimeSeriesSplit)


def load_encoder(fname, trust_pickle=False):
    """Load a :class:`VoxelwiseEncoder` saved with :meth:`VoxelwiseEncoder.save`.

    The file's checksum is verified, and objects are rebuilt only from
    neurotoolkit's own classes: loading never runs code from the file.

    Parameters
    ----------
    fname : path-like
    trust_pickle : bool
        Files written by neurotoolkit before version 2 of the format are
        joblib pickles, which can run arbitrary code when loaded. They raise
        an error unless ``trust_pickle=True``: pass it only for a file from a
        source you trust, then ``save`` the encoder again to convert it.

    Returns
    -------
    VoxelwiseEncoder
    """
    from pathlib import Path

    from .._utils.safe_io import FileFormatError, load_object, sniff

    fname = Path(fname)
    hint = (f"If you trust its source, load it with load_encoder('{fname}', trust_pickle=True), "
            "then call .save(new_fname) on the result to convert it to the safe format.")
    if trust_pickle and fname.is_file() and sniff(fname) == "pickle":
        import joblib

        payload = joblib.load(fname)
        if not isinstance(payload, dict) or not isinstance(payload.get("encoder"),
                                                           VoxelwiseEncoder):
            raise FileFormatError(
                f"Invalid value for `fname`: '{fname}' is not a neurotoolkit encoder file."
            )
        return payload["encoder"]
    tree, _ = load_object(fname, "VoxelwiseEncoder", _FORMAT_VERSION, _saveable_classes(),
                          pickle_hint=hint)
    enc = VoxelwiseEncoder.__new__(VoxelwiseEncoder)
    enc.__dict__.update(tree["state"])
    return enc
