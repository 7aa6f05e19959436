"""Shared helpers for the ridge benchmarks: problems, timing, peak memory, tables.

Peak memory is the peak resident set size (RSS) of this process during a
call, minus the RSS just before it, sampled every 2 ms by a background
thread (psutil). It counts every allocation, including BLAS/LAPACK work
space and torch's CPU allocator, which tracemalloc would miss. Each call
starts after ``gc.collect()``; large numpy buffers are returned to the OS
when freed (mmap), so the baseline of the next call is clean.
"""

import argparse
import gc
import os
import threading
import time

import numpy as np
import psutil


def parse_args(description, quick_help="smaller problem for a smoke run"):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-alphas", type=int, default=10,
                        help="grid size (issue: 10 log-spaced values over 5 decades)")
    return parser.parse_args()


def make_problem(n_samples, n_features, n_targets, n_test=0, seed=0, dtype=np.float32,
                 frac_predictive=0.7):
    """X (n, p), Y (n, t) and a held-out (X_test, Y_test) with mixed SNR targets.

    Targets are ``X w_j * s_j + noise`` with ``s_j`` log-uniform, and
    ``1 - frac_predictive`` of them pure noise, as in voxelwise data. Built
    in chunks of targets to keep peak memory at about the size of Y.
    """
    rng = np.random.default_rng(seed)
    n = n_samples + n_test
    X = rng.standard_normal((n, n_features), dtype=np.float32)
    Y = np.empty((n, n_targets), dtype=np.float32)
    scale = np.exp(rng.uniform(np.log(0.02), np.log(0.5), n_targets)) / np.sqrt(n_features)
    scale[rng.random(n_targets) > frac_predictive] = 0.0
    chunk = 5000
    for a in range(0, n_targets, chunk):
        b = min(a + chunk, n_targets)
        W = rng.standard_normal((n_features, b - a), dtype=np.float32) * scale[a:b]
        Y[:, a:b] = X @ W
        Y[:, a:b] += rng.standard_normal((n, b - a), dtype=np.float32)
    X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
    if n_test:
        return X[:n_samples], Y[:n_samples], X[n_samples:], Y[n_samples:]
    return X, Y


class PeakRSS:
    """Context manager: peak RSS above the starting RSS, sampled every ``interval`` s."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.proc = psutil.Process(os.getpid())

    def __enter__(self):
        gc.collect()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.delta = self.peak - self.base
        return False


def measure(fn, *args, **kwargs):
    """Run ``fn`` once: (result, seconds, peak RSS delta in bytes)."""
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds = time.perf_counter() - t0
    return out, seconds, mem.delta


def gb(n):
    return f"{n / 1e9:.2f} GB"


def machine_line():
    load = os.getloadavg()
    return (f"{psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 1e9:.0f} GB RAM, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def kfold(n_samples, k=5):
    """k contiguous unshuffled folds (scikit-learn KFold(k) and neurotoolkit's default)."""
    from sklearn.model_selection import KFold

    return list(KFold(k).split(np.zeros(n_samples)))


def logo_folds(n_samples, n_groups=6):
    """Leave-one-group-out over ``n_groups`` contiguous runs of uneven length
    (relative sizes 12, 14, 16, 17, 19 and 22 % for 6 runs), as fMRI runs."""
    rel = np.linspace(0.12, 0.22, n_groups) if n_groups != 6 else np.array(
        [0.12, 0.14, 0.16, 0.17, 0.19, 0.22])
    edges = np.r_[0, np.cumsum(np.round(rel / rel.sum() * n_samples).astype(int))]
    edges[-1] = n_samples
    idx = np.arange(n_samples)
    return [(np.r_[idx[:a], idx[b:]], idx[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def best_of(n, fn, *args, **kwargs):
    """``measure`` ``n`` times: (result of the fastest run, its seconds, max peak RSS delta)."""
    best = None
    peak = 0
    for _ in range(n):
        out, sec, mem = measure(fn, *args, **kwargs)
        peak = max(peak, mem)
        if best is None or sec < best[1]:
            best = (out, sec)
        del out
    return best[0], best[1], peak


def ridge_cv_flops(n, p, t, n_alphas, k, refit=True):
    """Floating-point operations of neurotoolkit's primal CV path (dominant terms).

    X^T Y once (2 n p t, summed from the folds' X_te^T Y_te); per fold the two
    rotations V^T S (4 p r t when the test folds are larger than p, else
    2 n_te r t + 2 p r t), the partial-fraction product (2 r^2 t, float64) and
    the (A, r) x (r, t) score products (~8 A r t); refit 4 p r t.
    r = min(p, n_tr) (full rank), n_te = n / k.
    """
    r = min(p, n - n // k)
    n_te = n // k
    rot = 4 * p * r * t if n_te > p else 2 * n_te * r * t + 2 * p * r * t
    fold = rot + 2 * r * r * t + 8 * n_alphas * r * t
    total = 2 * n * p * t + k * fold
    if refit:
        total += 4 * p * r * t
    return float(total)


def warm_up(X, Y, folds, alphas, n_targets=64):
    """Run every method once on a few targets so that one-time costs (imports,
    BLAS buffers, thread pools, allocator arenas) are not charged to the first
    measured method."""
    import warnings

    import himalaya.backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HRidgeCV
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    from neurotoolkit.encoding import solve_ridge_cv

    himalaya.backend.set_backend("numpy")
    Ys = np.ascontiguousarray(Y[:, :n_targets])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve_ridge_cv(X, Ys, alphas, folds)
        est = KernelRidgeCV if X.shape[1] >= X.shape[0] else HRidgeCV
        est(alphas=alphas, cv=folds, fit_intercept=True).fit(X, Ys)
        if X.shape[1] < X.shape[0]:
            SkRidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Ys[:, :8])
