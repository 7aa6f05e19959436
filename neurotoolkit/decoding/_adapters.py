"""Subject adapters: each subject's voxels into one shared latent (MindEye2, Scotti
et al., ICML 2024; MindBridge, Wang et al., CVPR 2024).

Two kinds:

- ``"linear"`` (MindEye2): one ``Linear(n_voxels_s, latent_dim)`` per subject,
  trained end to end; weight decay is its only shrinkage.
- ``"pool"`` (MindBridge's fixed-size input): ``AdaptiveMaxPool1d(latent_dim)``
  (or average pooling) over the flattened voxel vector, with no parameters and
  no anatomical correspondence, followed by a per-subject element-wise scale
  and shift (``2 * latent_dim`` parameters, initialised to the identity) so
  that a new subject can still be calibrated by :meth:`CrossSubjectDecoder.adapt`.

:class:`SubjectAdapters` is a light specification (no torch at construction);
the torch modules are built by :meth:`SubjectAdapters.build_module`.
"""

from sklearn.base import BaseEstimator

from .._utils.optional import require
from .._utils.validation import check_fraction, check_int, check_option

__all__ = ["SubjectAdapters"]


class SubjectAdapters(BaseEstimator):
    """One map per subject from its voxels to a shared latent.

    Parameters
    ----------
    kind : {"linear", "pool"}
        "linear": ``Linear(n_voxels, latent_dim)`` per subject (MindEye2).
        "pool": parameter-free adaptive pooling of the voxel vector to
        ``latent_dim`` values (MindBridge), then a per-subject element-wise
        affine map initialised to the identity.
    latent_dim : int
        Size of the shared latent.
    pool : {"max", "avg"}
        Pooling of ``kind="pool"``.
    dropout : float in [0, 1)
        Dropout on the latent, during training only.

    Notes
    -----
    The object only describes the adapters; :class:`CrossSubjectDecoder`
    builds one module per subject (``build_module(n_voxels)``) and keeps them
    in its ``model_``.

    Examples
    --------
    >>> from neurotoolkit.decoding import SubjectAdapters
    >>> SubjectAdapters(kind="pool", latent_dim=128, pool="avg")
    SubjectAdapters(kind='pool', latent_dim=128, pool='avg')
    """

    def __init__(self, kind="linear", latent_dim=256, pool="max", dropout=0.0):
        self.kind = kind
        self.latent_dim = latent_dim
        self.pool = pool
        self.dropout = dropout

    def _validate(self):
        check_option("kind", self.kind, ("linear", "pool"))
        check_int("latent_dim", self.latent_dim, min_value=1)
        check_option("pool", self.pool, ("max", "avg"))
        check_fraction("dropout", self.dropout, inclusive=(True, False))

    def n_parameters(self, n_voxels):
        """Trainable parameters of one subject's adapter with ``n_voxels`` inputs."""
        self._validate()
        if self.kind == "linear":
            return (check_int("n_voxels", n_voxels, min_value=1) + 1) * self.latent_dim
        return 2 * self.latent_dim

    def build_module(self, n_voxels):
        """Torch module mapping (batch, n_voxels) to (batch, latent_dim)."""
        self._validate()
        n_voxels = check_int("n_voxels", n_voxels, min_value=1)
        torch = require("torch", "SubjectAdapters")
        nn = torch.nn
        if self.kind == "linear":
            return nn.Sequential(nn.Linear(n_voxels, self.latent_dim), nn.Dropout(self.dropout))
        return _PoolAdapter(n_voxels, self.latent_dim, self.pool, self.dropout)


def _PoolAdapter(n_voxels, latent_dim, pool, dropout):
    torch = require("torch", "SubjectAdapters")
    nn = torch.nn

    class PoolAdapter(nn.Module):
        """Adaptive pooling of the voxel vector, then an element-wise affine map."""

        def __init__(self):
            super().__init__()
            cls = nn.AdaptiveMaxPool1d if pool == "max" else nn.AdaptiveAvgPool1d
            self.n_voxels = n_voxels
            self.pooling = cls(latent_dim)
            self.scale = nn.Parameter(torch.ones(latent_dim))
            self.shift = nn.Parameter(torch.zeros(latent_dim))
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            z = self.pooling(x.unsqueeze(1)).squeeze(1)
            return self.drop(z * self.scale + self.shift)

    return PoolAdapter()
