"""Benchmark (issue 7): time per BrainDiVE-guided image against the same sampler unguided.

Full run: a Stable-Diffusion-2.1-base-sized UNet (865M parameters) and SD VAE
built from their configs (written below) with random weights, 512 x 512
images, 50 DPM-Solver++ steps, prompt "" (text CFG off), and Card 6's
objective: bilinear resize to 224, CLIP normalisation, an OpenCLIP ViT-B/16
image tower (random weights), L2 normalisation and a random linear readout
of 200 "voxels" averaged. Guided and unguided runs use the same seeds in the
same process; the overhead ratio is guided / unguided seconds per image.

    python benchmarks/bench_guided_diffusion.py --device cuda --dtype float16
    python benchmarks/bench_guided_diffusion.py --quick          # tiny UNet on the CPU

``--quick`` uses the tiny random components of the tests (UNet (32, 64),
32 x 32 images), a small conv objective and the CPU: it checks that the
script runs, not the speed of real models.
"""

import argparse
import sys
import time

import numpy as np
from _common import machine_line, table

# stabilityai/stable-diffusion-2-1-base unet/config.json and vae/config.json (diffusers names)
SD21_UNET = {
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-5,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
    "use_linear_projection": True,
}
SD_VAE = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "scaling_factor": 0.18215,
}
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="tiny UNet and objective on the CPU")
    p.add_argument(
        "--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available)"
    )
    p.add_argument(
        "--dtype",
        default=None,
        choices=["float16", "bfloat16", "float32"],
        help="UNet/VAE dtype (default float16 on CUDA, float32 on the CPU)",
    )
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--n-images", type=int, default=None, help="images per condition (default 4)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="brain guidance s (default 130; 3000 with --quick)",
    )
    p.add_argument("--scheduler", default="dpm", choices=["dpm", "ddim"])
    p.add_argument(
        "--sag-scale",
        type=float,
        default=0.0,
        help="self-attention guidance in both runs (BrainDiVE: 0.75)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args()


class ClipObjective:
    """Card 6's objective: resize 224, CLIP-normalise, image tower, L2-normalise, readout mean."""

    def __init__(self, torch, device, n_voxels=200, seed=0):
        from neurotoolkit.features._backbones import import_torchvision

        import_torchvision()
        import open_clip

        torch.manual_seed(seed)
        self.model = open_clip.create_model("ViT-B-16", pretrained=None).visual.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        g = torch.Generator().manual_seed(seed)
        self.W = (torch.randn(n_voxels, 512, generator=g) / 512**0.5).to(device)
        self.mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
        self.torch = torch

    def __call__(self, images):
        F = self.torch.nn.functional
        x = F.interpolate(images, size=(224, 224), mode="bilinear", align_corners=False)
        f = self.model((x - self.mean) / self.std)
        f = f / f.norm(dim=-1, keepdim=True)
        return (f @ self.W.T).mean(1)


class ConvObjective:
    def __init__(self, torch, device, seed=0):
        torch.manual_seed(seed)
        nn = torch.nn
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 1),
        ).to(device)
        for p in self.net.parameters():
            p.requires_grad_(False)

    def __call__(self, images):
        return self.net(images)[:, 0]


def _to(module, device, dtype):
    module = module.to(device)
    return module if module.dtype == dtype else module.to(dtype)


def build(args, torch):
    from neurotoolkit.probing import BrainGuidedDiffusion
    from neurotoolkit.testing import make_tiny_components
    from neurotoolkit.probing.synthesis._guided_diffusion import _diffusers

    diffusers = _diffusers()
    device, dtype = args.device, getattr(torch, args.dtype)
    if args.quick:
        comps = make_tiny_components(sample_size=16)
        unet, vae = _to(comps["unet"], device, dtype), _to(comps["vae"], device, dtype)
        emb = torch.zeros(1, 16, unet.config.cross_attention_dim)
        objective = ConvObjective(torch, device)
    else:
        torch.manual_seed(0)
        t0 = time.perf_counter()
        unet = _to(diffusers.UNet2DConditionModel(**SD21_UNET), device, dtype).eval()
        vae = _to(diffusers.AutoencoderKL(**SD_VAE), device, dtype).eval()
        print(
            f"built random SD-2.1-base UNet ({sum(p.numel() for p in unet.parameters()) / 1e6:.0f}M "
            f"parameters) and VAE in {time.perf_counter() - t0:.1f} s"
        )
        emb = torch.zeros(1, 77, 1024)  # stands for encode_prompt("") (no text encoder needed)
        objective = ClipObjective(torch, device)
    bgd = BrainGuidedDiffusion(
        unet=unet,
        vae=vae,
        scheduler=args.scheduler,
        objective=objective,
        guidance_scale=args.guidance_scale,
        num_inference_steps=args.steps,
        batch_size=args.batch_size,
        device=device,
        sag_scale=args.sag_scale,
    )
    return bgd, emb


def run(bgd, emb, seeds, scale, torch, cuda):
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = bgd.generate(random_state=seeds, guidance_scale=scale, prompt_embeds=emb)
    if cuda:
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated() / 1e9 if cuda else float("nan")
    return res, sec, mem


def main():
    args = parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch. Nothing to benchmark.")
        return 0
    if args.device is None:
        args.device = "cpu" if args.quick or not torch.cuda.is_available() else "cuda"
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print(
            "No CUDA device available (torch.cuda.is_available() is False): run on a machine "
            "with an NVIDIA GPU, or pass --quick / --device cpu."
        )
        return 0
    if args.dtype is None:
        args.dtype = "float16" if cuda else "float32"
    if args.guidance_scale is None:
        args.guidance_scale = 3000.0 if args.quick else 130.0
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.n_images or 4
    name = (
        torch.cuda.get_device_name(args.device)
        if cuda
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"device: {name}; {machine_line()}")
    bgd, emb = build(args, torch)
    print(
        f"{'tiny' if args.quick else 'SD-2.1-base-sized'} UNet, {args.dtype}, {args.steps} "
        f"{args.scheduler} steps, {n} images per condition, batch {args.batch_size}, "
        f"guidance s = {args.guidance_scale}, SAG {args.sag_scale}"
    )
    # warm-up: kernels, allocator, cuDNN autotuning (2 steps, both paths)
    steps = bgd.num_inference_steps
    bgd.num_inference_steps = 2
    run(bgd, emb, [999], 0.0, torch, cuda)
    run(bgd, emb, [999], args.guidance_scale, torch, cuda)
    bgd.num_inference_steps = steps
    seeds = np.arange(n)
    base, t_base, m_base = run(bgd, emb, seeds, 0.0, torch, cuda)
    guided, t_guided, m_guided = run(bgd, emb, seeds, args.guidance_scale, torch, cuda)
    rows = [
        ["unguided", f"{t_base / n:.3f}", f"{m_base:.2f}", f"{np.mean(base.scores):.4f}"],
        ["guided", f"{t_guided / n:.3f}", f"{m_guided:.2f}", f"{np.mean(guided.scores):.4f}"],
    ]
    table(rows, ["sampler", "seconds / image", "peak GPU memory (GB)", "mean objective"])
    print(
        f"overhead ratio guided / unguided: {t_guided / t_base:.2f}x; objective gain "
        f"{np.mean(guided.scores - base.scores):+.4f} (same seeds, guided higher on "
        f"{int(np.sum(guided.scores > base.scores))}/{n})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
