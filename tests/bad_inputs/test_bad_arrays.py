"""Bad inputs (arrays, tables, ids, parameters) to public functions and estimators.

One test per class of bad input, as an unlucky user would meet it. Each asserts the
message: the parameter is named, with what was expected and what came. Undefined
results (a score on one sample, a constant target) are NaN with a warning that says
why, never a silent 0. Bad *files* are in ``test_bad_files.py``.
"""

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import Recording, StimulusSet, make_cv, noise_ceiling
from neurotoolkit.encoding import (
    Delayer,
    RidgeCV,
    VoxelwiseEncoder,
    noise_normalized,
    score_correlation,
    score_r2,
)
from neurotoolkit.features import FeatureSpace, GaborPyramid


@pytest.fixture
def rec(rng):
    """20 trials (10 stimuli x 2 repeats, 2 runs) x 6 units in 2 ROIs."""
    units = pd.DataFrame({"roi": ["V1"] * 3 + ["FFA"] * 3}, index=[f"u{k}" for k in range(6)])
    ids = [f"s{k % 10}" for k in range(20)]
    return Recording(rng.standard_normal((20, 6)), ids, units, runs=np.repeat([1, 2], 10))


# ------------------------------------------------------------------ scores
def test_score_on_one_sample_is_nan_with_warning(rng):
    y = rng.standard_normal((1, 3))
    with pytest.warns(UserWarning, match=r"score_r2: R\^2 is undefined with fewer than 2 "
                                         r"samples \(got 1\)"):
        assert np.isnan(score_r2(y, y + 1)).all()
    with pytest.warns(UserWarning, match="correlation is undefined with fewer than 2 samples"):
        assert np.isnan(score_correlation(y[:, 0], y[:, 0] * 2))


def test_score_of_constant_target_is_nan_with_warning(rng):
    y = rng.standard_normal((9, 4))
    y[:, 2] = 3.0
    pred = rng.standard_normal((9, 4))
    with pytest.warns(UserWarning, match=r"undefined for 1 of 4 target\(s\).*`y_true` is "
                                         r"constant \(zero variance\) for target\(s\) \[2\]"):
        r2 = score_r2(y, pred)
    assert np.isnan(r2[2]) and np.isfinite(np.delete(r2, 2)).all()
    with pytest.warns(UserWarning, match=r"`y_true` is constant .*\[2\]"):
        assert np.isnan(score_correlation(y, pred)[2])


def test_correlation_of_constant_prediction_is_nan_with_warning(rng):
    y = rng.standard_normal((9, 3))
    preds = rng.standard_normal((2, 9, 3))  # a leading axis: one prediction per alpha
    preds[1, :, 0] = 0.5
    with pytest.warns(UserWarning, match=r"`y_pred` is constant for target\(s\) \[0\].*flat"):
        r = score_correlation(y, preds)
    assert np.isnan(r[1, 0]) and np.isfinite(r[0]).all() and np.isfinite(r[1, 1:]).all()


def test_score_of_empty_arrays_raises():
    with pytest.raises(ValueError, match=r"`y_true`: expected at least 1 sample along axis 0, "
                                         r"got an empty array of shape \(0, 2\)"):
        score_r2(np.zeros((0, 2)), np.zeros((0, 2)))


def test_score_with_nonfinite_prediction_raises(rng):
    y = rng.standard_normal((8, 3))
    pred = y.copy()
    pred[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"`y_pred`: expected finite values .*columns \[1\]"):
        score_correlation(y, pred)


def test_score_with_mismatched_prediction_shape_raises(rng):
    y = rng.standard_normal((8, 3))
    with pytest.raises(ValueError, match=r"`y_pred`: expected an array of shape \(8, 3\).*"
                                         r"got shape \(7, 3\)"):
        score_r2(y, y[:7])


def test_noise_ceiling_in_percent_raises():
    with pytest.raises(ValueError, match=r"`noise_ceiling`: expected values in \[0, 1\].*"
                                         r"Divide NSD's percentages by 100"):
        noise_normalized(np.full(3, 0.3), np.array([40.0, 50.0, 60.0]))


# ------------------------------------------------------------------ ridge
def test_ridge_with_nan_in_X_raises(rng):
    X = rng.standard_normal((12, 4))
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RidgeCV().fit(X, rng.standard_normal((12, 2)))


@pytest.mark.parametrize("alphas, bad", [([1.0, -1.0], r"\[-1.0\] at positions \[1\]"),
                                         ([0.0, 10.0], r"\[0.0\] at positions \[0\]")])
def test_ridge_with_nonpositive_alphas_raises(rng, alphas, bad):
    with pytest.raises(ValueError, match=r"`alphas`: expected a 1-D array of positive floats, "
                                         f"got {bad}"):
        RidgeCV(alphas=alphas).fit(rng.standard_normal((12, 4)), rng.standard_normal((12, 2)))


def test_ridge_with_cv_larger_than_samples_raises(rng):
    with pytest.raises(ValueError, match=r"`cv`: expected at most 6 folds \(the number of "
                                         r"samples\), got 10"):
        RidgeCV(cv=10).fit(rng.standard_normal((6, 3)), rng.standard_normal((6, 2)))


def test_ridge_with_mismatched_lengths_raises(rng):
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[12, 11\]"):
        RidgeCV().fit(rng.standard_normal((12, 3)), rng.standard_normal((11, 2)))


# ------------------------------------------------------------------ delays
def test_delays_longer_than_the_data_raise(rng):
    X = rng.standard_normal((6, 2))
    with pytest.raises(ValueError, match=r"`delays`: expected delays shorter than the time "
                                         r"series \(\|delay\| < n_samples = 6\), got \[8\]"):
        Delayer(delays=[1, 8]).fit(X)


def test_delays_longer_than_one_run_name_the_run(rng):
    X = rng.standard_normal((14, 2))
    delayer = Delayer(delays=[1, 4]).fit(X)
    with pytest.raises(ValueError, match=r"n_samples = 3 in run 2\).*\[4\]"):
        delayer.transform(X, runs=[1] * 11 + [2] * 3)


# ------------------------------------------------------------------ recordings
@pytest.mark.parametrize("shape, axis", [((0, 4), "no trial"), ((5, 0), "no unit")])
def test_empty_recording_raises_at_construction(shape, axis):
    with pytest.raises(ValueError, match=rf"`responses`: expected at least 1 trial and 1 unit "
                                         rf".*shape \({shape[0]}, {shape[1]}\) with {axis}"):
        Recording(np.zeros(shape), [f"s{k}" for k in range(shape[0])])


def test_recording_with_wrong_ndim_raises(rng):
    with pytest.raises(ValueError, match=r"`responses`: expected a 2-D array, got shape \(7,\)"):
        Recording(rng.standard_normal(7), list("abcdefg"))


def test_recording_with_string_responses_raises():
    with pytest.raises(TypeError, match="`responses`: expected a numeric array, got an array "
                                        "of shape \\(2, 1\\) and dtype <U"):
        Recording(np.array([["1.0"], ["2.0"]]), ["a", "b"])


def test_recording_with_one_id_per_unit_instead_of_per_trial_raises(rng):
    with pytest.raises(ValueError, match=r"`stimulus_ids`: expected one id per trial \(length "
                                         r"5 = responses.shape\[0\]\), got 3 ids"):
        Recording(rng.standard_normal((5, 3)), ["a", "b", "c"])


def test_recording_with_nan_units_names_them(rng):
    Y = rng.standard_normal((6, 4))
    Y[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 unit\(s\) contain NaN or inf, e.g. \['unit00001'\]"
                                         r".*drop_nonfinite=True"):
        Recording(Y, list("abcdef"))


def test_recording_with_constant_unit_names_it(rng):
    Y = rng.standard_normal((6, 3))
    Y[:, 2] = 1.0
    with pytest.raises(ValueError, match=r"1 unit\(s\) are constant .*\['unit00002'\].*"
                                         "drop_constant=True"):
        Recording(Y, list("abcdef"))


def test_recording_left_without_units_after_dropping_raises():
    with pytest.raises(ValueError, match=r"`responses`: expected at least 1 unit left after "
                                         r"dropping .*got none \(2 dropped"):
        Recording(np.ones((4, 2)), list("abcd"), drop_constant=True)


def test_select_unknown_roi_lists_the_known_ones(rec):
    with pytest.raises(ValueError, match=r"`roi`: unknown ROI name\(s\) \['PPA'\]; this "
                                         r"recording has \['FFA', 'V1'\]"):
        rec.select(roi=["V1", "PPA"])


def test_select_nothing_raises(rec):
    with pytest.raises(ValueError, match=r"`units`: expected a selection of at least 1 unit, "
                                         "got none of the 6 units"):
        rec.select(units=np.zeros(6, dtype=bool))
    with pytest.raises(ValueError, match="`mask_or_index`: expected a selection of at least 1 "
                                         "trial, got none of the 20 trials"):
        rec.select_trials(np.zeros(20, dtype=bool))


def test_test_ids_not_in_recording_raise(rec):
    with pytest.raises(ValueError, match=r"`test_ids`: 1 id\(s\) not in the recording, "
                                         r"e.g. \['s99'\]"):
        rec.split(test_ids=["s1", "s99"])


def test_cv_with_more_folds_than_stimuli_raises(rec):
    with pytest.raises(ValueError, match=r"`cv`: expected at most 10 folds \(the number of "
                                         r"unique stimuli\), got 12"):
        make_cv(12, stimulus_ids=rec.stimulus_ids)


def test_leave_one_run_out_with_one_run_raises():
    with pytest.raises(ValueError, match=r"`cv`: 'runs' needs at least 2 runs, got 1"):
        make_cv("runs", runs=np.zeros(8, dtype=int))


def test_noise_ceiling_without_repeats_raises(rng):
    once = Recording(rng.standard_normal((5, 3)), list("abcde"))
    with pytest.raises(ValueError, match="noise ceiling needs repeated stimuli, but every one "
                                         "of the 5 stimuli was shown once"):
        noise_ceiling(once)


# ------------------------------------------------------------------ stimuli
def test_duplicate_stimulus_ids_raise():
    with pytest.raises(ValueError, match=r"`ids`: expected unique stimulus ids, got duplicates "
                                         r"\['b'\]"):
        StimulusSet(["a", "b", "c", "b"])


def test_empty_stimulus_set_raises():
    with pytest.raises(ValueError, match="`ids`: expected at least 1 stimulus id, got an empty "
                                         "sequence"):
        StimulusSet([])
    with pytest.raises(TypeError, match="`ids`: expected a sequence of stimulus ids, got 'abc'"):
        StimulusSet("abc")


def test_stimulus_ids_missing_from_stimulus_set_raise():
    stim = StimulusSet(["a", "b"])
    with pytest.raises(KeyError, match=r"2 id\(s\) not in StimulusSet 'stimuli', e.g. "
                                       r"\['x', 'y'\]"):
        stim.index_of(["a", "x", "y"])


@pytest.mark.parametrize("images, match", [
    (np.full((2, 4, 4, 3), 200.0), r"float images in \[0, 1\].*got values in \[200, 200\].*"
                                   r"Divide 0-255 floats by 255"),
    (np.full((2, 4, 4, 3), np.nan), r"finite pixel values.*image\(s\) \[0, 1\]"),
    (np.zeros((2, 4, 4, 2)), r"an image array .*\(n_images, height, width, 3\), got an "
                             r"array of shape \(2, 4, 4, 2\)"),
])
def test_stimulus_images_of_wrong_range_or_shape_raise(images, match):
    with pytest.raises(ValueError, match="`images`: expected " + match):
        StimulusSet(["a", "b"], images=images)


def test_stimulus_image_file_that_is_not_an_image_is_named(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 6), (10, 200, 30)).save(tmp_path / "good.png")
    (tmp_path / "notes.png").write_text("this is a text file, not a PNG")
    with pytest.raises(ValueError, match=r"`images`: expected image files that PIL can read, "
                                         r"got '.*notes\.png' \(position 1\)"):
        StimulusSet.from_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"`images`: .*'.*absent\.png' \(position 1\), "
                                                "which does not exist"):
        StimulusSet(["g", "x"], images=[tmp_path / "good.png", tmp_path / "absent.png"])
    ok = StimulusSet.from_folder(tmp_path, pattern="good.png")
    assert ok.load_image("good").shape == (6, 8, 3)


# ------------------------------------------------------------------ fMRI events
def _bold(rng, n_volumes=30, tr=2.0):
    return Recording(rng.standard_normal((2 * n_volumes, 4)), [""] * 2 * n_volumes,
                     runs=np.repeat([1, 2], n_volumes), meta={"tr": tr})


def test_events_with_negative_onsets_raise(rng):
    pytest.importorskip("nilearn")
    from neurotoolkit.data import estimate_betas

    events = pd.DataFrame({"onset": [4.0, -2.0, 20.0], "duration": [2.0] * 3,
                           "stim_id": ["a", "b", "c"], "run": [1, 1, 2]})
    with pytest.raises(ValueError, match=r"`events`: expected every event inside its run .*"
                                         r"got 1 event\(s\) of run 1 .*onset < 0: row 1: "
                                         r"stim_id 'b', onset -2 s"):
        estimate_betas(_bold(rng), events, noise_model="ols")


def test_events_ending_after_the_run_raise(rng):
    pytest.importorskip("nilearn")
    from neurotoolkit.data import estimate_betas

    # run 2 lasts 30 volumes x 2 s = 60 s: an event at 50 s lasting 16 s ends at 66 s
    events = pd.DataFrame({"onset": [4.0, 10.0, 50.0], "duration": [2.0, 2.0, 16.0],
                           "stim_id": ["a", "b", "c"], "run": [1, 2, 2]})
    with pytest.raises(ValueError, match=r"30 volumes x TR 2 s = 60 s\), got 1 event\(s\) of "
                                         r"run 2 .*offset \(onset \+ duration\) > end of run "
                                         r"\(60 s\): row 2: stim_id 'c', onset 50 s, "
                                         r"duration 16 s"):
        estimate_betas(_bold(rng), events, noise_model="ols")


# ------------------------------------------------------------------ features
def test_feature_space_without_stimuli_raises():
    with pytest.raises(ValueError, match=r"`values`: expected at least 1 sample along axis 0, "
                                         r"got an empty array of shape \(0, 3\)"):
        FeatureSpace(np.zeros((0, 3)), [], "empty")


def test_feature_space_with_duplicate_ids_raises():
    with pytest.raises(ValueError, match=r"`stimulus_ids`: expected unique ids, got duplicates "
                                         r"\['a'\]"):
        FeatureSpace(np.zeros((3, 2)), ["a", "b", "a"], "f")


def test_gabor_on_images_of_wrong_range_or_no_images_raises():
    gabor = GaborPyramid()
    with pytest.raises(ValueError, match=r"`images`: expected float images in \[0, 1\].*"
                                         r"got values in \[0, 255\]"):
        gabor.fit_transform(np.linspace(0, 255, 2 * 16 * 16).reshape(2, 16, 16))
    with pytest.raises(ValueError, match=r"`images`: expected at least 1 non-empty image"):
        gabor.fit_transform(np.zeros((0, 16, 16, 3), dtype=np.uint8))


def test_unknown_backbone_layer_lists_the_valid_ones():
    torch = pytest.importorskip("torch")
    from neurotoolkit.features import Backbone

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    bb = Backbone.from_module(net)
    with pytest.raises(ValueError, match=r"`layers`: \['conv9'\] not found in the model; "
                                         r"expected module names such as \['0', '1', '2', '3'\]"):
        bb.forward_features(torch.rand(1, 3, 8, 8), ["conv9"])


def test_unknown_backbone_family_lists_the_known_ones():
    from neurotoolkit.features import get_backbone

    with pytest.raises(ValueError, match=r"`name`: expected a name starting with one of "
                                         r"\[.*'open_clip'.*\], got 'resnet:50'"):
        get_backbone("resnet:50")


def test_unknown_dataset_name_lists_the_known_ones():
    from neurotoolkit.data import load_data_card

    with pytest.raises(ValueError, match=r"expected one of \[.*'haxby2001'.*\], got 'haxbyy'"):
        load_data_card("haxbyy")


# ------------------------------------------------------------------ estimators
def test_encoder_fit_on_one_stimulus_raises_before_cv(rec, rng):
    fs = FeatureSpace(rng.standard_normal((10, 3)), [f"s{k}" for k in range(10)], "f")
    one = rec.select_trials(rec.stimulus_ids == "s3")
    with pytest.raises(ValueError, match=r"`recording`: expected at least 2 distinct stimuli "
                                         r".*to fit and cross-validate, got 1"):
        VoxelwiseEncoder(features=fs).fit(one)


def test_encoder_evaluate_on_one_trial_is_nan_with_warning(rec, rng):
    fs = FeatureSpace(rng.standard_normal((10, 3)), [f"s{k}" for k in range(10)], "f")
    enc = VoxelwiseEncoder(features=fs, cv=3).fit(rec.select_trials(rec.stimulus_ids != "s0"))
    with pytest.warns(UserWarning, match=r"evaluate: the test recording has 1 distinct "
                                         r"stimulus; r and r2 are undefined"):
        table = enc.evaluate(rec.select_trials([0]))
    assert table["r"].isna().all() and table["r2"].isna().all()


def test_cross_subject_decoder_on_one_sample_raises(rng):
    pytest.importorskip("torch")
    from neurotoolkit.decoding import CrossSubjectDecoder

    X = {"sub-01": rng.standard_normal((6, 5)), "sub-02": rng.standard_normal((1, 4))}
    Y = {"sub-01": rng.standard_normal((6, 3)), "sub-02": rng.standard_normal((1, 3))}
    with pytest.raises(ValueError, match=r"`X\['sub-02'\]`: expected at least 2 samples "
                                         r"\(rows\) per subject .*got 1"):
        CrossSubjectDecoder(max_epochs=1).fit(X, Y)


def test_two_way_identification_on_one_sample_raises(rng):
    from neurotoolkit.decoding import two_way_identification

    x = rng.standard_normal((1, 4))
    with pytest.raises(ValueError, match="`predicted`: expected at least 2 samples for 2-way "
                                         "identification, got 1"):
        two_way_identification(x, x)


def test_retrieval_with_unpaired_rows_raises(rng):
    from neurotoolkit.decoding import retrieval_accuracy

    with pytest.raises(ValueError, match=r"`predicted`: expected one row per row of `target` "
                                         r"\(5 samples"):
        retrieval_accuracy(rng.standard_normal((8, 4)), rng.standard_normal((5, 4)))


def test_rdm_of_one_condition_raises(rng):
    from neurotoolkit.analysis import rdm

    with pytest.raises(ValueError, match=r"`patterns`: expected at least 2 conditions .*got "
                                         r"shape \(1, 6\)"):
        rdm(rng.standard_normal((1, 6)))


# ------------------------------------------------------------------ captions
@pytest.fixture
def pool(rng):
    captions = ["a face", "a red house", "a dog on grass", "a street", "a cat", "a tree"]
    return captions, rng.standard_normal((6, 5))


def test_blank_captions_in_pool_raise_with_positions(pool):
    from neurotoolkit.probing.captioning import RetrievalCaptioner

    captions, E = pool
    captions[1], captions[4] = "", "   \t"
    with pytest.raises(ValueError, match=r"`captions`: expected non-empty strings, got 2 blank "
                                         r"or whitespace-only string\(s\) at positions \[1, 4\]"):
        RetrievalCaptioner(captions, E, n_captions=2)


def test_more_captions_asked_than_in_pool_warns(pool):
    from neurotoolkit.probing.captioning import RetrievalCaptioner

    captions, E = pool
    with pytest.warns(UserWarning, match=r"n_captions=9 is larger than the pool \(6 captions\)"):
        cap = RetrievalCaptioner(captions, E, n_captions=9)
    idx, _ = cap.retrieve(E[:2])
    assert idx.shape == (2, 6)  # the documented result: the whole pool, ranked


def test_zero_embedding_in_pool_raises(pool):
    from neurotoolkit.probing.captioning import RetrievalCaptioner

    captions, E = pool
    E[3] = 0.0
    with pytest.raises(ValueError, match=r"`embeddings`: expected rows with a nonzero norm .*"
                                         r"1 all-zero row\(s\) at positions \[3\]"):
        RetrievalCaptioner(captions, E, n_captions=2)


def test_projection_with_mismatched_dimensions_raises(rng):
    from neurotoolkit.probing.captioning import project_to_natural

    with pytest.raises(ValueError, match=r"`image_embeddings`: expected an array \(n_pool, 3\) "
                                         r"matching `weights`"):
        project_to_natural(rng.standard_normal((4, 3)), rng.standard_normal((20, 5)))
