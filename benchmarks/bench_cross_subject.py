"""Cross-subject decoder benchmark (issue 6): time per epoch and accuracy against
per-subject ridge decoders, on the same simulated data, in the same process.

Data: ``simulate_recordings`` on the built-in stimuli (500 images, 100 held
out and shown 3 times; single training trials), ``--n-subjects`` subjects
plus one held-out subject, voxel counts differing by subject (+-20 % per ROI;
``--voxel-scale`` multiplies the default 320 voxels). Target: the first 64
principal components of the stimuli's Gabor-pyramid features (the planted
early-visual tuning), PCA fitted on the training stimuli.

Compared:

1. ``CrossSubjectDecoder`` (linear adapters, residual MLP, SoftCLIP + MSE,
   BiMixCo for the first third of the epochs, early stopping) trained on all
   subjects at once; seconds per epoch (mean over epochs after the first)
   and total fit time.
2. one ``RidgeDecoder`` per subject (alpha by 5-fold CV), total fit time.
3. held-out subject, 10 % of its training data: ``adapt`` (adapter only)
   against a ``RidgeDecoder`` fitted on that 10 % alone.

Accuracy: 50-way top-1 retrieval (``retrieval_accuracy``, 30 draws) on the
repeat-averaged test stimuli, image and brain directions, mean over subjects.

    python benchmarks/bench_cross_subject.py [--quick] [--device cuda|cpu] [--epochs 40]
"""

import argparse
import time

import numpy as np
import pandas as pd


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--quick", action="store_true", help="fewer stimuli and epochs (smoke run)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--n-subjects", type=int, default=4)
    p.add_argument("--voxel-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def make_data(n_per_category, n_test, n_subjects, voxel_scale, seed):
    from sklearn.decomposition import PCA

    from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
    from neurotoolkit.simulation._simulate import UNITS_FMRI
    from neurotoolkit.decoding import paired_responses

    stim = make_builtin_stimuli(n_per_category=n_per_category, size=64, random_state=seed)
    counts = {k: max(2, int(round(v * voxel_scale))) for k, v in UNITS_FMRI.items()}
    sim = simulate_recordings(stimuli=stim, n_subjects=n_subjects + 1, n_test=n_test,
                              n_units_per_roi=counts, random_state=seed)
    truth = sim.truth
    train = np.isin(truth.stimulus_ids, truth.train_ids)
    pca = PCA(64, random_state=seed).fit(truth.features[train])
    emb = pd.DataFrame(pca.transform(truth.features), index=truth.stimulus_ids)
    data = {}
    for rec in sim.recordings:
        Xtr, Ytr, _ = paired_responses(rec, emb, average_repeats=False, ids=truth.train_ids)
        Xte, Yte, _ = paired_responses(rec, emb, average_repeats=True, ids=truth.test_ids)
        data[rec.subject] = (Xtr, Ytr, Xte, Yte)
    return data


def accuracy(pred, target, n_way):
    from neurotoolkit.decoding import retrieval_accuracy

    res = retrieval_accuracy(pred, target, n_way=n_way, n_draws=30, random_state=0)
    return dict(zip(res["direction"], res["accuracy"]))


def main():
    args = parse()
    from neurotoolkit.decoding import CrossSubjectDecoder, RidgeDecoder

    n_per, n_test, epochs = (40, 50, 8) if args.quick else (100, 100, args.epochs)
    n_way = min(50, n_test)
    t0 = time.perf_counter()
    data = make_data(n_per, n_test, args.n_subjects, args.voxel_scale, args.seed)
    subjects = list(data)[:-1]
    new = list(data)[-1]
    print(f"data: {time.perf_counter() - t0:.1f} s; voxels "
          f"{ {s: data[s][0].shape[1] for s in data} }; train trials/subject "
          f"{data[subjects[0]][0].shape[0]}; test stimuli {n_test}; {n_way}-way retrieval")

    dec = CrossSubjectDecoder(hidden_dim=args.hidden_dim, max_epochs=epochs, patience=epochs,
                              learning_rate=1e-3, temperature=0.1, dropout=0.3, device=args.device,
                              random_state=args.seed, verbose=False)
    t = time.perf_counter()
    dec.fit({s: data[s][0] for s in subjects}, {s: data[s][1] for s in subjects})
    t_cross = time.perf_counter() - t
    sec = dec.history_["seconds"].to_numpy()
    per_epoch = sec[1:].mean() if len(sec) > 1 else sec[0]
    n_params = sum(p.numel() for p in dec.model_.parameters())

    rows, t_ridge = [], 0.0
    for s in subjects:
        Xtr, Ytr, Xte, Yte = data[s]
        t = time.perf_counter()
        ridge = RidgeDecoder().fit(Xtr, Ytr)
        t_ridge += time.perf_counter() - t
        a = accuracy(dec.predict(Xte, s), Yte, n_way)
        b = accuracy(ridge.predict(Xte), Yte, n_way)
        rows.append(dict(subject=s, cross_image=a["image"], cross_brain=a["brain"],
                         ridge_image=b["image"], ridge_brain=b["brain"]))
    table = pd.DataFrame(rows).set_index("subject")
    print(table.round(3).to_string())
    mean = table.mean()

    Xtr, Ytr, Xte, Yte = data[new]
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(Xtr), size=max(4, len(Xtr) // 10), replace=False))
    t = time.perf_counter()
    dec.adapt(Xtr[idx], Ytr[idx], subject=new)
    t_adapt = time.perf_counter() - t
    ad = accuracy(dec.predict(Xte, new), Yte, n_way)
    rd = accuracy(RidgeDecoder().fit(Xtr[idx], Ytr[idx]).predict(Xte), Yte, n_way)

    print(f"\ndevice {args.device}; {n_params:,} parameters; {len(sec)} epochs")
    print(f"CrossSubjectDecoder: {per_epoch:.3f} s/epoch, fit {t_cross:.1f} s (all subjects)")
    print(f"RidgeDecoder x{len(subjects)}: fit {t_ridge:.1f} s in total")
    print(f"time ratio cross / ridge: {t_cross / t_ridge:.1f}x")
    print(f"{n_way}-way retrieval, mean over subjects (chance {1 / n_way:.3f}):")
    for d in ("image", "brain"):
        print(f"  {d:5s}: cross {mean[f'cross_{d}']:.3f}  ridge {mean[f'ridge_{d}']:.3f}  "
              f"ratio {mean[f'cross_{d}'] / mean[f'ridge_{d}']:.2f}")
    print(f"held-out {new}, {len(idx)} trials (10 %): adapt {ad['image']:.3f} / {ad['brain']:.3f}"
          f" (image / brain) in {t_adapt:.1f} s; ridge on the 10 % {rd['image']:.3f} / "
          f"{rd['brain']:.3f}; ratio {ad['image'] / max(rd['image'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
