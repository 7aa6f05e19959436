"""extract_features on the real 92-object images and on captions, with a tiny open_clip model."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.data import StimulusSet
from neurotoolkit.features import Backbone, FeatureSpace, extract_features, get_backbone
from neurotoolkit.features._backbones import import_torchvision

TINY_CLIP = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
BLOCK = "visual.transformer.resblocks.1"


@pytest.fixture(scope="module")
def clip():
    import_torchvision()
    pytest.importorskip("open_clip")
    return get_backbone("open_clip:nt-tiny-extract", pretrained=None, model_cfg=TINY_CLIP, device="cpu")


@pytest.fixture
def objects16(objects92_dir):
    full = StimulusSet.from_folder(objects92_dir)
    ids = list(full.ids[::6])[:16]  # spread over the categories
    return full.subset(ids)


def test_extract_real_images_deterministic_and_batch_invariant(clip, objects16):
    a = extract_features(objects16, clip, layers=["embedding", BLOCK], batch_size=5)
    b = extract_features(objects16, clip, layers=["embedding", BLOCK], batch_size=16)
    c = extract_features(objects16, clip, layers=["embedding", BLOCK], batch_size=5)
    assert set(a) == {"embedding", BLOCK}
    emb = a["embedding"]
    assert isinstance(emb, FeatureSpace) and emb.values.shape == (16, 24) and emb.values.dtype == np.float32
    assert a[BLOCK].values.shape == (16, 64)
    assert list(emb.stimulus_ids) == list(objects16.ids)
    assert emb.provenance["weights_tag"] == "random-init-seed0" and emb.provenance["layer"] == "embedding"
    for k in a:
        np.testing.assert_array_equal(a[k].values, c[k].values)
        np.testing.assert_allclose(a[k].values, b[k].values, rtol=1e-4, atol=1e-5)
    # the same numbers as one direct forward pass on the images
    imgs = [objects16.load_image(i) for i in objects16.ids[:3]]
    with torch.no_grad():
        ref = clip.forward_features(clip.preprocess_images(imgs), ["embedding"])["embedding"].numpy()
    np.testing.assert_allclose(emb.values[:3], ref, rtol=1e-4, atol=1e-5)
    # images differ, so rows differ
    assert np.linalg.matrix_rank(emb.values) == min(emb.values.shape)


def test_extract_float16_normalize_and_single_layer(clip, objects16):
    f32 = extract_features(objects16, clip, batch_size=8)
    f16 = extract_features(objects16, clip, batch_size=8, dtype="float16")
    unit = extract_features(objects16, clip, batch_size=8, normalize=True)
    assert isinstance(f32, FeatureSpace) and f32.name == "open_clip:nt-tiny-extract/embedding"
    assert f16.values.dtype == np.float16
    np.testing.assert_allclose(f16.values.astype(np.float32), f32.values, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(unit.values, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(unit.values, f32.values / np.linalg.norm(f32.values, axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)


def test_extract_reduce(clip, objects16):
    from sklearn.decomposition import PCA

    raw = extract_features(objects16, clip, layers=BLOCK, pooling="mean")
    pca = extract_features(objects16, clip, layers=BLOCK, pooling="mean",
                           reduce={"method": "pca", "n_components": 5, "random_state": 0})
    rp = extract_features(objects16, clip, layers=BLOCK, pooling="mean",
                          reduce={"method": "random_projection", "n_components": 7, "random_state": 0})
    assert pca.values.shape == (16, 5) and rp.values.shape == (16, 7)
    ref = PCA(5, random_state=0).fit_transform(raw.values.astype(np.float64))
    np.testing.assert_allclose(np.abs(pca.values), np.abs(ref), rtol=1e-3, atol=1e-4)
    assert 0 < pca.provenance["explained_variance_ratio"] <= 1
    # random projection approximately keeps distances (Johnson-Lindenstrauss), and is seeded
    rp2 = extract_features(objects16, clip, layers=BLOCK, pooling="mean",
                           reduce={"method": "random_projection", "n_components": 7, "random_state": 0})
    np.testing.assert_array_equal(rp.values, rp2.values)
    with pytest.raises(ValueError, match="at most min"):
        extract_features(objects16, clip, layers=BLOCK, reduce={"method": "pca", "n_components": 40})
    with pytest.raises(ValueError, match="Invalid value for `reduce"):
        extract_features(objects16, clip, reduce={"method": "ica", "n_components": 3})


def test_extract_text_captions(clip):
    caps = ["a red car", ["a face", "a human face smiling"], "a banana on a table"]
    stim = StimulusSet(["s1", "s2", "s3"], captions=caps, name="caps")
    feats = extract_features(stim, clip, modality="text", layers=["embedding", "transformer.resblocks.1"])
    assert feats["embedding"].values.shape == (3, 24)
    with torch.no_grad():
        emb = clip.forward_features(["a face", "a human face smiling"], ["embedding"])["embedding"].numpy()
    np.testing.assert_allclose(feats["embedding"].values[1], emb.mean(0), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="has no captions"):
        extract_features(StimulusSet(["a"], images=np.zeros((1, 8, 8, 3), np.uint8)), clip, modality="text")


def test_extract_validation(clip, objects16):
    with pytest.raises(ValueError, match="Invalid value for `pooling`"):
        extract_features(objects16, clip, layers=BLOCK, pooling="none")
    with pytest.raises(ValueError, match="not found in the model"):
        extract_features(objects16, clip, layers="visual.nope")
    with pytest.raises(ValueError, match="Invalid value for `dtype`"):
        extract_features(objects16, clip, dtype="int8")


def test_extract_with_module_and_in_memory_images():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (11, 13, 17, 3), dtype=np.uint8)
    stim = StimulusSet([f"im{k}" for k in range(11)], images=images)
    net(torch.zeros(1, 3, 13, 17))  # materialise the lazy layer
    bb = Backbone.from_module(net, device="cpu")
    feats = extract_features(stim, bb, layers=["0", "embedding"], batch_size=4, pooling="flatten")
    assert feats["0"].values.shape == (11, 6 * 11 * 15)
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        np.testing.assert_allclose(feats["embedding"].values, net(x).numpy(), rtol=1e-5, atol=1e-6)


def test_return_type_follows_the_type_of_layers():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    images = np.random.default_rng(1).integers(0, 256, (7, 9, 11, 3), dtype=np.uint8)
    stim = StimulusSet([f"im{k}" for k in range(7)], images=images)
    bb = Backbone.from_module(net, device="cpu")
    one = extract_features(stim, bb, layers="0", pooling="avgpool")
    assert isinstance(one, FeatureSpace) and one.values.shape == (7, 4)
    # a list gives a dict, even with one name: the type never depends on the length
    for layers in (["0"], ("0",)):
        listed = extract_features(stim, bb, layers=layers, pooling="avgpool")
        assert isinstance(listed, dict) and list(listed) == ["0"]
        np.testing.assert_array_equal(listed["0"].values, one.values)
    default = extract_features(stim, bb)  # layers="embedding"
    assert isinstance(default, FeatureSpace)
    with torch.no_grad():
        ref = net(torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(default.values, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="Invalid type for `layers`: expected a layer name"):
        extract_features(stim, bb, layers={"0"})


def test_layers_lists_parameter_free_modules_of_a_resnet():
    tv = import_torchvision()
    if tv is None:
        pytest.skip("torchvision is not installed")
    from torchvision.models.resnet import BasicBlock, ResNet

    torch.manual_seed(0)
    net = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=5).eval()  # random weights
    bb = Backbone.from_module(net, preprocess={"size": (32, 32)}, device="cpu")
    names = bb.layers()
    # the parameter-free global average pooling (the usual penultimate layer) is listed
    assert {"relu", "maxpool", "avgpool", "fc"} <= set(names)
    assert {"layer1.0", "layer4.0"} <= set(names) and names[-1] == "embedding"
    assert names.index("layer4.0") < names.index("avgpool") < names.index("fc")
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        feats = bb.forward_features(bb.preprocess_tensor(x), layers=["avgpool"], pooling="flatten")
        h = net.maxpool(net.relu(net.bn1(net.conv1(bb.preprocess_tensor(x)))))
        h = net.layer4(net.layer3(net.layer2(net.layer1(h))))
    np.testing.assert_allclose(feats["avgpool"].numpy(), h.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
