"""Science core of the ``decode`` pipeline: pure functions over loaded objects.

Category decoding (cross-validated linear SVM with a label-permutation test),
embedding decoding (ridge decoder, retrieval and 2-way identification with a
refit-on-shuffled-labels null), time-resolved decoding (one classifier per
time window, a label-permutation null per time point with a max-over-time
p-value) and cross-subject decoding (one shared network, a test-label
permutation null). Every score comes back with its chance level and its
permutation baseline (``null_mean``, ``null_q95``, ``p_value``).
"""

import numpy as np
import pandas as pd

__all__ = []

BASELINE_COLUMNS = ["score", "chance", "null_mean", "null_q95", "p_value", "n_permutations"]


def stimulus_labels(recording, stimuli, labels):
    """Label of every trial: its stimulus id, a category column, or one of several columns.

    Parameters
    ----------
    recording : Recording
    stimuli : StimulusSet | None
    labels : "stimulus_id" | str | list of str
        ``"stimulus_id"``: the stimulus ids are the classes (Haxby blocks,
        EEG conditions). A column name of ``stimuli.categories``: its values
        (a boolean column gives a binary problem). A list of boolean columns:
        the one that is True for each stimulus (exactly one must be).

    Returns
    -------
    y : ndarray of str, shape (n_trials,)
    """
    ids = np.asarray(recording.stimulus_ids).astype(str)
    if labels == "stimulus_id":
        return ids
    table = None if stimuli is None else getattr(stimuli, "categories", None)
    if table is None:
        raise ValueError(f"Invalid value for `decode.labels`: {labels!r} needs a stimulus set with "
                         "a categories table, got none (use labels: stimulus_id).")
    table = table.copy()
    table.index = table.index.map(str)
    cols = [labels] if isinstance(labels, str) else list(labels)
    absent = [c for c in cols if c not in table.columns]
    if absent:
        raise ValueError(f"Invalid value for `decode.labels`: expected columns of the stimulus "
                         f"categories {list(table.columns)}, got unknown {absent}.")
    missing = sorted(set(ids) - set(table.index))[:5]
    if missing:
        raise ValueError(f"Invalid value for `decode.labels`: the categories table lacks stimulus "
                         f"ids of the recording, e.g. {missing}.")
    sub = table.loc[ids, cols]
    if len(cols) == 1:
        return sub[cols[0]].astype(str).to_numpy()
    onehot = sub.to_numpy(dtype=bool)
    bad = onehot.sum(axis=1) != 1
    if bad.any():
        raise ValueError(f"Invalid value for `decode.labels`: expected exactly one True column "
                         f"among {cols} per stimulus, got {int(bad.sum())} trials with "
                         f"{sorted(set(onehot.sum(axis=1)[bad].tolist()))} True.")
    return np.asarray(cols, dtype=object)[onehot.argmax(axis=1)].astype(str)


def _baseline_row(score, chance, null, higher=True):
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if null.size == 0:
        return dict(score=float(score), chance=float(chance), null_mean=np.nan, null_q95=np.nan,
                    p_value=np.nan, n_permutations=0)
    p = (1 + np.sum(null >= score - 1e-12)) / (1 + null.size)
    return dict(score=float(score), chance=float(chance), null_mean=float(null.mean()),
                null_q95=float(np.quantile(null, 0.95)), p_value=float(p),
                n_permutations=int(null.size))


# ---------------------------------------------------------------- category decoding
def category_decoding(recording, y, cv="runs", n_permutations=100, random_state=0):
    """Linear-SVM category decoding with a within-run label-permutation null.

    Returns
    -------
    row : dict
        ``subject, target, metric, score, chance, null_mean, null_q95,
        p_value, n_permutations, n_folds``.
    confusion : pandas.DataFrame
    """
    from ..decoding import decode_categories

    groups = recording.runs
    if cv == "runs" and (groups is None or len(np.unique(groups)) < 2):
        cv = 5
    res = decode_categories(recording.responses, y, groups=groups, cv=cv,
                            n_permutations=n_permutations, random_state=random_state,
                            verbose=False)
    row = dict(subject=recording.subject, target="category", metric="accuracy",
               **_baseline_row(res.score, res.chance, res.permutation_scores), n_folds=res.n_folds)
    return row, res.confusion


# ---------------------------------------------------------------- embedding decoding
def standardize_embedding(space, ids):
    """(n_ids, n_dims) embedding rows for ``ids``, each dimension z-scored across them.

    Ridge predictions shrink towards the mean embedding; centring makes cosine
    retrieval compare what differs between stimuli (see the decoding example).
    """
    values = np.asarray(space.for_ids(list(ids)), dtype=np.float64)
    values = values.reshape(len(values), -1)
    sd = values.std(axis=0)
    return pd.DataFrame((values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0),
                        index=[str(i) for i in ids])


def make_folds(recording, split="auto", runs_per_fold=1, n_splits=5):
    """Train/test trial masks: the recording's held-out ids, leave-runs-out, or k-fold.

    ``split="auto"``: ``meta["test_ids"]`` when the recording has them (the
    simulator), else leave-``runs_per_fold``-runs-out when it has several runs,
    else ``n_splits`` folds of stimuli.
    """
    ids = np.asarray(recording.stimulus_ids).astype(str)
    runs = recording.runs
    if split == "auto":
        if recording.meta.get("test_ids") is not None:
            split = "holdout"
        elif runs is not None and len(pd.unique(runs)) > 1:
            split = "runs"
        else:
            split = "kfold"
    if split == "holdout":
        test_ids = recording.meta.get("test_ids")
        if test_ids is None:
            raise ValueError("Invalid value for `decode.split`: 'holdout' needs a recording with "
                             "held-out stimulus ids (meta['test_ids']), got none.")
        test = np.isin(ids, np.asarray(test_ids).astype(str))
        return [(~test, test)], "holdout"
    if split == "runs":
        if runs is None:
            raise ValueError("Invalid value for `decode.split`: 'runs' needs a recording with "
                             "runs, got none.")
        uniq = pd.unique(runs)
        if len(uniq) % runs_per_fold:
            raise ValueError(f"Invalid value for `decode.runs_per_fold`: expected a divisor of "
                             f"the {len(uniq)} runs, got {runs_per_fold}.")
        held = np.split(np.asarray(uniq), len(uniq) // runs_per_fold)
        return [(~np.isin(runs, h), np.isin(runs, h)) for h in held], "runs"
    uniq = pd.unique(ids)
    order = np.array_split(np.arange(len(uniq)), n_splits)
    return [(~np.isin(ids, uniq[o]), np.isin(ids, uniq[o])) for o in order], "kfold"


def _fold_scores(recording, embedding, folds, alphas, keep_predictions=False, rng=None):
    """Per-fold retrieval (both directions, all-way) and 2-way identification.

    With ``rng``, the training trials' stimulus labels are shuffled within runs
    before the fit (the held-out trials keep theirs): one draw of the null.
    """
    from ..decoding import RidgeDecoder, paired_responses, retrieval_accuracy, two_way_identification

    rows, preds = [], []
    for k, (train, test) in enumerate(folds):
        tr, te = recording.select_trials(train), recording.select_trials(test)
        if rng is not None:
            tr = shuffle_labels(tr, rng)
        X, Y, _ = paired_responses(tr, embedding, average_repeats=False)
        Xt, Yt, tids = paired_responses(te, embedding, average_repeats=True)
        groups = tr.runs if tr.runs is not None and len(np.unique(tr.runs)) > 1 else None
        dec = RidgeDecoder(alphas=alphas, cv="runs" if groups is not None else 5)
        pred = dec.fit(X, Y, groups=groups).predict(Xt)
        ret = retrieval_accuracy(pred, Yt, n_way="all")
        for direction, acc, chance in ret[["direction", "accuracy", "chance"]].itertuples(
                index=False):
            rows.append(dict(fold=k, metric=f"{direction} retrieval (all-way)",
                             accuracy=float(acc), chance=float(chance), n_way=len(Yt)))
        two = two_way_identification(pred, Yt)
        rows.append(dict(fold=k, metric="2-way identification",
                         accuracy=float(two["accuracy"].iloc[0]), chance=0.5, n_way=2))
        if keep_predictions:
            preds.append((np.asarray(tids).astype(str), pred, Yt))
    return pd.DataFrame(rows), preds


def shuffle_labels(recording, rng):
    """The same responses with stimulus ids permuted within each run."""
    ids = np.asarray(recording.stimulus_ids).copy()
    runs = recording.runs if recording.runs is not None else np.zeros(len(ids), dtype=int)
    for run in pd.unique(runs):
        sel = np.flatnonzero(runs == run)
        ids[sel] = ids[rng.permutation(sel)]
    return recording._replace(stimulus_ids=ids)


def embedding_decoding(recording, space, split="auto", runs_per_fold=1, alphas=None,
                       n_permutations=100, random_state=0, target="embedding"):
    """Ridge decoding of a stimulus embedding, scored by retrieval and identification.

    The null refits every fold after shuffling the training trials' stimulus
    labels within runs (``n_permutations`` times; held-out trials keep
    theirs), so it carries the whole cross-validation.

    Returns
    -------
    table : pandas.DataFrame
        One row per metric: ``subject, target, metric, score`` (mean over
        folds), ``sem``, ``chance``, ``null_mean``, ``null_q95``, ``p_value``,
        ``n_permutations``, ``n_folds``, ``split``.
    predictions : dict
        ``ids``, ``predicted``, ``target`` arrays of the last fold (for the
        retrieval grid).
    """
    ids = pd.unique(np.asarray(recording.stimulus_ids).astype(str))
    embedding = standardize_embedding(space, ids)
    folds, split_used = make_folds(recording, split, runs_per_fold)
    per_fold, preds = _fold_scores(recording, embedding, folds, alphas, keep_predictions=True)
    rng = np.random.default_rng(random_state)
    nulls = []
    for _ in range(n_permutations):
        null_fold, _ = _fold_scores(recording, embedding, folds, alphas, rng=rng)
        nulls.append(null_fold.groupby("metric", sort=False)["accuracy"].mean())
    null = pd.DataFrame(nulls)
    rows = []
    for metric, grp in per_fold.groupby("metric", sort=False):
        base = _baseline_row(grp["accuracy"].mean(), grp["chance"].iloc[0],
                             null[metric] if metric in null else [])
        rows.append(dict(subject=recording.subject, target=target, metric=metric, **base,
                         n_way=int(grp["n_way"].iloc[0]), sem=float(grp["accuracy"].sem()) if len(grp) > 1 else np.nan,
                         n_folds=len(folds), split=split_used))
    tids, pred, true = preds[-1]
    return pd.DataFrame(rows), {"ids": tids, "predicted": pred, "target": true}


# ---------------------------------------------------------------- time-resolved
def time_resolved(recording, y, scoring="roc_auc", cv=5, n_permutations=20, random_state=0):
    """Decoding at every time window of a (channel, window) Recording, with a null.

    Returns
    -------
    arrays : dict
        ``times`` (n_times,), ``scores`` (n_folds, n_times), ``null``
        (n_permutations, n_times), ``chance`` (scalar array).
    """
    from ..decoding import time_resolved_decoding

    res = time_resolved_decoding(recording, y, scoring=scoring, cv=cv, random_state=random_state,
                                 verbose=False)
    rng = np.random.default_rng(random_state)
    null = np.empty((n_permutations, len(res.times)))
    for k in range(n_permutations):
        null[k] = time_resolved_decoding(recording, rng.permutation(y), scoring=scoring, cv=cv,
                                         random_state=random_state, verbose=False).mean
    return {"times": res.times, "scores": res.scores, "null": null,
            "chance": np.asarray(res.chance)}


def time_resolved_summary(arrays, subject, tmin=0.0):
    """Peak score (after ``tmin``) with its chance and max-over-time permutation baseline.

    Returns
    -------
    row : dict
        ``subject, target, metric, peak_time_s``, the score columns; the
        p-value compares the peak with the null distribution of the maximum
        over the same windows (corrected for the number of windows).
    timecourse : pandas.DataFrame
        ``time_s, score, sem, chance, null_mean, null_q95`` per window.
    """
    from ..decoding import peak_score

    times, scores, null = arrays["times"], arrays["scores"], arrays["null"]
    chance = float(arrays["chance"])
    mean = scores.mean(axis=0)
    sem = scores.std(axis=0, ddof=1) / np.sqrt(scores.shape[0])
    score, latency = peak_score(mean, times, tmin=tmin)
    sel = times >= tmin
    null_max = null[:, sel].max(axis=1) if len(null) else np.empty(0)
    row = dict(subject=subject, target="condition", metric="peak score (time-resolved)",
               **_baseline_row(score, chance, null_max), peak_time_s=latency,
               n_folds=int(scores.shape[0]))
    course = pd.DataFrame({"time_s": times, "score": mean, "sem": sem, "chance": chance,
                           "null_mean": null.mean(axis=0) if len(null) else np.nan,
                           "null_q95": np.quantile(null, 0.95, axis=0) if len(null) else np.nan})
    return row, course


# ---------------------------------------------------------------- cross-subject
def cross_subject_decoding(recordings, space, params, n_permutations=100, random_state=0):
    """One shared network over subjects (train ids), scored on each subject's held-out ids.

    The null permutes the rows of the held-out targets (the trained model is
    fixed), ``n_permutations`` times per subject.

    Returns
    -------
    table : pandas.DataFrame
        One row per subject and metric (all-way image retrieval, 2-way
        identification) with the baseline columns.
    """
    from ..decoding import CrossSubjectDecoder, paired_responses, retrieval_accuracy
    from ..decoding import two_way_identification

    ids = pd.unique(np.concatenate([np.asarray(r.stimulus_ids).astype(str) for r in recordings]))
    embedding = standardize_embedding(space, ids)
    train, test = {}, {}
    for rec in recordings:
        folds, _ = make_folds(rec, "holdout")
        tr, te = folds[0]
        train[rec.subject] = paired_responses(rec.select_trials(tr), embedding,
                                              average_repeats=False)[:2]
        test[rec.subject] = paired_responses(rec.select_trials(te), embedding)[:2]
    dec = CrossSubjectDecoder(random_state=random_state, device="cpu", verbose=False, **params)
    dec.fit({s: v[0] for s, v in train.items()}, {s: v[1] for s, v in train.items()})
    rng = np.random.default_rng(random_state)
    rows = []
    for subject, (Xt, Yt) in test.items():
        pred = dec.predict(Xt, subject=subject)
        metrics = {
            "image retrieval (all-way)": (
                lambda P, T: float(retrieval_accuracy(P, T, n_way="all")["accuracy"].iloc[0]),
                1.0 / len(Yt)),
            "2-way identification": (
                lambda P, T: float(two_way_identification(P, T)["accuracy"].iloc[0]), 0.5),
        }
        for name, (func, chance) in metrics.items():
            null = [func(pred, Yt[rng.permutation(len(Yt))]) for _ in range(n_permutations)]
            rows.append(dict(subject=subject, target="embedding (cross-subject)", metric=name,
                             **_baseline_row(func(pred, Yt), chance, null),
                             n_way=2 if name.startswith("2-way") else len(Yt), n_folds=1,
                             split="holdout"))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- figures
def plot_scores(table, title="decoding scores"):
    """Dots per subject and metric, with the chance level and the null's 95th percentile."""
    import matplotlib.pyplot as plt

    labels = [f"{t}\n{m}" for t, m in zip(table["target"], table["metric"])]
    keys = list(dict.fromkeys(labels))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(keys)), 3.5))
    for k, key in enumerate(keys):
        sel = [lab == key for lab in labels]
        sub = table[sel]
        ax.hlines(sub["chance"].iloc[0], k - 0.4, k + 0.4, colors="k", linestyles=":",
                  label="chance" if k == 0 else None)
        if np.isfinite(sub["null_q95"]).any():
            ax.fill_between([k - 0.4, k + 0.4], sub["null_mean"].mean(), sub["null_q95"].mean(),
                            color="0.85", label="permutation null (mean-95%)" if k == 0 else None)
        ax.plot(np.full(len(sub), k), sub["score"], "o", color="C0",
                label="score (per subject)" if k == 0 else None)
    ax.set_xticks(range(len(keys)), keys, fontsize=7)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_timecourse(course, subject, scoring):
    """Time course of the score with the chance level and the permutation band."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    t = course["time_s"].to_numpy()
    ax.fill_between(t, course["null_mean"], course["null_q95"], color="0.85",
                    label="permutation null (mean-95%)")
    ax.fill_between(t, course["score"] - course["sem"], course["score"] + course["sem"],
                    color="C0", alpha=0.3)
    ax.plot(t, course["score"], color="C0", label=f"{subject} ({scoring})")
    ax.axhline(course["chance"].iloc[0], color="k", ls=":", label="chance")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(scoring)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_retrieval_grid(stimuli, predictions, n_rows=5, n_candidates=4, subject=""):
    """Seen image, then the top retrieved images among the held-out set."""
    from ..viz import plot_image_grid

    ids, P, T = predictions["ids"], predictions["predicted"], predictions["target"]
    P = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    T = T / np.maximum(np.linalg.norm(T, axis=1, keepdims=True), 1e-12)
    ranking = np.argsort(-(P @ T.T), axis=1)
    images, titles = [], []
    for i in np.linspace(0, len(ids) - 1, min(n_rows, len(ids))).astype(int):
        images.append(stimuli.load_image(ids[i]))
        titles.append(f"seen {ids[i]}")
        for k, j in enumerate(ranking[i, :n_candidates]):
            images.append(stimuli.load_image(ids[j]))
            titles.append(f"#{k + 1}" + (" (hit)" if j == i else ""))
    return plot_image_grid(images, titles=titles, n_cols=n_candidates + 1, size=1.3,
                           suptitle=f"{subject}: retrieval among {len(ids)} held-out stimuli")
