"""The probing pieces together: a fitted encoder guides diffusion (issue 7) on real images."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


def test_encoder_objective_guides_tiny_diffusion(objects92_dir):
    """A VoxelwiseEncoder fitted on a simulated subject over the 92 objects, turned into an
    EncoderObjective for its FFA, steers a tiny random-weight latent diffusion model: over the
    same 8 seeds, guided samples score higher than unguided ones, more so at a larger scale."""
    from neurotoolkit.data import StimulusSet
    from neurotoolkit.simulation import simulate_recordings
    from neurotoolkit.encoding import VoxelwiseEncoder
    from neurotoolkit.features import extract_features, get_backbone
    from neurotoolkit.probing import BrainGuidedDiffusion, EncoderObjective
    from neurotoolkit.testing import make_tiny_components

    stim = StimulusSet.from_folder(objects92_dir)
    sim = simulate_recordings(stimuli=stim, n_subjects=1, n_repeats_train=2, random_state=0)
    train, _ = sim.recordings[0].split(test_ids=sim.recordings[0].meta["test_ids"])
    gabor = get_backbone("gabor")
    enc = VoxelwiseEncoder(features=extract_features(stim, gabor, batch_size=46)).fit(train)
    objective = EncoderObjective(enc, gabor.model, units="FFA")

    comps = make_tiny_components(random_state=0, sample_size=8, block_out_channels=(16, 32),
                                 vae_channels=(16, 32))
    pipe = BrainGuidedDiffusion(unet=comps["unet"], vae=comps["vae"],
                                text_encoder=comps["text_encoder"], tokenizer=comps["tokenizer"],
                                objective=objective, num_inference_steps=5, batch_size=8,
                                scheduler="ddim", device="cpu")
    seeds = list(range(8))
    scores = {s: pipe.generate(random_state=seeds, guidance_scale=s).scores for s in (0.0, 30.0, 300.0)}
    gain_small = scores[30.0] - scores[0.0]
    gain_large = scores[300.0] - scores[0.0]
    assert np.mean(gain_small) > 0 and (gain_large > 0).all()
    assert gain_large.mean() > gain_small.mean()
    # the result's scores are the objective of the returned images
    res = pipe.generate(random_state=seeds[:2], guidance_scale=300.0)
    images = torch.as_tensor(res.images)
    with torch.no_grad():
        np.testing.assert_allclose(objective(images).numpy(), res.scores, rtol=1e-4, atol=1e-5)


def test_caption_prompts_drive_text_to_image():
    """Issue 8's last step: ROI captions -> "a photo of a ..." prompts -> images through the
    same diffusion pipeline (objective None, text guidance on). One prompt per seed; each image
    is conditioned on its own prompt (a different prompt changes it, the same one reproduces it)."""
    import pandas as pd

    from neurotoolkit.probing import BrainGuidedDiffusion, prompts_for
    from neurotoolkit.testing import make_tiny_components

    table = pd.DataFrame({"roi": ["FFA", "PPA"], "noun": ["face", "scene"]})
    prompts = prompts_for(table)
    assert prompts == ["a photo of a face", "a photo of a scene"]
    comps = make_tiny_components(random_state=0, sample_size=8, block_out_channels=(16, 32),
                                 vae_channels=(16, 32))
    pipe = BrainGuidedDiffusion(unet=comps["unet"], vae=comps["vae"],
                                text_encoder=comps["text_encoder"], tokenizer=comps["tokenizer"],
                                objective=None, guidance_scale=0.0, text_guidance_scale=7.5,
                                num_inference_steps=4, scheduler="ddim", device="cpu")
    both = pipe.generate(random_state=[0, 0], prompt=prompts).images
    again = pipe.generate(random_state=[0], prompt=prompts[:1]).images
    assert both.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(both[:1], again, atol=1e-5)
    assert np.abs(both[0] - both[1]).mean() > 1e-3
