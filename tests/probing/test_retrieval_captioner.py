"""RetrievalCaptioner, SelectivityCaptioner and the offline text helpers."""

import math

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.probing import (
    RetrievalCaptioner,
    SelectivityCaptioner,
    extract_keywords,
    head_noun,
    make_prompt,
    pick_noun,
    prompts_for,
)
from neurotoolkit.probing.captioning._text import caption_frequencies, singular, tokenize

# ------------------------------------------------------------------------- text helpers


def test_tokenize_singular_prompt():
    assert tokenize("A four-legged Animal, on grass.") == ["a", "four-legged", "animal", "on",
                                                           "grass"]
    assert [singular(w) for w in ("bodies", "boxes", "faces", "buildings", "glass", "people",
                                  "bus", "cat")] == ["body", "box", "face", "building", "glass",
                                                     "person", "bus", "cat"]
    assert make_prompt("animal") == "a photo of an animal"
    assert make_prompt("face") == "a photo of a face"
    assert make_prompt("owl", "a drawing of a {noun}") == "a drawing of an owl"


def test_extract_keywords_hand_computed():
    captions = ["a photo of dogs on grass", "a dog", "a red car"]
    icf = caption_frequencies(captions)
    n = 3  # smoothed inverse caption frequency: log((1 + n) / (1 + df)) + 1
    assert icf["dog"] == pytest.approx(math.log((1 + n) / 3) + 1)
    assert icf["grass"] == pytest.approx(math.log((1 + n) / 2) + 1)
    assert "photo" not in icf and "red" not in icf and "a" not in icf  # stop words
    w = np.array([0.5, 0.3, 0.2])
    kw = extract_keywords(captions, w, n_keywords=2, icf=icf)
    raw = {"dog": 0.8 * icf["dog"], "grass": 0.5 * icf["grass"], "car": 0.2 * icf["car"]}
    assert [k for k, _ in kw] == ["dog", "grass"]
    total = raw["dog"] + raw["grass"]
    assert kw[0][1] == pytest.approx(raw["dog"] / total)
    assert kw[1][1] == pytest.approx(raw["grass"] / total)
    # equal weights, no icf: counts; ties keep first appearance
    kw = extract_keywords(["cat dog", "dog owl cat", "a mouse"], n_keywords=3)
    assert [k for k, _ in kw] == ["cat", "dog", "owl"]
    assert [w for _, w in kw] == pytest.approx([0.4, 0.4, 0.2])
    with pytest.raises(ValueError, match="Invalid value for `weights`"):
        extract_keywords(captions, [1.0, 2.0])


def test_head_noun_and_pick_noun():
    assert head_noun("a human figure with a small head") == "figure"
    assert head_noun("a photo of a dog on grass") == "dog"
    assert head_noun("a headless human body") == "body"
    assert head_noun("a four-legged animal") == "animal"
    assert head_noun("a photo") is None
    # adjectives and -ed / -less words are skipped; head nouns of the captions preferred
    caps = ["a human figure with a small head", "a headless human body"]
    assert pick_noun(["head", "human", "headless", "body"], caps) == "body"
    assert pick_noun(["legged", "animal"]) == "animal"
    assert pick_noun([("building", 0.6), ("street", 0.4)]) == "building"
    assert pick_noun(["headless"]) == "headless"  # nothing noun-like: the top keyword
    assert pick_noun([]) is None


def test_pick_noun_without_nltk_falls_back_to_the_rule(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nltk", None)  # import nltk -> ImportError
    caps = ["a human figure with a small head", "a headless human body"]
    assert pick_noun(["head", "human", "headless", "body"], caps, use_nltk=True) == "body"


# ------------------------------------------------------------------------- retrieval


@pytest.fixture
def toy_pool():
    rng = np.random.default_rng(1)
    captions = ["a cartoon face", "a smiling face of a man", "a street scene with buildings",
                "a house on a street", "a dog on grass", "a photo of a dog"]
    centres = rng.standard_normal((3, 7)) * 3
    E = np.repeat(centres, 2, axis=0) + 0.3 * rng.standard_normal((6, 7))
    return captions, E, centres


def test_retrieve_matches_cosine_softmax(toy_pool):
    captions, E, _ = toy_pool
    cap = RetrievalCaptioner(captions, E, n_captions=4, temperature=0.1)
    q = np.random.default_rng(2).standard_normal((5, 7))
    idx, w = cap.retrieve(q)
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        E / np.linalg.norm(E, axis=1, keepdims=True)).T
    ref_idx = np.argsort(-cos, axis=1)[:, :4]
    np.testing.assert_array_equal(idx, ref_idx)
    top = np.take_along_axis(cos, ref_idx, axis=1) / 0.1
    ref_w = np.exp(top - top.max(1, keepdims=True))
    np.testing.assert_allclose(w, ref_w / ref_w.sum(1, keepdims=True))


def test_caption_styles_name_the_cluster(toy_pool):
    captions, E, centres = toy_pool
    sentences = RetrievalCaptioner(captions, E, n_captions=2).caption(centres, num_beams=5)
    for k, sentence in enumerate(sentences):  # a pool caption of the query's own cluster
        assert sentence in captions[2 * k:2 * k + 2]
    cap = RetrievalCaptioner(captions, E, n_captions=2, style="noun")
    table = cap.describe(centres)
    assert list(table.columns[:5]) == ["caption", "keywords", "keyword_weights", "noun", "prompt"]
    assert table["noun"][0] == "face" and table["noun"][2] == "dog"
    assert table["noun"][1] in {"house", "scene"}  # head nouns of the street captions
    assert table["caption"].tolist() == table["prompt"].tolist()
    assert table["caption"][0] == "a photo of a face"
    assert all(abs(sum(w) - 1) < 1e-9 for w in table["keyword_weights"])
    assert all(len(k) <= 5 for k in table["keywords"])
    # words of both retrieved captions outrank words of one ("face" vs "cartoon")
    assert table["keywords"][0][0] == "face"
    keywords = RetrievalCaptioner(captions, E, n_captions=2, style="keywords").caption(centres)
    assert keywords[0].split(", ")[0] == "face"


def test_llm_hook_receives_retrieved_captions(toy_pool):
    captions, E, centres = toy_pool
    seen = []

    def llm(caps):
        seen.append(list(caps))
        return "LLM: " + caps[0]

    cap = RetrievalCaptioner(captions, E, n_captions=3, llm=llm)
    out = cap.caption(centres[:1])
    assert out == ["LLM: " + seen[0][0]] and len(seen[0]) == 3
    assert set(seen[0][:2]) == {"a cartoon face", "a smiling face of a man"}


def test_retrieval_captioner_errors(toy_pool):
    captions, E, _ = toy_pool
    with pytest.raises(ValueError, match="Invalid value for `embeddings`"):
        RetrievalCaptioner(captions, E[:4])
    with pytest.raises(ValueError, match="Invalid value for `style`"):
        RetrievalCaptioner(captions, E, style="poem")
    with pytest.raises(TypeError, match="Invalid value for `llm`"):
        RetrievalCaptioner(captions, E, llm="gpt")
    with pytest.raises(ValueError, match="Invalid value for `embeddings`"):
        RetrievalCaptioner(captions, E).caption(np.ones((2, 3)))


# ------------------------------------------------------------------------- SelectivityCaptioner


class _EchoDecoder:
    """A generative-style decoder (caption only, no describe): names the largest coordinate."""

    def __init__(self):
        self.names = ["dogs running on grass", "a red car parked near a house",
                      "a face of a woman"]
        self.kwargs = None

    def caption(self, embeddings, **kwargs):
        self.kwargs = kwargs
        return [self.names[int(np.argmax(e))] for e in embeddings]


def test_selectivity_captioner_with_a_generative_decoder():
    dec = _EchoDecoder()
    pool = np.eye(3) * np.array([[2.0], [3.0], [4.0]])
    sc = SelectivityCaptioner(dec, image_embeddings=pool, captioner_kwargs={"num_beams": 5})
    W = np.array([[1.0, 0.1, 0.0], [0.0, 0.2, 5.0], [0.1, 2.0, 0.3], [0.0, 0.0, 1.0]])
    table = sc.caption_units(W, units=["a", "b", "c", "d"])
    assert dec.kwargs == {"num_beams": 5}
    assert table.columns.tolist() == ["unit", "caption", "keywords", "noun", "prompt"]
    assert table["noun"].tolist() == ["dog", "face", "car", "face"]
    assert table["keywords"][0] == ["dog", "running", "grass"]
    assert table["prompt"][2] == "a photo of a car"
    # the projection keeps realistic norms (near a pool row's norm), unlike the raw weights
    proj = sc.project_weights(W)
    np.testing.assert_allclose(np.linalg.norm(proj, axis=1), [2.0, 4.0, 3.0, 4.0], rtol=1e-3)
    rois = sc.caption_rois(W, ["x", "y", "x", "y"], average="weights")
    assert rois[["roi", "n_units"]].values.tolist() == [["x", 2], ["y", 2]]
    assert rois["noun"].tolist()[1] == "face"
    assert sc.prompts_for(["apple", None]) == ["a photo of an apple", ""]
    assert prompts_for(table)[0] == "a photo of a dog"
    with pytest.raises(ValueError, match="Invalid value for `image_embeddings`"):
        SelectivityCaptioner(dec)
    with pytest.raises(TypeError, match="Invalid value for `captioner`"):
        SelectivityCaptioner(object(), image_embeddings=pool)
    # the old keywords still work, with a FutureWarning naming the new ones
    with pytest.warns(FutureWarning, match="`decoder` of SelectivityCaptioner is deprecated.*"
                                           "`captioner=`"):
        old = SelectivityCaptioner(decoder=dec, image_embeddings=pool,
                                   captioner_kwargs={"num_beams": 5})
    assert old.captioner is dec
    pd.testing.assert_frame_equal(old.caption_units(W, units=["a", "b", "c", "d"]), table)
    with pytest.warns(FutureWarning, match="`decoder_kwargs` of SelectivityCaptioner"):
        assert SelectivityCaptioner(dec, image_embeddings=pool,
                                    decoder_kwargs={"num_beams": 2}).captioner_kwargs == {"num_beams": 2}
    with pytest.warns(FutureWarning, match="`SelectivityCaptioner.decoder` is deprecated"):
        assert sc.decoder is dec
    with pytest.raises(ValueError, match="Invalid value for `average`"):
        sc.caption_rois(W, list("xyxy"), average="median")


# ------------------------------------------------------------------------- simulator: planted ROIs

ROI_CATEGORY = {"FFA": "face", "EBA": "body", "PPA": "place", "LOC": "object"}
# words that count as naming each planted category (the builtin captions' vocabulary)
CATEGORY_WORDS = {"face": {"face", "head"}, "body": {"body", "figure", "human", "person"},
                  "place": {"place", "scene", "building", "street", "house"},
                  "object": {"object", "box", "bottle", "ball", "hammer", "cup"}}


@pytest.fixture(scope="module")
def simulated_captions():
    """Simulated subject with planted FFA/EBA/PPA/LOC; Gabor-feature encoder; a separate pool.

    The embedding space is a real (weight-free) feature space: the Gabor pyramid of
    the images, standardised with the encoder's training statistics. The caption
    pool is a second, independently drawn builtin stimulus set with its captions.
    """
    from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
    from neurotoolkit.encoding import VoxelwiseEncoder
    from neurotoolkit.features import FeatureSpace, GaborPyramid

    stim = make_builtin_stimuli(n_per_category=16, size=64, random_state=0)
    sim = simulate_recordings(stimuli=stim, n_subjects=1, random_state=0)
    rec = sim.recordings[0]
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    space = FeatureSpace(sim.truth.features, sim.truth.stimulus_ids, name="gabor")
    enc = VoxelwiseEncoder(features=space, cv=5).fit(train)
    pool = make_builtin_stimuli(n_per_category=16, size=64, random_state=1)
    Z = (GaborPyramid(**sim.truth.gabor).transform(pool) - enc.feature_mean_["features"]) \
        / enc.feature_scale_["features"]
    sc = SelectivityCaptioner(RetrievalCaptioner(pool.captions, Z))
    W = enc.estimator_.coef_.T
    table = sc.caption_units(W, units=rec.units.index)
    table["roi"] = rec.units["roi"].to_numpy()
    return {"sc": sc, "W": W, "table": table, "rec": rec, "test": test, "stim": stim}


def test_retrieval_captioner_names_planted_categories(simulated_captions):
    table = simulated_captions["table"]
    for roi, category in ROI_CATEGORY.items():
        nouns = table.loc[table["roi"] == roi, "noun"]
        accuracy = nouns.isin(CATEGORY_WORDS[category]).mean()
        assert accuracy >= 0.7, (roi, accuracy, nouns.value_counts().head(3).to_dict())
    # the noise ROI is not dominated by one category's words
    noise = table.loc[table["roi"] == "noise", "noun"]
    assert max(noise.isin(w).mean() for w in CATEGORY_WORDS.values()) < 0.75


def test_roi_captions_both_averaging_modes(simulated_captions):
    sc, W, rec = (simulated_captions[k] for k in ("sc", "W", "rec"))
    for average in ("projected", "weights"):
        rois = sc.caption_rois(W, rec.units["roi"], average=average).set_index("roi")
        for roi, category in ROI_CATEGORY.items():
            assert rois.loc[roi, "noun"] in CATEGORY_WORDS[category], (average, roi, rois)
        assert rois["n_units"].sum() == rec.n_units


def test_captions_predict_held_out_responses(simulated_captions):
    """LaVCa sentence-level metric on held-out stimuli: captions beat shuffled captions."""
    from neurotoolkit.probing import evaluate_captions

    table, test, stim = (simulated_captions[k] for k in ("table", "test", "stim"))
    avg = test.average_repeats()
    refs = [stim.captions[k] for k in stim.index_of(avg.stimulus_ids)]
    scores = evaluate_captions(table["caption"].tolist(), avg.responses, refs, units=table["unit"],
                               n_shuffles=20, random_state=0)
    scores["roi"] = table["roi"].to_numpy()
    planted = scores[scores["roi"].isin(list(ROI_CATEGORY))]
    assert planted["spearman"].mean() > 0.3
    assert planted["spearman"].mean() > planted["spearman_shuffled"].mean() + 0.25
    noise = scores[scores["roi"] == "noise"]
    assert abs(noise["spearman"].mean()) < 0.15


@pytest.mark.slow
def test_selectivity_captioner_with_a_tiny_prefix_captioner():
    """The generative decoder (ClipCap-style PrefixCaptioner, tiny random GPT-2) plugs in."""
    torch = pytest.importorskip("torch")
    from neurotoolkit.simulation import make_builtin_stimuli
    from neurotoolkit.features._backbones import import_torchvision
    from neurotoolkit.probing import PrefixCaptioner, build_word_tokenizer

    import_torchvision()
    from transformers import GPT2Config

    captions = sorted(set(make_builtin_stimuli(4, size=32).captions))
    rng = np.random.default_rng(0)
    E = (rng.standard_normal((len(captions), 13)) * rng.uniform(1, 3, (len(captions), 1)))
    E = E.astype("float32")
    tok = build_word_tokenizer(captions)
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=96, vocab_size=len(tok),
                     bos_token_id=None, eos_token_id=None)
    torch.manual_seed(0)
    prefix = PrefixCaptioner(cfg, tok, prefix_length=4, train_language_model=True, max_epochs=60,
                             batch_size=8, learning_rate=3e-3, device="cpu",
                             random_state=0).fit(E, captions)
    W = E + 0.2 * rng.standard_normal(E.shape) * np.abs(E).mean()  # "voxels" near pool items
    sc = SelectivityCaptioner(prefix, image_embeddings=E,
                              captioner_kwargs={"num_beams": 3, "max_length": 12})
    table = sc.caption_units(W)
    got = [c.rstrip(".").strip() for c in table["caption"]]
    assert np.mean([g == c for g, c in zip(got, captions)]) >= 0.8, list(zip(got, captions))
    assert table["noun"].notna().all()
