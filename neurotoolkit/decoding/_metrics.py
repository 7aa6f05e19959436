"""The field's evaluation protocol for brain -> embedding decoders (MindEye, Scotti
et al. 2023; Brain-Diffuser, Ozcelik & VanRullen 2023).

- :func:`retrieval_accuracy`: N-way top-1 retrieval in both directions (MindEye's
  300-way protocol: 300 distinct test samples drawn 30 times, image and brain
  retrieval, 95 % CI from the normal approximation over draws).
- :func:`two_way_identification`: the 2-way identification score on any feature
  space (chance 0.5).

Both return tidy pandas tables.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._utils.random import check_random_state
from .._utils.validation import _raise, check_array, check_int, check_option, describe

__all__ = ["retrieval_accuracy", "two_way_identification"]

_METRICS = ("cosine", "correlation")
# Above this many samples the (n, n) similarity matrix is not formed: each draw
# computes its own (n_way, n_way) block instead.
_FULL_MATRIX_MAX = 4096
_Z95 = 1.959963984540054
_BLOCK_BYTES = 64 * 2**20


def _check_pair(predicted, target):
    """Flatten token axes and check that rows (samples) and columns (dims) match."""
    predicted = check_array("predicted", predicted, ndim=(2, 3))
    target = check_array("target", target, ndim=(2, 3))
    if predicted.shape[0] != target.shape[0]:
        _raise("predicted", f"one row per row of `target` ({target.shape[0]} samples, rows "
               "paired by stimulus)", f"{predicted.shape[0]} rows",
               "Predictions and targets must be the same stimuli in the same order.")
    if predicted.shape[1:] != target.shape[1:]:
        _raise("predicted", f"the shape of `target` {target.shape}",
               f"shape {predicted.shape}",
               "Predictions and targets must live in the same embedding space.")
    n = predicted.shape[0]
    return predicted.reshape(n, -1), target.reshape(n, -1)


def _normalize(A, metric):
    """Rows centred (correlation) and scaled to unit norm; zero rows stay zero.

    float32 input stays float32 (embeddings of 1000 x 256 x 1664 values are
    large); the norms are accumulated in float64.
    """
    if A.dtype not in (np.float32, np.float64):
        A = A.astype(np.float64)
    if metric == "correlation":
        A = A - A.mean(axis=1, keepdims=True, dtype=np.float64).astype(A.dtype)
    norm = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
    return A * (1.0 / np.where(norm > 0, norm, 1.0)).astype(A.dtype)[:, None]


def _similarity(predicted, target, metric):
    """S_ij = sim(predicted_i, target_j), shape (n, n), float64."""
    return (_normalize(predicted, metric) @ _normalize(target, metric).T).astype(np.float64)


def _draw_hits(S_blocks):
    """Strict top-1 hits of (n_draws, k, k) blocks: (image, brain) each (n_draws, k) bool."""
    k = S_blocks.shape[-1]
    ar = np.arange(k)
    diag = S_blocks[:, ar, ar]
    off = S_blocks.copy()
    off[:, ar, ar] = -np.inf
    image = diag > off.max(axis=2)  # row i: brain sample i finds its own image among k
    brain = diag > off.max(axis=1)  # column j: image j finds its own brain sample among k
    return image, brain


def retrieval_accuracy(predicted, target, n_way=300, n_draws=30, metric="cosine",
                       random_state=0, return_draws=False):
    """Top-1 N-way retrieval accuracy in both directions, averaged over random draws.

    For each draw, ``n_way`` distinct samples are picked at random; with
    ``S = norm(predicted[idx]) @ norm(target[idx]).T`` (``n_way x n_way``):

    - *image* retrieval: brain sample ``i`` retrieves its own image,
      ``argmax_j S_ij == i``;
    - *brain* retrieval: image ``j`` retrieves its own brain sample,
      ``argmax_i S_ij == j``.

    The accuracies of the draws are averaged; the 95 % interval is the normal
    approximation over draws, ``mean +- 1.96 * sd / sqrt(n_draws)`` (sd with
    ``ddof=0``, as MindEye's ``stats.norm.interval(0.95, mean,
    np.std(acc) / sqrt(n))``). This is MindEye's 300-way protocol
    (Scotti et al., NeurIPS 2023): ``n_way=300, n_draws=30`` on the 1000 (or 982)
    shared test images.

    Parameters
    ----------
    predicted : array, shape (n_samples, n_dims) or (n_samples, n_tokens, dim)
        Decoded embeddings (brain side). Token axes are flattened.
    target : array, same shape as ``predicted``
        True embeddings (image side); row ``i`` is the stimulus of
        ``predicted[i]``.
    n_way : int | "all"
        Candidates per draw (2 <= n_way <= n_samples). ``"all"`` (or
        ``n_way == n_samples``) uses every sample in one draw, which is then
        deterministic: ``n_draws`` is reported as 1 and the interval is NaN.
    n_draws : int
        Random draws of ``n_way`` samples.
    metric : "cosine" | "correlation"
        Cosine similarity of L2-normalised rows (the field's choice) or
        Pearson correlation (rows centred first).
    random_state : None | int | numpy.random.Generator
        Seed of the draws.
    return_draws : bool
        Also return the per-draw accuracies, dict ``direction -> (n_draws,)``.

    Returns
    -------
    table : pandas.DataFrame
        One row per direction (``"image"``, ``"brain"``), columns
        ``direction, n_way, accuracy, ci95_low, ci95_high, chance, n_draws,
        n_samples, metric``; ``chance = 1 / n_way``.
    draws : dict (only with ``return_draws=True``)

    Notes
    -----
    Ties count as misses: a sample is retrieved only when its own similarity
    is strictly larger than every other candidate's, so constant or
    all-zero predictions score 0, not chance. Zero rows (or constant rows
    with ``metric="correlation"``) have similarity 0 with everything. All
    draws are scored at once from the blocks of one ``(n, n)`` similarity
    matrix (for ``n <= 4096``; beyond that each draw forms its own block
    from the normalised rows), in chunks of about 64 MB.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> target = rng.standard_normal((50, 8))
    >>> table = retrieval_accuracy(target + 0.1 * rng.standard_normal((50, 8)), target,
    ...                            n_way=10)
    >>> table[["direction", "accuracy", "chance"]].to_numpy().tolist()
    [['image', 1.0, 0.1], ['brain', 1.0, 0.1]]
    """
    P, T = _check_pair(predicted, target)
    n = P.shape[0]
    check_option("metric", metric, _METRICS)
    if isinstance(n_way, str):
        check_option("n_way", n_way, ("all",))
        n_way = n
    else:
        n_way = check_int("n_way", n_way, min_value=2)
    if n_way > n:
        _raise("n_way", f"at most n_samples = {n} candidates per draw (too few test "
               f"stimuli for {n_way}-way retrieval)", n_way,
               f"Use n_way={n} (or n_way='all') or a larger test set.")
    if n < 2:
        _raise("predicted", "at least 2 samples for retrieval", f"{n}")
    n_draws = check_int("n_draws", n_draws, min_value=1)
    if n_way == n:
        n_draws = 1
        idx = np.arange(n)[None]
    else:
        rng = check_random_state(random_state)
        idx = np.argsort(rng.random((n_draws, n)), axis=1)[:, :n_way]
    if n <= _FULL_MATRIX_MAX or n_way == n:
        S = _similarity(P, T, metric)

        def block(i):
            return S[i[:, :, None], i[:, None, :]]
    else:
        Pn, Tn = _normalize(P, metric), _normalize(T, metric)

        def block(i):
            return np.stack([(Pn[j] @ Tn[j].T).astype(np.float64) for j in i])

    # draws scored together, in chunks of about 64 MB of similarity blocks
    chunk = max(1, _BLOCK_BYTES // (8 * n_way * n_way))
    image, brain = np.empty(n_draws), np.empty(n_draws)
    for start in range(0, n_draws, chunk):
        sl = slice(start, min(start + chunk, n_draws))
        hits_image, hits_brain = _draw_hits(block(idx[sl]))
        image[sl], brain[sl] = hits_image.mean(axis=1), hits_brain.mean(axis=1)
    rows = []
    draws = {"image": image, "brain": brain}
    for direction, acc in draws.items():
        mean = float(acc.mean())
        if n_draws > 1:
            half = _Z95 * float(acc.std()) / np.sqrt(n_draws)
            low, high = mean - half, mean + half
        else:
            low = high = np.nan
        rows.append({"direction": direction, "n_way": n_way, "accuracy": mean, "ci95_low": low,
                     "ci95_high": high, "chance": 1.0 / n_way, "n_draws": n_draws,
                     "n_samples": n, "metric": metric})
    table = pd.DataFrame(rows)
    return (table, draws) if return_draws else table


def _two_way_one(predicted, target, metric):
    P, T = _check_pair(predicted, target)
    n = P.shape[0]
    if n < 2:
        _raise("predicted", "at least 2 samples for 2-way identification", f"{n}")
    C = _similarity(P, T, metric)
    own = np.diag(C)[:, None]
    wins = C < own  # strict: ties count against the reconstruction
    np.fill_diagonal(wins, False)
    return wins.sum(axis=1) / (n - 1)


def two_way_identification(predicted, target=None, metric="correlation",
                           return_per_sample=False):
    """2-way identification: how often a prediction is closer to its own target.

    ``C_ij = corr(predicted_i, target_j)``; sample ``i`` scores
    ``acc_i = mean_{j != i} [C_ij < C_ii]``: the row of prediction
    (reconstruction) ``i`` compared with every other ground truth ``j``
    (the Alex2/Alex5/Inception/CLIP columns of the reconstruction tables of
    Ozcelik & VanRullen 2023 and Scotti et al. 2023). Chance is 0.5.

    Parameters
    ----------
    predicted : array, shape (n_samples, n_dims) or (n_samples, n_tokens, dim) | dict
        Predicted features (e.g. a feature network applied to reconstructions,
        or decoded embeddings). A dict ``space -> (predicted, target)``
        scores several feature spaces; ``target`` must then be None.
    target : array, same shape as ``predicted`` | None
        True features; row ``i`` is the stimulus of ``predicted[i]``.
    metric : "correlation" | "cosine"
        Pearson correlation of the (flattened) rows (the field's choice) or
        cosine similarity.
    return_per_sample : bool
        Also return ``acc_i``: an array (n_samples,), or a dict ``space ->
        array`` for dict input.

    Returns
    -------
    table : pandas.DataFrame
        One row (one per space for dict input, with a first column
        ``space``): ``accuracy, chance (0.5), n_samples, metric``.
    per_sample : array (n_samples,) | dict (only with ``return_per_sample=True``)

    Notes
    -----
    Comparisons are strict: ``C_ij == C_ii`` (e.g. constant predictions)
    counts as a failure, so degenerate predictions score 0, not 0.5.
    """
    check_option("metric", metric, _METRICS)
    if isinstance(predicted, Mapping):
        if target is not None:
            _raise("target", "None when `predicted` is a dict space -> (predicted, target)",
                   describe(target))
        if not predicted:
            _raise("predicted", "a non-empty dict space -> (predicted, target)", "an empty dict")
        rows, per = [], {}
        for space, pair in predicted.items():
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                _raise(f"predicted[{space!r}]", "a (predicted, target) pair", describe(pair))
            acc = _two_way_one(pair[0], pair[1], metric)
            per[space] = acc
            rows.append({"space": space, "accuracy": float(acc.mean()), "chance": 0.5,
                         "n_samples": acc.size, "metric": metric})
        table = pd.DataFrame(rows)
    else:
        if target is None:
            _raise("target", "an array paired with `predicted`", "None")
        per = _two_way_one(predicted, target, metric)
        table = pd.DataFrame([{"accuracy": float(per.mean()), "chance": 0.5,
                               "n_samples": per.size, "metric": metric}])
    return (table, per) if return_per_sample else table
