"""Caption evaluation: TF-IDF text embedding, predicted responses, Spearman vs shuffled."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from neurotoolkit.probing import (
    TfidfTextEmbedder,
    caption_similarity,
    evaluate_captions,
)

STIM_CAPTIONS = ["a cartoon face", "two faces", "a street scene with buildings", "a tall building",
                 "a dog on grass", "a brown dog", "a red car", "a car on a street"]


def test_tfidf_embedder_matches_sklearn_on_preprocessed_text():
    from sklearn.feature_extraction.text import TfidfVectorizer

    emb = TfidfTextEmbedder()(STIM_CAPTIONS)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0)
    # same thing spelled with sklearn on hand-normalised words (stop words out, singular forms)
    words = ["face", "face", "street scene building", "tall building", "dog grass", "dog", "car",
             "car street"]
    ref = TfidfVectorizer(sublinear_tf=True).fit_transform(words).toarray()
    np.testing.assert_allclose(emb @ emb.T, ref @ ref.T, atol=1e-12)
    assert (emb[0] @ emb[1]) == pytest.approx(1.0)  # "faces" matches "face"
    fitted = TfidfTextEmbedder(corpus=STIM_CAPTIONS)
    assert fitted(["a face", "a spaceship"]).shape == (2, emb.shape[1])
    assert not fitted(["a spaceship"]).any()  # unknown words embed to zero


def test_caption_similarity_with_one_or_several_references():
    caps = ["a face", "a dog", "a city street"]
    S = caption_similarity(caps, STIM_CAPTIONS)
    assert S.shape == (8, 3)
    emb = TfidfTextEmbedder()(caps + STIM_CAPTIONS)
    np.testing.assert_allclose(S, emb[3:] @ emb[:3].T, atol=1e-12)
    assert S[:2, 0].min() > 0.99 and S[2:, 0].max() == 0
    # several references per stimulus: the mean of the similarities
    refs = [[STIM_CAPTIONS[0], STIM_CAPTIONS[4]], [STIM_CAPTIONS[2]], [STIM_CAPTIONS[5]]]
    emb = TfidfTextEmbedder()(caps + [STIM_CAPTIONS[k] for k in (0, 4, 2, 5)])
    sim = emb[3:] @ emb[:3].T
    S2 = caption_similarity(caps, refs)
    np.testing.assert_allclose(S2, np.stack([sim[:2].mean(0), sim[2], sim[3]]), atol=1e-12)
    # a pluggable embedder: bag of letters
    letters = lambda texts: np.array([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"]
                                      for t in texts], float)
    S3 = caption_similarity(caps, STIM_CAPTIONS, text_embedder=letters)
    e = letters(caps + STIM_CAPTIONS)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    np.testing.assert_allclose(S3, e[3:] @ e[:3].T)
    with pytest.raises(TypeError, match="Invalid value for `stimulus_captions`"):
        caption_similarity(caps, "a face")
    with pytest.raises(ValueError, match="Invalid value for `text_embedder`"):
        caption_similarity(caps, STIM_CAPTIONS, text_embedder=lambda t: np.ones((2, 3)))


def test_evaluate_captions_against_scipy_and_manual_shuffles():
    rng = np.random.default_rng(0)
    caps = ["a face", "a dog on grass", "buildings on a street", "a car", "a face and a dog"]
    S = caption_similarity(caps, STIM_CAPTIONS)
    Y = 2.0 * S + 0.3 * rng.standard_normal(S.shape)  # responses that follow the captions
    out = evaluate_captions(caps, Y, STIM_CAPTIONS, units=list("abcde"), n_shuffles=7,
                            random_state=3)
    assert out.columns.tolist() == ["unit", "caption", "spearman", "spearman_shuffled"]
    ref = [spearmanr(S[:, i], Y[:, i])[0] for i in range(5)]
    np.testing.assert_allclose(out["spearman"], ref, atol=1e-12)
    perm_rng = np.random.default_rng(3)
    manual = np.zeros(5)
    for _ in range(7):
        perm = perm_rng.permutation(5)
        manual += [spearmanr(S[:, perm[i]], Y[:, i])[0] for i in range(5)]
    np.testing.assert_allclose(out["spearman_shuffled"], manual / 7, atol=1e-12)
    assert out["spearman"].mean() > out["spearman_shuffled"].mean() + 0.3
    # a caption with no word in common with any stimulus predicts a constant: scores 0
    zero = evaluate_captions(["a spaceship", "a face"], Y[:, :2], STIM_CAPTIONS, n_shuffles=0)
    assert zero["spearman"][0] == 0 and "spearman_shuffled" not in zero


def test_evaluate_captions_errors():
    Y = np.zeros((8, 2))
    with pytest.raises(ValueError, match="Invalid value for `responses`"):
        evaluate_captions(["a", "b", "c"], Y, STIM_CAPTIONS)
    with pytest.raises(ValueError, match="Invalid value for `units`"):
        evaluate_captions(["a face", "a dog"], Y, STIM_CAPTIONS, units=[1])
    with pytest.raises(ValueError, match="Invalid value for `stimulus_captions`"):
        evaluate_captions(["a face"], np.zeros((2, 1)), STIM_CAPTIONS[:2])
