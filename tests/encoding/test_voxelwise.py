"""VoxelwiseEncoder on the ground-truth simulator: planted tuning is recovered."""

import numpy as np
import pytest

from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
from neurotoolkit.encoding import VoxelwiseEncoder, load_encoder
from neurotoolkit.features import FeatureSpace, GaborPyramid


@pytest.fixture(scope="module")
def sim():
    stimuli = make_builtin_stimuli(n_per_category=36, random_state=1)
    snr = {"V1": 2.0, "FFA": 1.5, "EBA": 1.5, "PPA": 1.5, "LOC": 1.5, "noise": 0.0}
    return simulate_recordings(stimuli=stimuli, n_subjects=1, snr=snr, n_repeats_test=4,
                               random_state=3)


@pytest.fixture(scope="module")
def gabor_space(sim):
    # the simulator's own Gabor configuration, so V1's planted weights live in this space
    values = sim.truth.features
    return FeatureSpace(values, sim.truth.stimulus_ids, name="gabor")


@pytest.fixture(scope="module")
def fitted(sim, gabor_space):
    rec = sim.recordings[0]
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    enc = VoxelwiseEncoder(features=gabor_space).fit(train)
    return enc, train, test


def test_recovers_planted_tuning(sim, fitted):
    enc, train, test = fitted
    scores = enc.evaluate(test)
    assert len(scores) == test.n_units
    assert {"r", "r2", "noise_ceiling", "normalized", "best_alpha", "roi"} <= set(scores.columns)
    by_roi = scores.groupby("roi")
    # V1 is linear in the Gabor space: the noise-normalized score is close to the ceiling
    assert by_roi["normalized"].median()["V1"] > 70
    # units without signal are not predicted
    assert abs(by_roi["r"].mean()["noise"]) < 0.15
    # the estimated ceiling tracks the simulator's truth
    true_nc = sim.truth.noise_ceiling(n_average=4, subject=0)
    v1 = (scores["roi"] == "V1").to_numpy()
    assert abs(scores.loc[v1, "noise_ceiling"].mean() - true_nc[v1].mean()) < 0.08


def test_predict_matches_estimator_and_save_load(fitted, tmp_path):
    enc, train, test = fitted
    avg = test.average_repeats()
    pred = enc.predict(avg.stimulus_ids)
    assert pred.shape == (avg.n_trials, test.n_units)
    fname = enc.save(tmp_path / "enc.joblib")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        enc.save(fname)
    back = load_encoder(fname)
    np.testing.assert_allclose(back.predict(avg.stimulus_ids), pred)


def test_transformer_features_and_stimuli_required(sim):
    rec = sim.recordings[0].select(roi=["V1", "noise"])
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    enc = VoxelwiseEncoder(features=GaborPyramid(image_size=32, spatial_frequencies=(2, 4, 8), grid_sizes=(1, 2)))
    with pytest.raises(ValueError, match="pass the StimulusSet"):
        enc.fit(train)
    enc.fit(train, sim.stimuli)
    scores = enc.evaluate(test, sim.stimuli)
    assert scores.loc[scores.roi == "V1", "r"].mean() > scores.loc[scores.roi == "noise", "r"].mean()


def test_two_feature_spaces_use_banded_ridge(sim, gabor_space):
    rec = sim.recordings[0].select(roi=["V1", "FFA"])
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    cats = sim.stimuli.categories[["face", "body", "place", "object", "animal"]].astype(float)
    category = FeatureSpace(cats.to_numpy(), cats.index, name="category")
    enc = VoxelwiseEncoder(features={"gabor": gabor_space, "category": category})
    enc.estimator = None
    enc.fit(train)
    from neurotoolkit.encoding import BandedRidgeCV

    assert isinstance(enc.estimator_, BandedRidgeCV)
    scores = enc.evaluate(test)
    assert scores.loc[scores.roi == "FFA", "r"].mean() > 0.5


def test_units_must_match(fitted):
    enc, train, test = fitted
    with pytest.raises(ValueError, match="units differ"):
        enc.evaluate(test.select(roi="V1"))


def test_runs_cv(sim, gabor_space):
    rec = sim.recordings[0].select(roi="V1")
    train, _ = rec.split(test_ids=rec.meta["test_ids"])
    assert train.runs is not None
    enc = VoxelwiseEncoder(features=gabor_space, cv="runs").fit(train)
    assert enc.estimator_.best_alphas_.shape == (train.n_units,)


def test_torch_backend_same_scores(sim, gabor_space):
    pytest.importorskip("torch")
    rec = sim.recordings[0].select(roi=["V1", "noise"])
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    ref = VoxelwiseEncoder(features=gabor_space).fit(train).evaluate(test)
    out = VoxelwiseEncoder(features=gabor_space, backend="torch", device="cpu").fit(train).evaluate(test)
    np.testing.assert_allclose(out["r"], ref["r"], atol=1e-4)


def test_score_is_sklearn_r2_of_repeat_averaged_responses(fitted):
    from sklearn.metrics import r2_score

    enc, _, test = fitted
    avg = test.average_repeats()
    expected = r2_score(avg.responses, enc.predict(avg.stimulus_ids))
    assert enc.score(test) == pytest.approx(expected, rel=1e-12)
    # evaluate() keeps the per-unit table: its r2 column averages to the same number
    assert enc.evaluate(test)["r2"].mean() == pytest.approx(expected, rel=1e-6)


def test_alpha_selection_is_forwarded(sim, gabor_space):
    rec = sim.recordings[0].select(roi=["V1", "noise"])
    train, _ = rec.split(test_ids=rec.meta["test_ids"])
    enc = VoxelwiseEncoder(features=gabor_space, alpha_selection="shared").fit(train)
    alphas = enc.estimator_.best_alphas_
    assert alphas.shape == (train.n_units,) and np.unique(alphas).size == 1


def test_banded_search_gets_random_state_and_alpha_selection(sim, gabor_space):
    rec = sim.recordings[0].select(roi="FFA")
    train, _ = rec.split(test_ids=rec.meta["test_ids"])
    cats = sim.stimuli.categories[["face", "body", "place", "object", "animal"]].astype(float)
    spaces = {"gabor": FeatureSpace(np.asarray(gabor_space.values)[:, :12],
                                    gabor_space.stimulus_ids, name="gabor"),
              "category": FeatureSpace(cats.to_numpy(), cats.index, name="category")}
    enc = VoxelwiseEncoder(features=spaces, random_state=3, alpha_selection="shared").fit(train)
    est = enc.estimator_
    assert est.random_state == 3 and est.alpha_selection == "shared"
    # the gammas are the seeded draws, and one (gamma, alpha) pair is shared by all units
    from neurotoolkit.encoding import sample_gammas

    np.testing.assert_array_equal(est.gammas_, sample_gammas(100, 2, random_state=3)[:est.n_iter_])
    assert np.unique(est.best_alphas_).size == 1 and np.unique(est.best_gammas_[0]).size == 1
