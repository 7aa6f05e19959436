"""Benchmark 5 (issue 3): problem 3 (n 9000, p 768, t 100000) with torch on CUDA.

Prints seconds, the FLOPs counted for the algorithm (benchmarks/_common.py,
``ridge_cv_flops``) and the achieved TFLOP/s next to the GPU's peak. Exits
with a message (status 0) when no CUDA device is available.

    python benchmarks/bench_ridge_gpu.py [--quick]
"""

import sys
import time
import warnings

import numpy as np
from _common import gb, kfold, make_problem, parse_args, ridge_cv_flops, table

from neurotoolkit.encoding import solve_ridge_cv

# dense peaks in TFLOP/s (FP32 non-tensor, FP64 non-tensor), vendor data sheets
PEAKS = {"H100 SXM": (67.0, 34.0), "H100 PCIe": (51.0, 26.0), "H100 NVL": (60.0, 30.0),
         "H200": (67.0, 34.0), "A100": (19.5, 9.7), "V100": (15.7, 7.8),
         "L40S": (91.6, 1.4), "A10": (31.2, 0.98)}


def _peak(name):
    for key, val in PEAKS.items():
        if all(part.lower() in name.lower() for part in key.split()):
            return key, val
    return None, (float("nan"), float("nan"))


def main():
    args = parse_args(__doc__)
    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch. Nothing to benchmark.")
        return 0
    if not torch.cuda.is_available():
        print("No CUDA device available (torch.cuda.is_available() is False): "
              "run this script on a machine with an NVIDIA GPU.")
        return 0
    n, p, t = (9000, 768, 10000) if args.quick else (9000, 768, 100000)
    alphas = np.logspace(0, 5, 10)
    X, Y = make_problem(n, p, t, seed=args.seed)
    folds = kfold(n, 5)
    name = torch.cuda.get_device_name(0)
    key, (peak32, peak64) = _peak(name)
    print(f"GPU: {name} ({key or 'peak unknown'}); n={n} p={p} t={t}; Y {gb(Y.nbytes)}")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up (CUDA context, cuBLAS handles) on a slice
        solve_ridge_cv(X, Y[:, :2000], alphas, folds, backend="torch", device="cuda")
        for dtype in ("float32", "float64"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            res = solve_ridge_cv(X, Y, alphas, folds, backend="torch", device="cuda",
                                 dtype=dtype)
            torch.cuda.synchronize()
            sec = time.perf_counter() - t0
            flops = ridge_cv_flops(n, p, t, len(alphas), 5)
            peak = peak32 if dtype == "float32" else peak64
            rows.append([dtype, f"{sec:.2f}", f"{flops / sec / 1e12:.2f}", f"{peak:.1f}",
                         f"{100 * flops / sec / 1e12 / peak:.0f} %",
                         gb(torch.cuda.max_memory_allocated()), res.batch_size])
    table(rows, ["dtype", "seconds", "achieved TFLOP/s", "peak TFLOP/s", "of peak",
                 "GPU memory peak", "batch"])
    print(f"FLOPs counted: {flops / 1e12:.2f} TFLOP (the partial-fraction product runs in "
          "float64 in both cases; the float32 peak is the non-tensor-core figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
