"""Benchmark 3 (issue 3): NSD-like scale on this machine, within a 16 GB budget.

n_samples 9000, n_features 768, n_targets 100000, 10 alphas logspace(0, 5),
5 contiguous folds, float32, memory_budget="16GB" (targets are streamed in
batches sized from it). Y alone is 3.6 GB. himalaya RidgeCV (numpy backend,
all targets of a batch at once, which was its fastest setting) is run on
2500 and 5000 targets; its time for 100000 targets is extrapolated on the
line through the two points (per-target slope plus fixed part), as a full
run would take tens of minutes on two cores.

    python benchmarks/bench_ridge_scale.py [--quick]
"""

import warnings

import numpy as np
from _common import (gb, kfold, machine_line, make_problem, measure, parse_args,
                     ridge_cv_flops, table, warm_up)

from _roofline import gemm_rate, primal_phase_flops, report

from neurotoolkit.encoding import solve_ridge_cv


def main():
    args = parse_args(__doc__)
    n, p, t = (9000, 768, 10000) if args.quick else (9000, 768, 100000)
    alphas = np.logspace(0, 5, 10)
    X, Y = make_problem(n, p, t, seed=args.seed)
    folds = kfold(n, 5)
    print(f"scale: n={n} p={p} t={t}, {len(alphas)} alphas, 5 folds, float32, budget 16GB")
    print(f"Y: {gb(Y.nbytes)}")
    print(machine_line())
    rate32 = gemm_rate("float32")
    warm_up(X, Y, folds, alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, t_ours, m_ours = measure(solve_ridge_cv, X, Y, alphas, folds,
                                       memory_budget="16GB")
    flops = ridge_cv_flops(n, p, t, len(alphas), 5)

    import himalaya.backend
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import r2_score

    himalaya.backend.set_backend("numpy")
    sizes = (1000, 2000) if args.quick else (2500, 5000)
    runs = []
    for size in sizes:
        h = HRidgeCV(alphas=alphas, cv=folds, fit_intercept=True,
                     solver_params=dict(score_func=r2_score))
        Ys = np.ascontiguousarray(Y[:, :size])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, sec, mem = measure(h.fit, X, Ys)
        runs.append((size, sec, mem))
        same = np.isclose(ours.best_alphas[:size], h.best_alphas_, rtol=1e-5).mean()
        del Ys
    (s1, t1, _), (s2, t2, m2) = runs
    slope = (t2 - t1) / (s2 - s1)
    t_him = t2 + slope * (t - s2)
    rows = [["neurotoolkit (16 GB budget)", t, f"{t_ours:.1f}", gb(m_ours)]]
    rows += [[f"himalaya RidgeCV ({s} targets)", s, f"{sec:.1f}", gb(mem)] for s, sec, mem in runs]
    rows.append(["himalaya, extrapolated", t, f"{t_him:.0f}", "-"])
    table(rows, ["method", "targets", "seconds", "peak RSS delta"])
    print(f"speed-up (extrapolated): {t_him / t_ours:.1f}x")
    print(f"neurotoolkit: batch size {ours.batch_size} targets, "
          f"{flops / t_ours / 1e9:.1f} GFLOP/s achieved ({flops / 1e12:.2f} TFLOP counted)")
    print(f"same best alpha as himalaya on the first {s2} targets: {100 * same:.2f} %")
    report(ours.info["timings"], primal_phase_flops(n, p, t, len(alphas), folds), rate32,
           seconds=ours.info["seconds"])


if __name__ == "__main__":
    main()
