"""Tiny Stable Diffusion components with random weights, for tests, tutorials
and ``--quick`` benchmarks (no download)."""

import string

from .._utils.optional import require
from .._utils.random import seeded
from .._utils.validation import check_option
from ..probing.synthesis._diffusers_io import _diffusers

__all__ = ["make_tiny_components"]


def _tiny_tokenizer(max_length):
    transformers = _diffusers("transformers")
    chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    try:  # transformers >= 5 takes the vocabulary directly
        return transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
    except TypeError:  # older versions read files
        import json
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
            (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
            return transformers.CLIPTokenizer(
                str(Path(tmp) / "vocab.json"),
                str(Path(tmp) / "merges.txt"),
                model_max_length=max_length,
            )


def make_tiny_components(
    kind="text2img",
    *,
    random_state=0,
    sample_size=16,
    hidden_size=32,
    embed_dim=32,
    max_length=16,
    block_out_channels=(32, 64),
    vae_channels=(32, 64),
):
    """Tiny Stable Diffusion components with random weights (no download).

    For tests, tutorials and ``--quick`` benchmarks: UNet (32, 64) channels,
    2-level VAE (scale factor 2), 2-layer CLIP text encoder with a character
    tokenizer, SD's scheduler config. Weights are drawn after
    ``torch.manual_seed(random_state)`` (the global torch RNG state is restored).

    Parameters
    ----------
    kind : "text2img" | "unclip"
        "unclip" adds a projection class embedding (``2 * embed_dim`` inputs),
        an image normaliser, a noising scheduler, a tiny CLIP vision encoder
        and its image processor: the keyword arguments of
        ``StableUnCLIPImg2ImgPipeline``.
    random_state : int
    sample_size : int
        Latent size; images are ``2 * sample_size`` pixels.
    hidden_size, embed_dim, max_length : int
        Text-encoder width (= UNet cross-attention width), unCLIP embedding
        dimension, tokenizer length.
    block_out_channels, vae_channels : tuple of 2 ints
        UNet and VAE widths (multiples of 8).

    Returns
    -------
    components : dict
        unet, vae, scheduler, text_encoder, tokenizer (and the unCLIP extras):
        ``StableDiffusionPipeline(**c, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)``.
    """
    require("torch")
    check_option("kind", kind, ["text2img", "unclip"])
    diffusers = _diffusers()
    transformers = _diffusers("transformers")
    with seeded(int(random_state))[1]:
        extra = {}
        if kind == "unclip":
            extra = {
                "class_embed_type": "projection",
                "projection_class_embeddings_input_dim": 2 * embed_dim,
            }
        unet = diffusers.UNet2DConditionModel(
            sample_size=sample_size,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=tuple(block_out_channels),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=hidden_size,
            attention_head_dim=8,
            norm_num_groups=8,
            **extra,
        )
        vae = diffusers.AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=tuple(vae_channels),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=2 * sample_size,
        )
        tokenizer = _tiny_tokenizer(max_length)
        text_encoder = transformers.CLIPTextModel(
            transformers.CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=hidden_size,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=2,
                max_position_embeddings=max_length,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                projection_dim=embed_dim,
            )
        )
        scheduler = diffusers.DDIMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
        )
        comps = {
            "unet": unet.eval(),
            "vae": vae.eval(),
            "scheduler": scheduler,
            "text_encoder": text_encoder.eval(),
            "tokenizer": tokenizer,
        }
        if kind == "unclip":
            from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
                StableUnCLIPImageNormalizer,
            )

            comps.update(
                image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=embed_dim),
                image_noising_scheduler=diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
                feature_extractor=transformers.CLIPImageProcessor(
                    size={"shortest_edge": 2 * sample_size},
                    crop_size={"height": 2 * sample_size, "width": 2 * sample_size},
                ),
                image_encoder=transformers.CLIPVisionModelWithProjection(
                    transformers.CLIPVisionConfig(
                        hidden_size=hidden_size,
                        projection_dim=embed_dim,
                        intermediate_size=37,
                        num_attention_heads=4,
                        num_hidden_layers=2,
                        image_size=2 * sample_size,
                        patch_size=4,
                    )
                ).eval(),
            )
    return comps
