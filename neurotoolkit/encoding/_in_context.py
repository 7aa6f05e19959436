"""InContextEncoder: a set transformer that outputs a voxel's linear encoder from a few examples.

BraInCoRL (Yu et al., NeurIPS 2025): each context item is a token
``[image embedding; response]`` of one voxel; a residual MLP maps it to the
model width, learnable register tokens are prepended (no positional encoding:
the context is a set), pre-norm self-attention blocks with SwiGLU feed-forward
layers and attention logits scaled by log L (L = number of tokens) process the
set, and the first token is mapped to the voxel's weights ``omega`` (E + 1).
A new subject's encoder comes from k (image, response) pairs with no gradient
step. Meta-training (:meth:`InContextEncoder.pretrain`) has three stages:
synthetic linear voxels at full context, a context-length curriculum, then the
voxels of the training subjects.
"""

import math

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._utils.device import resolve_device
from .._utils.docs import fill_doc
from .._utils.logging import logger
from .._utils.logging import verbose as verbose_decorator
from .._utils.optional import require
from .._utils.random import check_random_state
from .._utils.validation import check_fraction, check_int, check_option, check_type, describe
from ..data._recording import Recording
from ..features._feature_space import FeatureSpace
from ._nonlinear_common import (TrainingHistory, arrays_to_state, check_recording_units,
                                evaluate_units, state_to_arrays, train_network)

__all__ = ["InContextEncoder", "PRESETS", "build_in_context_network"]

_FORMAT_VERSION = 1
# published BraInCoRL sizes (embed_dim E, width D); 20 blocks, 10 heads, SwiGLU hidden 2048, 4 registers
PRESETS = {
    "clip": {"embed_dim": 512, "width": 560, "n_layers": 20, "n_heads": 10, "ffn_hidden": 2048, "n_registers": 4},
    "dino": {"embed_dim": 768, "width": 800, "n_layers": 20, "n_heads": 10, "ffn_hidden": 2048, "n_registers": 4},
    "siglip": {"embed_dim": 1152, "width": 1200, "n_layers": 20, "n_heads": 10, "ffn_hidden": 2048,
               "n_registers": 4},
}
_STAGES = ("synthetic", "curriculum", "subjects")


def build_in_context_network(embed_dim, width=560, n_layers=20, n_heads=10, ffn_hidden=2048, n_registers=4,
                             dropout=0.0):
    """The BraInCoRL set transformer (random init).

    Returns
    -------
    torch.nn.Module
        ``net(context_x (B, k, E), context_y (B, k)) -> omega (B, E + 1)``.
    """
    torch = require("torch", purpose="InContextEncoder")
    nn, F = torch.nn, torch.nn.functional
    if width % n_heads:
        raise ValueError(f"Invalid value for `n_heads`: expected a divisor of width={width}, got {n_heads}.")

    class Residual(nn.Module):  # LayerNorm, LeakyReLU(0.1), Linear, twice, + bypass
        def __init__(self, d_in, d_out, hidden):
            super().__init__()
            self.block = nn.Sequential(nn.LayerNorm(d_in), nn.LeakyReLU(0.1), nn.Dropout(dropout),
                                       nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.1),
                                       nn.Dropout(dropout), nn.Linear(hidden, d_out))
            self.bypass = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()

        def forward(self, x):
            return self.block(x) + self.bypass(x)

    class Block(nn.Module):  # pre-norm self-attention (log-L scaled logits) + SwiGLU FFN
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv = nn.Linear(width, 3 * width)
            self.out = nn.Linear(width, width)
            self.ffn_in = nn.Linear(width, 2 * ffn_hidden)
            self.ffn_out = nn.Linear(ffn_hidden, width)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            B, L, D = x.shape
            h = self.norm1(x)
            q, k, v = self.qkv(h).reshape(B, L, 3, n_heads, D // n_heads).permute(2, 0, 3, 1, 4)
            q = q * math.log(L)  # logit = log(L) q.k / sqrt(d_h)
            a = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout if self.training else 0.0)
            x = x + self.drop(self.out(a.transpose(1, 2).reshape(B, L, D)))
            g, u = self.ffn_in(self.norm2(x)).chunk(2, dim=-1)
            return x + self.drop(self.ffn_out(F.silu(g) * u))

    class SetTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = Residual(embed_dim + 1, width, 2 * width)
            self.registers = nn.Parameter(torch.randn(1, n_registers, width) / math.sqrt(width + 1))
            self.blocks = nn.Sequential(*[Block() for _ in range(n_layers)])
            self.head = Residual(width, embed_dim + 1, 2 * width)

        def forward(self, context_x, context_y):
            tok = self.embed(torch.cat([context_x, context_y[..., None]], dim=-1))
            tok = torch.cat([self.registers.expand(tok.shape[0], -1, -1), tok], dim=1)
            return self.head(self.blocks(tok)[:, 0])

    return SetTransformer()


def _apply(omega, x):
    """Predictions (B, n) of weights omega (B, E + 1) on embeddings x (n, E) or (B, n, E)."""
    if x.ndim == 2:
        return omega[:, :-1] @ x.T + omega[:, -1:]
    return (x * omega[:, None, :-1]).sum(-1) + omega[:, -1:]


@fill_doc
class InContextEncoder(BaseEstimator):
    """Linear encoders of a new subject's voxels from a few images, by in-context inference.

    Parameters
    ----------
    features : FeatureSpace
        Image embeddings (n_stimuli, E) of every stimulus used in
        :meth:`pretrain`, :meth:`fit` and :meth:`predict` (e.g. CLIP image
        embeddings, or pooled backbone tokens).
    preset : None | "clip" | "dino" | "siglip"
        Published sizes (about 97M / 112M / 130M parameters; ``features``
        must then have 512 / 768 / 1152 columns); None uses the sizes below.
    width, n_layers, n_heads, ffn_hidden, n_registers : int
        Model width D, self-attention blocks, heads, SwiGLU hidden size and
        register tokens (defaults: a CPU-trainable model).
    dropout : float
    context_size : (int, int)
        Range of context sizes k drawn per batch in the curriculum and
        subject stages (30, 500 in the paper).
    n_queries : int
        Query images per voxel whose responses give the loss (100).
    batch_size : int
        Voxels per step (64).
    learning_rate, weight_decay : float
        AdamW (1e-4 and 0.1 in the paper; defaults here suit small models).
    max_epochs : int
        Epochs of the subjects stage (one epoch = every training voxel once);
        stopped early on held-out voxels (``patience``), with
        ReduceLROnPlateau as in the paper.
    synthetic_steps : (int, int)
        Steps of the synthetic and curriculum stages.
    patience : int
    %(device)s
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    network_ : torch.nn.Module
        The meta-trained set transformer (after :meth:`pretrain` or :meth:`load`).
    coef_ : array (n_features, n_units)
        After :meth:`fit`: each voxel's predicted weights, in raw feature units.
    intercept_ : array (n_units,)
    estimator_ : sklearn.linear_model.LinearRegression
        The same linear map (``predict(X_raw)``), so that probes that take a
        ridge encoder's readout (``linear_readout``) take this one too.
    units_ : pandas.DataFrame
    subject_ : str
    n_context_ : int
        Context images used by the last :meth:`fit`.
    history_ : TrainingHistory

    Notes
    -----
    Embeddings are standardised per feature with the statistics of the
    meta-training pool and scaled by ``1 / sqrt(E)`` (rows have unit norm on
    average) instead of the paper's per-row L2 normalisation, so that the
    predicted encoder stays linear in the raw features; responses are
    z-scored per voxel over the context. ``coef_`` folds both back.

    Examples
    --------
    >>> ice = InContextEncoder(embeddings).pretrain(train_subjects)     # doctest: +SKIP
    >>> ice.fit(new_subject_100_images).evaluate(new_subject_test)      # doctest: +SKIP
    """

    def __init__(self, features=None, preset=None, width=64, n_layers=4, n_heads=4, ffn_hidden=128,
                 n_registers=4, dropout=0.0, context_size=(30, 500), n_queries=100, batch_size=64,
                 learning_rate=1e-3, weight_decay=0.1, max_epochs=30, synthetic_steps=(200, 200),
                 patience=8, device="auto", random_state=0, verbose=None):
        self.features = features
        self.preset = preset
        self.width = width
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.ffn_hidden = ffn_hidden
        self.n_registers = n_registers
        self.dropout = dropout
        self.context_size = context_size
        self.n_queries = n_queries
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.synthetic_steps = synthetic_steps
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- sizes
    def _sizes(self):
        check_type("features", self.features, FeatureSpace)
        E = self.features.n_features
        if self.preset is not None:
            check_option("preset", self.preset, tuple(PRESETS))
            sizes = dict(PRESETS[self.preset])
            if sizes.pop("embed_dim") != E:
                raise ValueError(
                    f"Invalid value for `features`: preset {self.preset!r} expects "
                    f"{PRESETS[self.preset]['embed_dim']}-d embeddings, got {E} features.")
            return dict(embed_dim=E, **sizes)
        for name in ("width", "n_layers", "n_heads", "ffn_hidden", "n_registers"):
            check_int(name, getattr(self, name), min_value=1)
        return dict(embed_dim=E, width=self.width, n_layers=self.n_layers, n_heads=self.n_heads,
                    ffn_hidden=self.ffn_hidden, n_registers=self.n_registers)

    def _check_context(self):
        cs = self.context_size
        if not (isinstance(cs, (tuple, list)) and len(cs) == 2 and all(isinstance(c, int) for c in cs)
                and 1 <= cs[0] <= cs[1]):
            raise ValueError(f"Invalid value for `context_size`: expected (k_min, k_max) ints with "
                             f"1 <= k_min <= k_max, got {describe(cs)}.")
        return int(cs[0]), int(cs[1])

    def _embed(self, ids):
        x = np.asarray(self.features.for_ids(ids), dtype=np.float64)
        return ((x - self.feature_mean_) / self.feature_scale_ / math.sqrt(x.shape[1])).astype(np.float32)

    # ---------------------------------------------------------------- pretrain
    @fill_doc
    @verbose_decorator
    def pretrain(self, recordings, stages=_STAGES, verbose=None):
        """Meta-train the set transformer (synthetic voxels, curriculum, training subjects).

        Parameters
        ----------
        recordings : Recording | list of Recording
            Training subjects (the test subject held out); their repeat-averaged
            responses to stimuli of ``features`` are the voxels of the last stage.
        stages : sequence of {"synthetic", "curriculum", "subjects"}
            Stages to run, in order: (1) synthetic linear voxels (random
            weights, Gaussian noise) at the full context ``context_size[1]``;
            (2) the same with k ~ U(context_size); (3) the subjects' voxels with
            k ~ U(context_size), early-stopped on 10 % of the voxels.
        %(verbose)s

        Returns
        -------
        self
        """
        torch = require("torch", purpose="InContextEncoder")
        recordings = [recordings] if isinstance(recordings, Recording) else list(recordings)
        for k, r in enumerate(recordings):
            check_type(f"recordings[{k}]", r, Recording)
        stages = [stages] if isinstance(stages, str) else list(stages)
        for s in stages:
            check_option("stages", s, _STAGES)
        sizes = self._sizes()
        k_min, k_max = self._check_context()
        n_q = check_int("n_queries", self.n_queries, min_value=1)
        bs = check_int("batch_size", self.batch_size, min_value=1)
        check_fraction("dropout", self.dropout, inclusive=(True, False))
        rng = check_random_state(self.random_state)
        self.device_ = resolve_device(self.device, purpose="InContextEncoder")
        dev = self.device_
        subj = []
        for r in recordings:
            avg = r.average_repeats()
            Y = np.asarray(avg.responses, dtype=np.float64)
            keep = Y.std(0) > 0
            subj.append((list(avg.stimulus_ids), Y[:, keep]))
        pool = sorted({i for ids, _ in subj for i in ids}) or list(self.features.stimulus_ids)
        raw = np.asarray(self.features.for_ids(pool), dtype=np.float64)
        self.feature_mean_ = raw.mean(0)
        sd = raw.std(0)
        self.feature_scale_ = np.where(sd > 0, sd, 1.0)
        Xpool = torch.as_tensor(self._embed(pool), device=dev)
        seed = int(rng.integers(2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.network_ = build_in_context_network(dropout=float(self.dropout), **sizes).to(dev)
        self.sizes_ = sizes
        self.history_ = TrainingHistory()
        n_pool = len(pool)

        def rint(lo, hi):
            return int(torch.randint(lo, hi + 1, (1,), generator=gen))

        def loss_of(X, Y, k):
            """X (n, E) shared images, Y (B, n) voxels: context k, queries the rest (<= n_q)."""
            perm = torch.randperm(X.shape[0], generator=gen).to(dev)
            k = min(k, X.shape[0] - 1)
            ci, qi = perm[:k], perm[k:k + n_q]
            cy, qy = Y[:, ci], Y[:, qi]
            mu, sd = cy.mean(1, keepdim=True), cy.std(1, keepdim=True).clamp_min(1e-6)
            omega = self.network_(X[ci].expand(Y.shape[0], -1, -1), (cy - mu) / sd)
            return torch.mean((_apply(omega, X[qi]) - (qy - mu) / sd) ** 2)

        def synthetic(stage_k):
            def step(epoch, b):
                idx = torch.randperm(n_pool, generator=gen)[:min(n_pool, stage_k() + n_q)].to(dev)
                X = Xpool[idx]
                w = torch.randn(bs, X.shape[1], generator=gen).to(dev)
                snr = torch.exp(torch.empty(bs, 1).uniform_(math.log(0.1), math.log(10), generator=gen)).to(dev)
                s = X @ w.T
                s = (s - s.mean(0)) / s.std(0).clamp_min(1e-6)
                Y = (s.T * snr.sqrt() + torch.randn(bs, X.shape[0], generator=gen).to(dev))
                return loss_of(X, Y, stage_k())
            return step

        lr, wd = float(self.learning_rate), float(self.weight_decay)
        steps = self.synthetic_steps
        if "synthetic" in stages:
            train_network(self.network_, synthetic(lambda: k_max), None, int(steps[0]), 1, lr, wd, 1,
                          grad_clip=1.0, scheduler=None, history=self.history_, member=0,
                          desc="in-context stage 1", verbose=verbose)
        if "curriculum" in stages:
            train_network(self.network_, synthetic(lambda: rint(k_min, k_max)), None, int(steps[1]), 1, lr,
                          wd, 1, grad_clip=1.0, scheduler=None, history=self.history_, member=1,
                          desc="in-context stage 2", verbose=verbose)
        if "subjects" in stages:
            if not subj:
                raise ValueError("Invalid value for `recordings`: the 'subjects' stage needs at least one "
                                 "training Recording, got none.")
            data, val = [], []
            for ids, Y in subj:
                X = torch.as_tensor(self._embed(ids), device=dev)
                Yt = torch.as_tensor(Y.T, dtype=torch.float32, device=dev)
                perm = rng.permutation(Yt.shape[0])
                n_val = max(1, int(round(0.1 * len(perm))))
                data.append((X, Yt[perm[n_val:]]))
                val.append((X, Yt[perm[:n_val]]))
            n_vox = sum(d[1].shape[0] for d in data)
            n_batches = max(1, int(np.ceil(n_vox / bs)))
            weights = np.asarray([d[1].shape[0] for d in data], float) / n_vox

            def step(epoch, b):
                s = int(rng.choice(len(data), p=weights))
                X, Y = data[s]
                pick = torch.randint(0, Y.shape[0], (min(bs, Y.shape[0]),), generator=gen).to(dev)
                return loss_of(X, Y[pick], rint(k_min, k_max))

            val_gen_seed = seed + 1

            def val_loss():
                state = gen.get_state()
                gen.manual_seed(val_gen_seed)  # the same validation draws every epoch
                out = float(np.mean([float(loss_of(X, Y, (k_min + k_max) // 2)) for X, Y in val]))
                gen.set_state(state)
                return out

            train_network(self.network_, step, val_loss, n_batches, int(self.max_epochs), lr, wd,
                          int(self.patience), grad_clip=1.0, scheduler="plateau", history=self.history_,
                          member=2, desc="in-context stage 3", verbose=verbose)
        self.network_.eval()
        logger.info("InContextEncoder pretrained: %d parameters",
                    sum(p.numel() for p in self.network_.parameters()))
        return self

    # --------------------------------------------------------------------- fit
    def fit(self, recording):
        """Encoders of a new subject's units from its (image, response) pairs, with no gradient step.

        Parameters
        ----------
        recording : Recording
            The context: trials of the new subject (repeats averaged) on
            stimuli of ``features``.

        Returns
        -------
        self
        """
        torch = require("torch", purpose="InContextEncoder")
        from sklearn.linear_model import LinearRegression

        check_is_fitted(self, "network_", msg="InContextEncoder needs a meta-trained network: call "
                        "pretrain(training_recordings) or InContextEncoder.load(fname) before fit().")
        check_type("recording", recording, Recording)
        avg = recording.average_repeats()
        if avg.n_trials < 2:
            raise ValueError(f"Invalid value for `recording`: expected at least 2 context stimuli, got "
                             f"{avg.n_trials}.")
        ids = list(avg.stimulus_ids)
        X = torch.as_tensor(self._embed(ids), device=self.device_)
        Y = np.asarray(avg.responses, dtype=np.float64)
        mu, sd = Y.mean(0), Y.std(0, ddof=1)
        sd = np.where(sd > 0, sd, 1.0)
        Yz = torch.as_tensor(((Y - mu) / sd).T, dtype=torch.float32, device=self.device_)
        omegas = []
        with torch.no_grad():
            for s in range(0, Yz.shape[0], 256):
                y = Yz[s:s + 256]
                omegas.append(self.network_(X.expand(y.shape[0], -1, -1), y).cpu().numpy())
        omega = np.concatenate(omegas).astype(np.float64)  # (n_units, E + 1), standardised units
        E = X.shape[1]
        w = omega[:, :-1] / (self.feature_scale_ * math.sqrt(E))  # (n_units, n_features) raw
        self.coef_ = (w * sd[:, None]).T
        self.intercept_ = mu + sd * (omega[:, -1] - w @ self.feature_mean_)
        est = LinearRegression()
        est.coef_, est.intercept_ = self.coef_.T.copy(), self.intercept_.copy()
        est.n_features_in_ = self.coef_.shape[0]
        self.estimator_ = est
        self.units_ = recording.units.copy()
        self.subject_ = recording.subject
        self.n_context_ = len(ids)
        return self

    def predict(self, stimulus_ids):
        """Predicted responses (n, n_units) of stimuli of ``features``."""
        check_is_fitted(self, "coef_")
        X = np.asarray(self.features.for_ids([str(i) for i in stimulus_ids]), dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    def linear_readout(self):
        """The predicted linear encoders, in the form of ``VoxelwiseEncoder.linear_readout``.

        Returns
        -------
        readout : dict
            ``coef`` (n_features, n_units), ``intercept`` (n_units,),
            ``feature_mean`` (zeros), ``feature_scale`` (ones),
            ``space_names``, ``space_sizes``.
        """
        check_is_fitted(self, "coef_")
        p = self.coef_.shape[0]
        return {"coef": self.coef_.copy(), "intercept": self.intercept_.copy(),
                "feature_mean": np.zeros(p), "feature_scale": np.ones(p),
                "space_names": [self.features.name], "space_sizes": [p]}

    def score(self, recording):
        """Held-out R^2 of repeat-averaged responses, uniform average over units."""
        from sklearn.metrics import r2_score

        check_is_fitted(self, "coef_")
        avg = check_recording_units(recording, self.units_, "InContextEncoder")
        return float(r2_score(avg.responses, self.predict(avg.stimulus_ids)))

    def evaluate(self, recording):
        """Per-unit held-out scores (``r``, ``r2``, noise ceiling, ``normalized``), as
        :meth:`AttentionRoutingEncoder.evaluate`."""
        check_is_fitted(self, "coef_")
        avg = check_recording_units(recording, self.units_, "InContextEncoder")
        return evaluate_units(recording, avg, self.predict(avg.stimulus_ids), self.units_, self.subject_,
                              "InContextEncoder")

    def n_parameters(self):
        """Number of parameters of the set transformer."""
        check_is_fitted(self, "network_")
        return int(sum(p.numel() for p in self.network_.parameters()))

    # -------------------------------------------------------------- save/load
    def save(self, fname, overwrite=False):
        """Save the meta-trained network (arrays in a checksummed HDF5 file, no pickle).

        ``features`` are not saved: pass them to :meth:`load`.
        """
        from pathlib import Path

        from .._utils.safe_io import save_object

        check_is_fitted(self, "network_")
        fname = Path(fname)
        if fname.exists() and not overwrite:
            raise FileExistsError(f"Invalid value for `fname`: '{fname}' exists; pass overwrite=True.")
        params = {k: v for k, v in self.get_params().items() if k != "features"}
        params["device"] = str(params["device"])
        params["context_size"] = list(params["context_size"])
        params["synthetic_steps"] = list(params["synthetic_steps"])
        state = {"feature_mean_": self.feature_mean_, "feature_scale_": self.feature_scale_,
                 "sizes_": dict(self.sizes_), "history_": [dict(h) for h in self.history_]}
        return save_object(fname, "InContextEncoder", _FORMAT_VERSION,
                           {"params": params, "state": state,
                            "network": state_to_arrays(self.network_.state_dict())})

    @classmethod
    def load(cls, fname, features, device="auto"):
        """Load a meta-trained encoder saved with :meth:`save`; ``features`` as at training."""
        from .._utils.safe_io import load_object

        tree, _ = load_object(fname, "InContextEncoder", _FORMAT_VERSION)
        params = dict(tree["params"], device=device)
        params["context_size"] = tuple(params["context_size"])
        params["synthetic_steps"] = tuple(params["synthetic_steps"])
        enc = cls(features=features, **params)
        enc.__dict__.update(tree["state"])
        enc.history_ = TrainingHistory(enc.history_)
        enc.device_ = resolve_device(device, purpose="InContextEncoder")
        net = build_in_context_network(dropout=float(enc.dropout), **enc.sizes_)
        net.load_state_dict(arrays_to_state(tree["network"]))
        enc.network_ = net.to(enc.device_).eval()
        return enc
