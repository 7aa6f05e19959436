"""Features benchmark (issue 5): images per second for feature extraction.

On the 92-object images (175 x 175 PNG, from ``neurotoolkit.data.load_92objects()``)
repeated to 256 images (64 with ``--quick``), from files on disk to features:

1. Gabor pyramid (defaults: 8 orientations x 4 frequencies, grids 1, 2, 4;
   672 features): numpy ``GaborPyramid.transform(stimuli)`` and the torch
   ``"gabor"`` backbone through ``extract_features``.
2. open_clip ViT-B/32 with random weights (``pretrained=None``; the speed does
   not depend on the weights), final image embedding:
   ``extract_features(stimuli, get_backbone("open_clip:ViT-B-32", pretrained=None))``
   (batched, preprocessing in torch) against the plain loop a user would
   write: for each image, PIL open -> open_clip's own ``preprocess``
   transform -> ``model.encode_image`` on a batch of one, under
   ``torch.no_grad()``. The loop model gets the same weights, so the two
   embeddings are compared too (they differ only by the resize: PIL vs
   torch's antialiased bicubic).

Every method runs once on a few images first (warm-up). No feature cache is
used (``cache=None``). Prints images/s and the ratio.

    python benchmarks/bench_features.py [--quick] [--device cuda] [--batch-size 32]
"""

import argparse
import os
import time

import numpy as np

from neurotoolkit.data import StimulusSet, load_92objects
from neurotoolkit.features import GaborPyramid


def repeated_stimuli(n):
    """The 92 images repeated (as distinct ids) to ``n`` stimuli."""
    base = load_92objects().stimuli   # local mirror (NEUROTOOLKIT_DATA_MIRROR) or a 3 MB download
    ids, paths = [], []
    for k in range(n):
        j = k % len(base)
        ids.append(f"{base.ids[j]}_rep{k // len(base)}")
        paths.append(base.images[j])
    return StimulusSet(ids, images=paths, name=f"92objects_x{n}")


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def clip_plain_loop(paths, model, preprocess, device):
    """What a user writes without the toolkit: one PIL image at a time."""
    import torch
    from PIL import Image

    feats = []
    with torch.no_grad():
        for p in paths:
            with Image.open(p) as im:
                x = preprocess(im.convert("RGB"))[None].to(device)
            feats.append(model.encode_image(x).float().cpu().numpy()[0])
    return np.stack(feats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 images instead of 256")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch

    from neurotoolkit.features import extract_features, get_backbone
    from neurotoolkit.features._open_clip import import_open_clip

    n = 64 if args.quick else 256
    stim = repeated_stimuli(n)
    warm = stim.subset(stim.ids[:4])
    print(f"{n} images (92-object set repeated), device {args.device}, torch threads "
          f"{torch.get_num_threads()}, cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    rows = []

    # ---------------------------------------------------------------- Gabor
    gp = GaborPyramid(batch_size=64)
    gp.transform(warm)
    x_np, t_np = timed(gp.transform, stim)
    gb = get_backbone("gabor", device=args.device)
    extract_features(warm, gb, layers=("embedding",), batch_size=64, cache=None)
    fs_t, t_gt = timed(extract_features, stim, gb, layers=("embedding",), batch_size=64, cache=None)
    x_t = np.asarray(fs_t.values, dtype=np.float64)
    diff = np.abs(x_t - x_np).max() / np.abs(x_np).max()
    # compute only: the torch module on images already decoded into one tensor
    batch = torch.as_tensor(stim.load_images(stim.ids[:64])).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        gb.model(batch[:4].to(gb.device))
        _, t_mod = timed(gb.model, batch.to(gb.device))
    rows.append(("Gabor pyramid, numpy GaborPyramid.transform", t_np))
    rows.append(("Gabor pyramid, torch backbone via extract_features", t_gt))
    rows.append(("Gabor pyramid, torch module on a decoded (64, 3, 175, 175) tensor (compute only)",
                 t_mod * n / 64))
    print(f"Gabor torch vs numpy: max |diff| / max = {diff:.3f}, "
          f"corr {np.corrcoef(x_t.ravel(), x_np.ravel())[0, 1]:.4f}")

    # -------------------------------------------------------------- open_clip
    bb = get_backbone("open_clip:ViT-B-32", pretrained=None, device=args.device)
    extract_features(warm, bb, layers=("embedding",), batch_size=args.batch_size, cache=None)
    fs_c, t_ext = timed(extract_features, stim, bb, layers=("embedding",),
                        batch_size=args.batch_size, cache=None)
    open_clip = import_open_clip()
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.load_state_dict(bb.model.state_dict())
    model = model.to(args.device).eval()
    clip_plain_loop(warm.images, model, preprocess, args.device)
    x_loop, t_loop = timed(clip_plain_loop, stim.images, model, preprocess, args.device)
    x_ext = np.asarray(fs_c.values, dtype=np.float64)
    # random-weight embeddings share a large common component: compare them centred
    a, b = x_ext - x_ext.mean(0), x_loop - x_loop.mean(0)
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    rows.append((f"open_clip ViT-B/32 (random), extract_features, batch {args.batch_size}", t_ext))
    rows.append(("open_clip ViT-B/32 (random), plain PIL loop, batch 1", t_loop))
    print(f"CLIP embeddings (centred), extract_features vs plain loop: cosine min {cos.min():.6f}, "
          f"mean {cos.mean():.6f}")

    print()
    print("| method | seconds | images/s |")
    print("|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} | {n / t:.1f} |")
    print("(compute-only seconds are scaled from 64 images to the same number of images)")
    print()
    print(f"Gabor: torch / numpy speed ratio {t_np / t_gt:.2f}x")
    print(f"open_clip: extract_features / plain loop speed ratio {t_loop / t_ext:.2f}x")


if __name__ == "__main__":
    main()
