"""Cross-subject decoder: subject adapters, a shared residual MLP and heads to
target spaces, trained contrastively (MindEye2; Scotti et al., ICML 2024).

The network lives in ``_decoder_net``, input parsing in ``_subject_data``;
``top1_retrieval`` and ``adaptation_curve`` in ``_adaptation``."""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._utils.device import resolve_device
from .._utils.docs import fill_doc
from .._utils.deprecation import DEPRECATED, renamed_parameter
from .._utils.logging import logger, verbose
from .._utils.optional import require
from .._utils.random import check_random_state, seeded
from .._utils.validation import (
    check_array,
    check_fraction,
    check_int,
    check_min_samples,
    check_option,
    check_type,
    describe,
)
from ._adaptation import top1_retrieval
from ._adapters import SubjectAdapters
from ._contrastive import check_temperature
from ._decoder_net import _DecoderTraining, build_net
from ._subject_data import _parse_xy, _responses, _scale, _split_rows
from ._training import MONITORS

__all__ = ["CrossSubjectDecoder"]

@fill_doc
class CrossSubjectDecoder(_DecoderTraining, BaseEstimator):
    """Decode stimulus embeddings from several subjects with one shared network.

    Each subject's voxels go through its own adapter (:class:`SubjectAdapters`)
    into a shared latent, then a residual MLP (blocks
    ``x + Lin(Drop(GELU(Lin(LN(x)))))``) and one head per target space
    (``LN -> Linear``). Training minimises a contrastive loss (SoftCLIP or
    InfoNCE; BiMixCo voxel mixup for the first ``mixup`` fraction of the
    epochs) plus ``mse_weight`` times the MSE, in each head's standardised
    target space. Batches are split evenly across subjects (MindEye2).

    Parameters
    ----------
    adapters : SubjectAdapters | None
        None is ``SubjectAdapters(kind="linear", latent_dim=hidden_dim)``.
    hidden_dim : int
        Width of the shared residual MLP.
    n_blocks : int
        Residual blocks.
    dropout : float in [0, 1)
        Dropout inside the blocks.
    loss : {"softclip", "infonce"}
        Contrastive loss after the mixup phase.
    temperature : float
        Temperature of the contrastive losses.
    mixup : float in [0, 1]
        Fraction of ``max_epochs`` trained with BiMixCo (0 disables it).
    mse_weight : float
        Weight of the MSE term (0 for a purely contrastive model).
    max_epochs, batch_size, patience : int
        Early stopping after ``patience`` epochs without improvement of
        ``monitor``; the best epoch's weights are kept.
    monitor : {"retrieval", "loss"}
        What early stopping, the kept epoch and checkpoint resumption go by:
        ``"retrieval"``, the all-way top-1 retrieval on the validation
        stimuli (first head, mean over subjects; higher is better, ties
        broken by the lower validation loss); ``"loss"``, the validation
        loss (contrastive + MSE), the default: with a few dozen validation
        stimuli per subject the retrieval peak is noisy, and in tutorial 05
        stopping on the loss decodes held-out stimuli better (0.744 vs 0.683
        image retrieval).
    learning_rate, weight_decay : float
        AdamW; no weight decay on biases and normalisation parameters.
    validation_fraction : float in [0, 1)
        Share of each subject's stimuli held out for early stopping (all
        repeats of a stimulus together when X holds Recordings); 0 trains
        ``max_epochs`` epochs.
    checkpoint : path-like | None
        File written atomically after every epoch. Calling ``fit`` again
        with the same file resumes after its last epoch (e.g. with a larger
        ``max_epochs``, which also moves the end of the mixup phase); the
        model, data sizes and ``monitor`` must match.
    %(device)s
    %(random_state)s
    %(verbose)s
    lr : float
        Deprecated spelling of ``learning_rate`` (FutureWarning); removed in
        the next release.

    Attributes
    ----------
    subjects_ : list of str
    heads_ : dict
        Head name -> target dimension, in the order of ``Y`` at fit.
    device_ : torch.device
        Where the model lives (``device`` resolved).
    model_ : torch.nn.Module
        ``adapters`` (ModuleDict), ``backbone``, ``heads``.
    history_ : pandas.DataFrame
        One row per epoch: ``epoch``, ``train_loss``, ``contrastive``, ``mse``,
        ``mixup``, ``val_loss``, ``val_retrieval`` (all-way top-1 on the
        validation stimuli, first head, mean over subjects), ``val_chance``,
        ``seconds``, ``best``.
    adapt_history_ : dict
        Subject -> history of :meth:`adapt`.
    x_mean_, x_scale_ : dict
        Subject -> training statistics used to z-score its voxels.
    y_mean_, y_scale_ : dict
        Head -> target statistics (pooled over subjects).

    Notes
    -----
    A batch can hold the same stimulus for several subjects (the stimuli are
    usually shared): SoftCLIP, whose soft targets come from target-target
    similarities, lets such duplicates share the target mass, while InfoNCE
    counts them as negatives. The temperature is fixed (no cosine schedule).
    Unlike MindEye2 there is no diffusion prior and the learning rate is
    constant. :meth:`adapt` follows STTM / MindBridge reset-tuning (new
    adapter only), not MindEye2's full fine-tuning.

    :meth:`predict` always returns one array (one head, ``head=``) and
    :meth:`predict_heads` a dict of all heads; :meth:`score` is the R^2 of
    the predicted embeddings (scikit-learn's regressor score) and
    :meth:`score_retrieval` the all-way top-1 retrieval accuracy.

    Examples
    --------
    >>> dec = CrossSubjectDecoder(hidden_dim=128, max_epochs=30)  # doctest: +SKIP
    >>> dec.fit({"sub-01": X1, "sub-02": X2}, {"sub-01": Y1, "sub-02": Y2})  # doctest: +SKIP
    >>> dec.predict(X1_test, subject="sub-01")  # doctest: +SKIP
    >>> dec.score_retrieval(X1_test, Y1_test, subject="sub-01")  # doctest: +SKIP
    >>> dec.adapt(X3_small, Y3_small, subject="sub-03")  # doctest: +SKIP
    """

    def __init__(self, adapters=None, hidden_dim=512, n_blocks=2, dropout=0.15, loss="softclip",
                 temperature=0.05, mixup=0.33, mse_weight=1.0, max_epochs=100, batch_size=64,
                 learning_rate=3e-4, weight_decay=1e-2, patience=10, validation_fraction=0.1,
                 monitor="loss", checkpoint=None, device="auto", random_state=0,
                 verbose=None, lr=DEPRECATED):
        self.adapters = adapters
        self.hidden_dim = hidden_dim
        self.n_blocks = n_blocks
        self.dropout = dropout
        self.loss = loss
        self.temperature = temperature
        self.mixup = mixup
        self.mse_weight = mse_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.lr = lr

    # -------------------------------------------------------------- checks
    def _check_params(self):
        adapters = self.adapters
        if adapters is None:
            adapters = SubjectAdapters(latent_dim=check_int("hidden_dim", self.hidden_dim, 1))
        check_type("adapters", adapters, (SubjectAdapters,), "a SubjectAdapters or None")
        adapters._validate()
        check_int("hidden_dim", self.hidden_dim, min_value=1)
        check_int("n_blocks", self.n_blocks, min_value=0)
        check_fraction("dropout", self.dropout, inclusive=(True, False))
        check_option("loss", self.loss, ("softclip", "infonce"))
        check_temperature(self.temperature)
        check_fraction("mixup", self.mixup)
        check_type("mse_weight", self.mse_weight, "numeric")
        if self.mse_weight < 0:
            raise ValueError(f"Invalid value for `mse_weight`: expected a float >= 0, got "
                             f"{self.mse_weight!r}.")
        check_int("max_epochs", self.max_epochs, min_value=1)
        check_int("batch_size", self.batch_size, min_value=2)
        check_int("patience", self.patience, min_value=1)
        self._learning_rate, name = renamed_parameter(
            "CrossSubjectDecoder", "lr", self.lr, "learning_rate", self.learning_rate)
        for name, value in ((name, self._learning_rate), ("weight_decay", self.weight_decay)):
            check_type(name, value, "numeric")
            if value < 0 or (name != "weight_decay" and value == 0):
                raise ValueError(f"Invalid value for `{name}`: expected a positive float, got "
                                 f"{value!r}.")
        check_fraction("validation_fraction", self.validation_fraction, inclusive=(True, False))
        check_option("monitor", self.monitor, MONITORS)
        check_type("checkpoint", self.checkpoint, ("path-like", None))
        return adapters

    def _torch_device(self):
        return resolve_device(self.device, purpose="CrossSubjectDecoder")

    def _seed(self):
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(
                self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).integers(2**62))

    def _check_subject(self, subject):
        check_is_fitted(self, "model_")
        subject = str(subject)
        if subject not in self.subjects_:
            raise ValueError(f"Invalid value for `subject`: expected one of the subjects with an "
                             f"adapter {self.subjects_}, got {subject!r}. Use adapt() to add a "
                             "new subject.")
        return subject

    def _check_x(self, X, subject, name="X"):
        x, ids = _responses(name, X)
        n_vox = self.n_features_[subject]
        if x.shape[1] != n_vox:
            raise ValueError(f"Invalid value for `{name}`: expected {n_vox} voxels (columns) for "
                             f"subject {subject!r}, as in training, got shape {x.shape}.")
        return (x - self.x_mean_[subject]) / self.x_scale_[subject], ids

    # -------------------------------------------------------------- public API
    @fill_doc
    @verbose
    def fit(self, X, Y, verbose=None):
        """Train adapters, backbone and heads on several subjects.

        Parameters
        ----------
        X : dict
            Subject -> array (n_samples_s, n_voxels_s) or :class:`Recording`
            (single trials; its ``stimulus_ids`` keep repeats together in
            the validation split).
        Y : dict | FeatureSpace | DataFrame
            Subject -> array (n_samples_s, n_targets); or head name -> such a
            dict for several target spaces; or, when X holds Recordings, one
            FeatureSpace / DataFrame indexed by stimulus id for all subjects.
        %(verbose)s

        Returns
        -------
        self
        """
        torch = require("torch", "CrossSubjectDecoder")
        adapters = self._check_params()
        subjects, xs, ids, ys = _parse_xy(X, Y)
        for s in subjects:
            check_min_samples(f"X[{s!r}]", len(xs[s]), 2, "(rows) per subject to standardise "
                              "the responses and train")
        rng = check_random_state(self._seed())
        rows, vrows = {}, {}
        for s in subjects:
            rows[s], vrows[s] = _split_rows(len(xs[s]), ids[s], self.validation_fraction, rng)
        self.subjects_ = list(subjects)
        self.n_features_ = {s: xs[s].shape[1] for s in subjects}
        self.heads_ = {h: ys[h][subjects[0]].shape[1] for h in ys}
        self.x_mean_, self.x_scale_ = {}, {}
        for s in subjects:
            self.x_mean_[s], self.x_scale_[s] = _scale(xs[s][rows[s]])
            xs[s] = (xs[s] - self.x_mean_[s]) / self.x_scale_[s]
        self.y_mean_, self.y_scale_ = {}, {}
        for h in ys:
            self.y_mean_[h], self.y_scale_[h] = _scale(np.concatenate(
                [ys[h][s][rows[s]] for s in subjects]))
        self.device_ = self._torch_device()
        self.adapters_ = adapters
        self._keys = {s: f"s{k}" for k, s in enumerate(subjects)}
        seed = self._seed()
        with seeded(seed)[1]:
            self.model_ = build_net(adapters, {self._keys[s]: xs[s].shape[1] for s in subjects},
                                     self.hidden_dim, self.n_blocks, self.dropout, self.heads_)
        self.model_.to(self.device_)
        tx, ty = self._tensors(torch, xs, ys, rows)
        vx, vy = self._tensors(torch, xs, ys, vrows)
        params = dict(self.get_params(), learning_rate=self._learning_rate)
        config = {"params": {k: repr(v) for k, v in params.items()
                             if k not in ("checkpoint", "verbose", "device", "max_epochs",
                                          "monitor", "lr")},
                  "subjects": subjects, "n_features": self.n_features_, "heads": self.heads_,
                  "n_train": {s: len(rows[s]) for s in subjects}}
        logger.info("CrossSubjectDecoder: %d subjects, %s parameters, heads %s.", len(subjects),
                    f"{sum(p.numel() for p in self.model_.parameters()):,}", self.heads_)
        self.history_ = self._train(torch, self._keys, tx, ty, vx, vy,
                                    list(self.model_.named_parameters()), self.max_epochs,
                                    self.patience, self._learning_rate, self.checkpoint, config, "fit",
                                    self.monitor)
        self.adapt_history_ = {}
        return self

    def _check_head(self, head):
        check_is_fitted(self, "model_")
        if head is None:
            if len(self.heads_) == 1:
                return next(iter(self.heads_))
            raise ValueError(f"Invalid value for `head`: expected one of {list(self.heads_)} (this "
                             f"decoder has several heads), got None. Pass head=..., or use "
                             f"predict_heads() for all of them.")
        if head not in self.heads_:
            raise ValueError(f"Invalid value for `head`: expected one of {list(self.heads_)}, got "
                             f"{head!r}.")
        return head

    def predict_heads(self, X, subject):
        """Predict the embeddings of every head from one subject's responses.

        Parameters
        ----------
        X : array (n_samples, n_voxels) | Recording
        subject : str
            A subject seen in :meth:`fit` or added by :meth:`adapt`.

        Returns
        -------
        Y_pred : dict
            Head name -> array (n_samples, n_targets_head), for every head
            (also when there is only one).
        """
        torch = require("torch", "CrossSubjectDecoder")
        subject = self._check_subject(subject)
        x, _ = self._check_x(X, subject)
        self.model_.eval()
        outs = {h: [] for h in self.heads_}
        with torch.no_grad():
            for start in range(0, len(x), 1024):
                xb = torch.as_tensor(x[start:start + 1024], device=self.device_)
                for h, o in self.model_([(self._keys[subject], xb)]).items():
                    outs[h].append(o.cpu().numpy())
        return {h: np.concatenate(v) * self.y_scale_[h] + self.y_mean_[h]
                for h, v in outs.items()}

    def predict(self, X, subject, head=None):
        """Predict the target embeddings of one head from one subject's responses.

        Parameters
        ----------
        X : array (n_samples, n_voxels) | Recording
        subject : str
            A subject seen in :meth:`fit` or added by :meth:`adapt`.
        head : str | None
            The head (target space) to predict; None when the decoder has one
            head. :meth:`predict_heads` gives all heads at once.

        Returns
        -------
        Y_pred : array (n_samples, n_targets)
        """
        head = self._check_head(head)
        return self.predict_heads(X, subject)[head]

    def _scored(self, X, Y, subject, head):
        pred = self.predict(X, subject, head=head)
        Y = check_array("Y", Y, ndim=2)
        if Y.shape != pred.shape:
            raise ValueError(f"Invalid value for `Y`: expected shape {pred.shape} (one row per row "
                             f"of X, {pred.shape[1]} targets of head {self._check_head(head)!r}), "
                             f"got {Y.shape}.")
        return pred, Y

    def score(self, X, Y, subject, head=None):
        """Coefficient of determination R^2 of the predicted embeddings.

        scikit-learn's regressor score: ``sklearn.metrics.r2_score(Y,
        predict(X, subject, head))``, averaged uniformly over targets. For the
        field's retrieval metric use :meth:`score_retrieval` (or
        :func:`retrieval_accuracy` for n-way protocols).

        Parameters
        ----------
        X : array (n_samples, n_voxels) | Recording
        Y : array (n_samples, n_targets)
            True embeddings of the head.
        subject : str
        head : str | None
            See :meth:`predict`.

        Returns
        -------
        r2 : float
        """
        from sklearn.metrics import r2_score

        pred, Y = self._scored(X, Y, subject, head)
        return float(r2_score(Y, pred))

    def score_retrieval(self, X, Y, subject, head=None):
        """All-way top-1 retrieval accuracy of the predicted embeddings.

        Fraction of rows whose cosine-nearest true embedding is their own
        (:func:`top1_retrieval`); chance is ``1 / n_samples``.

        Parameters
        ----------
        X : array (n_samples, n_voxels) | Recording
        Y : array (n_samples, n_targets)
        subject : str
        head : str | None
            See :meth:`predict`.

        Returns
        -------
        accuracy : float
        """
        pred, Y = self._scored(X, Y, subject, head)
        return top1_retrieval(pred, Y)

    @fill_doc
    @verbose
    def adapt(self, X_new, Y_new, subject, max_epochs=None, learning_rate=None, patience=None,
              validation_fraction=0.0, monitor=None, overwrite=False, verbose=None,
              lr=DEPRECATED):
        """Add a subject: train only its adapter, with backbone and heads frozen.

        Parameters
        ----------
        X_new : array (n_samples, n_voxels_new) | Recording
        Y_new : array (n_samples, n_targets) | dict head -> array | FeatureSpace
            Targets of every head the decoder was trained with.
        subject : str
            Label of the new subject.
        max_epochs, learning_rate, patience : optional
            Override the decoder's values for this call (defaults: the
            decoder's ``max_epochs`` and ``patience``, 3 times its
            ``learning_rate``).
        validation_fraction : float in [0, 1)
            Share of the new subject's stimuli held out for early stopping.
            Default 0: train ``max_epochs`` epochs. With little data the
            split costs training samples and is too small to stop on (in
            the simulation of tutorial 05, stopping on the validation loss
            lowered the adapter's retrieval at every data size, e.g. from
            0.32 to 0.23 with 40 trials).
        monitor : {"retrieval", "loss"} | None
            What early stopping goes by when ``validation_fraction > 0``
            (see the class parameter); None is the decoder's ``monitor``.
        overwrite : bool
            Replace the adapter of an existing subject.
        %(verbose)s
        lr : float
            Deprecated spelling of ``learning_rate`` (FutureWarning).

        Returns
        -------
        self
        """
        torch = require("torch", "CrossSubjectDecoder")
        check_is_fitted(self, "model_")
        subject = str(subject)
        if subject in self.subjects_ and not overwrite:
            raise ValueError(f"Invalid value for `subject`: {subject!r} already has an adapter; "
                             "use a new label or overwrite=True.")
        max_epochs = check_int("max_epochs", max_epochs if max_epochs is not None
                               else self.max_epochs, min_value=1)
        patience = check_int("patience", patience if patience is not None else self.patience, 1)
        lr, _ = renamed_parameter("CrossSubjectDecoder.adapt", "lr", lr, "learning_rate", learning_rate)
        if lr is None:
            lr = 3.0 * float(getattr(self, "_learning_rate", self.learning_rate))
        check_type("learning_rate", lr, "numeric")
        if not lr > 0:
            raise ValueError(f"Invalid value for `learning_rate`: expected a positive float, got "
                             f"{lr!r}.")
        lr = float(lr)
        vfrac = check_fraction("validation_fraction", validation_fraction, inclusive=(True, False))
        monitor = check_option("monitor", monitor if monitor is not None
                               else getattr(self, "monitor", "loss"), MONITORS)
        if isinstance(Y_new, dict):
            missing = sorted(set(self.heads_) - set(map(str, Y_new)))
            if missing:
                raise ValueError(f"Invalid value for `Y_new`: expected targets for the heads "
                                 f"{sorted(self.heads_)}, got none for {missing}.")
            Y = {h: {subject: Y_new[h]} for h in self.heads_}
        elif len(self.heads_) > 1:
            raise ValueError(f"Invalid value for `Y_new`: expected a dict head -> targets for the "
                             f"heads {sorted(self.heads_)}, got {describe(Y_new)}.")
        else:
            Y = {next(iter(self.heads_)): {subject: Y_new}}
        _, xs, ids, ys = _parse_xy({subject: X_new}, Y)
        check_min_samples("X_new", len(xs[subject]), 2, "(rows) to standardise the responses "
                          "and train the new adapter")
        for h, d in self.heads_.items():
            if ys[h][subject].shape[1] != d:
                raise ValueError(f"Invalid value for `Y_new`: expected {d} targets for head {h!r}, "
                                 f"as in training, got shape {ys[h][subject].shape}.")
        rng = check_random_state(self._seed() + 1)
        rows, vrows = _split_rows(len(xs[subject]), ids[subject], vfrac, rng)
        mean, scale = _scale(xs[subject][rows])
        xs[subject] = (xs[subject] - mean) / scale
        key = self._keys.get(subject, f"s{len(self._keys)}")
        with seeded(self._seed() + 1)[1]:
            module = self.adapters_.build_module(xs[subject].shape[1]).to(self.device_)
        self.model_.adapters[key] = module
        if subject not in self.subjects_:
            self.subjects_.append(subject)
        self._keys[subject] = key
        self.n_features_[subject] = xs[subject].shape[1]
        self.x_mean_[subject], self.x_scale_[subject] = mean, scale
        tx, ty = self._tensors(torch, xs, ys, {subject: rows})
        vx, vy = self._tensors(torch, xs, ys, {subject: vrows})
        frozen = [(p, p.requires_grad) for n, p in self.model_.named_parameters()
                  if not n.startswith(f"adapters.{key}.")]
        for p, _ in frozen:
            p.requires_grad_(False)
        try:
            history = self._train(torch, {subject: key}, tx, ty, vx, vy,
                                  list(module.named_parameters()), max_epochs, patience, lr, None,
                                  None, f"adapt {subject}", monitor, train_module=module)
        finally:
            for p, flag in frozen:
                p.requires_grad_(flag)
        self.adapt_history_[subject] = history
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def save(self, fname, overwrite=False):
        """Save the fitted decoder to a checksummed HDF5 file (no pickle); see :func:`save_decoder`.

        Load it back with :func:`load_decoder`.
        """
        from ._persistence import save_decoder

        return save_decoder(self, fname, overwrite=overwrite)

    def __getstate__(self):
        # the torch modules are built from local classes: pickle their weights, rebuild on load
        state = dict(self.__dict__)
        if "model_" in state:
            state["model_"] = {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}
            state["_n_features_by_key"] = {self._keys[s]: self.n_features_[s]
                                           for s in self.subjects_}
        return state

    def __setstate__(self, state):
        weights = state.get("model_")
        n_by_key = state.pop("_n_features_by_key", None)
        self.__dict__.update(state)
        if isinstance(weights, dict):
            torch = require("torch", "CrossSubjectDecoder")
            self.model_ = build_net(self.adapters_, n_by_key, self.hidden_dim, self.n_blocks,
                                     self.dropout, self.heads_)
            self.model_.load_state_dict(weights)
            if self.device_.type == "cuda" and not torch.cuda.is_available():
                self.device_ = torch.device("cpu")
