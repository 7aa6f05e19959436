"""Nonlinear encoders: time per epoch (and peak GPU memory) of AttentionRoutingEncoder and
InContextEncoder, next to the pooled-feature ridge peer on the same data and the same process.

    .venv/bin/python benchmarks/bench_nonlinear.py [--quick] [--device cpu|cuda] [--published]

Tutorial size (default): the routing simulator (600 scenes, 8x8 tokens of 32-d from a patch CNN),
AttentionRoutingEncoder(n_heads=4, ffn_dim=64), InContextEncoder(width=64, 3 blocks, k <= 200).
--published (CUDA): ViT-B/14-sized inputs, 31 x 31 tokens of 768-d, 16 heads, FFN 1024, a readout
for 39,548 vertices in 16 queries, batch 16; and the CLIP-sized BraInCoRL (about 97M parameters),
64 voxels x 500 context images per step. Random tokens: the timing does not depend on the values.
"""

import argparse
import time

import numpy as np


def routing_tutorial(device, seeds):
    import torch

    from neurotoolkit.encoding import AttentionRoutingEncoder, VoxelwiseEncoder
    from neurotoolkit.features import Backbone, extract_features
    from neurotoolkit.simulation import simulate_routing

    rows = []
    for seed in seeds:
        sim = simulate_routing(n_stimuli=600, n_subjects=1, random_state=seed)
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 8, 8), torch.nn.GELU(), torch.nn.Conv2d(32, 32, 1))
        bb = Backbone.from_module(net, preprocess={"size": (64, 64), "resize_mode": "squash"}, device="cpu")
        tokens = extract_features(sim.stimuli, bb, layers="2", pooling="tokens")
        rec = sim.recordings[0]
        train, test = rec.split(test_ids=rec.meta["test_ids"])
        t0 = time.perf_counter()
        ridge = VoxelwiseEncoder(features=tokens.pooled()).fit(train)
        t_ridge = time.perf_counter() - t0
        t0 = time.perf_counter()
        enc = AttentionRoutingEncoder(tokens, n_heads=4, ffn_dim=64, n_ensemble=2, learning_rate=3e-3,
                                      max_epochs=60, patience=10, device=device, random_state=0).fit(train)
        t_fit = time.perf_counter() - t0
        a, b = ridge.evaluate(test), enc.evaluate(test)
        maps = enc.attention_maps()
        for roi in [r for r in sim.truth.rois if r.startswith("routed")]:
            mass = np.mean([maps[q][sim.truth.planted_mask(roi, tokens.grid)].sum()
                            for q, n in enumerate(enc.query_names_) if n.split("/")[0] == roi])
            rows.append((seed, roi, a.loc[a.roi == roi, "normalized"].mean(),
                         b.loc[b.roi == roi, "normalized"].mean(), mass))
        print(f"seed {seed}: routing fit {t_fit:.1f} s ({len(enc.history_)} epochs, "
              f"{enc.history_.seconds_per_epoch() * 1000:.0f} ms/epoch), pooled ridge fit {t_ridge:.2f} s")
    print("\nnoise-normalised score (% of ceiling), per ROI, mean over seeds")
    print(f"{'roi':14s} {'pooled ridge':>12s} {'routing':>8s} {'attention on planted cell':>26s}")
    for roi in sorted({r[1] for r in rows}):
        sel = [r for r in rows if r[1] == roi]
        print(f"{roi:14s} {np.mean([r[2] for r in sel]):12.1f} {np.mean([r[3] for r in sel]):8.1f} "
              f"{np.mean([r[4] for r in sel]):26.2f}  (uniform {1 / 16:.3f})")


def in_context_tutorial(device, quick):
    import torch

    from neurotoolkit.encoding import InContextEncoder, VoxelwiseEncoder
    from neurotoolkit.features import Backbone, extract_features
    from neurotoolkit.simulation import simulate_routing

    sim = simulate_routing(n_stimuli=1200, n_subjects=5, n_test=150, anywhere=("face", "place", "food"),
                           random_state=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 8, 8), torch.nn.GELU(), torch.nn.Conv2d(64, 64, 1))
    bb = Backbone.from_module(net, device="cpu")
    emb = extract_features(sim.stimuli, bb, layers="2", pooling="tokens").pooled("max")
    trains = [r.split(test_ids=r.meta["test_ids"])[0] for r in sim.recordings[:-1]]
    new = sim.recordings[-1]
    train, test = new.split(test_ids=new.meta["test_ids"])
    t0 = time.perf_counter()
    ice = InContextEncoder(emb, width=64, n_layers=3, n_heads=4, ffn_hidden=128, context_size=(20, 200),
                           n_queries=50, learning_rate=2e-3, max_epochs=15 if quick else 60, patience=10,
                           synthetic_steps=(50, 50), device=device).pretrain(trains)
    stage3 = [h["seconds"] for h in ice.history_ if h["member"] == 2]
    print(f"in-context pretrain {time.perf_counter() - t0:.1f} s, {ice.n_parameters()} parameters, "
          f"stage 3: {np.median(stage3):.2f} s/epoch ({len(stage3)} epochs)")
    full = VoxelwiseEncoder(features=emb).fit(train).evaluate(test)["r2"].mean()
    rng = np.random.default_rng(0)
    print(f"\nheld-out subject, mean R^2 over units; ridge on all {len(set(train.stimulus_ids))} images: "
          f"{full:.3f}")
    print(f"{'k':>5s} {'in-context':>10s} {'ridge':>7s}")
    for k in (10, 30, 100, 300, 1000):
        ids = rng.choice(np.unique(train.stimulus_ids), size=k, replace=False)
        ctx = train.select_trials(np.isin(train.stimulus_ids, ids))
        ic = ice.fit(ctx).evaluate(test)["r2"].mean()
        rr = VoxelwiseEncoder(features=emb, cv=5).fit(ctx).evaluate(test)["r2"].mean()
        print(f"{k:5d} {ic:10.3f} {rr:7.3f}")


def published(device):
    import torch

    from neurotoolkit.encoding import build_in_context_network, build_routing_network
    from neurotoolkit.encoding._in_context import PRESETS

    dev = torch.device(device)
    sizes = [19004 // 8] * 8 + [20544 // 8] * 8
    net = build_routing_network(768, (31, 31), sizes, n_heads=16, ffn_dim=1024).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-4)
    x, y = torch.randn(16, 961, 768, device=dev), torch.randn(16, sum(sizes), device=dev)
    n_steps = 20  # one NSD epoch is ~560 steps of 16 images (9,000 images)
    for i in range(n_steps + 3):
        if i == 3:
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / n_steps
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    print(f"routing head, published size: {sum(p.numel() for p in net.parameters()) / 1e6:.1f}M params, "
          f"{dt * 1000:.1f} ms/step -> {dt * 560:.1f} s per 9,000-image epoch (tokens precomputed), "
          f"peak {mem:.2f} GiB")
    sizes = dict(PRESETS["clip"])
    E = sizes.pop("embed_dim")
    ice = build_in_context_network(E, **sizes).to(dev)
    opt = torch.optim.AdamW(ice.parameters(), lr=1e-4)
    cx, cy, qx = torch.randn(64, 500, E, device=dev), torch.randn(64, 500, device=dev), torch.randn(100, E, device=dev)
    for i in range(8):
        if i == 3:
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            om = ice(cx, cy)
        loss = ((om[:, :-1].float() @ qx.T) ** 2).mean()
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / 5
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    print(f"BraInCoRL CLIP size: {sum(p.numel() for p in ice.parameters()) / 1e6:.1f}M params, "
          f"{dt * 1000:.0f} ms per step of 64 voxels x 500 context images, peak {mem:.2f} GiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer in-context epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--published", action="store_true", help="published sizes (use --device cuda)")
    args = parser.parse_args()
    if args.published:
        published(args.device)
        return
    routing_tutorial(args.device, (0,) if args.quick else (0, 1, 2))
    in_context_tutorial(args.device, args.quick)


if __name__ == "__main__":
    main()
