"""Dask scale-out (issue 16): solve_ridge_cv(client=...) on a LocalCluster of 1 and 2
worker processes (one BLAS thread each) against the single-process fit with the same
thread count, on one host. Results must be identical (same alphas, same scores).

    python benchmarks/bench_ridge_dask.py [--quick]

On a real cluster, connect a ``dask.distributed.Client`` to its scheduler and pass it as
``client``: targets are split into one chunk per worker, X is scattered once and each
worker runs the single-process engine on its chunk (X-side setup included).
"""

import sys
import time
import warnings

import numpy as np
from _common import logo_folds, machine_line, make_problem, table


def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # for the life of the worker


def main():
    quick = "--quick" in sys.argv
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    from neurotoolkit.encoding import solve_ridge_cv

    n, p, t = (2000, 256, 4000) if quick else (4000, 512, 16000)
    alphas = np.logspace(0, 5, 10)
    X, Y = make_problem(n, p, t)
    folds = logo_folds(n, 6)
    print(f"dask scale-out: n={n} p={p} t={t}, 10 alphas, 6 uneven runs, float32")
    print(machine_line())
    warnings.simplefilter("ignore")
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        solve_ridge_cv(X, Y[:, :64], alphas, folds)
        t0 = time.perf_counter()
        ref = solve_ridge_cv(X, Y, alphas, folds)
        rows.append(["single process, 1 BLAS thread", f"{time.perf_counter() - t0:.2f}", "-"])
    base = None
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(_one_blas_thread)
            solve_ridge_cv(X, Y[:, :64], alphas, folds, client=client)  # warm-up
            t0 = time.perf_counter()
            res = solve_ridge_cv(X, Y, alphas, folds, client=client)
            sec = time.perf_counter() - t0
        base = base or sec
        same = (np.array_equal(res.best_alphas, ref.best_alphas)
                and np.allclose(res.cv_scores, ref.cv_scores, atol=1e-6, rtol=0)
                and np.allclose(res.coef, ref.coef, atol=1e-6 * np.abs(ref.coef).max()))
        rows.append([f"LocalCluster, {workers} worker(s) x 1 thread", f"{sec:.2f}",
                     f"{base / sec:.2f}x; identical to single process: {same}"])
    table(rows, ["run", "seconds", "speed-up vs 1 worker"])
    print(machine_line())


if __name__ == "__main__":
    main()
