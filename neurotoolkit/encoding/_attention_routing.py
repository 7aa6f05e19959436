"""AttentionRoutingEncoder: one learned query per ROI attends over a backbone's token grid.

The transformer brain encoder of Adeli, Sun & Kriegeskorte (NeurIPS 2025):
frozen backbone tokens (keys = tokens + 2-D sine positional encoding, values
= the tokens themselves), one cross-attention decoder layer with a learned
query per ROI (and hemisphere), and a linear readout from each ROI's output
token to that ROI's own units only (block-sparse). Trained with MSE and early
stopping; predictions are averaged over an ensemble of train/validation
splits. Each query's attention over the grid shows where its ROI reads from.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._utils.device import resolve_device
from .._utils.docs import fill_doc
from .._utils.logging import logger
from .._utils.logging import verbose as verbose_decorator
from .._utils.optional import require
from .._utils.random import check_random_state
from .._utils.validation import check_fraction, check_int, check_option, check_type
from ..data._recording import Recording
from ..features._tokens import TokenFeatures
from ._nonlinear_common import (TrainingHistory, arrays_to_state, check_recording_units,
                                ensemble_splits, evaluate_units, sine_positional_encoding,
                                state_to_arrays, train_network)

__all__ = ["AttentionRoutingEncoder", "build_routing_network"]

_FORMAT_VERSION = 1


def build_routing_network(dim, grid, query_sizes, n_heads=16, ffn_dim=1024, dropout=0.1,
                          per_unit=False):
    """The torch module of :class:`AttentionRoutingEncoder` (random init).

    Parameters
    ----------
    dim : int
        Token dimension (768 for ViT-B), divisible by ``n_heads``.
    grid : (int, int)
        Token grid (31 x 31 for DINOv2 ViT-B/14 at 434 px).
    query_sizes : sequence of int
        Units read out from each query (ROI); with ``per_unit`` every query
        has one unit.
    n_heads, ffn_dim : int
    dropout : float
    per_unit : bool
        One query per unit (the voxel-query variant).

    Returns
    -------
    torch.nn.Module
        ``net(tokens (B, n_tokens, dim), return_attention=False)`` ->
        predictions (B, n_units) in query order (and attention
        (B, n_heads, n_queries, n_tokens)).
    """
    torch = require("torch", purpose="AttentionRoutingEncoder")
    nn, F = torch.nn, torch.nn.functional
    if dim % n_heads:
        raise ValueError(f"Invalid value for `n_heads`: expected a divisor of the token dimension "
                         f"{dim}, got {n_heads}.")

    class RoutingNet(nn.Module):
        def __init__(self):
            super().__init__()
            sizes = [int(s) for s in query_sizes]
            self.n_heads, self.per_unit, self.sizes = n_heads, per_unit, sizes
            self.register_buffer("pos", torch.as_tensor(sine_positional_encoding(grid, dim)))
            self.query = nn.Parameter(torch.randn(len(sizes), dim))  # nn.Embedding init, as TBE
            self.q_proj = nn.Linear(dim, dim)
            self.k_proj = nn.Linear(dim, dim)
            self.c_proj = nn.Linear(dim, dim)
            self.drop = nn.Dropout(dropout)
            self.norm = nn.LayerNorm(dim)
            self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(ffn_dim, dim))
            n_units = int(sum(sizes))
            bound = 1.0 / np.sqrt(dim)
            self.readout_weight = nn.Parameter(torch.empty(n_units, dim).uniform_(-bound, bound))
            self.readout_bias = nn.Parameter(torch.zeros(n_units))
            for p in (self.q_proj.weight, self.k_proj.weight, self.c_proj.weight):
                nn.init.xavier_uniform_(p)

        def forward(self, tokens, return_attention=False):
            B, T, D = tokens.shape
            h, dh = self.n_heads, D // self.n_heads
            q = self.q_proj(self.query).reshape(-1, h, dh).transpose(0, 1)          # h, Q, dh
            k = self.k_proj(tokens + self.pos).reshape(B, T, h, dh).transpose(1, 2)  # B, h, T, dh
            v = tokens.reshape(B, T, h, dh).transpose(1, 2)                          # values = tokens
            att = torch.softmax(q @ k.transpose(-2, -1) / np.sqrt(dh), dim=-1)       # B, h, Q, T
            y = (self.drop(att) @ v).transpose(1, 2).reshape(B, -1, D)               # B, Q, D
            y = self.drop(self.c_proj(y))
            out = y + self.drop(self.ffn(self.norm(y)))
            if self.per_unit:
                pred = (out * self.readout_weight).sum(-1) + self.readout_bias
            else:  # block-sparse: each query's token reads out only its own units
                parts, start = [], 0
                for r, size in enumerate(self.sizes):
                    sl = slice(start, start + size)
                    parts.append(F.linear(out[:, r], self.readout_weight[sl], self.readout_bias[sl]))
                    start += size
                pred = torch.cat(parts, dim=1)
            return (pred, att) if return_attention else pred

    return RoutingNet()


@fill_doc
class AttentionRoutingEncoder(BaseEstimator):
    """Transformer brain encoder: ROI queries route over a backbone's token grid.

    Parameters
    ----------
    features : TokenFeatures
        Token grids of the stimuli (:func:`~neurotoolkit.features.extract_features`
        with ``pooling="tokens"``), e.g. ViT patch tokens or the query vectors
        of a ViT block (Adeli et al. 2025 use DINOv2 ViT-B/14 queries).
    queries : "roi_hemisphere" | "roi" | "unit"
        One learned query per (ROI, hemisphere) (the paper's default; "roi"
        when the units have no ``hemisphere`` column), per ROI, or per unit
        (the voxel-query variant).
    n_heads : int
        Attention heads (16 in the paper); must divide the token dimension.
    ffn_dim : int
        Hidden size of the feed-forward block (1024).
    dropout : float
    n_ensemble : int
        Models trained on different random train/validation splits; their
        predictions are averaged (10 in the paper).
    val_fraction : float
        Validation share of each split (0.1), used for early stopping.
    learning_rate, weight_decay : float
        AdamW (5e-4, 1e-4).
    batch_size : int
        Stimuli per step (16).
    max_epochs, patience : int
        Epochs per model (15) and early-stopping patience (epochs without a
        better validation loss).
    grad_clip : float
        Gradient-norm clipping (0.1).
    %(device)s
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    networks_ : list of torch.nn.Module
        The ensemble, on ``device_``.
    query_names_ : list of str
        One name per query: ROI, ``"ROI/hemisphere"`` or unit name.
    unit_query_ : array (n_units,) of int
        The query each unit reads from.
    units_ : pandas.DataFrame
    subject_ : str
    grid_ : (int, int)
    history_ : TrainingHistory
        Per-epoch losses and seconds of every ensemble member.

    Notes
    -----
    Responses are repeat-averaged and z-scored per unit, tokens standardised
    per channel with training statistics; :meth:`predict` undoes both.
    Vertex v's prediction uses only its own ROI's output token, so each query
    is trained only by the units of its ROI (block-sparse readout).

    Examples
    --------
    >>> tokens = extract_features(stimuli, backbone, layers=layer, pooling="tokens")  # doctest: +SKIP
    >>> enc = AttentionRoutingEncoder(tokens).fit(train)                              # doctest: +SKIP
    >>> enc.evaluate(test).groupby("roi")["r"].mean()                                 # doctest: +SKIP
    """

    def __init__(self, features=None, queries="roi_hemisphere", n_heads=16, ffn_dim=1024, dropout=0.1,
                 n_ensemble=10, val_fraction=0.1, learning_rate=5e-4, weight_decay=1e-4, batch_size=16,
                 max_epochs=15, patience=5, grad_clip=0.1, device="auto", random_state=0, verbose=None):
        self.features = features
        self.queries = queries
        self.n_heads = n_heads
        self.ffn_dim = ffn_dim
        self.dropout = dropout
        self.n_ensemble = n_ensemble
        self.val_fraction = val_fraction
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.grad_clip = grad_clip
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _check_params(self):
        check_type("features", self.features, TokenFeatures,
                   "TokenFeatures (extract_features(..., pooling='tokens'))")
        check_option("queries", self.queries, ("roi_hemisphere", "roi", "unit"))
        for name in ("n_heads", "ffn_dim", "n_ensemble", "batch_size", "max_epochs", "patience"):
            check_int(name, getattr(self, name), min_value=1)
        check_fraction("dropout", self.dropout, inclusive=(True, False))
        check_fraction("val_fraction", self.val_fraction, inclusive=(False, False))
        for name in ("learning_rate", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            check_type(name, value, "numeric")
            if value < 0 or (name == "learning_rate" and value == 0):
                raise ValueError(f"Invalid value for `{name}`: expected a positive float, got {value!r}.")
        if self.features.dim % self.n_heads:
            raise ValueError(
                f"Invalid value for `n_heads`: expected a divisor of the token dimension "
                f"{self.features.dim}, got {self.n_heads}."
            )

    def _groups(self, units):
        """(query names, unit -> query index)."""
        if self.queries == "unit":
            return [str(u) for u in units.index], np.arange(len(units))
        key = units["roi"].astype(str)
        if self.queries == "roi_hemisphere" and "hemisphere" in units.columns:
            key = key + "/" + units["hemisphere"].astype(str)
        names = list(dict.fromkeys(key))
        index = {n: k for k, n in enumerate(names)}
        return names, np.asarray([index[k] for k in key])

    def _tokens(self, ids, features=None):
        feats = self.features_ if features is None else features
        if features is not None:
            check_type("features", features, TokenFeatures)
            if features.grid != self.grid_ or features.dim != self.token_mean_.shape[-1]:
                raise ValueError(
                    f"Invalid value for `features`: expected {self.grid_[0]}x{self.grid_[1]} tokens of "
                    f"dimension {self.token_mean_.shape[-1]}, got {features!r}."
                )
        x = np.asarray(feats.for_ids(ids), dtype=np.float32)
        return (x - self.token_mean_) / self.token_scale_

    # --------------------------------------------------------------------- fit
    @fill_doc
    @verbose_decorator
    def fit(self, recording, verbose=None):
        """Train the ensemble on a recording (repeats averaged).

        Parameters
        ----------
        recording : Recording
            Training trials (n_trials, n_units) with ``units["roi"]``; every
            stimulus id must be in ``features``.
        %(verbose)s

        Returns
        -------
        self
        """
        torch = require("torch", purpose="AttentionRoutingEncoder")
        check_type("recording", recording, Recording)
        self._check_params()
        rec = recording.average_repeats()
        if rec.n_trials < 4:
            raise ValueError(f"Invalid value for `recording`: expected at least 4 distinct stimuli to "
                             f"train and validate, got {rec.n_trials}.")
        self.device_ = resolve_device(self.device, purpose="AttentionRoutingEncoder")
        rng = check_random_state(self.random_state)
        self.features_ = self.features
        self.grid_ = tuple(self.features.grid)
        ids = list(rec.stimulus_ids)
        raw = np.asarray(self.features.for_ids(ids), dtype=np.float32)
        self.token_mean_ = raw.mean(axis=(0, 1))
        sd = raw.std(axis=(0, 1))
        self.token_scale_ = np.where(sd > 0, sd, 1.0).astype(np.float32)
        X = torch.as_tensor((raw - self.token_mean_) / self.token_scale_, device=self.device_)
        Y = np.asarray(rec.responses, dtype=np.float64)
        self.response_mean_ = Y.mean(0)
        ysd = Y.std(0)
        self.response_scale_ = np.where(ysd > 0, ysd, 1.0)
        self.query_names_, self.unit_query_ = self._groups(rec.units)
        # units sorted by query, so that each query's units are one contiguous block
        self.order_ = np.argsort(self.unit_query_, kind="stable")
        sizes = np.bincount(self.unit_query_, minlength=len(self.query_names_))
        Yz = torch.as_tensor(((Y - self.response_mean_) / self.response_scale_)[:, self.order_],
                             dtype=torch.float32, device=self.device_)
        self.history_ = TrainingHistory()
        self.networks_ = []
        seed = int(rng.integers(2**31 - 1))
        splits = ensemble_splits(len(ids), int(self.n_ensemble), float(self.val_fraction), rng)
        logger.info("AttentionRoutingEncoder: %d stimuli, %d units, %d queries, %dx%d tokens of %d, "
                    "%d models", len(ids), rec.n_units, len(sizes), *self.grid_, self.features.dim,
                    len(splits))
        for m, (tr, va) in enumerate(splits):
            with torch.random.fork_rng(devices=[self.device_] if self.device_.type == "cuda" else []):
                torch.manual_seed(seed + m)
                net = build_routing_network(self.features.dim, self.grid_, sizes, self.n_heads,
                                            self.ffn_dim, float(self.dropout),
                                            per_unit=self.queries == "unit").to(self.device_)
                gen = torch.Generator().manual_seed(seed + 1000 + m)
                tr_t = torch.as_tensor(tr)
                bs = min(int(self.batch_size), len(tr))
                n_batches = int(np.ceil(len(tr) / bs))
                perm = {}

                def step_loss(epoch, b, net=net, tr_t=tr_t, gen=gen, bs=bs, perm=perm):
                    if b == 0:
                        perm["p"] = tr_t[torch.randperm(len(tr_t), generator=gen)]
                    idx = perm["p"][b * bs:(b + 1) * bs].to(self.device_)
                    return torch.mean((net(X[idx]) - Yz[idx]) ** 2)

                va_t = torch.as_tensor(va, device=self.device_)

                def val_loss(net=net, va_t=va_t):
                    return torch.mean((net(X[va_t]) - Yz[va_t]) ** 2)

                train_network(net, step_loss, val_loss, n_batches, int(self.max_epochs),
                              float(self.learning_rate), float(self.weight_decay), int(self.patience),
                              grad_clip=float(self.grad_clip) or None, scheduler="step",
                              history=self.history_, member=m, desc=f"routing model {m + 1}/{len(splits)}",
                              verbose=verbose)
            self.networks_.append(net)
        self.units_ = recording.units.copy()
        self.subject_ = recording.subject
        return self

    # ----------------------------------------------------------------- predict
    def _forward(self, tokens, return_attention=False):
        """Ensemble mean of standardised predictions (B, n_units) in unit order (torch)."""
        preds, atts = [], []
        for net in self.networks_:
            out = net(tokens, return_attention=return_attention)
            if return_attention:
                out, att = out
                atts.append(att.mean(dim=1))
            preds.append(out)
        pred = sum(preds) / len(preds)
        inv = np.argsort(self.order_)
        pred = pred[:, inv]
        if return_attention:
            return pred, sum(atts) / len(atts)
        return pred

    def _predict_tokens(self, tokens_np, batch=256):
        torch = require("torch")
        out = []
        with torch.no_grad():
            for s in range(0, len(tokens_np), batch):
                x = torch.as_tensor(tokens_np[s:s + batch], device=self.device_)
                out.append(self._forward(x).cpu().numpy().astype(np.float64))
        z = np.concatenate(out) if out else np.zeros((0, len(self.order_)))
        return z * self.response_scale_ + self.response_mean_

    def predict(self, stimulus_ids, features=None):
        """Predicted responses.

        Parameters
        ----------
        stimulus_ids : sequence of str, shape (n,)
        features : TokenFeatures | None
            Token grids of stimuli not in the fitted ``features`` (same
            backbone, layer and grid).

        Returns
        -------
        Y_pred : array (n, n_units)
        """
        check_is_fitted(self, "networks_")
        return self._predict_tokens(self._tokens([str(i) for i in stimulus_ids], features))

    def score(self, recording, features=None):
        """Held-out R^2 of repeat-averaged responses, uniform average over units.

        Parameters
        ----------
        recording : Recording
        features : TokenFeatures | None

        Returns
        -------
        r2 : float
            ``sklearn.metrics.r2_score(avg.responses, predict(...))``.
        """
        from sklearn.metrics import r2_score

        check_is_fitted(self, "networks_")
        avg = check_recording_units(recording, self.units_, "AttentionRoutingEncoder")
        return float(r2_score(avg.responses, self.predict(avg.stimulus_ids, features)))

    def evaluate(self, recording, features=None):
        """Per-unit held-out scores: ``r``, ``r2``, ``noise_ceiling``, ``normalized``.

        ``normalized`` is the Algonauts 2023 noise-normalised score
        ``100 r^2 / NC`` capped at 100 (:func:`noise_normalized`); it needs
        repeats in the test recording.

        Returns
        -------
        scores : pandas.DataFrame, one row per unit
        """
        check_is_fitted(self, "networks_")
        avg = check_recording_units(recording, self.units_, "AttentionRoutingEncoder")
        pred = self.predict(avg.stimulus_ids, features)
        return evaluate_units(recording, avg, pred, self.units_, self.subject_, "AttentionRoutingEncoder")

    # --------------------------------------------------------------- attention
    def attention_maps(self, stimulus_ids=None, features=None, average=True):
        """Attention of every query over the token grid (ensemble and heads averaged).

        Parameters
        ----------
        stimulus_ids : sequence of str | None
            Stimuli to average over (None: every stimulus of ``features``).
        features : TokenFeatures | None
        average : bool
            Average over stimuli (True) or return one map per stimulus.

        Returns
        -------
        maps : array (n_queries, h, w) | (n_stimuli, n_queries, h, w)
            Rows follow ``query_names_``; each map sums to 1.
        """
        torch = require("torch")
        check_is_fitted(self, "networks_")
        feats = self.features_ if features is None else features
        ids = list(feats.stimulus_ids) if stimulus_ids is None else [str(i) for i in stimulus_ids]
        x = self._tokens(ids, features)
        out = []
        with torch.no_grad():
            for s in range(0, len(x), 256):
                _, att = self._forward(torch.as_tensor(x[s:s + 256], device=self.device_), True)
                out.append(att.cpu().numpy())
        maps = np.concatenate(out).reshape(len(ids), len(self.query_names_), *self.grid_)
        return maps.mean(axis=0) if average else maps

    def plot_attention(self, stimuli, query, stimulus_ids=None, n_images=4, alpha=0.6, cmap="magma"):
        """Attention maps of one query over images (upsampled, overlaid).

        Parameters
        ----------
        stimuli : StimulusSet
            Images of the stimuli.
        query : str | int
            A name from ``query_names_`` (an ROI name selects its first query) or an index.
        stimulus_ids : sequence of str | None
            Default: the first ``n_images`` stimuli of ``features``.
        n_images : int
        alpha : float
        cmap : str

        Returns
        -------
        matplotlib.figure.Figure
            One panel per image plus the mean map over all stimuli.
        """
        import matplotlib.pyplot as plt

        q = self._query_index(query)
        ids = list(self.features_.stimulus_ids[:n_images]) if stimulus_ids is None else list(stimulus_ids)
        maps = self.attention_maps(ids, average=False)[:, q]
        mean = self.attention_maps()[q]
        fig, axes = plt.subplots(1, len(ids) + 1, figsize=(2.2 * (len(ids) + 1), 2.4))
        for ax, sid, m in zip(axes, ids, maps):
            img = stimuli.load_image(sid)
            ax.imshow(img)
            ax.imshow(m, cmap=cmap, alpha=alpha, extent=(0, img.shape[1], img.shape[0], 0),
                      interpolation="bilinear")
            ax.set_title(str(sid), fontsize=8)
            ax.axis("off")
        axes[-1].imshow(mean, cmap=cmap)
        axes[-1].set_title(f"mean: {self.query_names_[q]}", fontsize=8)
        axes[-1].axis("off")
        fig.tight_layout()
        return fig

    def _query_index(self, query):
        if isinstance(query, (int, np.integer)):
            if not 0 <= query < len(self.query_names_):
                raise ValueError(f"Invalid value for `query`: expected an index in [0, "
                                 f"{len(self.query_names_)}), got {query}.")
            return int(query)
        hits = [k for k, n in enumerate(self.query_names_) if n == query or n.split("/")[0] == query]
        if not hits:
            raise ValueError(f"Invalid value for `query`: expected one of {self.query_names_}, got {query!r}.")
        return hits[0]

    # ----------------------------------------------------------------- probing
    def objective(self, backbone, layer, units=None, contrast=None):
        """The encoder as a differentiable objective of images, for probing.

        Parameters
        ----------
        backbone : Backbone
            The backbone that made ``features`` (same layer and grid).
        layer : str
            Its layer name (as given to ``extract_features``).
        units, contrast : None | str | list of str | array of int | boolean mask
            Units whose mean predicted response is maximised (ROI names from
            ``units_["roi"]``, unit names, indices or a mask), minus the mean
            of ``contrast``.

        Returns
        -------
        RoutingObjective
            ``objective(images (B, 3, H, W) in [0, 1]) -> (B,)`` with
            ``predict``, ``features``, ``device`` and ``describe``, usable by
            ``ActivationMaximizer`` and ``BrainGuidedDiffusion``.
        """
        from ._nonlinear_common import RoutingObjective

        check_is_fitted(self, "networks_")
        return RoutingObjective(self, backbone, layer, units=units, contrast=contrast)

    # -------------------------------------------------------------- save/load
    def save(self, fname, overwrite=False):
        """Save the fitted encoder (weights as arrays in a checksummed HDF5 file, no pickle).

        ``features`` are not saved: pass them again to :meth:`load`.
        """
        from pathlib import Path

        from .._utils.safe_io import save_object

        check_is_fitted(self, "networks_")
        fname = Path(fname)
        if fname.exists() and not overwrite:
            raise FileExistsError(f"Invalid value for `fname`: '{fname}' exists; pass overwrite=True.")
        params = {k: v for k, v in self.get_params().items() if k != "features"}
        params["device"] = str(params["device"])
        state = {k: v for k, v in vars(self).items() if k.endswith("_") and
                 k not in ("networks_", "features_", "device_", "history_")}
        state["grid_"] = list(self.grid_)
        state["history_"] = [dict(h) for h in self.history_]
        nets = [state_to_arrays(n.state_dict()) for n in self.networks_]
        sizes = [int(s) for s in np.bincount(self.unit_query_, minlength=len(self.query_names_))]
        return save_object(fname, "AttentionRoutingEncoder", _FORMAT_VERSION,
                           {"params": params, "state": state, "networks": nets, "sizes": sizes})

    @classmethod
    def load(cls, fname, features, device="auto"):
        """Load a saved encoder; ``features`` are the TokenFeatures it predicts from."""
        from .._utils.safe_io import load_object

        tree, _ = load_object(fname, "AttentionRoutingEncoder", _FORMAT_VERSION)
        enc = cls(features=features, **dict(tree["params"], device=device))
        enc.__dict__.update(tree["state"])
        enc.grid_ = tuple(enc.grid_)
        enc.history_ = TrainingHistory(enc.history_)
        enc.features_ = features
        enc.device_ = resolve_device(device, purpose="AttentionRoutingEncoder")
        enc.networks_ = []
        for arrays in tree["networks"]:
            net = build_routing_network(len(enc.token_mean_), enc.grid_, tree["sizes"], enc.n_heads,
                                        enc.ffn_dim, float(enc.dropout), per_unit=enc.queries == "unit")
            net.load_state_dict(arrays_to_state(arrays))
            enc.networks_.append(net.to(enc.device_).eval())
        if features is not None:
            check_type("features", features, TokenFeatures)
        return enc

