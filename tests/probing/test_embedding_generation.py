"""Embedding-conditioned generation (unCLIP, IP-Adapter) and img2img refinement, tiny models."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from neurotoolkit.features._backbones import import_torchvision

import_torchvision()  # before diffusers pipelines pull torchvision (CPU torch + CUDA torchvision)

from neurotoolkit.probing.synthesis._embedding_generation import (
    conditioning_dim,
    generate_from_embeddings,
    load_generator,
    refine_img2img,
)
from neurotoolkit.testing import make_tiny_components

SMALL = {"sample_size": 8, "block_out_channels": (16, 32), "vae_channels": (16, 32)}


@pytest.fixture(scope="module")
def unclip_pipe():
    from diffusers import StableUnCLIPImg2ImgPipeline

    comps = make_tiny_components("unclip", embed_dim=24, random_state=0, **SMALL)
    pipe = StableUnCLIPImg2ImgPipeline(**comps)
    return pipe


def _tiny_ip_adapter(unet, clip_dim, seed=0):
    """Random IP-Adapter weights in the checkpoint layout diffusers' loader converts."""
    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    image_proj = {
        "proj.weight": torch.randn(4 * cross, clip_dim, generator=g) * 0.2,
        "proj.bias": torch.zeros(4 * cross),
        "norm.weight": torch.ones(cross),
        "norm.bias": torch.zeros(cross),
    }
    ip, key_id = {}, 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        block = name.split(".")[0]
        chans = list(unet.config.block_out_channels)
        if block == "mid_block":
            hidden = chans[-1]
        elif block == "up_blocks":
            hidden = chans[::-1][int(name.split(".")[1])]
        else:
            hidden = chans[int(name.split(".")[1])]
        ip[f"{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross, generator=g) * 0.2
        ip[f"{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross, generator=g) * 0.2
        key_id += 2
    unet._load_ip_adapter_weights(
        [{"image_proj": image_proj, "ip_adapter": ip}], low_cpu_mem_usage=False
    )


@pytest.fixture(scope="module")
def ip_pipe():
    from diffusers import StableDiffusionPipeline

    comps = make_tiny_components(random_state=1, **SMALL)
    _tiny_ip_adapter(comps["unet"], clip_dim=20)
    return StableDiffusionPipeline(
        **comps,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


# ------------------------------------------------------------------ unCLIP
def test_unclip_from_embeddings(unclip_pipe):
    rng = np.random.default_rng(0)
    E = rng.standard_normal((3, 24)).astype(np.float32)
    assert conditioning_dim(unclip_pipe) == 24
    imgs = generate_from_embeddings(unclip_pipe, E, random_state=[5, 6, 7], num_inference_steps=4)
    assert imgs.shape == (3, 3, 16, 16) and imgs.dtype == np.float32
    assert imgs.min() >= 0 and imgs.max() <= 1
    # one generator per image: image 1 alone (same seed) is the same image
    one = generate_from_embeddings(
        unclip_pipe, torch.as_tensor(E[1]), random_state=[6], num_inference_steps=4
    )
    np.testing.assert_allclose(one[0], imgs[1], atol=1e-5)
    # the embedding conditions the image: same seed, another embedding -> another image
    other = generate_from_embeddings(unclip_pipe, E[2:3], random_state=[6], num_inference_steps=4)
    assert np.abs(other[0] - imgs[1]).max() > 1e-3
    # an int r gives the seeds r, r + 1, ...; the old `seeds` still works, with a FutureWarning
    np.testing.assert_array_equal(
        generate_from_embeddings(unclip_pipe, E, random_state=5, num_inference_steps=4), imgs)
    with pytest.warns(FutureWarning, match="`seeds` of generate_from_embeddings is deprecated"):
        old = generate_from_embeddings(unclip_pipe, E, seeds=[5, 6, 7], num_inference_steps=4)
    np.testing.assert_array_equal(old, imgs)


def test_unclip_dimension_mismatch(unclip_pipe):
    with pytest.raises(
        ValueError, match="dimension 24 .*conditioning space.*got shape \\(2, 512\\)"
    ):
        generate_from_embeddings(unclip_pipe, np.zeros((2, 512), np.float32))
    with pytest.raises(ValueError, match="Invalid value for `random_state`: expected an int or 2 "):
        generate_from_embeddings(unclip_pipe, np.zeros((2, 24), np.float32), random_state=[1])


# ------------------------------------------------------------------ IP-Adapter
def test_ip_adapter_from_embeddings(ip_pipe):
    rng = np.random.default_rng(1)
    E = rng.standard_normal((2, 20)).astype(np.float32)
    assert conditioning_dim(ip_pipe) == 20
    a = generate_from_embeddings(ip_pipe, E, random_state=[0, 1], num_inference_steps=3)
    assert a.shape == (2, 3, 16, 16)
    b = generate_from_embeddings(ip_pipe, E[::-1].copy(), random_state=[0, 1], num_inference_steps=3)
    assert np.abs(a - b).max() > 1e-3  # the embedding conditions the image
    # scale 0 switches the adapter off: the embedding no longer matters
    c = generate_from_embeddings(
        ip_pipe, E, random_state=[0, 1], num_inference_steps=3, ip_adapter_scale=0.0
    )
    d = generate_from_embeddings(
        ip_pipe, E[::-1].copy(), random_state=[0, 1], num_inference_steps=3, ip_adapter_scale=0.0
    )
    np.testing.assert_allclose(c, d, atol=1e-6)
    ip_pipe.set_ip_adapter_scale(1.0)
    with pytest.raises(ValueError, match="dimension 20"):
        generate_from_embeddings(ip_pipe, np.zeros((1, 1024), np.float32))


def test_route_errors():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **make_tiny_components(**SMALL),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    with pytest.raises(ValueError, match="IP-Adapter"):
        generate_from_embeddings(pipe, np.zeros((1, 32), np.float32))
    with pytest.raises(ValueError, match="Invalid value for `route`"):
        conditioning_dim(pipe, route="kandinsky")


# ------------------------------------------------------------------ img2img
def test_refine_img2img_steps_and_seeds():
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline(
        **make_tiny_components(random_state=2, **SMALL),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    calls = []
    hook = pipe.unet.register_forward_hook(lambda *a: calls.append(1))
    low = np.random.default_rng(3).uniform(0, 1, (2, 3, 8, 8)).astype(np.float32)
    try:
        out = refine_img2img(pipe, low, num_inference_steps=8, strength=0.75, random_state=[1, 2])
        assert len(calls) == 6  # int(0.75 * 8) denoising steps, no CFG with an empty prompt
        calls.clear()
        again = refine_img2img(pipe, low[1:], num_inference_steps=8, random_state=[2])
        calls.clear()
        cfg = refine_img2img(
            pipe,
            low,
            prompt=["a face", "a house"],
            num_inference_steps=4,
            strength=0.5,
            random_state=[1, 2],
        )
        assert len(calls) == 2  # 2 steps, CFG batched in one call per step
    finally:
        hook.remove()
    assert out.shape == (2, 3, 16, 16) and cfg.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(again[0], out[1], atol=1e-5)
    with pytest.raises(ValueError, match="Invalid value for `images`"):
        refine_img2img(pipe, low * 255)
    with pytest.raises(ValueError, match="Invalid value for `strength`"):
        refine_img2img(pipe, low, strength=0.0)


def test_load_generator_missing(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="huggingface-cli download stabilityai/stable-diffusion-2-1-unclip"
    ):
        load_generator("unclip")
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        load_generator("img2img", tmp_path / "missing")
    with pytest.raises(ValueError, match="Invalid value for `kind`"):
        load_generator("vd")
