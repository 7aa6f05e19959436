"""TRF benchmark (issue 14): TemporalReceptiveField against MNE ReceptiveField and mtrf.

Realistic size: 64 channels, 30 min at 100 Hz (6 runs of 5 min), 16 spectrogram
bands, lags -100..400 ms (51 lags, 816 design columns), data from
``simulate_trf_ephys``. Every tool fits the same data in this process:

* neurotoolkit at one alpha (no CV), the same model as each peer:
  ``fit_intercept=False`` for MNE (MNE mean-fills lag edges when it fits an
  intercept), ``fit_intercept=True`` for mtrf (its bias column), with
  ``alpha = lambda * sfreq * n_trials`` for mtrf's scaling;
* MNE ``ReceptiveField(estimator=alpha)`` (TimeDelayingRidge) and
  ``ReceptiveField(estimator=Ridge(alpha))``, runs given as epochs (3-D input)
  so that no lag crosses a run boundary;
* mtrf ``TRF().train(trials, ..., lambda)``;
* neurotoolkit with its default work: 25 alphas, one per channel, leave-one-run-out CV
  (the peers have no per-channel CV; this row shows what it costs).

Printed: seconds, peak RSS above baseline, speed ratio, max |coef difference| relative
to max |coef|.

    python benchmarks/bench_trf.py [--quick] [--skip-ridge]
"""

import argparse
import time
import warnings
from contextlib import contextmanager

import numpy as np
from _common import gb, machine_line, measure, table
from _roofline import EIGH_NOMINAL, gemm_rate, report

from neurotoolkit.encoding import TemporalReceptiveField
from neurotoolkit.simulation import simulate_trf_ephys


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 min of data (3 runs of 100 s)")
    parser.add_argument("--skip-ridge", action="store_true",
                        help="skip ReceptiveField(Ridge) (it forms the 1.2 GB lagged design)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    n_runs, run_s = (3, 100.0) if args.quick else (6, 300.0)
    sf, tmin, tmax, alpha = 100.0, -0.1, 0.4, 1e3
    sim = simulate_trf_ephys(n_chans=64, n_runs=n_runs, run_duration=run_s, sfreq=sf,
                             n_bands=16, random_state=0)
    X, Y, runs = sim.features, sim.recording.responses, sim.runs
    n = len(X)
    print(f"{n} samples ({n / sf / 60:.0f} min, {n_runs} runs), 16 bands, 64 channels, "
          f"lags {tmin}..{tmax} s")
    print(machine_line())
    X3 = X.reshape(n_runs, -1, X.shape[1]).transpose(1, 0, 2)  # (n_times, n_epochs, n_feats)
    Y3 = Y.reshape(n_runs, -1, Y.shape[1]).transpose(1, 0, 2)

    from mne.decoding import ReceptiveField
    from mtrf.model import TRF
    from sklearn.linear_model import Ridge

    # warm-up (imports, BLAS threads) on a slice
    TemporalReceptiveField(tmin, tmax, sf, alphas=alpha, fit_intercept=False).fit(
        X[:2000], Y[:2000])
    rows = []

    def rel(a, b):
        return f"{np.abs(a - b).max() / np.abs(b).max():.1e}"

    ours0, t_ours0, m_ours0 = measure(
        TemporalReceptiveField(tmin, tmax, sf, alphas=alpha, fit_intercept=False,
                               device=args.device).fit, X, Y, runs=runs)
    rows.append(["neurotoolkit, 1 alpha, no intercept", f"{t_ours0:.2f}", gb(m_ours0), "1.0",
                 "-"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tdr, t_tdr, m_tdr = measure(
            ReceptiveField(tmin, tmax, sf, estimator=alpha, fit_intercept=False).fit, X3, Y3)
    rows.append(["MNE ReceptiveField(TimeDelayingRidge)", f"{t_tdr:.2f}", gb(m_tdr),
                 f"{t_tdr / t_ours0:.1f}", rel(ours0.coef_, tdr.coef_)])
    if not args.skip_ridge:
        rr, t_rr, m_rr = measure(
            ReceptiveField(tmin, tmax, sf, estimator=Ridge(alpha=alpha, fit_intercept=False),
                           fit_intercept=False).fit, X3, Y3)
        rows.append(["MNE ReceptiveField(Ridge)", f"{t_rr:.2f}", gb(m_rr),
                     f"{t_rr / t_ours0:.1f}", rel(ours0.coef_, rr.coef_)])
    ours1, t_ours1, m_ours1 = measure(
        TemporalReceptiveField(tmin, tmax, sf, alphas=alpha / 1.0, device=args.device).fit,
        X, Y, runs=runs)
    lam = alpha / (sf * n_runs)
    trf = TRF(direction=1)
    trials_x = [X[runs == r] for r in range(n_runs)]
    trials_y = [Y[runs == r] for r in range(n_runs)]
    _, t_mt, m_mt = measure(trf.train, trials_x, trials_y, int(sf), tmin, tmax, lam)
    w = np.transpose(trf.weights, (2, 0, 1)) / sf
    rows.append(["neurotoolkit, 1 alpha, intercept", f"{t_ours1:.2f}", gb(m_ours1), "1.0", "-"])
    rows.append(["mtrf TRF.train (bias)", f"{t_mt:.2f}", gb(m_mt), f"{t_mt / t_ours1:.1f}",
                 rel(ours1.coef_, w)])
    with warnings.catch_warnings(), _phase_timers() as phases:
        warnings.simplefilter("ignore")
        cv, t_cv, m_cv = measure(TemporalReceptiveField(tmin, tmax, sf, device=args.device).fit,
                                 X, Y, runs=runs)
    rows.append([f"neurotoolkit, 25 alphas x {n_runs}-fold run CV, alpha per channel",
                 f"{t_cv:.2f}", gb(m_cv), f"{t_cv / t_tdr:.2f} of TDR", "-"])
    table(rows, ["method", "seconds", "peak RSS", "ratio (peer / ours)", "max |coef diff|"])
    high = np.flatnonzero(sim.snr >= 1.0)
    r = [np.corrcoef(cv.coef_[c].ravel(), sim.kernels[c].ravel())[0, 1] for c in high]
    print(f"CV model: kernel correlation with the planted TRF on {high.size} channels with "
          f"SNR >= 1: median {np.median(r):.3f}, min {np.min(r):.3f}")
    n_cols = cv.spec_.n_columns
    report(phases, trf_phase_flops(n, X.shape[1], n_cols, Y.shape[1], 25, n_runs),
           gemm_rate("float32"), gemm_rate("float64"), t_cv,
           label=f"TRF, 25 alphas x {n_runs}-fold run CV (all float64)")
    print(machine_line())


@contextmanager
def _phase_timers():
    """Seconds spent in the TRF's statistics, decompositions, scoring and refit (module
    functions wrapped; exclusive: a nested phase's time is taken from its caller's)."""
    from neurotoolkit.encoding import _lags, _trf

    times, stack = {}, []
    targets = [(_trf, "LaggedStats", "y_statistics"), (_trf, "fold_moments", "fold_setup"),
               (_trf, "score_folds", "scoring"), (_trf, "refit", "refit"),
               (_lags, "eigh_many", "decompositions")]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in targets]

    def wrap(label, fn):
        def timed(*a, **k):
            stack.append(label)
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                sec = time.perf_counter() - t0
                stack.pop()
                times[label] = times.get(label, 0.0) + sec
                if stack:
                    times[stack[-1]] = times.get(stack[-1], 0.0) - sec
        return timed

    for mod, name, label in targets:
        setattr(mod, name, wrap(label, getattr(mod, name)))
    try:
        yield times
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def trf_phase_flops(n, f, P, t, A, k):
    """{phase: (flops, bytes, float64 flops)} of the TRF fit (all float64): lagged statistics
    (X_lag^T Y and one block row of X_lag^T X), per fold an eigendecomposition of the
    (P, P) Gram, the rotations and one (P, P) x (P, t) product per alpha, the refit."""
    stats = 2.0 * n * P * t + 2.0 * n * f * P
    eig = (k + 1) * EIGH_NOMINAL * P**3
    scoring = k * (4.0 * P**3 + 4.0 * P * P * t + 2.0 * A * P * P * t)
    refit_f = 4.0 * P * P * t
    # the lagged rows are materialized chunk by chunk (written and read once: 16 n P bytes)
    return {"y_statistics": (stats, 8.0 * (n * f + n * t + P * t) + 16.0 * n * P, stats),
            "fold_setup": (0.0, 0.0, 0.0),
            "decompositions": (eig, 8.0 * (k + 1) * P * P, eig),
            "scoring": (scoring, 8.0 * k * (3 * P * P + 2 * P * t), scoring),
            "refit": (refit_f, 8.0 * (2 * P * P + 2 * P * t), refit_f)}


if __name__ == "__main__":
    main()
