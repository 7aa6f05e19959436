"""retrieval_accuracy and two_way_identification against naive loops (METHODS.md, Card 4)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurotoolkit.decoding import retrieval_accuracy, two_way_identification


def _sim(a, b, metric):
    if metric == "correlation":
        return float(np.corrcoef(a, b)[0, 1])
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _naive_retrieval(P, T, idx, metric):
    """One draw, double loop: (image, brain) accuracy with strict argmax (ties miss)."""
    k = len(idx)
    S = np.array([[_sim(P[i], T[j], metric) for j in idx] for i in idx])
    image = np.mean([all(S[i, i] > S[i, j] for j in range(k) if j != i) for i in range(k)])
    brain = np.mean([all(S[j, j] > S[i, j] for i in range(k) if i != j) for j in range(k)])
    return image, brain


def _draws(n, n_way, n_draws, seed):
    """The draws retrieval_accuracy makes (documented: argsort of uniforms)."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_draws, n)), axis=1)[:, :n_way]


@pytest.mark.parametrize("metric", ["cosine", "correlation"])
def test_retrieval_matches_naive_double_loop(rng, metric):
    n, d, n_way, n_draws = 37, 11, 13, 7
    T = rng.standard_normal((n, d)) + 0.5
    P = T + 1.5 * rng.standard_normal((n, d))
    table, draws = retrieval_accuracy(P, T, n_way=n_way, n_draws=n_draws, metric=metric,
                                      random_state=3, return_draws=True)
    ref = np.array([_naive_retrieval(P, T, idx, metric) for idx in _draws(n, n_way, n_draws, 3)])
    np.testing.assert_allclose(draws["image"], ref[:, 0])
    np.testing.assert_allclose(draws["brain"], ref[:, 1])
    assert list(table["direction"]) == ["image", "brain"]
    assert list(table.columns) == ["direction", "n_way", "accuracy", "ci95_low", "ci95_high",
                                   "chance", "n_draws", "n_samples", "metric"]
    for k, name in enumerate(["image", "brain"]):
        row = table.iloc[k]
        assert row["accuracy"] == pytest.approx(ref[:, k].mean())
        # MindEye's interval: norm.interval(0.95, mean, np.std(acc) / sqrt(n_draws))
        lo, hi = stats.norm.interval(0.95, loc=ref[:, k].mean(),
                                     scale=ref[:, k].std() / np.sqrt(n_draws))
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((lo, hi))
        assert row["chance"] == pytest.approx(1 / 13) and row["n_samples"] == 37
    assert 0.1 < table["accuracy"].min() and table["accuracy"].max() < 0.95  # informative


def test_retrieval_directions_differ_on_asymmetric_example():
    # brain 0 is close to every image (a "hub"); images are well separated
    T = np.eye(4)
    P = np.array([[1.0, 0.9, 0.9, 0.9], [0.0, 1.0, 0.0, 0.0], [0.95, 0.0, 1.0, 0.0],
                  [0.0, 0.0, 0.0, 1.0]])
    table = retrieval_accuracy(P, T, n_way="all").set_index("direction")
    ref = _naive_retrieval(P, T, np.arange(4), "cosine")
    assert table.loc["image", "accuracy"] == pytest.approx(ref[0])
    assert table.loc["brain", "accuracy"] == pytest.approx(ref[1])
    assert ref[0] != ref[1]
    assert table.loc["image", "n_draws"] == 1 and np.isnan(table.loc["image", "ci95_low"])


def test_retrieval_perfect_random_and_ties(rng):
    T = rng.standard_normal((120, 9))
    table = retrieval_accuracy(T * 3.0, T, n_way=50, n_draws=5)
    assert (table["accuracy"] == 1.0).all()
    # independent predictions: near chance 1/10, over many samples and draws
    big = rng.standard_normal((1500, 9))
    acc = retrieval_accuracy(rng.standard_normal((1500, 9)), big, n_way=10, n_draws=400,
                             random_state=1)["accuracy"]
    assert np.all(np.abs(acc - 0.1) < 0.03)
    # the same prediction for every stimulus: in the brain direction every candidate
    # ties, so every image misses (0, not chance); zero predictions miss both ways
    same = retrieval_accuracy(np.ones_like(T), T, n_way=20, n_draws=3).set_index("direction")
    assert same.loc["brain", "accuracy"] == 0 and same.loc["image", "accuracy"] <= 0.1
    assert (retrieval_accuracy(np.zeros_like(T), T, n_way=20)["accuracy"] == 0).all()


def test_retrieval_three_d_tokens_are_flattened(rng):
    T = rng.standard_normal((23, 5, 3))
    P = T + rng.standard_normal(T.shape)
    a = retrieval_accuracy(P, T, n_way=8, n_draws=4)
    b = retrieval_accuracy(P.reshape(23, 15), T.reshape(23, 15), n_way=8, n_draws=4)
    pd.testing.assert_frame_equal(a, b)


def test_retrieval_large_n_path_matches_full_matrix(rng, monkeypatch):
    import neurotoolkit.decoding._metrics as m

    T = rng.standard_normal((41, 6)).astype(np.float32)
    P = T + rng.standard_normal(T.shape).astype(np.float32)
    full = retrieval_accuracy(P, T, n_way=9, n_draws=6, random_state=2)
    monkeypatch.setattr(m, "_FULL_MATRIX_MAX", 10)  # per-draw blocks
    monkeypatch.setattr(m, "_BLOCK_BYTES", 8 * 9 * 9 * 2)  # 2 draws per chunk
    pd.testing.assert_frame_equal(full, retrieval_accuracy(P, T, n_way=9, n_draws=6,
                                                           random_state=2))


def test_retrieval_errors(rng):
    T = rng.standard_normal((20, 4))
    with pytest.raises(ValueError, match=r"`n_way`.*at most n_samples = 20.*got 300"):
        retrieval_accuracy(T, T)
    with pytest.raises(ValueError, match="`n_way`.*integer >= 2"):
        retrieval_accuracy(T, T, n_way=1)
    with pytest.raises(ValueError, match="`n_way`.*'all'"):
        retrieval_accuracy(T, T, n_way="every")
    with pytest.raises(ValueError, match=r"`predicted`.*20 samples.*got 19 rows"):
        retrieval_accuracy(T[:19], T, n_way=5)
    with pytest.raises(ValueError, match=r"`predicted`.*same embedding space"):
        retrieval_accuracy(T[:, :3], T, n_way=5)
    with pytest.raises(ValueError, match="`metric`"):
        retrieval_accuracy(T, T, n_way=5, metric="euclidean")
    with pytest.raises(ValueError, match="`predicted`.*finite"):
        retrieval_accuracy(np.full_like(T, np.nan), T, n_way=5)


def _naive_two_way(P, T, metric="correlation"):
    n = len(P)
    C = np.array([[_sim(P[i], T[j], metric) for j in range(n)] for i in range(n)])
    return np.array([np.mean([C[i, j] < C[i, i] for j in range(n) if j != i]) for i in range(n)])


@pytest.mark.parametrize("metric", ["correlation", "cosine"])
def test_two_way_matches_naive_loop(rng, metric):
    T = rng.standard_normal((29, 13)) + 1.0
    P = T + 2.0 * rng.standard_normal(T.shape)
    table, per = two_way_identification(P, T, metric=metric, return_per_sample=True)
    ref = _naive_two_way(P, T, metric)
    np.testing.assert_allclose(per, ref)
    assert list(table.columns) == ["accuracy", "chance", "n_samples", "metric"]
    assert table["accuracy"].iloc[0] == pytest.approx(ref.mean())
    assert table["chance"].iloc[0] == 0.5 and table["n_samples"].iloc[0] == 29
    assert 0.55 < ref.mean() < 0.98


def test_two_way_is_row_wise_not_column_wise():
    # target 1 is closer to prediction 0 than to prediction 1: the row of prediction 1
    # still wins (its own target beats the others), its column would lose
    P = np.eye(3)
    T = np.array([[1.0, 0, 0], [2.0, 1.0, 0], [0, 0, 1.0]])
    _, per = two_way_identification(P, T, metric="cosine", return_per_sample=True)
    np.testing.assert_allclose(per, _naive_two_way(P, T, "cosine"))
    np.testing.assert_allclose(per, [1.0, 1.0, 1.0])
    _, per_t = two_way_identification(T, P, metric="cosine", return_per_sample=True)
    np.testing.assert_allclose(per_t, [1.0, 0.5, 1.0])


def test_two_way_identical_chance_and_ties(rng):
    T = rng.standard_normal((40, 7))
    assert two_way_identification(T, T)["accuracy"].iloc[0] == 1.0
    accs = [two_way_identification(rng.standard_normal((60, 7)), rng.standard_normal((60, 7)))
            ["accuracy"].iloc[0] for _ in range(30)]
    assert abs(np.mean(accs) - 0.5) < 0.03
    # zero predictions (or rows constant over dims, for correlation) have similarity 0
    # with every target: all comparisons tie and are scored as failures
    assert two_way_identification(np.zeros_like(T), T, metric="cosine")["accuracy"].iloc[0] == 0
    flat = np.tile(np.arange(40.0)[:, None], (1, 7))
    assert two_way_identification(flat, T)["accuracy"].iloc[0] == 0.0


def test_two_way_several_spaces(rng):
    T1, T2 = rng.standard_normal((17, 5)), rng.standard_normal((17, 4, 3))
    spaces = {"alex2": (T1 + 0.5 * rng.standard_normal(T1.shape), T1),
              "clip": (T2 + rng.standard_normal(T2.shape), T2)}
    table, per = two_way_identification(spaces, return_per_sample=True)
    assert list(table["space"]) == ["alex2", "clip"] and set(per) == {"alex2", "clip"}
    for name, (p, t) in spaces.items():
        ref = _naive_two_way(p.reshape(17, -1), t.reshape(17, -1))
        np.testing.assert_allclose(per[name], ref)
        assert table.set_index("space").loc[name, "accuracy"] == pytest.approx(ref.mean())
    with pytest.raises(ValueError, match="`target`.*None"):
        two_way_identification(spaces, T1)
    with pytest.raises(ValueError, match=r"`predicted\['x'\]`.*pair"):
        two_way_identification({"x": T1})
    with pytest.raises(ValueError, match="`target`.*paired"):
        two_way_identification(T1)
    with pytest.raises(ValueError, match="`predicted`.*17 samples"):
        two_way_identification(T1[:5], T1)
