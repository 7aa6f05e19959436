"""Backbones: open_clip and transformers models built tiny from configs, any nn.Module."""

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.features import Backbone, ImageTransform, get_backbone
from neurotoolkit.features._backbones import import_torchvision

TINY_CLIP = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def _images(n=3, h=40, w=52, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def clip():
    import_torchvision()
    pytest.importorskip("open_clip")
    return get_backbone("open_clip:nt-tiny-test", pretrained=None, model_cfg=TINY_CLIP, device="cpu")


def test_open_clip_layers_and_shapes(clip):
    img_layers = clip.layers()
    assert img_layers[-1] == "embedding"
    assert "visual.transformer.resblocks.0" in img_layers and "visual.transformer.resblocks.1" in img_layers
    assert not any(name.startswith("visual") for name in clip.layers("text"))
    assert "transformer.resblocks.1" in clip.layers("text")
    assert len(clip.layers(all_modules=True)) > len(img_layers)
    x = _images()
    block = "visual.transformer.resblocks.1"
    raw = clip.forward_features(x, [block], pooling="none")[block]
    n_tokens = (32 // 8) ** 2 + 1
    assert tuple(raw.shape) == (3, n_tokens, 64)
    feats = {p: clip.forward_features(x, [block, "visual.conv1"], pooling=p) for p in
             ("cls", "mean", "avgpool", "flatten")}
    torch.testing.assert_close(feats["cls"][block], raw[:, 0])
    torch.testing.assert_close(feats["mean"][block], raw.mean(1))
    assert tuple(feats["flatten"][block].shape) == (3, n_tokens * 64)
    assert tuple(feats["flatten"]["visual.conv1"].shape) == (3, 64 * 4 * 4)
    assert tuple(feats["cls"]["visual.conv1"].shape) == (3, 64)  # maps are averaged over space


def test_open_clip_embedding_matches_encode_image(clip):
    x = _images(seed=1)
    inputs = clip.preprocess_images(x)
    assert tuple(inputs.shape) == (3, 3, 32, 32)
    with torch.no_grad():
        ref = clip.model.encode_image(inputs)
        out = clip.forward_features(inputs, ["embedding"])["embedding"]
        unit = clip.forward_features(inputs, ["embedding", "visual.ln_post"], normalize=True)
    torch.testing.assert_close(out, ref)
    for v in unit.values():
        torch.testing.assert_close(v.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(unit["embedding"], ref / ref.norm(dim=1, keepdim=True))


def test_open_clip_text_mean_pooling_uses_the_mask(clip):
    texts = ["a cat", "a small dog sat on the red mat"]
    tokens = clip.preprocess_texts(texts)
    layer = "transformer.resblocks.1"
    with torch.no_grad():
        raw = clip.forward_features(tokens, [layer], pooling="none")[layer]
        mean = clip.forward_features(texts, [layer, "embedding"], pooling="mean")
        ref = clip.model.encode_text(tokens)
    n_valid = int((tokens[0] != 0).sum())
    assert 2 < n_valid < tokens.shape[1]
    torch.testing.assert_close(mean[layer][0], raw[0, :n_valid].mean(0))
    torch.testing.assert_close(mean["embedding"], ref)


def test_open_clip_random_init_is_seeded_and_leaves_global_rng(clip):
    state = torch.random.get_rng_state()
    again = get_backbone("open_clip:nt-tiny-test", pretrained=None, model_cfg=TINY_CLIP, device="cpu")
    other = get_backbone("open_clip:nt-tiny-test", pretrained=None, random_state=1, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert again.weights_tag == clip.weights_tag == "random-init-seed0"
    assert other.weights_tag == "random-init-seed1"
    w = "visual.conv1.weight"
    assert torch.equal(again.model.state_dict()[w], clip.model.state_dict()[w])
    assert not torch.equal(other.model.state_dict()[w], clip.model.state_dict()[w])


def test_open_clip_checkpoint_loads_identically(clip, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(clip.model.state_dict(), path)
    other = get_backbone("open_clip:nt-tiny-test", checkpoint=path, device="cpu")
    assert other.weights_tag == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    x = _images(seed=2)
    with torch.no_grad():
        a = clip.forward_features(x, ["embedding", "visual.transformer.resblocks.0"])
        b = other.forward_features(x, ["embedding", "visual.transformer.resblocks.0"])
        ta = clip.forward_features(["a photo of a face"], ["embedding"])["embedding"]
        tb = other.forward_features(["a photo of a face"], ["embedding"])["embedding"]
    for k in a:
        assert torch.equal(a[k], b[k])
    assert torch.equal(ta, tb)
    with pytest.raises(FileNotFoundError, match="no file at"):
        get_backbone("open_clip:nt-tiny-test", checkpoint=tmp_path / "absent.pt")


@pytest.fixture
def download_attempts(monkeypatch):
    """Record (and refuse) every weight download: a missing-weights error must come from
    the local caches, before any download attempt (which would retry for tens of seconds
    without network). Spies on the Hugging Face Hub's metadata request and file download
    and on urllib (open_clip's URL downloads)."""
    import urllib.request

    hub = pytest.importorskip("huggingface_hub.file_download")
    attempts = []

    def refuse(kind):
        def _refuse(*args, **kwargs):
            attempts.append((kind, args[:1]))
            raise OSError(f"downloads are disabled in this test ({kind})")
        return _refuse

    monkeypatch.setattr(hub, "get_hf_file_metadata", refuse("hub metadata"))
    monkeypatch.setattr(hub, "http_get", refuse("hub download"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urlopen"))
    return attempts


def test_open_clip_missing_weights_error_is_local_and_helpful(download_attempts, monkeypatch):
    import_torchvision()
    open_clip = pytest.importorskip("open_clip")
    built, create_model = [], open_clip.create_model
    monkeypatch.setattr(open_clip, "create_model",
                        lambda *a, **k: built.append(a) or create_model(*a, **k))
    with pytest.raises(FileNotFoundError, match=r"ViT-B-32.*laion2b_s34b_b79k.*checkpoint="):
        get_backbone("open_clip:ViT-B-32", pretrained="laion2b_s34b_b79k", cache_dir="/nonexistent_cache")
    assert built == [] and download_attempts == []  # no model built, no download tried
    with pytest.raises(ValueError, match="no tag 'nope'"):
        get_backbone("open_clip:ViT-B-32", pretrained="nope")
    with pytest.raises(ValueError, match="needs a pretrained tag, one of"):
        get_backbone("open_clip:ViT-B-32")
    with pytest.raises(ValueError, match="no architecture"):
        get_backbone("open_clip:NotAModel-7", pretrained=None)


def test_unknown_backbone_name():
    with pytest.raises(ValueError, match="expected a name starting with one of"):
        get_backbone("nosuchthing:abc")
    with pytest.raises(TypeError, match="Backbone.from_module"):
        get_backbone(torch.nn.Linear(2, 2))


def test_gradients_flow_through_forward_features(clip):
    x = torch.rand(2, 3, 37, 45, requires_grad=True)
    feats = clip.forward_features(clip.preprocess_tensor(x), ["visual.transformer.resblocks.0", "embedding"])
    (feats["embedding"].sum() + feats["visual.transformer.resblocks.0"].pow(2).sum()).backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_image_transform_matches_open_clip_pil_preprocess(clip):
    import_torchvision()
    import open_clip
    from PIL import Image

    cfg = open_clip.get_model_preprocess_cfg(clip.model)
    pil_tf = open_clip.image_transform(cfg["size"], is_train=False, mean=cfg["mean"], std=cfg["std"])
    yy, xx = np.mgrid[0:61, 0:47] / 10.0  # a smooth image: resampling kernels then agree
    img = np.stack([np.sin(yy), np.cos(xx), np.sin(xx + yy)], -1)
    img = np.round((img + 1) * 127.5).astype(np.uint8)
    ref = pil_tf(Image.fromarray(img))
    ours = clip.preprocess_images(img[None])[0]
    assert ours.shape == ref.shape == (3, 32, 32)
    r = np.corrcoef(ours.numpy().ravel(), ref.numpy().ravel())[0, 1]
    assert r > 0.99, r
    assert float((ours - ref).abs().mean()) < 0.08  # ~4 grey levels: torch vs PIL bicubic


def test_image_transform_modes():
    x = torch.rand(2, 3, 30, 50)
    assert ImageTransform(20, crop=20)(x).shape == (2, 3, 20, 20)
    assert ImageTransform(20, crop=None)(x).shape == (2, 3, 20, 33)
    assert ImageTransform((16, 24), resize_mode="squash")(x).shape == (2, 3, 16, 24)
    out = ImageTransform(20, resize_mode="longest")(x)
    assert out.shape == (2, 3, 20, 20)
    assert torch.all(out[:, :, 0] == 0)  # padded rows (fill 0, mean 0, std 1)
    norm = ImageTransform((30, 50), resize_mode="squash", mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))(x)
    torch.testing.assert_close(norm[:, 1], (x[:, 1] - 0.5) / 0.5)


# ---------------------------------------------------------------------- transformers
@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    import_torchvision()
    tr = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    vit_cfg = tr.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                           image_size=32, patch_size=8)
    vit = tr.ViTModel(vit_cfg).eval()
    vit.save_pretrained(root / "vit")
    tr.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root / "vit")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["a", "cat", "dog", "on", "the", "mat", "sat", "red"]
    (root / "vocab.txt").write_text("\n".join(vocab))
    tok = tr.BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    bert_cfg = tr.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=23, max_position_embeddings=32)
    bert = tr.BertModel(bert_cfg).eval()
    bert.save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    return {"root": root, "vit": vit, "bert": bert}


def test_hf_vit_from_local_folder(hf_models):
    bb = get_backbone(f"hf:{hf_models['root'] / 'vit'}", device="cpu")
    assert bb.modality == "image" and bb.weights_tag.startswith("sha256:")
    layers = bb.layers()
    blocks = [name for name in layers if name.split(".")[-1].isdigit()]
    assert len(blocks) == 2 and layers[-1] == "embedding"
    x = _images(seed=4)
    with torch.no_grad():
        inputs = bb.preprocess_images(x)
        ref = hf_models["vit"](pixel_values=inputs, output_hidden_states=True)
        feats = bb.forward_features(inputs, [blocks[1], "embedding"], pooling="none")
    assert tuple(inputs.shape) == (3, 3, 32, 32)
    torch.testing.assert_close(feats["embedding"], ref.pooler_output)
    torch.testing.assert_close(feats[blocks[1]], ref.hidden_states[2])
    rand = get_backbone(f"hf:{hf_models['root'] / 'vit'}", pretrained=None, random_state=3, device="cpu")
    again = get_backbone(f"hf:{hf_models['root'] / 'vit'}", pretrained=None, random_state=3, device="cpu")
    assert rand.weights_tag == "random-init-seed3"
    with torch.no_grad():
        emb = rand.forward_features(inputs)["embedding"]
        assert not torch.allclose(emb, ref.pooler_output)
        assert torch.equal(emb, again.forward_features(inputs)["embedding"])


def test_hf_bert_text_is_padding_invariant(hf_models):
    bb = get_backbone(f"hf:{hf_models['root'] / 'bert'}", device="cpu")
    assert bb.modality == "text"
    layer = next(name for name in bb.layers() if name.endswith(".1"))
    with torch.no_grad():
        alone = bb.forward_features(["a cat sat"], [layer, "embedding"], pooling="mean")
        both = bb.forward_features(["a cat sat", "the red dog sat on the mat"], [layer, "embedding"], pooling="mean")
        tokens = bb.preprocess_texts(["a cat sat"])
        ref = hf_models["bert"](**tokens).last_hidden_state.mean(1)
    for k in alone:
        torch.testing.assert_close(alone[k][0], both[k][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone["embedding"], ref)


def test_hf_missing_model_error(tmp_path, download_attempts):
    pytest.importorskip("transformers")
    with pytest.raises(FileNotFoundError, match=r"(?s)'nobody-here/no-model'.*save_pretrained"):
        get_backbone("hf:nobody-here/no-model")
    assert download_attempts == []  # local caches only: no download was tried


# ---------------------------------------------------------------------- any module
def _convnet():
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 7, 3, stride=2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(7, 4))


def test_from_module():
    net = _convnet()
    bb = Backbone.from_module(net, preprocess={"size": (18, 22), "resize_mode": "squash"}, name="convnet",
                              device="cpu")
    assert bb.layers() == ["0", "1", "2", "3", "4", "5", "embedding"]
    assert bb.weights_tag == Backbone.from_module(_convnet(), device="cpu").weights_tag
    x = _images(seed=5)
    with torch.no_grad():
        feats = bb.forward_features(x, ["2", "embedding"])
        inputs = bb.preprocess_images(x)
        maps = net[:3](inputs)
    assert tuple(inputs.shape) == (3, 3, 18, 22)
    torch.testing.assert_close(feats["2"], maps.mean(dim=(2, 3)))
    torch.testing.assert_close(feats["embedding"], net(inputs))
    with pytest.raises(ValueError, match="not found in the model"):
        bb.forward_features(x, ["nope"])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        Backbone.from_module(lambda z: z)
    xg = torch.rand(2, 3, 20, 20, requires_grad=True)
    bb.forward_features(bb.preprocess_tensor(xg), ["embedding"])["embedding"].sum().backward()
    assert xg.grad.abs().sum() > 0
