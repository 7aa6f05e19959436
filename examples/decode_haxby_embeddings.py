"""Decode a semantic embedding of the Haxby (2001) categories from fMRI block betas.

A per-subject ridge decoder (``neurotoolkit.decoding.RidgeDecoder``) maps the
block betas of the 8 categories (face, house, cat, shoe, bottle, scissors,
chair, scrambled pictures) to an embedding of each category, in a
leave-one-run-out cross-validation (12 runs; the penalty is chosen inside
the 11 training runs, leaving one run out at a time). Each held-out run has
one block per category, so it is scored with 8-way retrieval (chance 1/8) and
2-way identification (chance 0.5); the table averages the 12 folds.

Embeddings:

- ``attributes`` (default, no download): a small hand-made table of semantic
  attributes (animate, human, animal, man-made, graspable, place, ...), in
  the spirit of Mitchell et al. (2008) feature vectors; see ``ATTRIBUTES``.
  Each dimension is z-scored across the 8 categories (``standardize_columns``).
  With no stimulus images and no CLIP weights offline, this is the embedding
  the example can always use.
- ``clip``: CLIP text embeddings of "a photo of a {category}" from open_clip
  (``--clip-model open_clip:ViT-B-32 --clip-pretrained openai``). The weights
  must be in open_clip's cache (``~/.cache/huggingface``) or passed as a local
  file with ``--clip-checkpoint``; without them ``get_backbone`` stops with a
  message naming what to download.

What it shows: with 8 categories, every category seen in training, any 8
distinct (centred) vectors form a code the decoder can learn, so above-chance
identification here means the responses carry category information, not that
the embedding's semantic structure is in the brain (a randomly initialised
CLIP text tower, ``--embedding clip --clip-pretrained none``, scores about the
same). Testing the structure needs held-out categories (train on 6, identify
the other 2: Mitchell et al.'s leave-two-out), which these 25-mm data do not
support (measured 12/28 pairs).

Measured (subject 1, 129 brain voxels, leave-one-run-out): 2-way 0.640
(200 within-run label permutations: mean 0.499, max 0.591, p = 0.005); 8-way
retrieval 0.198 (image) and 0.167 (brain) against chance 0.125 (p = 0.05 and
0.17). Holding out 3 runs and averaging their blocks (``--runs-per-fold 3``):
2-way 0.683 (p = 0.003), retrieval 0.281 both ways (p = 0.02).

Run: ``python examples/decode_haxby_embeddings.py`` (the data come from
``neurotoolkit.data.load_haxby()``: a local mirror named by ``NEUROTOOLKIT_DATA_MIRROR``, or a
1.3 MB download; ``--data FOLDER`` reads a copy with the same layout instead) (add ``--n-permutations 100`` for a permutation p-value: stimulus labels
shuffled within each run).
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from neurotoolkit.data import estimate_betas, load_fmri, load_haxby
from neurotoolkit.decoding import (
    RidgeDecoder,
    paired_responses,
    retrieval_accuracy,
    two_way_identification,
)
from neurotoolkit.features import FeatureSpace

CATEGORIES = ["face", "house", "cat", "shoe", "bottle", "scissors", "chair", "scrambledpix"]
# Hand-made semantic attributes (0 = no, 1 = yes, in between = partly); one column
# per category. Rows are attributes a person would judge from the category name.
ATTRIBUTES = pd.DataFrame(
    {
        #               face house cat shoe bottle scissors chair scrambled
        "animate":      [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "human":        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "has_face":     [1.0, 0.0, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0],
        "animal":       [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "man_made":     [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        "graspable":    [0.0, 0.0, 0.2, 0.7, 1.0, 1.0, 0.0, 0.0],
        "tool":         [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        "place":        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "furniture":    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        "wearable":     [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        "container":    [0.0, 1.0, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0],
        "large":        [0.2, 1.0, 0.2, 0.0, 0.0, 0.0, 0.6, 0.0],
        "rectilinear":  [0.0, 1.0, 0.0, 0.0, 0.2, 0.3, 0.8, 0.0],
        "curved":       [1.0, 0.0, 0.8, 0.6, 0.8, 0.2, 0.0, 0.0],
        "natural_image": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        "scrambled":    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    },
    index=CATEGORIES,
)
PROMPTS = {c: f"a photo of a {c}" for c in CATEGORIES}
PROMPTS["scrambledpix"] = "a photo of scrambled pixels"


def standardize_columns(features):
    """Z-score each embedding dimension across the categories.

    Ridge predictions shrink towards the mean embedding, and an uncentred
    embedding (all categories share "natural image", or CLIP's large common
    component) then makes every prediction most similar to the same
    category. Centring removes the shared part, so that cosine retrieval
    compares what differs between categories.
    """
    values = features.values.astype(np.float64)
    sd = values.std(axis=0)
    values = (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return FeatureSpace(values, features.stimulus_ids, features.name,
                        provenance={**features.provenance, "standardized": "across categories"},
                        feature_names=features.feature_names)


def attribute_embedding():
    """The 8 categories x 16 semantic attributes (z-scored across categories)."""
    raw = FeatureSpace(ATTRIBUTES.to_numpy(), ATTRIBUTES.index, "haxby-attributes",
                       provenance={"source": "hand-made attribute table (this example)"},
                       feature_names=ATTRIBUTES.columns)
    return standardize_columns(raw)


def clip_text_embedding(model="open_clip:ViT-B-32", pretrained="openai", checkpoint=None):
    """CLIP text embeddings of ``PROMPTS``, z-scored across categories (needs the weights)."""
    from neurotoolkit.features import get_backbone

    backbone = get_backbone(model, pretrained=pretrained, checkpoint=checkpoint, device="cpu")
    out = backbone.forward_features([PROMPTS[c] for c in CATEGORIES], layers=("embedding",),
                                    modality="text")
    values = out["embedding"].detach().float().cpu().numpy()
    return standardize_columns(FeatureSpace(
        values, CATEGORIES, f"{model}-text",
        provenance={"backbone": model, "pretrained": pretrained, "prompts": PROMPTS}))


def load_haxby_betas(folder=None):
    """Block betas (96 blocks x 129 brain voxels) of the 12 Haxby runs.

    ``folder``: a copy laid out as ``run-XX/bold.nii.gz``, ``run-XX/events.tsv``,
    ``masks/brain.nii.gz``; None fetches it with :func:`neurotoolkit.data.load_haxby`.
    """
    if folder is None:
        return estimate_betas(load_haxby(detrend=False).recording, method="blocks")
    folder = Path(folder)
    runs = sorted(folder.glob("run-*"))
    rec = load_fmri([r / "bold.nii.gz" for r in runs], mask=folder / "masks" / "brain.nii.gz",
                    events=[r / "events.tsv" for r in runs], runs=list(range(1, len(runs) + 1)))
    return estimate_betas(rec, method="blocks")


def decode_leave_runs_out(betas, features, alphas=None, runs_per_fold=1):
    """Cross-validated decoding, ``runs_per_fold`` runs held out at a time.

    The decoder is trained on single blocks of the other runs (penalty chosen
    by leave-one-run-out inside them); the held-out blocks of each category
    are averaged (the field averages test repeats, e.g. Scotti et al., MindEye2, ICML 2024), giving
    8 test samples per fold, scored with 8-way retrieval (both directions)
    and 2-way identification. Returns a tidy DataFrame, one row per
    (fold, metric).
    """
    runs = pd.unique(betas.runs)
    if len(runs) % runs_per_fold:
        raise ValueError(f"Invalid value for `runs_per_fold`: expected a divisor of the "
                         f"{len(runs)} runs, got {runs_per_fold}.")
    rows = []
    for fold, held in enumerate(np.split(runs, len(runs) // runs_per_fold)):
        test = np.isin(betas.runs, held)
        train_rec, test_rec = betas.select_trials(~test), betas.select_trials(test)
        X, Y, _ = paired_responses(train_rec, features, average_repeats=False)
        Xt, Yt, _ = paired_responses(test_rec, features, average_repeats=True)
        decoder = RidgeDecoder(alphas=alphas, cv="runs").fit(X, Y, groups=train_rec.runs)
        pred = decoder.predict(Xt)
        ret = retrieval_accuracy(pred, Yt, n_way="all")
        alpha = float(decoder.best_alphas_[0])  # one shared alpha (alpha_selection="shared")
        for direction, acc, chance in ret[["direction", "accuracy", "chance"]].itertuples(
                index=False):
            rows.append({"fold": fold, "metric": f"{direction} retrieval ({len(Yt)}-way)",
                         "accuracy": acc, "chance": chance, "alpha": alpha})
        two = two_way_identification(pred, Yt)
        rows.append({"fold": fold, "metric": "2-way identification",
                     "accuracy": float(two["accuracy"].iloc[0]), "chance": 0.5,
                     "alpha": alpha})
    return pd.DataFrame(rows)


def shuffle_within_runs(betas, rng):
    """The same betas with stimulus labels permuted within each run (a null)."""
    ids = betas.stimulus_ids.copy()
    for run in pd.unique(betas.runs):
        sel = np.flatnonzero(betas.runs == run)
        ids[sel] = ids[rng.permutation(sel)]
    return betas._replace(stimulus_ids=ids)


def summarize(per_fold, null=None):
    """Mean over folds per metric; with a null table, a permutation p-value."""
    table = per_fold.groupby("metric", sort=False).agg(
        accuracy=("accuracy", "mean"), sem=("accuracy", "sem"), chance=("chance", "first"),
        n_folds=("fold", "nunique")).reset_index()
    if null is not None:
        means = null.groupby(["perm", "metric"])["accuracy"].mean().unstack("metric")
        table["null_mean"] = [means[m].mean() for m in table["metric"]]
        table["null_max"] = [means[m].max() for m in table["metric"]]
        table["p_value"] = [(1 + (means[m] >= a).sum()) / (1 + len(means))
                            for m, a in zip(table["metric"], table["accuracy"])]
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="folder with run-XX/bold.nii.gz, run-XX/events.tsv, masks/ "
                             "(default: neurotoolkit.data.load_haxby())")
    parser.add_argument("--embedding", choices=("attributes", "clip"), default="attributes")
    parser.add_argument("--clip-model", default="open_clip:ViT-B-32")
    parser.add_argument("--clip-pretrained", default="openai",
                        help="open_clip pretrained tag; 'none' builds random weights (a control)")
    parser.add_argument("--clip-checkpoint", default=None)
    parser.add_argument("--runs-per-fold", type=int, default=1,
                        help="runs held out per fold (1: leave-one-run-out); their blocks "
                             "of each category are averaged")
    parser.add_argument("--n-permutations", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    betas = load_haxby_betas(args.data)
    if args.embedding == "clip":
        tag = None if args.clip_pretrained.lower() == "none" else args.clip_pretrained
        features = clip_text_embedding(args.clip_model, tag, args.clip_checkpoint)
    else:
        features = attribute_embedding()
    alphas = np.logspace(-1, 5, 13)  # on z-scored betas: 0.1 ... 1e5
    per_fold = decode_leave_runs_out(betas, features, alphas, args.runs_per_fold)
    null = None
    if args.n_permutations:
        rng = np.random.default_rng(args.seed)
        with warnings.catch_warnings():  # the null's penalties sit at the grid's high edge
            warnings.filterwarnings("ignore", message="Alpha-grid saturation")
            null = pd.concat([
                decode_leave_runs_out(shuffle_within_runs(betas, rng), features, alphas,
                                      args.runs_per_fold).assign(perm=k)
                for k in range(args.n_permutations)])
    table = summarize(per_fold, null)
    print(f"{betas!r}\nembedding: {features!r}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"({time.perf_counter() - start:.1f} s)")
    return table


if __name__ == "__main__":
    main()
