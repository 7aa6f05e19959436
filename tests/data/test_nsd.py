"""NSD-style betas: per-session HDF5/NIfTI files + stimulus-order table, written here."""

import numpy as np
import pandas as pd
import pytest

h5py = pytest.importorskip("h5py")
nib = pytest.importorskip("nibabel")

from neurotoolkit.data import StimulusSet, load_nsd_betas  # noqa: E402

VOL = (5, 4, 3)  # (X, Y, Z) of the NIfTI grid
AFFINE = np.diag([1.8, 1.8, 1.8, 1.0])


def _layout(tmp_path, rng, fmt):
    """Two sessions (9 and 7 trials) as NSD writes them: int16 = round(300 * beta)."""
    folder = tmp_path / "nsddata_betas" / "ppdata" / "subj01" / "func1pt8mm" / "betas_fithrf"
    folder.mkdir(parents=True)
    truth, rows = {}, []
    images = ["101", "202", "303", "404", "505"]
    for ses, n in ((1, 9), (2, 7)):
        beta = rng.normal(0, 2, (n,) + VOL) + 0.5 * ses
        stored = np.round(beta * 300).astype(np.int16)
        truth[ses] = stored.astype(np.float64) / 300
        if fmt == "hdf5":
            with h5py.File(folder / f"betas_session{ses:02d}.hdf5", "w") as f:
                # MATLAB-written HDF5 appears to h5py with reversed spatial axes
                f.create_dataset("betas", data=np.transpose(stored, (0, 3, 2, 1)))
        else:
            img = nib.Nifti1Image(np.moveaxis(stored, 0, -1), AFFINE)
            nib.save(img, folder / f"betas_session{ses:02d}.nii.gz")
        for t in range(n):
            rows.append({"session": ses, "trial": t + 1, "stim_id": images[(t + ses) % 5]})
    order = pd.DataFrame(rows)
    order.sample(frac=1, random_state=0).to_csv(tmp_path / "order.tsv", sep="\t", index=False)
    mask = np.zeros(VOL, bool)
    mask[1:4, :3, 1:] = True
    mask[0, 0, 0] = True
    nib.save(nib.Nifti1Image(mask.astype(np.int16), AFFINE), tmp_path / "nsdgeneral.nii.gz")
    return folder, truth, order, mask, images


@pytest.mark.parametrize("fmt", ["hdf5", "nifti"])
def test_load_matches_manual_zscore(tmp_path, rng, fmt):
    folder, truth, order, mask, images = _layout(tmp_path, rng, fmt)
    rec = load_nsd_betas(folder, tmp_path / "order.tsv", mask=tmp_path / "nsdgeneral.nii.gz",
                         stimuli=StimulusSet(images))
    expected = []
    for ses in (1, 2):
        b = truth[ses][:, mask]  # (n_trials, n_voxels) in np.argwhere(mask) order
        expected.append((b - b.mean(0)) / b.std(0))
    np.testing.assert_allclose(rec.responses, np.vstack(expected), atol=1e-5)
    np.testing.assert_array_equal(rec.units[["i", "j", "k"]].to_numpy(), np.argwhere(mask))
    np.testing.assert_allclose(rec.units["x"], 1.8 * rec.units["i"])
    assert list(rec.runs) == [1] * 9 + [2] * 7
    sorted_order = order.sort_values(["session", "trial"])
    assert list(rec.stimulus_ids) == sorted_order["stim_id"].tolist()
    img = rec.to_nifti(rec.responses[0])
    np.testing.assert_allclose(img.get_fdata()[mask], expected[0][0], atol=1e-5)
    # without z-scoring the int16 / 300 scale gives the stored betas back
    raw = load_nsd_betas(folder, order, sessions=[2], mask=tmp_path / "nsdgeneral.nii.gz",
                         zscore=False)
    np.testing.assert_allclose(raw.responses, truth[2][:, mask], atol=1e-5)
    avg = load_nsd_betas(folder, order, mask=tmp_path / "nsdgeneral.nii.gz",
                         average_repeats=True)
    assert avg.n_trials == 5 and avg.meta["n_repeats"].sum() == 16
    first = rec.stimulus_ids == avg.stimulus_ids[0]
    np.testing.assert_allclose(avg.responses[0], rec.responses[first].mean(0), atol=1e-5)


def test_bad_inputs(tmp_path, rng):
    folder, _, order, _, images = _layout(tmp_path, rng, "hdf5")
    with pytest.raises(ValueError, match="lists 8 trial"):
        load_nsd_betas(folder, order.iloc[1:])
    with pytest.raises(ValueError, match="missing from the StimulusSet"):
        load_nsd_betas(folder, order, stimuli=StimulusSet(images[:2]))
    nib.save(nib.Nifti1Image(np.ones((5, 4, 4), np.int16), AFFINE), tmp_path / "wrong.nii.gz")
    with pytest.raises(ValueError, match=r"wrong\.nii\.gz.*does not match"):
        load_nsd_betas(folder, order, mask=tmp_path / "wrong.nii.gz")
    bad = folder / "betas_session03.hdf5"
    bad.write_bytes((folder / "betas_session01.hdf5").read_bytes()[:500])
    with pytest.raises(ValueError, match=r"betas_session03\.hdf5"):
        load_nsd_betas(folder, order)
    with pytest.raises(ValueError, match="no betas file for session"):
        load_nsd_betas(folder, order, sessions=[4])
    with pytest.raises(ValueError, match="missing column"):
        load_nsd_betas(folder, order.drop(columns="trial"))
