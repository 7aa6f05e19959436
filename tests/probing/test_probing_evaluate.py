"""Evaluation of synthesized images: natural-image comparison, zero-shot CLIP, simulator truth."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
from neurotoolkit.probing import (
    GroundTruthJudge,
    NaturalComparison,
    category_specificity,
    compare_to_natural,
    images_to_float,
    predicted_activation,
    zero_shot_category,
)


def _brightness(x):
    return x.mean(dim=(1, 2, 3))


def test_images_to_float_layouts():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (4, 7, 9, 3), dtype=np.uint8)
    chw = images_to_float(u8)
    assert chw.shape == (4, 3, 7, 9) and chw.dtype == np.float32
    np.testing.assert_allclose(images_to_float(chw), chw)
    np.testing.assert_allclose(images_to_float(torch.as_tensor(chw)), chw)
    np.testing.assert_allclose(images_to_float(list(u8)), chw)
    gray = images_to_float(u8[..., 0])
    assert gray.shape == (4, 3, 7, 9)
    with pytest.raises(ValueError, match="images of one size"):
        images_to_float([u8[0], u8[0, :5]])


def test_predicted_activation_and_compare_to_natural():
    stim = make_builtin_stimuli(n_per_category=3, size=32)
    nat = stim.load_images(stim.ids) / 255.0
    syn = np.stack([np.ones((3, 32, 32)), np.zeros((3, 32, 32))]).astype(np.float32)
    scores = predicted_activation(_brightness, syn)
    np.testing.assert_allclose(scores, [1.0, 0.0])
    np.testing.assert_allclose(predicted_activation(_brightness, stim, batch_size=4),
                               nat.mean(axis=(1, 2, 3)), rtol=1e-6)
    comparison = compare_to_natural(_brightness, syn, stim, top_k=3)
    assert isinstance(comparison, NaturalComparison)
    table, summary = comparison.table, comparison.summary
    assert list(table["source"]) == ["synthesized", "natural", "natural", "natural", "synthesized"]
    best = nat.mean(axis=(1, 2, 3)).max()
    assert summary["best_natural"] == pytest.approx(best, rel=1e-6)
    assert summary["fraction_above_best_natural"] == 0.5
    assert summary["synthesized_mean"] == pytest.approx(0.5) and summary["n_natural"] == len(stim)
    assert not table.attrs  # the summary is explicit, not hidden in DataFrame.attrs
    with pytest.warns(FutureWarning, match=r"`compare_to_natural\(...\).attrs` is deprecated"):
        assert comparison.attrs == summary
    with pytest.warns(FutureWarning, match="use `.table"):
        assert list(comparison["source"]) == list(table["source"])
    assert table["rank"].iloc[0] == 1 and table["rank"].iloc[-1] == len(stim) + 2
    assert table["percentile"].iloc[0] == 100.0 and table["percentile"].iloc[-1] == 0.0
    assert table["id"].iloc[1] == stim.ids[int(np.argmax(nat.mean(axis=(1, 2, 3))))]
    with pytest.raises(ValueError, match="one score per image"):
        compare_to_natural(lambda x: x.mean(dim=(2, 3)), syn, stim)


def _colour_backbone():
    """A stand-in image+text Backbone: images -> mean RGB, 'a photo of a red.' -> one-hot red."""
    from neurotoolkit.features import Backbone

    names = ["red", "green", "blue"]

    class Model(torch.nn.Module):
        def forward(self, x):
            return x

    def tokenize(texts):
        return torch.as_tensor([[next(k for k, n in enumerate(names) if n in t)] for t in texts])

    return Backbone(
        Model(), "colour", "image+text", "none", tokenizer=tokenize,
        embed_image=lambda m, x: x.mean(dim=(2, 3)),
        embed_text=lambda m, t: torch.nn.functional.one_hot(t[:, 0], 3).float(),
    ), names


def test_zero_shot_category_stand_in_known_answer():
    bb, names = _colour_backbone()
    x = np.full((4, 3, 8, 8), 0.1, dtype=np.float32)
    x[0, 0], x[1, 2], x[2, 1], x[3, 2] = 0.9, 0.9, 0.9, 0.9
    table = zero_shot_category(x, bb, categories=names)
    assert list(table["category"]) == ["red", "blue", "green", "blue"]
    np.testing.assert_allclose(table[names].sum(axis=1), 1.0, rtol=1e-6)
    assert category_specificity(table, "blue") == 0.5
    assert category_specificity(["face", "body"], "face") == 0.5


def test_zero_shot_category_tiny_open_clip():
    from neurotoolkit.features import get_backbone
    from neurotoolkit.features._backbones import import_torchvision

    import_torchvision()  # the CUDA torchvision wheel needs this before open_clip
    pytest.importorskip("open_clip")

    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1}}
    bb = get_backbone("open_clip:p1-tiny", pretrained=None, model_cfg=cfg, random_state=0)
    x = np.random.default_rng(0).random((5, 3, 40, 37)).astype(np.float32)
    table = zero_shot_category(x, bb)
    cats = ["face", "place", "body", "word", "food"]
    assert table.shape == (5, 6) and list(table.columns[:5]) == cats
    with torch.no_grad():  # reference: cosine similarities of CLIP embeddings, softmax at scale 100
        img = bb.model.encode_image(bb.preprocess_tensor(torch.as_tensor(x)))
        txt = bb.model.encode_text(bb.preprocess_texts([f"a photo of a {c}." for c in cats]))
        img, txt = (torch.nn.functional.normalize(t, dim=-1) for t in (img, txt))
        ref = torch.softmax(100 * img @ txt.T, dim=-1).numpy()
    np.testing.assert_allclose(table[cats].to_numpy(), ref, rtol=1e-4, atol=1e-6)
    assert list(table["category"]) == [cats[k] for k in ref.argmax(1)]
    with pytest.raises(ValueError, match="with '\\{\\}'"):
        zero_shot_category(x, bb, template="a photo")


def test_zero_shot_category_needs_image_text_model():
    from neurotoolkit.features import get_backbone

    with pytest.raises(ValueError, match="expected an image\\+text model"):
        zero_shot_category(np.zeros((1, 3, 16, 16), np.float32), get_backbone("gabor", image_size=16,
                                                                           spatial_frequencies=(2, 4)))


@pytest.fixture(scope="module")
def simulated():
    stim = make_builtin_stimuli(n_per_category=8, size=64, random_state=0)
    sim = simulate_recordings(stimuli=stim, n_subjects=2, random_state=1,
                              n_units_per_roi={"V1": 15, "FFA": 11, "EBA": 7, "PPA": 5, "LOC": 5, "noise": 3})
    return stim, sim


def test_ground_truth_judge_reproduces_the_simulator(simulated):
    stim, sim = simulated
    judge = GroundTruthJudge(sim.truth, subject="sub-02").fit()
    assert judge.subject_ == 1
    # features of arbitrary images are the simulator's own features
    feats = judge.features(stim.load_images(stim.ids[:9]))
    np.testing.assert_allclose(feats, sim.truth.features[:9], rtol=1e-3, atol=1e-4)
    # with the true labels, the response model is the simulator's signal, exactly
    gabor, _ = judge.responses(features=sim.truth.features)
    exact = gabor + sim.truth.categories @ sim.truth.category_weights[1]
    np.testing.assert_allclose(exact, sim.truth.signal[1], rtol=1e-4, atol=1e-4)
    # the probes recover the (training) labels of cartoon categories
    probs = judge.category_probabilities(features=sim.truth.features)
    is_face = sim.truth.categories[:, sim.truth.category_names.index("face")] > 0
    assert probs["face"][is_face].mean() > 0.8
    assert probs["face"][~is_face].mean() < 0.2
    assert (judge.probe_accuracy_ > 0.5).all()


def test_ground_truth_judge_evaluate(simulated):
    stim, sim = simulated
    judge = GroundTruthJudge(sim.truth, subject=0)
    table = judge.evaluate(stim, "FFA")  # fits lazily
    assert len(table) == len(stim)
    drivers = [d for d in sim.truth.drivers.values() if d in sim.truth.category_names]
    assert set(table["category"]) <= set(drivers)
    rois = sim.truth.units[0]["roi"].to_numpy()
    gabor, full = judge.responses(stim)
    np.testing.assert_allclose(table["truth_gabor"], gabor[:, rois == "FFA"].mean(1))
    np.testing.assert_allclose(table["truth"], full[:, rois == "FFA"].mean(1))
    # FFA's estimated truth is highest for face images
    is_face = stim.categories["face"].to_numpy()
    assert table["truth"][is_face].mean() > table["truth"][~is_face].mean()
    assert category_specificity(table[is_face], "face") > 0.8
    with pytest.raises(ValueError, match="Invalid value for `roi`"):
        judge.evaluate(stim, "MT")
    with pytest.raises(ValueError, match="Invalid value for `subject`"):
        GroundTruthJudge(sim.truth, subject="sub-09").fit()
    with pytest.raises(TypeError, match="expected a GroundTruth"):
        GroundTruthJudge(object()).fit()
