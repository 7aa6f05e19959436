"""Tiny BIDS / fMRIPrep and NSD-layout trees written in a test folder, with a planted effect.

Responses of the voxels in the atlas ROI "vt" (label 1) are a linear function of
known stimulus features (saved as a precomputed .npz features file), so that an
encoder fitted by the pipeline must recover them on held-out data; the other
voxels ("rest", label 2) are noise.
"""

import numpy as np
import pandas as pd

VOL = (6, 5, 4)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
SPACE = "MNI152NLin2009cAsym"


def _features(n_stimuli, n_features, rng):
    ids = [f"img{i:02d}" for i in range(n_stimuli)]
    return ids, rng.normal(size=(n_stimuli, n_features))


def _atlas(root):
    import nibabel as nib

    atlas = np.full(VOL, 2, np.int16)
    atlas[:3] = 1
    nib.save(nib.Nifti1Image(atlas, AFFINE), root / "atlas.nii.gz")
    return atlas


def write_features(path, ids, values):
    np.savez(path, features=values, stimulus_ids=np.asarray(ids))
    return path


def make_fmriprep_tree(root, n_runs=3, n_stimuli=8, n_vols=70, tr=2.0, seed=0):
    """A raw BIDS folder (events) + fMRIPrep derivatives (BOLD, brain mask, confounds) of sub-01.

    Returns a dict with ``root``, ``derivatives``, ``atlas``, ``features`` (the .npz file).
    """
    import nibabel as nib
    from nilearn.glm.first_level import compute_regressor

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    raw, deriv = root / "bids", root / "bids" / "derivatives" / "fmriprep"
    ids, feats = _features(n_stimuli, 3, rng)
    atlas = _atlas(root)
    weights = rng.normal(size=(3, int(np.prod(VOL))))
    in_roi = (atlas == 1).ravel()
    frame_times = np.arange(n_vols) * tr
    for run in range(1, n_runs + 1):
        order = rng.permutation(n_stimuli)
        onsets = 8.0 + np.arange(n_stimuli) * 16.0
        events = pd.DataFrame({"onset": onsets, "duration": 1.0, "trial_type": [ids[i] for i in order]})
        func = raw / "sub-01" / "func"
        func.mkdir(parents=True, exist_ok=True)
        events.to_csv(func / f"sub-01_task-objects_run-{run}_events.tsv", sep="\t", index=False)
        signal = np.zeros((n_vols, weights.shape[1]))
        for onset, i in zip(onsets, order):
            reg, _ = compute_regressor(np.array([[onset], [1.0], [1.0]]), "glover", frame_times)
            signal += reg[:, :1] * (feats[i] @ weights)[None, :]
        signal[:, ~in_roi] = 0.0
        bold = 100.0 + 3.0 * signal + rng.normal(scale=0.3, size=signal.shape)
        dfunc = deriv / "sub-01" / "func"
        dfunc.mkdir(parents=True, exist_ok=True)
        prefix = f"sub-01_task-objects_run-{run}"
        img = nib.Nifti1Image(bold.T.reshape(VOL + (n_vols,)).astype(np.float32), AFFINE)
        img.header.set_zooms((3.0, 3.0, 3.0, tr))
        nib.save(img, dfunc / f"{prefix}_space-{SPACE}_desc-preproc_bold.nii.gz")
        nib.save(nib.Nifti1Image(np.ones(VOL, np.uint8), AFFINE),
                 dfunc / f"{prefix}_space-{SPACE}_desc-brain_mask.nii.gz")
        motion = {c: rng.normal(scale=0.01, size=n_vols)
                  for c in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")}
        pd.DataFrame({**motion, "framewise_displacement": np.r_[np.nan, np.abs(rng.normal(size=n_vols - 1))]}
                     ).to_csv(dfunc / f"{prefix}_desc-confounds_timeseries.tsv", sep="\t", index=False)
    features = write_features(root / "features.npz", ids, feats)
    return {"root": raw, "derivatives": deriv, "atlas": root / "atlas.nii.gz", "features": features}


def make_nsd_tree(root, n_sessions=3, n_stimuli=20, seed=0):
    """NSD layout: subj01 betas_sessionNN.hdf5 (int16 x 300, reversed axes), order.tsv, nsdgeneral mask."""
    import h5py
    import nibabel as nib

    rng = np.random.default_rng(seed)
    ids, feats = _features(n_stimuli, 4, rng)
    folder = root / "nsddata_betas" / "ppdata" / "subj01" / "func1pt8mm" / "betas_fithrf_GLMdenoise_RR"
    folder.mkdir(parents=True)
    mask = np.zeros(VOL, bool)
    mask[1:5, 1:4, 1:3] = True
    weights = rng.normal(size=(4,) + VOL)
    rows = []
    for ses in range(1, n_sessions + 1):
        order = rng.permutation(n_stimuli)
        beta = np.einsum("nf,fxyz->nxyz", feats[order], weights) + rng.normal(scale=0.7,
                                                                               size=(n_stimuli,) + VOL)
        stored = np.round(beta * 300).astype(np.int16)
        with h5py.File(folder / f"betas_session{ses:02d}.hdf5", "w") as f:
            f.create_dataset("betas", data=np.transpose(stored, (0, 3, 2, 1)))
        rows += [{"session": ses, "trial": t + 1, "stim_id": ids[i]} for t, i in enumerate(order)]
    pd.DataFrame(rows).to_csv(root / "order.tsv", sep="\t", index=False)
    nib.save(nib.Nifti1Image(mask.astype(np.int16), np.diag([1.8, 1.8, 1.8, 1.0])),
             root / "nsdgeneral.nii.gz")
    features = write_features(root / "features.npz", ids, feats)
    return {"betas": folder, "order": root / "order.tsv", "mask": root / "nsdgeneral.nii.gz",
            "features": features}
