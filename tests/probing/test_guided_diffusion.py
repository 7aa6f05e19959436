"""BrainGuidedDiffusion (BrainDiVE, Luo et al. 2023) with tiny random-weight components."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from neurotoolkit.features._backbones import import_torchvision

import_torchvision()  # before diffusers pipelines pull torchvision (CPU torch + CUDA torchvision)

from neurotoolkit.testing import make_tiny_components
from neurotoolkit.probing.synthesis._guidance import guided_epsilon
from neurotoolkit.probing.synthesis._guided_diffusion import BrainGuidedDiffusion
from neurotoolkit.probing.synthesis import SynthesisResult

SMALL = {"sample_size": 8, "block_out_channels": (16, 32), "vae_channels": (16, 32)}


@pytest.fixture(scope="module")
def comps():
    yield make_tiny_components(random_state=0, **SMALL)


def _encoder(seed=1):
    """A tiny frozen 'encoder': conv -> ReLU -> pool -> linear readout, images (B, 3, H, W) -> (B,)."""
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 1),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            p.requires_grad_(False)
    return lambda x: net(x)[:, 0]


def _bgd(comps, **kw):
    base = {
        "objective": _encoder(),
        "num_inference_steps": 5,
        "batch_size": 8,
        "device": "cpu",
        "scheduler": "ddim",
    }
    base.update(kw)
    return BrainGuidedDiffusion(
        unet=comps["unet"],
        vae=comps["vae"],
        text_encoder=comps["text_encoder"],
        tokenizer=comps["tokenizer"],
        **base,
    )


# ------------------------------------------------------------------ the update, closed form
def _toy(seed=0, shape=(2, 3, 4, 5)):
    g = torch.Generator().manual_seed(seed)
    d = int(np.prod(shape[1:]))
    M = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    w = torch.randn(d, generator=g, dtype=torch.float64)
    z = torch.randn(shape, generator=g, dtype=torch.float64)
    eps_fn = lambda zz: (zz.reshape(len(zz), -1) @ M.T).reshape(zz.shape)
    objective = lambda x: (x.reshape(len(x), -1) * w).sum(1) ** 1
    return M, w, z, eps_fn, objective


@pytest.mark.parametrize("alpha_bar", [0.03, 0.5, 0.97])
def test_guided_epsilon_matches_closed_form(alpha_bar):
    M, w, z, eps_fn, objective = _toy()
    s = 7.0
    eps_hat, z_out, scores = guided_epsilon(
        z, torch.tensor(alpha_bar), eps_fn, lambda x: x, objective, s
    )
    a = torch.tensor(alpha_bar, dtype=torch.float64)
    b = torch.sqrt(1 - a)
    d = M.shape[0]
    eye = torch.eye(d, dtype=torch.float64)
    # x = f x0 + (1 - f) z with x0 = (z - b M z) / sqrt(a), f = b:  x = J z, J = b (I - b M)/sqrt(a) + (1 - b) I
    J = b * (eye - b * M) / torch.sqrt(a) + (1 - b) * eye
    grad = s * (J.T @ w)  # same for every image (linear objective)
    zf = z.reshape(len(z), -1)
    expected_eps = zf @ M.T - b * grad
    np.testing.assert_allclose(
        eps_hat.reshape(len(z), -1).numpy(), expected_eps.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(scores.numpy(), ((zf @ J.T) @ w).numpy(), rtol=1e-5, atol=1e-5)
    assert torch.equal(z_out, z)


def test_guided_epsilon_sigma_form_closed_form():
    M, w, z, eps_fn, objective = _toy(seed=3)
    s, sigma = 2.5, 3.0
    eps, z_new, _ = guided_epsilon(z, None, eps_fn, lambda x: x, objective, s, sigma=sigma)
    d = M.shape[0]
    J = torch.eye(d, dtype=torch.float64) - sigma * M  # x0 = z - sigma M z
    zf = z.reshape(len(z), -1)
    np.testing.assert_allclose(eps.reshape(len(z), -1).numpy(), (zf @ M.T).numpy(), rtol=1e-6)
    expected_z = zf + sigma**2 * s * (J.T @ w)
    np.testing.assert_allclose(z_new.reshape(len(z), -1).numpy(), expected_z.numpy(), rtol=1e-6)


def test_guided_epsilon_zero_scale_and_bad_objective():
    _M, _w, z, eps_fn, objective = _toy()
    eps, _, _ = guided_epsilon(z, 0.4, eps_fn, lambda x: x, objective, 0.0)
    np.testing.assert_allclose(eps.numpy(), eps_fn(z).numpy())
    with pytest.raises(ValueError, match="Invalid value for `objective`.*shape \\(2,\\)"):
        guided_epsilon(z, 0.4, eps_fn, lambda x: x, lambda x: x.sum(), 1.0)


# ------------------------------------------------------------------ against references
def test_unguided_matches_stable_diffusion_pipeline(comps):
    """guidance 0 + prompt "" = diffusers' StableDiffusionPipeline with the same seeds."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    bgd = _bgd(comps, objective=None, guidance_scale=0.0)
    res = bgd.generate(random_state=[3, 11, 5])
    sched = DDIMScheduler.from_config(dict(comps["scheduler"].config))
    pipe = StableDiffusionPipeline(
        **{**comps, "scheduler": sched},
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    gens = [torch.Generator("cpu").manual_seed(s) for s in (3, 11, 5)]
    ref = pipe(
        [""] * 3, num_inference_steps=5, guidance_scale=0.0, generator=gens, output_type="np"
    ).images.transpose(0, 3, 1, 2)
    assert res.images.shape == (3, 3, 16, 16) and res.images.dtype == np.float32
    np.testing.assert_allclose(res.images, ref, atol=2e-5)
    assert np.isnan(res.scores).all() and res.trace is None
    np.testing.assert_array_equal(res.seeds, [3, 11, 5])


def test_guided_step_matches_hand_written_loop(comps):
    """Two DDIM steps of Card 6's update written out independently."""
    from diffusers import DDIMScheduler

    obj, s, seeds = _encoder(), 500.0, [0, 1]
    res = _bgd(comps, objective=obj, num_inference_steps=2).generate(random_state=seeds, guidance_scale=s)
    unet, vae = comps["unet"], comps["vae"]
    sched = DDIMScheduler.from_config(dict(comps["scheduler"].config))
    sched.set_timesteps(2)
    emb = _bgd(comps).encode_prompt("", "cpu").expand(2, -1, -1)
    z = torch.cat(
        [torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(k)) for k in seeds]
    )
    sf = vae.config.scaling_factor
    trace = []
    for t in sched.timesteps:
        a = sched.alphas_cumprod[t]
        zz = z.detach().requires_grad_()
        eps = unet(zz, t, encoder_hidden_states=emb).sample
        x0 = (zz - (1 - a).sqrt() * eps) / a.sqrt()
        f = (1 - a).sqrt()
        x = (vae.decode((f * x0 + (1 - f) * zz) / sf).sample / 2 + 0.5).clamp(0, 1).float()
        A = obj(x)
        trace.append(A.detach().numpy())
        g = torch.autograd.grad((s * A).sum(), zz)[0]
        with torch.no_grad():
            z = sched.step(eps.detach() - (1 - a).sqrt() * g, t, z).prev_sample
    with torch.no_grad():
        img = (vae.decode(z / sf).sample / 2 + 0.5).clamp(0, 1).numpy()
    np.testing.assert_allclose(res.images, img, atol=1e-5)
    np.testing.assert_allclose(res.trace, np.stack(trace, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.scores, obj(torch.as_tensor(img)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(_bgd(comps, objective=obj).score(res.images), res.scores, rtol=1e-5)


# ------------------------------------------------------------------ the mechanism works
@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_guidance_raises_objective_and_grows_with_scale(comps, scheduler):
    bgd = _bgd(comps, scheduler=scheduler)
    seeds = np.arange(8) + 100
    base = bgd.generate(random_state=seeds, guidance_scale=0.0).scores
    gains = []
    for s in (100.0, 300.0, 1000.0):
        res = bgd.generate(random_state=seeds, guidance_scale=s)
        assert np.all(res.scores > base), (s, res.scores - base)  # every seed improves
        gains.append(np.mean(res.scores - base))
        # the per-step trace ends near the final score (last x0 estimate ~ final image)
        assert res.trace.shape == (8, 5)
    assert gains[0] < gains[1] < gains[2], gains


def test_per_seed_reproducible_across_batches(comps):
    bgd = _bgd(comps, batch_size=3, guidance_scale=300.0)
    full = bgd.generate(random_state=[4, 9, 2, 7])
    alone = _bgd(comps, batch_size=1, guidance_scale=300.0).generate(random_state=[2])
    np.testing.assert_allclose(alone.images[0], full.images[2], atol=1e-5)
    np.testing.assert_allclose(alone.scores[0], full.scores[2], rtol=1e-5)
    again = bgd.generate(random_state=[4, 9, 2, 7])
    np.testing.assert_array_equal(again.images, full.images)


def test_keep_top_fraction_streams(comps):
    bgd = _bgd(comps, batch_size=3, guidance_scale=100.0)
    full = bgd.generate(7)
    top = bgd.generate(7, keep=0.3)  # ceil(2.1) = 3 images, selected across 3 batches
    assert len(top) == 3 and top.n_generated == 7
    order = np.argsort(-full.scores, kind="stable")[:3]
    np.testing.assert_array_equal(top.seeds, full.seeds[order])
    np.testing.assert_allclose(top.images, full.images[order], atol=1e-6)
    assert np.all(np.diff(top.scores) <= 0)
    res = full.top(0.5)
    assert isinstance(res, SynthesisResult) and len(res) == 4
    assert top.params["method"] == "guided_diffusion" and top.params["guidance_scale"] == 100.0
    pil = res.to_pil()
    assert pil[0].size == (16, 16) and pil[0].mode == "RGB"


def test_sigma_scheduler_and_text_cfg_run(comps):
    from diffusers import EulerDiscreteScheduler

    sched = EulerDiscreteScheduler.from_config(dict(comps["scheduler"].config))
    assert float(sched.init_noise_sigma) > 1  # exercises the z <- z + sigma^2 g branch
    bgd = _bgd(comps, scheduler=sched)
    seeds = np.arange(6)
    base = bgd.generate(random_state=seeds, guidance_scale=0.0).scores
    guided = bgd.generate(random_state=seeds, guidance_scale=1.0)
    assert np.mean(guided.scores) > np.mean(base)
    cfg = _bgd(comps, prompt="a face", text_guidance_scale=5.0, objective=None, guidance_scale=0)
    img = cfg.generate(2).images
    plain = _bgd(comps, prompt="a face", objective=None, guidance_scale=0).generate(2).images
    assert img.shape == plain.shape and not np.allclose(img, plain)
    # one prompt per seed (captions -> images), batched: image i = its prompt alone
    t2i = _bgd(comps, objective=None, guidance_scale=0, text_guidance_scale=5.0, batch_size=2)
    many = t2i.generate(random_state=[0, 1, 2], prompt=["a face", "a house", "a dog"])
    one = t2i.generate(random_state=[2], prompt="a dog")
    np.testing.assert_allclose(many.images[2], one.images[0], atol=1e-5)
    with pytest.raises(ValueError, match="Invalid value for `prompt`"):
        t2i.generate(random_state=[0, 1], prompt=["a", "b", "c"])


def test_v_prediction_unguided_matches_diffusers(comps):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    sched = DDIMScheduler.from_config(
        {**comps["scheduler"].config, "prediction_type": "v_prediction"}
    )
    res = _bgd(comps, scheduler=sched, objective=None, guidance_scale=0).generate(random_state=[1, 2])
    pipe = StableDiffusionPipeline(
        **{**comps, "scheduler": sched},
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(
        [""] * 2,
        num_inference_steps=5,
        guidance_scale=0.0,
        generator=[torch.Generator().manual_seed(k) for k in (1, 2)],
        output_type="np",
    ).images.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(res.images, ref, atol=5e-5)


# ------------------------------------------------------------------ construction and errors
def test_from_pipe_and_from_pretrained_roundtrip(comps, tmp_path):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **comps, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    bgd = BrainGuidedDiffusion.from_pipe(
        pipe, objective=_encoder(), num_inference_steps=3, device="cpu"
    )
    assert type(bgd.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert bgd.scheduler.config.beta_schedule == "scaled_linear"
    pipe.save_pretrained(tmp_path / "tiny_sd")
    loaded = BrainGuidedDiffusion.from_pretrained(
        tmp_path / "tiny_sd",
        objective=_encoder(),
        scheduler="ddim",
        num_inference_steps=3,
        device="cpu",
        guidance_scale=100.0,
    )
    a = loaded.generate(random_state=[0, 1])
    b = _bgd(comps, num_inference_steps=3, guidance_scale=100.0).generate(random_state=[0, 1])
    np.testing.assert_allclose(a.images, b.images, atol=1e-5)


def test_missing_weights_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        BrainGuidedDiffusion.from_pretrained(tmp_path / "nothing_here", objective=None)
    with pytest.raises(FileNotFoundError, match="stable-diffusion-2-1-base"):
        BrainGuidedDiffusion.from_pretrained("stabilityai/stable-diffusion-2-1-base")


def test_errors(comps):
    with pytest.raises(ValueError, match="Invalid value for `guidance_scale`"):
        _bgd(comps, objective=None, guidance_scale=10.0).generate(2)
    with pytest.raises(ValueError, match="Invalid value for `random_state`: expected an int, a 1-D"):
        _bgd(comps).generate(random_state=[0.5, 1.5])
    with pytest.raises(ValueError, match="Invalid value for `n_images`: expected None or 2"):
        _bgd(comps).generate(3, random_state=[0, 1])
    with pytest.raises(ValueError, match="Invalid value for `n_images`: expected a positive int"):
        _bgd(comps).generate(0)
    with pytest.raises(ValueError, match="Invalid value for `keep`"):
        _bgd(comps).generate(3, keep=1.5)
    with pytest.raises(ValueError, match="Invalid value for `batch_size`"):
        _bgd(comps, batch_size=0).generate(3)
    with pytest.raises(ValueError, match="Invalid value for `unet`"):
        BrainGuidedDiffusion(objective=_encoder()).generate(2)
    with pytest.raises(ValueError, match="Invalid value for `objective`"):
        _bgd(comps, objective=lambda x: x.mean((1, 2)), guidance_scale=1.0).generate(2)
    bgd = BrainGuidedDiffusion(unet=1, vae=2, guidance_scale=5.0)  # __init__ only stores
    assert bgd.unet == 1 and bgd.guidance_scale == 5.0 and bgd.scheduler == "dpm"


def test_half_precision_components(comps):
    """fp16 UNet/VAE (as on GPU): the objective still gets float32 images; results track fp32."""
    import copy

    ref = _bgd(comps, guidance_scale=300.0).generate(random_state=[0, 1])
    half = dict(
        comps,
        unet=copy.deepcopy(comps["unet"]).to(torch.float16),
        vae=copy.deepcopy(comps["vae"]).to(torch.float16),
    )
    seen, obj = set(), _encoder()

    def recording(x):
        seen.add(x.dtype)
        return obj(x)

    res = _bgd(half, guidance_scale=300.0, objective=recording).generate(random_state=[0, 1])
    assert seen == {torch.float32} and res.images.dtype == np.float32
    np.testing.assert_allclose(res.images, ref.images, atol=0.02)
    np.testing.assert_allclose(res.scores, ref.scores, atol=0.01)


def test_sag_matches_diffusers_sag_pipeline(comps):
    """Self-attention guidance, no brain guidance = diffusers' StableDiffusionSAGPipeline."""
    import warnings

    from diffusers import DDIMScheduler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import StableDiffusionSAGPipeline

    sched = DDIMScheduler.from_config(dict(comps["scheduler"].config))
    pipe = StableDiffusionSAGPipeline(
        **{**comps, "scheduler": sched},
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    gens = [torch.Generator().manual_seed(k) for k in (4, 5)]
    ref = pipe(
        [""] * 2,
        num_inference_steps=5,
        guidance_scale=0.0,
        sag_scale=0.75,
        generator=gens,
        output_type="np",
    ).images.transpose(0, 3, 1, 2)
    bgd = _bgd(comps, objective=None, guidance_scale=0.0, sag_scale=0.75)
    res = bgd.generate(random_state=[4, 5])
    np.testing.assert_allclose(res.images, ref, atol=2e-5)
    plain = _bgd(comps, objective=None, guidance_scale=0.0).generate(random_state=[4, 5])
    assert np.abs(plain.images - res.images).max() > 1e-4  # SAG did something
    # processors restored; SAG + brain guidance runs and still raises the objective
    assert "_SAGStore" not in {type(p).__name__ for p in comps["unet"].attn_processors.values()}
    both = _bgd(comps, guidance_scale=300.0, sag_scale=0.75).generate(random_state=np.arange(4))
    base = _bgd(comps, guidance_scale=0.0, sag_scale=0.75).generate(random_state=np.arange(4))
    assert np.all(both.scores > base.scores)
    with pytest.raises(ValueError, match="Invalid value for `sag_scale`"):
        _bgd(comps, sag_scale=0.75, text_guidance_scale=5.0).generate(1)


def test_random_state_and_deprecated_seeds(comps):
    bgd = _bgd(comps, objective=None, guidance_scale=0.0)
    ref = bgd.generate(random_state=[5, 6, 7])
    # an int r gives the seeds r, r + 1, ...; the default 0 gives 0 .. n - 1
    np.testing.assert_array_equal(bgd.generate(3, random_state=5).seeds, [5, 6, 7])
    np.testing.assert_array_equal(bgd.generate(2).seeds, [0, 1])
    np.testing.assert_array_equal(bgd.generate(3, random_state=5).images, ref.images)
    drawn = bgd.generate(2, random_state=np.random.default_rng(0)).seeds
    np.testing.assert_array_equal(drawn, np.random.default_rng(0).integers(0, 2**31 - 1, 2))
    # the old spellings still work, with a FutureWarning that names the new one
    with pytest.warns(FutureWarning, match=r"`seeds` of BrainGuidedDiffusion.generate is deprecated.*"
                                           r"random_state"):
        old = bgd.generate(seeds=[5, 6, 7])
    np.testing.assert_array_equal(old.images, ref.images)
    with pytest.warns(FutureWarning, match=r"use `n_images=2`"):
        assert len(bgd.generate(seeds=2)) == 2
    with pytest.warns(FutureWarning, match="`seeds` of BrainGuidedDiffusion.generate"):
        np.testing.assert_array_equal(bgd.generate([5, 6, 7]).images, ref.images)
    # one result type: the old name is a deprecated alias
    import neurotoolkit.probing as probing

    with pytest.warns(FutureWarning, match="`GuidedDiffusionResult` is deprecated.*SynthesisResult"):
        assert probing.GuidedDiffusionResult is SynthesisResult
    with pytest.warns(FutureWarning, match=r"`SynthesisResult.meta` is deprecated"):
        assert ref.meta is ref.params
    frame = ref.to_frame()
    assert list(frame.columns) == ["image", "seed", "score", "rank"]
    np.testing.assert_array_equal(frame["seed"], [5, 6, 7])
