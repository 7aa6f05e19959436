"""Simulated sEEG with planted multimodal, unimodal and noise electrodes under two event alignments.

Ground truth for the multimodal-integration test of Subramaniam et al. (2024,
ICML, "Revealing vision-language integration in the brain with multimodal
networks"): every event shows one image and one text. A *multimodal*
electrode is driven by an image-text *interaction* feature (an elementwise
product of an image and a text projection), which no linear combination of
unimodal features can express; a *unimodal* electrode by image or text
features only; a *noise* electrode by nothing. Some electrodes can be
multimodal under one alignment only (not multimodal sites: the test requires
both alignments).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.random import check_random_state
from .._utils.validation import check_int, check_type

__all__ = ["MultimodalSEEG", "simulate_multimodal_seeg"]

_TYPES = ("multimodal", "image", "text", "noise", "multimodal_one_alignment")


@dataclass
class MultimodalSEEG:
    """Output of :func:`simulate_multimodal_seeg`.

    Attributes
    ----------
    recordings : dict of str -> Recording
        One per alignment (``"language"``, ``"vision"``): responses (n_events,
        n_electrodes * n_bins), units = (electrode, bin) pairs with columns
        ``channel``, ``bin``, ``tmin``, ``tmax``, ``roi``, ``x``, ``y``, ``z``,
        ``hemisphere``, ``ch_type``.
    features : dict of str -> dict of str -> array (n_events, n_features)
        Per alignment, the feature spaces ``"multimodal"``, ``"image"``,
        ``"text"``, ``"concat"`` (image and text side by side: the linearly
        integrated baseline) and ``"random"`` (a random-initialisation control:
        random nonlinear features of image and text).
    truth : pandas.DataFrame
        One row per electrode (index = channel): ``type`` per alignment
        (``type_language``, ``type_vision``), ``multimodal`` (the site is
        multimodal under every alignment), ``peak_bin``, ``x``, ``y``, ``z``.
    true_scores : dict of str -> array (n_units,)
        Population Pearson r between the noise-free response and the response
        of each unit (0 where there is no signal).
    signals : dict of str -> array (n_events, n_units)
        Noise-free responses.
    """

    recordings: dict
    features: dict
    truth: pd.DataFrame
    true_scores: dict
    signals: dict
    meta: dict = field(default_factory=dict)

    def __repr__(self):
        rec = next(iter(self.recordings.values()))
        n_mm = int(self.truth["multimodal"].sum())
        return (f"MultimodalSEEG({len(self.recordings)} alignments, {rec.responses.shape[0]} "
                f"events, {len(self.truth)} electrodes ({n_mm} multimodal) x "
                f"{self.meta['n_bins']} bins)")


def _standardize(A):
    return (A - A.mean(0)) / A.std(0)


@fill_doc
def simulate_multimodal_seeg(n_events=400, n_electrodes=40, n_bins=12, n_multimodal=8,
                             n_image=8, n_text=8, n_one_alignment=4, n_latent=8, n_features=24,
                             peak_r=0.6, response_width=4, bin_width=0.2,
                             alignments=("language", "vision"), random_state=None):
    """Simulated sEEG with planted multimodal electrodes under two event alignments.

    For each alignment, every event has an image latent ``v`` and a text
    latent ``s`` (n_latent each, standard normal) and an interaction
    ``z = (v A) * (s B)`` (standardised). Feature spaces are noisy random
    mixtures: multimodal of ``[v, s, z]``, image of ``v``, text of ``s``,
    concat = [image, text], random = ``tanh`` of random projections of
    ``[v, s]`` (odd, so it carries no interaction). Electrode responses in
    each bin: a bump over ``response_width`` bins around a peak bin times a
    fixed linear read-out of the electrode's drive (``z`` plus weaker ``v``
    and ``s`` for multimodal; ``v`` or ``s`` for unimodal; unit population
    variance), plus unit-variance noise, with the gain set so that the peak
    bin's population Pearson r between signal and response is ``peak_r``.

    Parameters
    ----------
    n_events : int
        Events per alignment.
    n_electrodes : int
        Total electrodes; those not planted are noise.
    n_bins : int
        Time bins per event (units = electrodes x bins).
    n_multimodal, n_image, n_text : int
        Electrodes of each kind (the same under every alignment).
    n_one_alignment : int
        Electrodes multimodal under the first alignment and image-driven under
        the others (null sites for the both-alignments test).
    n_latent : int
        Dimension of the image, text and interaction latents.
    n_features : int
        Columns of each unimodal and multimodal feature space.
    peak_r : float in (0, 1)
        True Pearson r of a responsive electrode at its peak bin.
    response_width : int
        Bins on each side of the peak with signal (a Gaussian bump).
    bin_width : float
        Seconds per bin (``tmin``/``tmax`` of the units).
    alignments : tuple of str
        Alignment names (at least 1).
    %(random_state)s

    Returns
    -------
    sim : MultimodalSEEG
    """
    from ..data import Recording

    n_events = check_int("n_events", n_events, min_value=10)
    n_bins = check_int("n_bins", n_bins, min_value=1)
    counts = {k: check_int(k, v, min_value=0) for k, v in dict(
        n_multimodal=n_multimodal, n_image=n_image, n_text=n_text,
        n_one_alignment=n_one_alignment).items()}
    n_electrodes = check_int("n_electrodes", n_electrodes, min_value=sum(counts.values()))
    if not 0 < peak_r < 1:
        raise ValueError(f"Invalid value for `peak_r`: expected a number in (0, 1), got {peak_r!r}.")
    check_type("alignments", alignments, (tuple, list))
    if len(alignments) < 1 or len(set(alignments)) != len(alignments):
        raise ValueError(f"Invalid value for `alignments`: expected distinct names, got {alignments!r}.")
    rng = check_random_state(random_state)
    d, p = check_int("n_latent", n_latent, min_value=1), check_int("n_features", n_features, min_value=1)

    # electrode identities, positions, tuning (shared across alignments)
    kinds = (["multimodal"] * counts["n_multimodal"] + ["image"] * counts["n_image"]
             + ["text"] * counts["n_text"] + ["multimodal_one_alignment"] * counts["n_one_alignment"])
    kinds += ["noise"] * (n_electrodes - len(kinds))
    kinds = np.asarray(kinds, dtype=object)[rng.permutation(n_electrodes)]
    names = [f"E{k:03d}" for k in range(n_electrodes)]
    xyz = np.c_[rng.uniform(-65, 65, n_electrodes), rng.uniform(-95, 15, n_electrodes),
                rng.uniform(-35, 35, n_electrodes)]
    peak = rng.integers(0, n_bins, n_electrodes)
    w = {key: rng.normal(size=(d, n_electrodes)) / np.sqrt(d) for key in ("v", "s", "z")}
    A, Bm = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    mix = {"multimodal": rng.normal(size=(3 * d, p)), "image": rng.normal(size=(d, p)),
           "text": rng.normal(size=(d, p)), "random": rng.normal(size=(2 * d, p))}
    # covariance of z = (v A) * (s B) / norms: E[z_i z_j] = (A'A)_ij (B'B)_ij / (|A_i||A_j||B_i||B_j|)
    norm = np.sqrt((A**2).sum(0) * (Bm**2).sum(0))
    cov_z = (A.T @ A) * (Bm.T @ Bm) / np.outer(norm, norm)
    bins = np.arange(n_bins)
    profile = np.exp(-0.5 * ((bins[None] - peak[:, None]) / max(response_width / 2, 0.5)) ** 2)
    profile[np.abs(bins[None] - peak[:, None]) > response_width] = 0.0  # (n_el, n_bins)

    recordings, features, true_scores, signals, types = {}, {}, {}, {}, {}
    for a_idx, align in enumerate(alignments):
        v, s = rng.normal(size=(n_events, d)), rng.normal(size=(n_events, d))
        # population standardisation (not per sample): true scores are population values
        z = (v @ A) * (s @ Bm) / norm
        kind_here = np.where((kinds == "multimodal_one_alignment") & (a_idx > 0), "image",
                             np.where(kinds == "multimodal_one_alignment", "multimodal", kinds))
        types[align] = kind_here
        drive = np.zeros((n_events, n_electrodes))
        for e, kind in enumerate(kind_here):
            if kind == "multimodal":
                drive[:, e] = z @ w["z"][:, e] + 0.3 * (v @ w["v"][:, e] + s @ w["s"][:, e])
            elif kind == "image":
                drive[:, e] = v @ w["v"][:, e]
            elif kind == "text":
                drive[:, e] = s @ w["s"][:, e]
        pop_var = np.select(
            [kind_here == "multimodal", kind_here == "image", kind_here == "text"],
            [np.einsum("ie,ij,je->e", w["z"], cov_z, w["z"])
             + 0.09 * ((w["v"] ** 2).sum(0) + (w["s"] ** 2).sum(0)),
             (w["v"] ** 2).sum(0), (w["s"] ** 2).sum(0)], 1.0)
        drive = drive / np.sqrt(pop_var)  # unit population variance
        gain = peak_r / np.sqrt(1 - peak_r**2)  # unit-variance drive: r = g / sqrt(g^2 + 1)
        signal = (drive[:, :, None] * (gain * profile)[None]).reshape(n_events, -1)
        amp = (gain * profile).ravel() * (kind_here != "noise").repeat(n_bins)
        true_scores[align] = amp / np.sqrt(amp**2 + 1)
        signals[align] = signal
        Y = signal + rng.normal(size=signal.shape)

        def noisy(M, weights, noise=0.1):
            F = M @ weights
            return _standardize(F + noise * F.std(0) * rng.normal(size=F.shape))

        img, txt = noisy(v, mix["image"]), noisy(s, mix["text"])
        features[align] = {
            "multimodal": noisy(np.c_[v, s, z], mix["multimodal"]),
            "image": img,
            "text": txt,
            "concat": np.c_[img, txt],
            "random": _standardize(np.tanh(np.c_[v, s] @ mix["random"] / np.sqrt(2 * d))),
        }
        unit_names = [f"{n}@bin{b:02d}" for n in names for b in bins]
        units = pd.DataFrame({
            "channel": np.repeat(names, n_bins), "bin": np.tile(bins, n_electrodes),
            "tmin": np.tile(bins * bin_width, n_electrodes),
            "tmax": np.tile((bins + 1) * bin_width, n_electrodes),
            "roi": np.repeat(np.where(xyz[:, 1] < -50, "occipital", "temporal"), n_bins),
            "x": np.repeat(xyz[:, 0], n_bins), "y": np.repeat(xyz[:, 1], n_bins),
            "z": np.repeat(xyz[:, 2], n_bins),
            "hemisphere": np.repeat(np.where(xyz[:, 0] < 0, "left", "right"), n_bins),
            "ch_type": "seeg",
        }, index=pd.Index(unit_names, name="unit"))
        recordings[align] = Recording(
            Y, [f"{align}-ev{k:04d}" for k in range(n_events)], units=units,
            subject="sub-sim", modality="seeg", space="MNI152",
            meta={"simulation": "simulate_multimodal_seeg", "alignment": align},
        )

    truth = pd.DataFrame({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "peak_bin": peak},
                         index=pd.Index(names, name="channel"))
    for align in alignments:
        truth[f"type_{align}"] = types[align]
    truth["multimodal"] = np.all([types[a] == "multimodal" for a in alignments], axis=0)
    meta = dict(n_bins=n_bins, n_events=n_events, alignments=tuple(alignments), peak_r=peak_r,
                bin_width=bin_width)
    return MultimodalSEEG(recordings, features, truth, true_scores, signals, meta)
