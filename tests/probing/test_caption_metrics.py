"""Caption metrics against hand-computed values and against pycocoevalcap."""

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.probing.captioning._caption_metrics import caption_scores, tokenize_caption

FAST = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr"]


def _scores(*args, **kwargs):
    table = caption_scores(*args, **kwargs)
    return dict(zip(table["metric"], table["score"]))


@pytest.mark.parametrize("backend", ["builtin", "auto"])
def test_bleu_rouge_hand_computed(backend):
    s = _scores(["A cat sat on the mat."], [["the cat sat on the mat"]], metrics=FAST[:5],
                backend=backend, tokenize="simple")
    # clipped n-gram precisions 5/6, 4/5, 3/4, 2/3; equal lengths (no brevity penalty)
    assert s["BLEU-1"] == pytest.approx(5 / 6)
    assert s["BLEU-2"] == pytest.approx(math.sqrt(5 / 6 * 4 / 5))
    assert s["BLEU-3"] == pytest.approx((5 / 6 * 4 / 5 * 3 / 4) ** (1 / 3))
    assert s["BLEU-4"] == pytest.approx((5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) ** (1 / 4))
    assert s["ROUGE-L"] == pytest.approx(5 / 6)  # LCS "cat sat on the mat": P = R = 5/6


def test_bleu_brevity_penalty_uses_closest_reference():
    s = _scores(["the cat"], [["the cat sat", "a cat sat on the mat"]], metrics=["BLEU-1"],
                implementation="builtin", tokenize=None)
    assert s["BLEU-1"] == pytest.approx(math.exp(1 - 3 / 2))  # closest reference has 3 words


def test_cider_hand_computed():
    # idf = log(2 images) - log(df = 1) for every reference n-gram; CIDEr-D mean over n = 1..4, x10
    table, per = caption_scores(["a cat", "a dog"], [["a cat"], ["the dog"]], metrics=["CIDEr"],
                                implementation="builtin", tokenize=None, per_caption=True)
    # image 1: cosines 1 (unigrams), 1 (bigram), 0, 0 -> 10 * 2/4 = 5
    # image 2: unigram cosine 0.5 ("dog" shared, "a" weighted but absent), rest 0 -> 10 * 0.5/4
    np.testing.assert_allclose(per["CIDEr"], [5.0, 1.25])
    assert table.loc[0, "score"] == pytest.approx(3.125)


def test_embedding_similarity_with_custom_embedder():
    vecs = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "d": [2.0, 0.0]}
    embed = lambda texts: np.array([vecs[t] for t in texts])
    _, per = caption_scores(["a", "d"], [["b", "c"], "a"], metrics=["embedding_similarity"],
                            text_embedder=embed, per_caption=True)
    np.testing.assert_allclose(per["embedding_similarity"], [0.5 / math.sqrt(2), 1.0])
    first = _scores(["a", "d"], [["b", "c"], "a"], protocol="first", metrics=["embedding_similarity"],
                    text_embedder=embed)
    assert first["embedding_similarity"] == pytest.approx(0.5)  # only "b" kept for the first caption
    tfidf = _scores(["a red bus", "two cats"], [["a red bus"], ["a green tree"]], metrics=["embedding_similarity"])
    assert tfidf["embedding_similarity"] == pytest.approx(0.5)  # identical texts 1, disjoint words 0


CANDS = ["A man riding a horse on the beach.", "a dog's toy on a couch", "two cats sleeping",
         "a red bus driving down a street.", "a plate of food with broccoli", "an empty room"]
REFS = [["A man rides a horse along the beach.", "a person on a horse near the ocean"],
        ["a dog toy lying on the sofa."],
        ["two cats sleep on a bed", "cats napping", "a pair of cats asleep"],
        ["A red double-decker bus on a city street.", "a bus on the road"],
        ["broccoli and rice on a white plate", "a plate with food"],
        ["a kitchen with a table and chairs"]]


@pytest.mark.parametrize("protocol", ["all", "first"])
def test_builtin_matches_pycocoevalcap(protocol):
    pytest.importorskip("pycocoevalcap")
    t1, p1 = caption_scores(CANDS, REFS, protocol=protocol, metrics=FAST, implementation="builtin",
                            tokenize="simple", per_caption=True)
    t2, p2 = caption_scores(CANDS, REFS, protocol=protocol, metrics=FAST, implementation="pycocoevalcap",
                            tokenize="simple", per_caption=True)
    assert set(t2["implementation"]) == {"pycocoevalcap"}
    np.testing.assert_allclose(t1["score"], t2["score"], rtol=1e-10)
    np.testing.assert_allclose(p1.to_numpy(), p2.to_numpy(), rtol=1e-10, atol=1e-12)
    assert t1["n_references"].iloc[0] == (6 if protocol == "first" else 11)


def test_protocols_differ_and_perfect_caption_scores_one():
    all_refs = _scores(CANDS, REFS, metrics=FAST, implementation="builtin", tokenize="simple")
    first = _scores(CANDS, REFS, protocol="first", metrics=FAST, implementation="builtin", tokenize="simple")
    assert all_refs["BLEU-1"] > first["BLEU-1"]  # more references, more matches
    exact = _scores([r[0] for r in REFS], REFS, metrics=["BLEU-4", "ROUGE-L"], implementation="builtin")
    assert exact["BLEU-4"] == pytest.approx(1.0) and exact["ROUGE-L"] == pytest.approx(1.0)


def test_simple_tokenizer_is_ptb_like():
    assert tokenize_caption("A dog's toy, on the Four-legged sofa!") == "a dog 's toy on the four-legged sofa"
    if shutil.which("java") is None:
        pytest.skip("no Java for the Stanford PTBTokenizer")
    pytest.importorskip("pycocoevalcap")
    from neurotoolkit.probing.captioning._caption_metrics import _ptb_tokenize

    flat = CANDS + [r for rs in REFS for r in rs]
    assert _ptb_tokenize(flat) == [tokenize_caption(t) for t in flat]


def test_meteor_is_nan_with_reason_when_unavailable(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    table = caption_scores(CANDS[:2], REFS[:2], metrics=["BLEU-1", "METEOR"], tokenize="simple")
    row = table.set_index("metric").loc["METEOR"]
    assert np.isnan(row["score"])
    assert "java" in row["implementation"].lower() or "pycocoevalcap" in row["implementation"]


@pytest.mark.slow
def test_meteor_with_java():
    if shutil.which("java") is None:
        pytest.skip("METEOR 1.5 needs Java")
    pytest.importorskip("pycocoevalcap")
    table, per = caption_scores(CANDS, REFS, metrics=["METEOR"], per_caption=True)
    score = table["score"].iloc[0]
    assert 0.1 < score < 0.9 and np.all((per["METEOR"] >= 0) & (per["METEOR"] <= 1))
    exact = _scores([r[0] for r in REFS], REFS, metrics=["METEOR"])
    assert exact["METEOR"] > 0.9 > score


def test_errors():
    with pytest.raises(ValueError, match="`protocol`"):
        caption_scores(["a"], ["a"], protocol="brainhub")
    with pytest.raises(ValueError, match="`references`: expected 2 entries"):
        caption_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="`metrics`"):
        caption_scores(["a"], ["a"], metrics=["SPICE"])
    with pytest.raises(ValueError, match="`candidates`"):
        caption_scores("a cat", ["a cat"])
    with pytest.raises(ValueError, match="no reference"):
        caption_scores(["a"], [[]])


def test_backend_renamed_implementation():
    new = caption_scores(CANDS, REFS, metrics=["CIDEr"], implementation="builtin", tokenize="simple")
    with pytest.warns(FutureWarning, match="`backend` of caption_scores is deprecated.*"
                                           "implementation='builtin'"):
        old = caption_scores(CANDS, REFS, metrics=["CIDEr"], backend="builtin", tokenize="simple")
    pd.testing.assert_frame_equal(old, new)
    with pytest.raises(ValueError, match="Invalid value for `implementation`"):
        caption_scores(CANDS, REFS, metrics=["CIDEr"], implementation="numpy")
