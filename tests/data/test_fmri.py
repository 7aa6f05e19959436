"""fMRI adapters: NIfTI/GIFTI -> Recording, BIDS events, GLM betas, maps back; real Haxby."""

import gzip

import numpy as np
import pandas as pd
import pytest

nib = pytest.importorskip("nibabel")
pytest.importorskip("nilearn")

from neurotoolkit.data import (  # noqa: E402
    StimulusSet,
    estimate_betas,
    load_bids_events,
    load_fmri,
    save_brain_map,
)

SHAPE = (7, 5, 6)
AFFINE = np.array([[-3.0, 0, 0, 30], [0, 2.5, 0, -40], [0, 0, 4.0, -10], [0, 0, 0, 1]])
TR = 2.0


def _write_run(path, rng, n_vols):
    data = rng.normal(100, 5, SHAPE + (n_vols,)).astype(np.float32)
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_zooms((3.0, 2.5, 4.0, TR))
    nib.save(img, path)
    return data


def _write_mask(path, mask, affine=AFFINE):
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), path)


def _events(path, onsets, ids, col="stim_id"):
    pd.DataFrame({"onset": onsets, "duration": 1.0, col: ids}).to_csv(path, sep="\t", index=False)


@pytest.fixture
def two_runs(tmp_path, rng):
    datas = [_write_run(tmp_path / f"run{r}.nii.gz", rng, n) for r, n in ((1, 31), (2, 37))]
    mask = rng.random(SHAPE) < 0.5
    _write_mask(tmp_path / "mask.nii.gz", mask)
    _events(tmp_path / "ev1.tsv", [4.0, 20.0, 40.0], ["a", "b", "a"])
    _events(tmp_path / "ev2.tsv", [0.0, 33.0], ["c", "b"])
    return tmp_path, datas, mask


def test_load_fmri_volume_geometry_and_roundtrip(two_runs):
    folder, datas, mask = two_runs
    rec = load_fmri([folder / "run1.nii.gz", folder / "run2.nii.gz"], mask=folder / "mask.nii.gz",
                    events=[folder / "ev1.tsv", folder / "ev2.tsv"], runs=["r1", "r2"])
    assert rec.responses.shape == (31 + 37, mask.sum())
    expected = np.concatenate([d[mask].T for d in datas], axis=0)
    np.testing.assert_allclose(rec.responses, expected, rtol=1e-6)
    ijk = rec.units[["i", "j", "k"]].to_numpy()
    np.testing.assert_array_equal(ijk, np.argwhere(mask))
    xyz = rec.units[["x", "y", "z"]].to_numpy()
    np.testing.assert_allclose(xyz, ijk @ AFFINE[:3, :3].T + AFFINE[:3, 3])
    assert rec.meta["tr"] == TR and list(rec.runs[:31]) == ["r1"] * 31
    # onset 20 s at TR 2 -> volume 10; run 2 starts at row 31
    ids = rec.stimulus_ids
    assert ids[2] == "a" and ids[10] == "b" and ids[31] == "c"
    assert rec.stimulus_ids[31 + 16] == "b" and (rec.stimulus_ids == "").sum() == 68 - 5
    assert rec.units["roi"].unique().tolist() == ["mask"]
    # provenance: the same key as for ephys recordings, a list of {"step": ..., params}
    assert "steps" not in rec.meta and rec.meta["preprocessing"][0]["step"] == "mask"
    assert rec.meta["preprocessing"][0]["n_voxels"] == mask.sum()
    # back to the brain, through a file written atomically
    img = rec.to_nifti(rec.responses[3])
    np.testing.assert_allclose(img.get_fdata()[mask], datas[0][..., 3][mask], rtol=1e-6)
    out = save_brain_map(rec, rec.responses[3], folder / "map.nii.gz")
    back = nib.load(out)
    np.testing.assert_allclose(back.affine, AFFINE)
    np.testing.assert_allclose(back.get_fdata()[mask], datas[0][..., 3][mask], rtol=1e-6)
    with pytest.raises(FileExistsError):
        save_brain_map(rec, rec.responses[3], folder / "map.nii.gz")
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp.nii.gz")]


def test_beta_maps_rois_and_atlas(tmp_path, rng):
    vols = [rng.normal(size=SHAPE).astype(np.float32) for _ in range(5)]
    paths = []
    for n, v in enumerate(vols):
        paths.append(tmp_path / f"beta{n}.nii.gz")
        nib.save(nib.Nifti1Image(v, AFFINE), paths[-1])
    roi_a = np.zeros(SHAPE, bool)
    roi_a[:3] = True
    roi_b = np.zeros(SHAPE, bool)
    roi_b[2:5, :2] = True
    _write_mask(tmp_path / "a.nii.gz", roi_a)
    _write_mask(tmp_path / "b.nii.gz", roi_b)
    stim = StimulusSet(["s0", "s1", "s2"])
    ids = ["s0", "s1", "s2", "s0", "s1"]
    rec = load_fmri(paths, rois={"A": tmp_path / "a.nii.gz", "B": tmp_path / "b.nii.gz"},
                    stimulus_ids=ids, runs=[0, 0, 0, 1, 1], stimuli=stim)
    union = roi_a | roi_b
    assert rec.n_units == union.sum() and rec.meta["mode"] == "betas"
    np.testing.assert_allclose(rec.responses[4], vols[4][union])
    ijk = rec.units[["i", "j", "k"]].to_numpy()
    in_a = roi_a[tuple(ijk.T)]
    assert (rec.units["roi"][in_a] == "A").all()  # first ROI wins on overlap
    assert (rec.units["roi"][~in_a] == "B").all()
    assert rec.average_repeats().n_trials == 3
    # integer atlas with names
    atlas = (roi_a.astype(np.int16) + 2 * (roi_b & ~roi_a)).astype(np.int16)
    nib.save(nib.Nifti1Image(atlas, AFFINE), tmp_path / "atlas.nii.gz")
    rec2 = load_fmri(paths, rois=tmp_path / "atlas.nii.gz", roi_names={1: "V1", 2: "FFA"},
                     stimulus_ids=ids)
    assert sorted(rec2.rois) == ["FFA", "V1"] and rec2.n_units == union.sum()
    with pytest.raises(ValueError, match="missing from the StimulusSet"):
        load_fmri(paths, rois={"A": tmp_path / "a.nii.gz"}, stimulus_ids=ids,
                  stimuli=StimulusSet(["s0", "s1"]))


def test_gifti_roundtrip(tmp_path, rng):
    n_vert = {"left": 23, "right": 19}
    data = {h: rng.normal(size=(n, 11)).astype(np.float32) for h, n in n_vert.items()}
    files = {}
    for h, arr in data.items():
        img = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(c) for c in arr.T])
        files[h] = tmp_path / f"sub-01_hemi-{h[0].upper()}_bold.func.gii"
        nib.save(img, files[h])
    keep = np.ones(19, bool)
    keep[[0, 5]] = False
    rec = load_fmri(files, mask={"right": keep}, tr=1.5)
    assert rec.space == "fsaverage" and rec.n_trials == 11 and rec.n_units == 23 + 17
    np.testing.assert_allclose(rec.responses[:, :23], data["left"].T)
    np.testing.assert_allclose(rec.responses[:, 23:], data["right"][keep].T)
    maps = rec.to_surface(rec.responses[7])
    np.testing.assert_allclose(maps["left"], data["left"][:, 7])
    assert np.isnan(maps["right"][[0, 5]]).all()
    out = save_brain_map(rec, rec.responses[7], tmp_path / "score.func.gii")
    back = nib.load(out["right"]).darrays[0].data
    np.testing.assert_allclose(back[keep], data["right"][keep, 7], rtol=1e-6)
    assert out["left"].name == "score_hemi-L.func.gii"


def _simulate_glm(rng, n_scans, events, betas, noise=0.01):
    from nilearn.glm.first_level import make_first_level_design_matrix

    ev = events.assign(trial_type=[f"ev{n:04d}" for n in range(len(events))])
    X = make_first_level_design_matrix(np.arange(n_scans) * TR, ev[["onset", "duration",
                                                                    "trial_type"]])
    n_ev = len(events)
    drift = rng.normal(size=(X.shape[1] - n_ev, betas.shape[1]))
    noise = noise * rng.normal(size=(n_scans, betas.shape[1]))
    Y = X.to_numpy() @ np.vstack([betas, drift]) + noise
    return Y, X


def test_estimate_betas_recovers_truth(tmp_path, rng):
    from neurotoolkit.data import Recording

    n_scans, n_units = 90, 13
    events = pd.DataFrame({"onset": [6.0, 30.0, 52.0, 80.0, 120.0, 150.0],
                           "duration": [4.0, 4.0, 4.0, 4.0, 4.0, 4.0],
                           "stim_id": ["a", "b", "a", "c", "b", "c"]})
    truth = rng.normal(size=(len(events), n_units))
    Y1, X1 = _simulate_glm(rng, n_scans, events, truth[:, :])
    Y2, _ = _simulate_glm(rng, n_scans, events, truth[::-1])
    rec = Recording(np.vstack([Y1, Y2]), [""] * 2 * n_scans, runs=np.repeat([1, 2], n_scans),
                    meta={"tr": TR})
    table = load_bids_events([events, events], runs=[1, 2])
    lsa = estimate_betas(rec, table, method="lsa", noise_model="ols")
    assert lsa.n_trials == 12 and list(lsa.runs) == [1] * 6 + [2] * 6
    assert list(lsa.stimulus_ids[:6]) == ["a", "b", "a", "c", "b", "c"]
    np.testing.assert_allclose(lsa.responses[:6], truth, atol=0.05)
    np.testing.assert_allclose(lsa.responses[6:], truth[::-1], atol=0.05)
    ref = np.linalg.lstsq(X1.to_numpy(), Y1, rcond=None)[0][:6]
    np.testing.assert_allclose(lsa.responses[:6], ref, atol=1e-8)
    # LSS: per trial, target + the others grouped by stimulus id (reference with numpy)
    lss = estimate_betas(rec, table, method="lss", noise_model="ols")
    from nilearn.glm.first_level import make_first_level_design_matrix

    tt = events["stim_id"].to_numpy(dtype=object).copy()
    tt[3] = "target"
    Xt = make_first_level_design_matrix(np.arange(n_scans) * TR,
                                        events.assign(trial_type=tt).drop(columns="stim_id"))
    ref_lss = np.linalg.lstsq(Xt.to_numpy(), Y1, rcond=None)[0][list(Xt.columns).index("target")]
    np.testing.assert_allclose(lss.responses[3], ref_lss, atol=1e-8)
    assert not np.allclose(lss.responses[:6], lsa.responses[:6], atol=1e-6)
    cond = estimate_betas(rec, table, method="conditions", noise_model="ols")
    assert cond.n_trials == 6 and list(cond.stimulus_ids[:3]) == ["a", "b", "c"]
    assert cond.meta["preprocessing"][-1]["method"] == "conditions"
    # a recording written before the key was renamed: its steps are kept, under the new key
    old = Recording(rec.responses, rec.stimulus_ids, runs=rec.runs,
                    meta={"tr": TR, "steps": [{"step": "mask"}]})
    glm = estimate_betas(old, table, method="conditions", noise_model="ols").meta
    assert "steps" not in glm and [s["step"] for s in glm["preprocessing"]] == ["mask", "glm"]


def test_bad_inputs(two_runs, tmp_path):
    folder, _, mask = two_runs
    run1 = folder / "run1.nii.gz"
    # truncated file
    raw = run1.read_bytes()
    bad = folder / "truncated.nii.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"truncated\.nii\.gz.*truncated"):
        load_fmri(bad, mask=folder / "mask.nii.gz")
    junk = folder / "junk.nii.gz"
    junk.write_bytes(gzip.compress(b"not a nifti at all"))
    with pytest.raises(ValueError, match="junk.nii.gz"):
        load_fmri(junk)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_fmri(folder / "nope.nii.gz")
    # events outside the run (31 volumes x 2 s = 62 s)
    _events(folder / "late.tsv", [10.0, 70.0], ["a", "b"])
    with pytest.raises(ValueError, match=r"late\.tsv.*outside|outside.*late\.tsv"):
        load_fmri(run1, events=folder / "late.tsv")
    # mask on another grid: shape, then affine
    _write_mask(folder / "small.nii.gz", np.ones((7, 5, 5), bool))
    with pytest.raises(ValueError, match=r"small\.nii\.gz does not match"):
        load_fmri(run1, mask=folder / "small.nii.gz")
    shifted = AFFINE.copy()
    shifted[0, 3] += 1.5
    _write_mask(folder / "shifted.nii.gz", mask, affine=shifted)
    with pytest.raises(ValueError, match=r"shifted\.nii\.gz does not match.*affines differ"):
        load_fmri(run1, mask=folder / "shifted.nii.gz")
    # stimulus ids missing from the StimulusSet name the events file
    with pytest.raises(ValueError, match=r"\['b'\].*ev1\.tsv"):
        load_fmri(run1, events=folder / "ev1.tsv", stimuli=StimulusSet(["a"]))
    with pytest.raises(ValueError, match="missing column"):
        load_bids_events(pd.DataFrame({"onset": [1.0]}))


def test_haxby_blocks_decoding(haxby_dir):
    from neurotoolkit.decoding import decode_categories

    runs = sorted(haxby_dir.glob("run-*"))
    rec = load_fmri([r / "bold.nii.gz" for r in runs], mask=haxby_dir / "masks" / "brain.nii.gz",
                    rois={"vt": haxby_dir / "masks" / "vt.nii.gz"},
                    events=[r / "events.tsv" for r in runs], runs=list(range(1, 13)))
    assert rec.n_trials == 12 * 121 and rec.n_units == 129 and rec.meta["tr"] == 2.5
    betas = estimate_betas(rec, method="blocks")
    assert betas.n_trials == 96 and sorted(betas.repeat_counts()) == [12] * 8
    result = decode_categories(betas, n_permutations=19, random_state=0)
    assert result.chance == pytest.approx(1 / 8) and result.n_folds == 12
    # measured 0.32 (LinearSVC, 129 voxels): clearly above chance
    assert result.score > 0.22
    assert result.p_value == pytest.approx(1 / 20)


def test_confounds_are_regressed_out(two_runs):
    folder, datas, mask = two_runs
    i, j, k = np.argwhere(mask)[0]
    conf = [datas[0][i, j, k], datas[1][i, j, k]]
    rec = load_fmri([folder / "run1.nii.gz", folder / "run2.nii.gz"],
                    mask=folder / "mask.nii.gz", confounds=conf)
    for r in (0, 1):  # the confound itself is removed (the run mean is kept)
        assert rec.responses[rec.runs == r, 0].std() < 1e-3
    assert rec.responses[:, 1:].std(0).min() > 1.0 and rec.meta["preprocessing"][-1]["confounds"]


def test_plot_brain_map_volume_and_surface(two_runs):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from neurotoolkit.data import Recording
    from neurotoolkit.viz import plot_brain_map

    folder, _, _ = two_runs
    rec = load_fmri(folder / "run1.nii.gz", mask=folder / "mask.nii.gz")
    fig = plot_brain_map(rec, rec.responses.std(0), title="std", symmetric=False)
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
    n = 10242  # fsaverage5, shipped with nilearn
    units = pd.DataFrame({"hemisphere": ["left"] * n, "vertex": np.arange(n), "roi": "cortex"})
    surf = Recording(np.arange(2 * n, dtype=float).reshape(2, n), ["a", "b"], units=units)
    fig2 = plot_brain_map(surf, surf.responses[1], threshold=0.5)
    assert len(fig2.axes) >= 1
    with pytest.raises(ValueError, match="1-D array"):
        plot_brain_map(rec, rec.responses[:2])
    matplotlib.pyplot.close("all")


def test_gifti_bad_inputs(tmp_path, rng):
    arr = rng.normal(size=(9, 4)).astype(np.float32)
    img = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(c) for c in arr.T])
    good = tmp_path / "lh.func.gii"
    nib.save(img, good)
    bad = tmp_path / "rh.func.gii"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"rh\.func\.gii.*truncated"):
        load_fmri({"left": good, "right": bad})
    with pytest.raises(ValueError, match="left surface mask has 5 vertices but the data has 9"):
        load_fmri({"left": good}, mask={"left": np.ones(5, bool)})
    with pytest.raises(ValueError, match="cannot tell the hemisphere"):
        load_fmri(tmp_path / "data.func.gii")


def test_events_sharing_a_volume_warn(two_runs):
    folder, _, _ = two_runs
    _events(folder / "close.tsv", [4.0, 4.5, 20.0], ["a", "b", "a"])
    with pytest.warns(UserWarning, match="same volume"):
        rec = load_fmri(folder / "run1.nii.gz", events=folder / "close.tsv")
    assert len(rec.meta["events"]["onset"]) == 3


@pytest.mark.filterwarnings("ignore:.*Generation of a mask:RuntimeWarning")
def test_lsa_matches_nilearn_first_level_model(haxby_dir):
    from nilearn.glm.first_level import FirstLevelModel

    bold, ev_file = haxby_dir / "run-01" / "bold.nii.gz", haxby_dir / "run-01" / "events.tsv"
    mask = haxby_dir / "masks" / "brain.nii.gz"
    betas = estimate_betas(load_fmri(bold, mask=mask, events=ev_file), method="lsa")
    ev = pd.read_csv(ev_file, sep="\t")  # one block per category: trial_type is unique
    flm = FirstLevelModel(t_r=2.5, mask_img=str(mask), noise_model="ar1", hrf_model="glover",
                          drift_model="cosine", high_pass=0.01, signal_scaling=False)
    flm.fit(str(bold), events=ev)
    ref = np.stack([flm.masker_.transform(flm.compute_contrast(t, output_type="effect_size"))
                    .ravel() for t in ev["trial_type"]])
    np.testing.assert_allclose(betas.responses, ref, rtol=1e-6, atol=1e-8)
