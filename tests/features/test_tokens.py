"""extract_features(pooling="tokens"): unpooled token grids (CNN maps, ViT patches, ViT queries),
cached like pooled features; pooling them reproduces the pooled extraction."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.data import StimulusSet
from neurotoolkit.features import Backbone, TokenFeatures, extract_features, get_backbone
from neurotoolkit.features._backbones import import_torchvision

TINY_CLIP = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def stim():
    rng = np.random.default_rng(0)
    return StimulusSet([f"s{k}" for k in range(7)], images=rng.integers(0, 255, (7, 32, 48, 3), dtype=np.uint8))


def test_feature_maps_as_tokens_cached(tmp_path, stim):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 8, 8), torch.nn.ReLU())
    bb = Backbone.from_module(net, device="cpu")
    tok = extract_features(stim, bb, layers="1", pooling="tokens", batch_size=3, cache=tmp_path)
    assert isinstance(tok, TokenFeatures) and tok.values.shape == (7, 4 * 6, 5) and tok.grid == (4, 6)
    again = extract_features(stim, bb, layers="1", pooling="tokens", cache=tmp_path)
    np.testing.assert_array_equal(again.values, tok.values)
    pooled = extract_features(stim, bb, layers="1", pooling="avgpool")
    np.testing.assert_allclose(tok.pooled().values, pooled.values, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        fmap = net(bb.preprocess_images(stim.images[:1]))[0]  # (5, 4, 6)
    np.testing.assert_allclose(tok.values[0, 1 * 6 + 2], fmap[:, 1, 2].numpy(), rtol=1e-6)
    np.testing.assert_allclose(tok.positions[1 * 6 + 2], [2.5 / 6, 1.5 / 4])
    with pytest.raises(ValueError, match="Invalid value for `pooling`: 'tokens' needs"):
        extract_features(stim, bb, layers="1", pooling="tokens", reduce={"method": "pca", "n_components": 2})


def test_vit_patches_and_query_vectors(stim):
    import_torchvision()
    pytest.importorskip("open_clip")
    clip = get_backbone("open_clip:nt-tiny-tokens", pretrained=None, model_cfg=TINY_CLIP, device="cpu")
    blk = "visual.transformer.resblocks.1"
    out = extract_features(stim, clip, layers=[blk, blk + ".attn:query"], pooling="tokens")
    assert out[blk].grid == (4, 4) and out[blk].values.shape == (7, 16, 64)
    # reference: the query projection of block 1 applied to its normalised input (CLS dropped)
    x = clip.preprocess_images(stim.images[:2])
    prev = clip.forward_features(x, layers=["visual.transformer.resblocks.0"], pooling="none")
    b = clip.model.visual.transformer.resblocks[1]
    with torch.no_grad():
        ref = torch.nn.functional.linear(b.ln_1(prev["visual.transformer.resblocks.0"]),
                                         b.attn.in_proj_weight[:64], b.attn.in_proj_bias[:64])[:, 1:]
    np.testing.assert_allclose(out[blk + ".attn:query"].values[:2], ref.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="':query' layer must name an attention module"):
        extract_features(stim, clip, layers=blk + ".ln_1:query", pooling="tokens")
