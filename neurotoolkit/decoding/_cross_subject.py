"""Cross-subject decoder: subject adapters, a shared residual MLP and heads to
target spaces, trained contrastively (METHODS.md Card 4; MindEye2-like).

Input parsing lives in ``_subject_data``; ``top1_retrieval`` and
``adaptation_curve`` in ``_adaptation``."""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.optional import require
from .._utils.random import check_random_state, seeded
from .._utils.validation import (
    check_fraction,
    check_int,
    check_option,
    check_type,
    describe,
)
from ._adaptation import top1_retrieval
from ._adapters import SubjectAdapters
from ._contrastive import check_temperature, info_nce, mixco, mixco_loss, soft_clip
from ._subject_data import _parse_xy, _responses, _scale, _split_rows
from ._training import MONITORS, run_training

__all__ = ["CrossSubjectDecoder"]


# ------------------------------------------------------------------ torch model
def _build_net(adapters, n_features, hidden_dim, n_blocks, dropout, head_dims):
    torch = require("torch", "CrossSubjectDecoder")
    nn = torch.nn

    class Block(nn.Module):
        """``x + Lin(Drop(GELU(Lin(LN(x)))))``."""

        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(hidden_dim)
            self.fc1 = nn.Linear(hidden_dim, hidden_dim)
            self.drop = nn.Dropout(dropout)
            self.fc2 = nn.Linear(hidden_dim, hidden_dim)

        def forward(self, x):
            return x + self.fc2(self.drop(torch.nn.functional.gelu(self.fc1(self.norm(x)))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.adapters = nn.ModuleDict(
                {k: adapters.build_module(v) for k, v in n_features.items()})
            self.backbone = nn.Sequential(
                nn.Identity() if adapters.latent_dim == hidden_dim
                else nn.Linear(adapters.latent_dim, hidden_dim),
                *[Block() for _ in range(n_blocks)])
            self.heads = nn.ModuleDict({h: nn.Sequential(nn.LayerNorm(hidden_dim),
                                                         nn.Linear(hidden_dim, d))
                                        for h, d in head_dims.items()})

        def forward(self, chunks):
            """``chunks``: list of (adapter key, (n_k, V_k) tensor) -> dict head -> (sum n_k, d)."""
            z = torch.cat([self.adapters[k](x) for k, x in chunks], dim=0)
            z = self.backbone(z)
            return {h: head(z) for h, head in self.heads.items()}

    return Net()


@fill_doc
class CrossSubjectDecoder(BaseEstimator):
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
    lr, weight_decay : float
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

    Attributes
    ----------
    subjects_ : list of str
    heads_ : dict
        Head name -> target dimension.
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

    Examples
    --------
    >>> dec = CrossSubjectDecoder(hidden_dim=128, max_epochs=30)  # doctest: +SKIP
    >>> dec.fit({"sub-01": X1, "sub-02": X2}, {"sub-01": Y1, "sub-02": Y2})  # doctest: +SKIP
    >>> dec.predict(X1_test, subject="sub-01")  # doctest: +SKIP
    >>> dec.adapt(X3_small, Y3_small, subject="sub-03")  # doctest: +SKIP
    """

    def __init__(self, adapters=None, hidden_dim=512, n_blocks=2, dropout=0.15, loss="softclip",
                 temperature=0.05, mixup=0.33, mse_weight=1.0, max_epochs=100, batch_size=64,
                 lr=3e-4, weight_decay=1e-2, patience=10, validation_fraction=0.1,
                 monitor="loss", checkpoint=None, device=None, random_state=0,
                 verbose=None):
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
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

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
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            check_type(name, value, "numeric")
            if value < 0 or (name == "lr" and value == 0):
                raise ValueError(f"Invalid value for `{name}`: expected a positive float, got "
                                 f"{value!r}.")
        check_fraction("validation_fraction", self.validation_fraction, inclusive=(True, False))
        check_option("monitor", self.monitor, MONITORS)
        check_type("checkpoint", self.checkpoint, ("path-like", None))
        return adapters

    def _torch_device(self):
        torch = require("torch", "CrossSubjectDecoder")
        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

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

    # -------------------------------------------------------------- training pieces
    def _tensors(self, torch, xs, ys, rows):
        dev = self.device_
        tx = {s: torch.as_tensor(xs[s][rows[s]], device=dev) for s in xs}
        ty = {h: {s: torch.as_tensor((ys[h][s][rows[s]] - self.y_mean_[h]) / self.y_scale_[h],
                                     device=dev) for s in xs} for h in ys}
        return tx, ty

    def _loss_parts(self, torch, out, ty, mixed):
        """Contrastive + MSE summed over heads; ``mixed`` is (perm, lam) or None."""
        contrast = soft_clip if self.loss == "softclip" else info_nce
        c_total, m_total = 0.0, 0.0
        for h, pred in out.items():
            y = ty[h]
            if mixed is not None:
                c = mixco_loss(pred, y, mixed[0], mixed[1], self.temperature)
                keep = mixed[1] >= 1.0
                m = ((pred[keep] - y[keep]) ** 2).mean() if keep.any() else pred.sum() * 0.0
            else:
                c = contrast(pred, y, self.temperature)
                m = ((pred - y) ** 2).mean()
            c_total = c_total + c
            m_total = m_total + m
        return c_total, m_total

    def _train(self, torch, keys, tx, ty, vx, vy, trainable, max_epochs, patience, lr, checkpoint,
               config, desc, monitor, train_module=None):
        n_sub = len(keys)
        per = max(1, self.batch_size // n_sub)
        n_batches = int(np.ceil(max(len(tx[s]) for s in keys) / per))
        n_mix = round(float(self.mixup * max_epochs))

        def batches(epoch, gen):
            perms = {}
            for s in keys:
                n = len(tx[s])
                reps = int(np.ceil(n_batches * min(per, n) / n))
                perms[s] = torch.cat([torch.randperm(n, generator=gen) for _ in range(reps)])
            for b in range(n_batches):
                yield [(s, perms[s][b * min(per, len(tx[s])):(b + 1) * min(per, len(tx[s]))])
                       for s in keys]

        def loss_fn(batch, epoch, gen):
            chunks, targets, perms, lams, offset = [], {h: [] for h in ty}, [], [], 0
            mix = epoch < n_mix
            for s, idx in batch:
                idx = idx.to(self.device_)
                x = tx[s][idx]
                if mix:
                    x, perm, lam = mixco(x, generator=gen)
                    perms.append(perm + offset)
                    lams.append(lam)
                chunks.append((keys[s], x))
                for h in ty:
                    targets[h].append(ty[h][s][idx])
                offset += len(idx)
            if train_module is not None:
                model.eval()
                train_module.train()
            out = model(chunks)
            target = {h: torch.cat(v) for h, v in targets.items()}
            mixed = (torch.cat(perms), torch.cat(lams)) if mix else None
            c, m = self._loss_parts(torch, out, target, mixed)
            loss = c + self.mse_weight * m
            return loss, {"contrastive": float(c.detach()), "mse": float(m.detach()),
                          "mixup": float(mix)}

        def val_fn():
            losses, rets, chance = [], [], []
            for s in vx:
                if len(vx[s]) < 2:
                    continue
                out = model([(keys[s], vx[s])])
                c, m = self._loss_parts(torch, out, {h: vy[h][s] for h in vy}, None)
                losses.append(float(c + self.mse_weight * m))
                first = next(iter(out))
                rets.append(top1_retrieval(out[first].cpu().numpy(), vy[first][s].cpu().numpy()))
                chance.append(1.0 / len(vx[s]))
            if not losses:
                return {"val_loss": np.nan}
            return {"val_loss": float(np.mean(losses)), "val_retrieval": float(np.mean(rets)),
                    "val_chance": float(np.mean(chance))}

        model = self.model_
        has_val = any(len(vx[s]) >= 2 for s in vx)
        return run_training(model, trainable, batches, loss_fn, val_fn if has_val else None,
                            max_epochs=max_epochs, patience=patience, lr=lr,
                            weight_decay=self.weight_decay, seed=self._seed(),
                            device=self.device_, checkpoint=checkpoint, config=config, desc=desc,
                            monitor=monitor, verbose=self.verbose)

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
            self.model_ = _build_net(adapters, {self._keys[s]: xs[s].shape[1] for s in subjects},
                                     self.hidden_dim, self.n_blocks, self.dropout, self.heads_)
        self.model_.to(self.device_)
        tx, ty = self._tensors(torch, xs, ys, rows)
        vx, vy = self._tensors(torch, xs, ys, vrows)
        config = {"params": {k: repr(v) for k, v in self.get_params().items()
                             if k not in ("checkpoint", "verbose", "device", "max_epochs",
                                          "monitor")},
                  "subjects": subjects, "n_features": self.n_features_, "heads": self.heads_,
                  "n_train": {s: len(rows[s]) for s in subjects}}
        logger.info("CrossSubjectDecoder: %d subjects, %s parameters, heads %s.", len(subjects),
                    f"{sum(p.numel() for p in self.model_.parameters()):,}", self.heads_)
        self.history_ = self._train(torch, self._keys, tx, ty, vx, vy,
                                    list(self.model_.named_parameters()), self.max_epochs,
                                    self.patience, self.lr, self.checkpoint, config, "fit",
                                    self.monitor)
        self.adapt_history_ = {}
        return self

    def predict(self, X, subject):
        """Predict target embeddings from one subject's responses.

        Parameters
        ----------
        X : array (n_samples, n_voxels) | Recording
        subject : str
            A subject seen in :meth:`fit` or added by :meth:`adapt`.

        Returns
        -------
        Y_pred : array (n_samples, n_targets) | dict
            One array per head (dict head -> array) when there are several.
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
        pred = {h: np.concatenate(v) * self.y_scale_[h] + self.y_mean_[h]
                for h, v in outs.items()}
        return pred[next(iter(pred))] if len(pred) == 1 else pred

    def score(self, X, Y, subject):
        """All-way top-1 retrieval accuracy of the first head (chance ``1 / n_samples``)."""
        pred = self.predict(X, subject)
        if isinstance(pred, dict):
            pred = pred[next(iter(pred))]
        return top1_retrieval(pred, Y)

    @fill_doc
    @verbose
    def adapt(self, X_new, Y_new, subject, max_epochs=None, lr=None, patience=None,
              validation_fraction=0.0, monitor=None, overwrite=False, verbose=None):
        """Add a subject: train only its adapter, with backbone and heads frozen.

        Parameters
        ----------
        X_new : array (n_samples, n_voxels_new) | Recording
        Y_new : array (n_samples, n_targets) | dict head -> array | FeatureSpace
            Targets of every head the decoder was trained with.
        subject : str
            Label of the new subject.
        max_epochs, lr, patience : optional
            Override the decoder's values for this call (defaults: the
            decoder's ``max_epochs`` and ``patience``, 3 times its ``lr``).
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
        lr = float(lr) if lr is not None else 3.0 * float(self.lr)
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
            self.model_ = _build_net(self.adapters_, n_by_key, self.hidden_dim, self.n_blocks,
                                     self.dropout, self.heads_)
            self.model_.load_state_dict(weights)
            if self.device_.type == "cuda" and not torch.cuda.is_available():
                self.device_ = torch.device("cpu")
