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

# memory bandwidth in TB/s, vendor data sheets
BANDWIDTH = {"H100 SXM": 3.35, "H100 PCIe": 2.0, "H100 NVL": 3.9, "H200": 4.8, "A100": 2.0,
             "V100": 0.9, "L40S": 0.86, "A10": 0.6}
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
    # roofline of the float64 run's phases (info["timings"], CUDA-synchronized) and the
    # measured GEMM rate of this GPU, float32 (TF32 off)
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(8192, 8192, device="cuda")
    a @ a
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        a @ a
    torch.cuda.synchronize()
    rate = 5 * 2 * 8192**3 / (time.perf_counter() - t0) / 1e9
    from _roofline import primal_phase_flops, report

    report(res.info["timings"], primal_phase_flops(n, p, t, len(alphas), folds, itemsize=8),
           rate, seconds=res.info["seconds"], label=f"neurotoolkit on {name} (float64 run)")
    bw = next((v for k, v in BANDWIDTH.items() if k == key), float("nan"))
    print(f"memory bandwidth (data sheet): {bw} TB/s; Y streamed once per batch: "
          f"{Y.nbytes / 1e9:.1f} GB")
    print(f"FLOPs counted: {flops / 1e12:.2f} TFLOP (the partial-fraction product runs in "
          "float64 in both cases; the float32 peak is the non-tensor-core figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
