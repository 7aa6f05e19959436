"""Evaluating synthesized preferred images (BrainDiVE, Luo et al. 2023; feature
visualization, Olah et al. 2017).

- :func:`predicted_activation` / :func:`compare_to_natural`: the objective on
  synthesized images against the natural images of a stimulus set (the
  synthesized ones should beat the best natural image). Pass a *held-out*
  objective (another feature space or seed) to detect adversarial images.
- :func:`zero_shot_category` / :func:`category_specificity`: CLIP zero-shot
  classification ("a photo of a {face, place, body, word, food}"), the
  BrainDiVE semantic-specificity measure.
- :class:`GroundTruthJudge`: for simulated subjects, what the simulator's
  ground truth says about a *novel* image.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._utils.device import resolve_device
from ..._utils.logging import logger, warn
from ..._utils.optional import require
from ..._utils.validation import check_int, describe

__all__ = [
    "GroundTruthJudge",
    "NaturalComparison",
    "category_specificity",
    "compare_to_natural",
    "images_to_float",
    "predicted_activation",
    "zero_shot_category",
]

BRAINDIVE_CATEGORIES = ("face", "place", "body", "word", "food")


def images_to_float(images, size=None):
    """Images as a float32 array (n, 3, H, W) in [0, 1].

    Parameters
    ----------
    images : StimulusSet | array | torch.Tensor | list of arrays | SynthesisResult
        uint8 (n, H, W, 3) or (n, H, W), floats in [0, 1] (n, 3, H, W) or
        (n, H, W, 3), a list of such images (same size), a StimulusSet (read
        at ``size``) or a :class:`SynthesisResult`.
    size : int | None
        Square size for a StimulusSet (None: the images' own size, which must
        agree).

    Returns
    -------
    array (n, 3, H, W), float32
    """
    if hasattr(images, "scores") and hasattr(images, "images"):  # SynthesisResult
        images = images.images
    if hasattr(images, "load_images") and hasattr(images, "ids"):
        images = images.load_images(images.ids, size=size) if size else [images.load_image(i) for i in images.ids]
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    if isinstance(images, (list, tuple)):
        shapes = {np.shape(im) for im in images}
        if len(shapes) != 1:
            raise ValueError(
                f"Invalid value for `images`: expected images of one size, got shapes {sorted(shapes)[:3]}; "
                "pass `size` or resize them first."
            )
        images = np.stack([np.asarray(im) for im in images])
    arr = np.asarray(images)
    scale = 255.0 if arr.dtype == np.uint8 else 1.0
    if arr.ndim == 3:
        arr = np.repeat(arr[:, None], 3, axis=1)
    elif arr.ndim == 4 and arr.shape[1] != 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].transpose(0, 3, 1, 2)
    if arr.ndim != 4 or arr.shape[1] != 3:
        raise ValueError(
            "Invalid value for `images`: expected (n, 3, H, W) floats in [0, 1] or (n, H, W, 3) "
            f"images, got {describe(arr)}."
        )
    return (arr.astype(np.float32) / np.float32(scale))


def predicted_activation(objective, images, batch_size=32, size=None, device="auto"):
    """The objective on a batch of images, without gradients.

    Parameters
    ----------
    objective : callable
        ``objective(images) -> (B,)`` (e.g. :class:`EncoderObjective`), or any
        callable of images returning (B, n_units) (e.g. ``objective.predict``).
    images : see :func:`images_to_float`
    batch_size : int
    size : int | None
        Size to read a StimulusSet at.
    device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device, default="auto"
        Where to put the images. "auto" uses the objective's ``device``
        attribute when it has one, else CUDA when available, else the CPU.

    Returns
    -------
    scores : array (n_images,) or (n_images, n_units)
    """
    torch = require("torch", purpose="predicted_activation")
    bs = check_int("batch_size", batch_size, min_value=1)
    x = images_to_float(images, size=size)
    if (device is None or (isinstance(device, str) and device == "auto")) and \
            getattr(objective, "device", None) is not None:
        device = objective.device
    device = resolve_device(device, purpose="predicted_activation")
    out = []
    with torch.no_grad():
        for start in range(0, len(x), bs):
            batch = torch.as_tensor(x[start:start + bs], device=device)
            out.append(objective(batch).detach().float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


@dataclass(repr=False)
class NaturalComparison:
    """The result of :func:`compare_to_natural`.

    Attributes
    ----------
    table : pandas.DataFrame
        The synthesized images and the ``top_k`` best natural ones, best
        first: ``source`` ("synthesized" | "natural"), ``id`` (image index or
        stimulus id), ``score``, ``rank`` (1 = best among all natural and
        synthesized images), ``vs_best_natural`` (score minus the best natural
        score) and ``percentile`` (share of natural images scored below).
    summary : dict
        ``best_natural`` (best natural score), ``fraction_above_best_natural``
        (share of synthesized images above it), ``synthesized_mean``,
        ``synthesized_sd`` and ``n_natural``.
    """

    table: pd.DataFrame
    summary: dict

    def __repr__(self):
        items = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in self.summary.items())
        return f"NaturalComparison({items}; table of {len(self.table)} rows)"

    @property
    def attrs(self):
        """Deprecated: use :attr:`summary`."""
        warn("`compare_to_natural(...).attrs` is deprecated and will be removed in the next "
             "release: the function returns a NaturalComparison; use `.summary` (and `.table` "
             "for the rows).", FutureWarning)
        return self.summary

    def __getitem__(self, key):
        warn("Indexing the result of `compare_to_natural` is deprecated and will be removed in "
             "the next release: use `.table[...]`.", FutureWarning)
        return self.table[key]


def compare_to_natural(objective, images, stimuli, top_k=5, size=None, batch_size=32):
    """Objective of synthesized images against the natural images of a stimulus set.

    Parameters
    ----------
    objective : callable
        ``objective(images) -> (B,)``; use the optimised one and a held-out one.
    images : see :func:`images_to_float`
        Synthesized images (a :class:`SynthesisResult` works).
    stimuli : StimulusSet | array
        Natural images.
    top_k : int
        Natural images kept in the table (best first).
    size : int | None
        Size to read the StimulusSet at (None: native size).
    batch_size : int

    Returns
    -------
    comparison : NaturalComparison
        ``.table``: the synthesized images and the ``top_k`` best natural
        ones, best first, with ``source``, ``id``, ``score``, ``rank``,
        ``vs_best_natural`` and ``percentile``; ``.summary``: ``best_natural``,
        ``fraction_above_best_natural``, ``synthesized_mean``,
        ``synthesized_sd``, ``n_natural``.
    """
    top_k = check_int("top_k", top_k, min_value=0)
    syn = predicted_activation(objective, images, batch_size=batch_size)
    nat = predicted_activation(objective, stimuli, batch_size=batch_size, size=size)
    if syn.ndim != 1 or nat.ndim != 1:
        raise ValueError(
            "Invalid value for `objective`: expected it to return one score per image (B,), got "
            f"shape {syn.shape[1:]} per image."
        )
    ids = list(stimuli.ids) if hasattr(stimuli, "ids") else [str(i) for i in range(len(nat))]
    table = pd.concat([
        pd.DataFrame({"source": "synthesized", "id": [str(i) for i in range(len(syn))], "score": syn}),
        pd.DataFrame({"source": "natural", "id": ids, "score": nat}),
    ], ignore_index=True)
    table["rank"] = table["score"].rank(ascending=False, method="min").astype(int)
    best = float(nat.max())
    table["vs_best_natural"] = table["score"] - best
    table["percentile"] = [100.0 * float(np.mean(nat < s)) for s in table["score"]]
    table = table.sort_values("score", ascending=False, kind="stable")
    keep = (table["source"] == "synthesized") | table["id"].isin(
        table.loc[table["source"] == "natural", "id"].iloc[:top_k])
    table = table[keep].reset_index(drop=True)
    summary = dict(best_natural=best, fraction_above_best_natural=float(np.mean(syn > best)),
                   synthesized_mean=float(syn.mean()), synthesized_sd=float(syn.std()),
                   n_natural=len(nat))
    return NaturalComparison(table, summary)


# ------------------------------------------------------------------ zero-shot CLIP
def zero_shot_category(images, backbone, categories=BRAINDIVE_CATEGORIES, template="a photo of a {}.",
                       batch_size=32, temperature=100.0):
    """CLIP zero-shot classification of images into categories (BrainDiVE's specificity test).

    Parameters
    ----------
    images : see :func:`images_to_float`
    backbone : Backbone | str
        An image+text backbone, e.g.
        ``get_backbone("open_clip:ViT-B-16", pretrained="laion2b_s34b_b88k")``
        (the name is passed to :func:`~neurotoolkit.features.get_backbone`,
        which says what to download when the weights are missing).
    categories : sequence of str
        Default: face, place, body, word, food.
    template : str
        Prompt with one ``{}`` for the category.
    batch_size : int
    temperature : float
        Logit scale applied to cosine similarities (CLIP's 100).

    Returns
    -------
    table : pandas.DataFrame, shape (n_images, n_categories + 1)
        Softmax probability of each category and ``category`` (argmax).
    """
    torch = require("torch", purpose="zero_shot_category")
    from ...features import get_backbone

    backbone = get_backbone(backbone)
    if "text" not in backbone.modality or "image" not in backbone.modality:
        raise ValueError(
            f"Invalid value for `backbone`: expected an image+text model such as open_clip, got "
            f"{backbone.name!r} ({backbone.modality})."
        )
    categories = [str(c) for c in categories]
    if len(categories) < 2:
        raise ValueError(f"Invalid value for `categories`: expected at least two, got {categories}.")
    if "{}" not in template:
        raise ValueError(f"Invalid value for `template`: expected a string with '{{}}', got {template!r}.")
    x = images_to_float(images)
    bs = check_int("batch_size", batch_size, min_value=1)
    with torch.no_grad():
        text = backbone.forward_features([template.format(c) for c in categories], layers="embedding",
                                         normalize=True)["embedding"].float()
        probs = []
        for start in range(0, len(x), bs):
            batch = backbone.preprocess_tensor(torch.as_tensor(x[start:start + bs]))
            emb = backbone.forward_features(batch, layers="embedding", normalize=True)["embedding"]
            logits = float(temperature) * emb.float() @ text.T
            probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
    table = pd.DataFrame(np.concatenate(probs), columns=categories)
    table["category"] = np.asarray(categories)[table[categories].to_numpy().argmax(axis=1)]
    return table


def category_specificity(labels, target):
    """Fraction of images assigned to ``target`` (BrainDiVE Table 1).

    Parameters
    ----------
    labels : sequence of str | pandas.DataFrame
        Predicted categories, or a table with a ``category`` column (from
        :func:`zero_shot_category` or :meth:`GroundTruthJudge.evaluate`).
    target : str

    Returns
    -------
    float
    """
    if isinstance(labels, pd.DataFrame):
        if "category" not in labels.columns:
            raise ValueError("Invalid value for `labels`: expected a table with a 'category' column.")
        labels = labels["category"]
    labels = np.asarray(labels, dtype=object)
    if labels.size == 0:
        raise ValueError("Invalid value for `labels`: expected at least one label, got none.")
    return float(np.mean(labels == str(target)))


# ------------------------------------------------------------------ simulator truth
class GroundTruthJudge:
    """What a simulator's ground truth says about novel (synthesized) images.

    The simulated response of unit ``u`` to stimulus ``i`` is
    ``intercept_u + g_i @ W_u + c_i @ C_u`` (see
    :class:`~neurotoolkit.simulation.GroundTruth`): ``g_i`` are the Gabor-energy
    features of the image (computable for any image) and ``c_i`` its category
    labels (known only for the stimulus set). For a novel image the
    category term needs labels, so the judge estimates them honestly: a
    logistic-regression probe per category column, fit on the Gabor features
    of the *natural* stimuli (the simulator's own feature space), gives
    ``p(category | image)``. The judge reports

    - ``p_<category>``: the probe's probability (``category``: the most
      probable driver category among those given);
    - ``truth_gabor``: the Gabor part ``intercept + g @ W`` averaged over the
      ROI's units (exact: no labels needed);
    - ``truth``: the full response with ``c`` replaced by the probe's
      probabilities (an estimate).

    The probe's cross-validated accuracy on the natural images
    (``probe_accuracy_``) says how far to trust ``p_<category>``.

    Parameters
    ----------
    truth : GroundTruth
        ``simulate_recordings(...).truth``.
    subject : int | str
        Index or label of the simulated subject.
    C : float
        Inverse L2 penalty of the logistic probes (features standardized).
    cv : int
        Folds for ``probe_accuracy_``.
    random_state : int | None

    Attributes
    ----------
    probes_ : dict str -> sklearn Pipeline
    probe_accuracy_ : pandas.Series
        Cross-validated balanced accuracy per category.
    """

    def __init__(self, truth, subject=0, C=1.0, cv=5, random_state=0):
        self.truth = truth
        self.subject = subject
        self.C = C
        self.cv = cv
        self.random_state = random_state

    def fit(self):
        """Fit the category probes on the natural stimuli's features; returns self."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        truth = self.truth
        for attr in ("features", "categories", "category_names", "weights", "gabor"):
            if not hasattr(truth, attr):
                raise TypeError(
                    f"Invalid value for `truth`: expected a GroundTruth (simulate_recordings(...).truth), "
                    f"got {describe(truth)}."
                )
        self.subject_ = self._subject_index()
        X = np.asarray(truth.features, dtype=np.float64)
        self.probes_, acc = {}, {}
        for k, name in enumerate(truth.category_names):
            y = np.asarray(truth.categories[:, k]) > 0.5
            if y.all() or not y.any():
                continue
            logit = LogisticRegression(C=float(self.C), solver="liblinear", max_iter=2000,
                                       class_weight="balanced")
            probe = make_pipeline(StandardScaler(), logit)
            n_splits = int(min(self.cv, y.sum(), (~y).sum()))
            if n_splits >= 2:
                folds = StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
                acc[name] = float(cross_val_score(probe, X, y, cv=folds, scoring="balanced_accuracy").mean())
            self.probes_[name] = probe.fit(X, y)
        self.probe_accuracy_ = pd.Series(acc, name="balanced_accuracy", dtype=float)
        logger.info("Ground-truth category probes: %s", self.probe_accuracy_.round(2).to_dict())
        return self

    def _subject_index(self):
        subjects = list(self.truth.subjects)
        if isinstance(self.subject, str):
            if self.subject not in subjects:
                raise ValueError(f"Invalid value for `subject`: expected one of {subjects}, got {self.subject!r}.")
            return subjects.index(self.subject)
        idx = check_int("subject", self.subject, min_value=0, max_value=len(subjects) - 1)
        return idx

    def _check_fitted(self):
        if not hasattr(self, "probes_"):
            self.fit()

    def features(self, images):
        """The simulator's Gabor features (n_images, n_features) of any images."""
        from ...features._gabor_core import check_gabor_params, gabor_features

        params = dict(self.truth.gabor)
        output = params.pop("output", "energy")
        if hasattr(images, "load_images") and hasattr(images, "ids"):
            x = images  # read as the simulator reads it (resized on loading)
        else:
            x = images_to_float(images).transpose(0, 2, 3, 1)
        gabor = check_gabor_params(output=output, **params)
        return gabor_features(x, *gabor, output=output).astype(np.float64)

    def category_probabilities(self, images=None, features=None):
        """``p(category | image)`` (n_images, n_categories) from the probes."""
        self._check_fitted()
        X = self.features(images) if features is None else np.asarray(features, dtype=np.float64)
        return pd.DataFrame({name: probe.predict_proba(X)[:, 1] for name, probe in self.probes_.items()})

    def responses(self, images=None, features=None):
        """(gabor part, full estimate), each (n_images, n_units), for the subject's units."""
        self._check_fitted()
        s = self.subject_
        X = self.features(images) if features is None else np.asarray(features, dtype=np.float64)
        gabor = self.truth.intercepts[s] + X @ self.truth.weights[s]
        probs = self.category_probabilities(features=X)
        C = np.zeros((len(X), len(self.truth.category_names)))
        for k, name in enumerate(self.truth.category_names):
            if name in probs:
                C[:, k] = probs[name].to_numpy()
            else:  # constant column: its value for every natural image
                C[:, k] = self.truth.categories[0, k]
        return gabor, gabor + C @ self.truth.category_weights[s]

    def _roi_mask(self, roi):
        rois = self.truth.units[self.subject_]["roi"].astype(str).to_numpy()
        labels = [roi] if isinstance(roi, str) else list(roi)
        mask = np.isin(rois, labels)
        if not mask.any():
            raise ValueError(
                f"Invalid value for `roi`: expected ROI names among {sorted(set(rois))}, got {roi!r}."
            )
        return mask

    def evaluate(self, images, roi, categories=None):
        """Per-image ground-truth verdict for an ROI.

        Parameters
        ----------
        images : see :func:`images_to_float`
        roi : str | list of str
            ROI whose (mean) response is reported.
        categories : list of str | None
            Categories competing for the ``category`` column (default: the
            columns that drive an ROI in ``truth.drivers``, else all).

        Returns
        -------
        table : pandas.DataFrame, one row per image
            ``p_<category>`` for every probed category, ``category``,
            ``truth_gabor`` and ``truth`` (mean over the ROI's units).
        """
        self._check_fitted()
        X = self.features(images)
        probs = self.category_probabilities(features=X)
        gabor, full = self.responses(features=X)
        mask = self._roi_mask(roi)
        if categories is None:
            drivers = [d for d in self.truth.drivers.values() if d in probs.columns]
            categories = list(dict.fromkeys(drivers)) or list(probs.columns)
        missing = [c for c in categories if c not in probs.columns]
        if missing:
            raise ValueError(
                f"Invalid value for `categories`: expected names among {list(probs.columns)}, got {missing}."
            )
        table = probs.add_prefix("p_")
        table["category"] = np.asarray(categories)[probs[categories].to_numpy().argmax(axis=1)]
        table["truth_gabor"] = gabor[:, mask].mean(axis=1)
        table["truth"] = full[:, mask].mean(axis=1)
        return table
