"""CrossSubjectDecoder, SubjectAdapters, adapt(), checkpoints and adaptation_curve."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

torch = pytest.importorskip("torch")

from neurotoolkit._utils.safe_io import load_object
from neurotoolkit.data import Recording
from neurotoolkit.decoding._training import CHECKPOINT_VERSION
from neurotoolkit.decoding import (
    CrossSubjectDecoder,
    RidgeDecoder,
    SubjectAdapters,
    adaptation_curve,
    top1_retrieval,
)

N_VOX = {"sub-01": 37, "sub-02": 29, "sub-03": 44, "sub-04": 31}
FAST = dict(hidden_dim=32, n_blocks=1, max_epochs=25, batch_size=32, learning_rate=3e-3, patience=5,
            temperature=0.1, device="cpu", verbose=False)


def _world(n_stim=160, n_test=40, d_latent=6, d_target=11, noise=0.5, seed=0, n_new=23):
    """Ground truth: a stimulus latent z drives every subject's voxels (own random linear map)
    and, nonlinearly, the target embedding (half tanh, half squares: the squares are invisible
    to a linear decoder); test stimuli are unseen in training."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_stim, d_latent))
    k = d_target // 2
    Y = np.hstack([np.tanh(Z @ rng.standard_normal((d_latent, k))),
                   (Z @ rng.standard_normal((d_latent, d_target - k)) / np.sqrt(d_latent)) ** 2])
    Y = (Y - Y.mean(0)) / Y.std(0)
    subjects = dict(N_VOX, new=n_new)
    X = {s: Z @ rng.standard_normal((d_latent, v)) + noise * rng.standard_normal((n_stim, v))
         for s, v in subjects.items()}
    train, test = np.arange(n_stim - n_test), np.arange(n_stim - n_test, n_stim)
    return X, Y.astype(np.float32), train, test


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def fitted(world):
    X, Y, train, _ = world
    subs = list(N_VOX)
    return CrossSubjectDecoder(**FAST).fit({s: X[s][train] for s in subs},
                                           {s: Y[train] for s in subs})


def test_fit_predict_far_above_chance(fitted, world):
    X, Y, train, test = world
    chance = 1 / len(test)
    for s in N_VOX:
        pred = fitted.predict(X[s][test], subject=s)
        assert pred.shape == (len(test), Y.shape[1])
        assert top1_retrieval(pred, Y[test]) > 8 * chance
        # score is scikit-learn's regressor score (R^2); retrieval is a named method
        assert fitted.score(X[s][test], Y[test], s) == pytest.approx(r2_score(Y[test], pred))
        assert fitted.score_retrieval(X[s][test], Y[test], s) == top1_retrieval(pred, Y[test])
        heads = fitted.predict_heads(X[s][test], s)  # a dict, also for one head
        assert list(heads) == ["embedding"]
        np.testing.assert_array_equal(heads["embedding"], pred)
    h = fitted.history_
    assert {"epoch", "train_loss", "contrastive", "mse", "mixup", "val_loss", "val_retrieval",
            "seconds", "best"} <= set(h.columns)
    # default monitor="loss": the kept epoch has the lowest validation loss
    assert h["best"].sum() == 1
    assert h.loc[h["best"], "val_loss"].item() == h["val_loss"].min()
    assert h["mixup"].iloc[0] == 1.0 and h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    assert fitted.n_features_ == N_VOX and fitted.heads_ == {"embedding": Y.shape[1]}


def test_adapt_trains_only_the_new_adapter(fitted, world):
    import copy

    X, Y, train, test = world
    dec = copy.deepcopy(fitted)
    before = {k: v.clone() for k, v in dec.model_.state_dict().items()}
    dec.adapt(X["new"][train[:40]], Y[train[:40]], subject="new", max_epochs=15)
    after = dec.model_.state_dict()
    new_keys = [k for k in after if k not in before]
    assert new_keys and all(k.startswith("adapters.s4.") for k in new_keys)
    for k, v in before.items():  # backbone, heads and old adapters untouched
        torch.testing.assert_close(after[k], v, rtol=0, atol=0)
    assert all(p.requires_grad for p in dec.model_.parameters())  # flags restored
    for n, p in dec.model_.named_parameters():
        if not n.startswith("adapters.s4."):
            assert p.grad is None, n
    assert "new" in dec.subjects_ and dec.predict(X["new"][test], "new").shape == Y[test].shape
    assert len(dec.adapt_history_["new"]) >= 1
    # the original decoder is untouched by adapting a copy
    assert "new" not in fitted.subjects_


def test_adaptation_beats_ridge_on_little_data(fitted, world):
    X, Y, train, test = world
    curve = adaptation_curve(fitted, X["new"][train], Y[train], X["new"][test], Y[test],
                             fractions=(0.25,), baseline=RidgeDecoder(), n_repeats=2,
                             adapt_kwargs=dict(max_epochs=40))
    assert list(curve.columns) == ["fraction", "n_train", "repeat", "method", "accuracy",
                                   "chance", "n_test"]
    assert set(curve["method"]) == {"adapter", "RidgeDecoder"}
    assert (curve["n_train"] == 30).all() and (curve["chance"] == 1 / len(test)).all()
    acc = curve.groupby("method")["accuracy"].mean()
    assert acc["adapter"] > acc["RidgeDecoder"]
    assert acc["adapter"] > 5 / len(test)


def test_checkpoint_resume_equals_one_run(tmp_path, world):
    X, Y, train, _ = world
    Xs = {s: X[s][train] for s in ("sub-01", "sub-02")}
    Ys = {s: Y[train] for s in Xs}
    # mixup=1: every epoch mixed in both runs (the mixup phase is a fraction of max_epochs)
    kw = dict(FAST, dropout=0.2, mixup=1.0, patience=100)
    straight = CrossSubjectDecoder(**dict(kw, max_epochs=6)).fit(Xs, Ys)
    ckpt = tmp_path / "dec.pt"
    part = CrossSubjectDecoder(**dict(kw, max_epochs=3, checkpoint=ckpt)).fit(Xs, Ys)
    assert ckpt.exists() and len(part.history_) == 3
    assert not list(tmp_path.glob(".dec.pt.*"))  # atomic: no temporary file left
    resumed = CrossSubjectDecoder(**dict(kw, max_epochs=6, checkpoint=ckpt)).fit(Xs, Ys)
    assert list(resumed.history_["epoch"]) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(resumed.history_["train_loss"], straight.history_["train_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(resumed.predict(X["sub-01"][:5], "sub-01"),
                               straight.predict(X["sub-01"][:5], "sub-01"), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="different model or data"):
        CrossSubjectDecoder(**dict(kw, hidden_dim=16, checkpoint=ckpt)).fit(Xs, Ys)
    # the checkpoint stores its monitor ("loss", the default): resuming with another fails
    saved, _ = load_object(ckpt, "TrainingCheckpoint", CHECKPOINT_VERSION)  # no pickle
    assert saved["monitor"] == "loss"
    with pytest.raises(ValueError, match="Invalid value for `monitor`.*monitor='loss'"):
        CrossSubjectDecoder(**dict(kw, max_epochs=7, monitor="retrieval", checkpoint=ckpt)).fit(Xs, Ys)


def test_pickle_roundtrip(fitted, world, tmp_path):
    import copy
    import pickle

    X, _, _, test = world
    dec = copy.deepcopy(fitted)
    dec.adapt(X["new"][:30], world[1][:30], subject="new", max_epochs=2)
    back = pickle.loads(pickle.dumps(dec))
    for s in ("sub-02", "new"):
        np.testing.assert_array_equal(back.predict(X[s][test], s), dec.predict(X[s][test], s))
    assert back.subjects_ == dec.subjects_


def test_reproducible_and_global_rng_untouched(world):
    X, Y, train, _ = world
    Xs, Ys = {"a": X["sub-01"][train]}, {"a": Y[train]}
    kw = dict(FAST, max_epochs=2)
    state = torch.get_rng_state()
    p1 = CrossSubjectDecoder(**kw).fit(Xs, Ys).predict(X["sub-01"][:4], "a")
    assert torch.equal(state, torch.get_rng_state())
    p2 = CrossSubjectDecoder(**kw).fit(Xs, Ys).predict(X["sub-01"][:4], "a")
    p3 = CrossSubjectDecoder(**dict(kw, random_state=1)).fit(Xs, Ys).predict(X["sub-01"][:4], "a")
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)


def test_several_heads_and_recording_input(world):
    X, Y, train, test = world
    ids = np.array([f"im{i:03d}" for i in range(len(Y))])
    # two single-trial repeats per training stimulus, as a Recording
    reps = np.concatenate([train, train])
    recs = {s: Recording(X[s][reps] + 0.1 * np.random.default_rng(1).standard_normal(
        (len(reps), X[s].shape[1])), ids[reps], subject=s) for s in ("sub-01", "sub-03")}
    emb = pd.DataFrame(Y, index=ids)
    cat = pd.DataFrame(np.eye(3)[np.arange(len(Y)) % 3], index=ids)
    dec = CrossSubjectDecoder(**dict(FAST, max_epochs=3)).fit(
        recs, {"image": {s: emb for s in recs}, "category": {s: cat for s in recs}})
    assert dec.heads_ == {"image": Y.shape[1], "category": 3}
    out = dec.predict_heads(X["sub-03"][test], "sub-03")
    assert list(out) == ["image", "category"] and out["category"].shape == (len(test), 3)
    # predict returns one array whatever the number of heads: the head is named
    np.testing.assert_array_equal(dec.predict(X["sub-03"][test], "sub-03", head="category"),
                                  out["category"])
    with pytest.raises(ValueError, match=r"Invalid value for `head`: expected one of \['image', "
                                         r"'category'\].*got None.*predict_heads"):
        dec.predict(X["sub-03"][test], "sub-03")
    with pytest.raises(ValueError, match="Invalid value for `head`: .* got 'text'"):
        dec.score(X["sub-03"][test], Y[test], "sub-03", head="text")
    assert dec.score_retrieval(X["sub-03"][test], Y[test], "sub-03", head="image") == \
        top1_retrieval(out["image"], Y[test])
    # one table for all subjects
    dec1 = CrossSubjectDecoder(**dict(FAST, max_epochs=2)).fit(recs, emb)
    assert dec1.predict(recs["sub-01"], "sub-01").shape == (len(reps), Y.shape[1])


def test_pool_adapters(world):
    X, Y, train, test = world
    spec = SubjectAdapters(kind="pool", latent_dim=8, pool="max")
    module = spec.build_module(12)
    x = torch.arange(24, dtype=torch.float32).reshape(2, 12)
    np.testing.assert_array_equal(module(x).detach().numpy(), _adaptive_max(x.numpy(), 8))
    assert spec.n_parameters(12) == 16 and SubjectAdapters(latent_dim=5).n_parameters(12) == 65
    dec = CrossSubjectDecoder(**dict(FAST, max_epochs=3, hidden_dim=16),
                              adapters=SubjectAdapters(kind="pool", latent_dim=24, pool="avg"))
    dec.fit({s: X[s][train] for s in N_VOX}, {s: Y[train] for s in N_VOX})
    assert dec.model_.backbone[0].in_features == 24  # latent -> hidden projection
    dec.adapt(X["new"][train[:30]], Y[train[:30]], subject="new", max_epochs=2)
    n_new = sum(p.numel() for p in dec.model_.adapters["s4"].parameters())
    assert n_new == 48


def _adaptive_max(x, out):
    n = x.shape[1]
    cols = [x[:, (i * n) // out:-((-(i + 1) * n) // out)].max(1) for i in range(out)]
    return np.stack(cols, axis=1)


def test_errors(fitted, world):
    X, Y, _, _ = world
    with pytest.raises(ValueError, match="expected one of the subjects with an adapter"):
        fitted.predict(X["new"], subject="new")
    with pytest.raises(ValueError, match="expected 37 voxels"):
        fitted.predict(X["sub-02"], subject="sub-01")
    with pytest.raises(ValueError, match="already has an adapter"):
        fitted.adapt(X["sub-01"], Y, subject="sub-01")
    with pytest.raises(ValueError, match="expected 11 targets for head"):
        fitted.adapt(X["new"], Y[:, :5], subject="x")
    with pytest.raises(ValueError, match="none for 'sub-02'"):
        CrossSubjectDecoder(**FAST).fit({"sub-01": X["sub-01"], "sub-02": X["sub-02"]},
                                        {"sub-01": Y})
    with pytest.raises(ValueError, match=r"expected 160 rows"):
        CrossSubjectDecoder(**FAST).fit({"sub-01": X["sub-01"]}, {"sub-01": Y[:10]})
    with pytest.raises(ValueError, match="Invalid value for `loss`"):
        CrossSubjectDecoder(**dict(FAST, loss="mse")).fit({"a": X["sub-01"]}, {"a": Y})
    with pytest.raises(ValueError, match="Invalid value for `monitor`.*'retrieval', 'loss'"):
        CrossSubjectDecoder(**dict(FAST, monitor="val_loss")).fit({"a": X["sub-01"]}, {"a": Y})
    with pytest.raises(ValueError, match="Invalid value for `monitor`"):
        fitted.adapt(X["new"], Y, subject="x", validation_fraction=0.2, monitor="accuracy")
    with pytest.raises(ValueError, match="Invalid value for `kind`"):
        CrossSubjectDecoder(**FAST, adapters=SubjectAdapters(kind="conv")).fit(
            {"a": X["sub-01"]}, {"a": Y})
    with pytest.raises(TypeError, match="Invalid value for `X`"):
        CrossSubjectDecoder(**FAST).fit(X["sub-01"], Y)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CrossSubjectDecoder().predict(X["sub-01"], "sub-01")


def test_early_stopping_keeps_best_epoch(world):
    X, Y, train, _ = world
    Xs, Ys = {s: X[s][train] for s in N_VOX}, {s: Y[train] for s in N_VOX}
    kw = dict(FAST, learning_rate=3e-2, mixup=0.0)  # mixup 0: the schedule does not depend on max_epochs
    dec = CrossSubjectDecoder(**dict(kw, max_epochs=60, patience=2)).fit(Xs, Ys)
    h = dec.history_
    best = int(h.loc[h["best"], "epoch"].item())
    assert len(h) < 60 and len(h) == best + 2  # stopped `patience` epochs after the best
    # the kept weights are the best epoch's: a run stopped there predicts the same
    again = CrossSubjectDecoder(**dict(kw, max_epochs=best, patience=100)).fit(Xs, Ys)
    for s in ("sub-01", "sub-04"):
        np.testing.assert_allclose(dec.predict(X[s][:6], s), again.predict(X[s][:6], s),
                                   rtol=1e-4, atol=1e-5)


def _monitor_run(world, monitor, n, **kw):
    X, Y, train, _ = world
    Xs, Ys = {s: X[s][train[:n]] for s in N_VOX}, {s: Y[train[:n]] for s in N_VOX}
    # high lr, no mixup, no stopping: the validation loss and retrieval disagree on the best epoch
    params = dict(FAST, learning_rate=3e-2, mixup=0.0, validation_fraction=0.25, max_epochs=20,
                  patience=100)
    return CrossSubjectDecoder(**dict(params, monitor=monitor, **kw)).fit(Xs, Ys)


def test_monitor_picks_best_epoch(world):
    by = {m: _monitor_run(world, m, 120) for m in ("retrieval", "loss")}
    h = by["retrieval"].history_
    pd.testing.assert_frame_equal(h.drop(columns=["best", "seconds"]),
                                  by["loss"].history_.drop(columns=["best", "seconds"]))
    best = {m: int(d.history_.loc[d.history_["best"], "epoch"].item()) for m, d in by.items()}
    assert best["retrieval"] == h.loc[h["val_retrieval"].idxmax(), "epoch"]
    assert best["loss"] == h.loc[h["val_loss"].idxmin(), "epoch"]
    assert best["retrieval"] != best["loss"]  # else this test could not tell them apart
    # the kept weights are the monitored best epoch's: a run stopped there predicts the same
    X, Y, train, _ = world
    for m, d in by.items():
        again = CrossSubjectDecoder(**dict(d.get_params(), max_epochs=best[m])).fit(
            {s: X[s][train[:120]] for s in N_VOX}, {s: Y[train[:120]] for s in N_VOX})
        np.testing.assert_allclose(d.predict(X["sub-02"][:6], "sub-02"),
                                   again.predict(X["sub-02"][:6], "sub-02"), rtol=1e-4, atol=1e-5)


def test_monitor_retrieval_ties_go_to_lower_loss(world):
    h = _monitor_run(world, "retrieval", 60).history_
    top = h[np.isclose(h["val_retrieval"], h["val_retrieval"].max(), rtol=0, atol=1e-9)]
    assert len(top) > 1  # a tie on the highest retrieval, broken by the validation loss
    assert h.loc[h["best"], "epoch"].item() == top.loc[top["val_loss"].idxmin(), "epoch"]
    assert top["epoch"].iloc[0] != h.loc[h["best"], "epoch"].item()


@pytest.mark.parametrize("monitor", ["retrieval", "loss"])
def test_adapt_monitor(fitted, world, monitor):
    X, Y, train, _ = world
    dec = pickle.loads(pickle.dumps(fitted))
    dec.adapt(X["new"][train], Y[train], subject="new", validation_fraction=0.3, max_epochs=15,
              patience=100, monitor=monitor)
    h = dec.adapt_history_["new"]
    assert len(h) == 15 and h["best"].sum() == 1
    # best = highest retrieval, then lowest loss; or lowest loss
    keys = ["val_retrieval", "val_loss"] if monitor == "retrieval" else ["val_loss"]
    order = h.sort_values(keys, ascending=[monitor != "retrieval", True][:len(keys)],
                          kind="stable")
    assert h.loc[h["best"], "epoch"].item() == order["epoch"].iloc[0]


def test_simulated_subjects_cross_subject_and_adaptation():
    """The issue's claims on simulate_recordings (4 + 1 subjects, different voxel counts):
    cross-subject 50-way retrieval far above chance (measured 0.67-0.72 image, 0.86-0.90 brain,
    chance 0.02); adapter on 10 % of a new subject beats ridge on the same 10 % (0.32 vs 0.14)."""
    from sklearn.decomposition import PCA

    from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
    from neurotoolkit.decoding import paired_responses, retrieval_accuracy

    stim = make_builtin_stimuli(n_per_category=80, size=64, random_state=0)
    sim = simulate_recordings(stimuli=stim, n_subjects=5, n_test=80, random_state=0)
    truth = sim.truth
    train = np.isin(truth.stimulus_ids, truth.train_ids)
    emb = pd.DataFrame(PCA(48, random_state=0).fit(truth.features[train]).transform(
        truth.features), index=truth.stimulus_ids)
    data = {}
    for rec in sim.recordings:
        data[rec.subject] = (
            *paired_responses(rec, emb, average_repeats=False, ids=truth.train_ids)[:2],
            *paired_responses(rec, emb, average_repeats=True, ids=truth.test_ids)[:2])
    assert len({d[0].shape[1] for d in data.values()}) == 5
    subs, new = list(data)[:4], list(data)[4]
    dec = CrossSubjectDecoder(hidden_dim=256, dropout=0.3, temperature=0.1, learning_rate=1e-3,
                              max_epochs=30, mixup=0.2, patience=8, device="cpu")
    dec.fit({s: data[s][0] for s in subs}, {s: data[s][1] for s in subs})
    for s in subs:
        res = retrieval_accuracy(dec.predict(data[s][2], s), data[s][3], n_way=50)
        assert (res["accuracy"] > 15 * res["chance"]).all()  # chance 0.02
    Xtr, Ytr, Xte, Yte = data[new]
    curve = adaptation_curve(dec, Xtr, Ytr, Xte, Yte, subject=new, fractions=(0.1,),
                             baseline=RidgeDecoder(), n_repeats=3)
    acc = curve.groupby("method")["accuracy"].mean()
    assert acc["adapter"] > 1.5 * acc["RidgeDecoder"]


def test_deprecated_lr_and_device_auto(world):
    X, Y, train, _ = world
    Xs, Ys = {"a": X["sub-01"][train]}, {"a": Y[train]}
    kw = dict(FAST, max_epochs=2, device="cpu")
    new = CrossSubjectDecoder(**dict(kw, learning_rate=1e-2)).fit(Xs, Ys)
    with pytest.warns(FutureWarning, match=r"`lr` of CrossSubjectDecoder is deprecated.*"
                                           r"use `learning_rate=0.01`"):
        old = CrossSubjectDecoder(**dict(kw, learning_rate=7.0, lr=1e-2)).fit(Xs, Ys)
    # the old spelling still works, and wins over the new one's default
    np.testing.assert_allclose(old.predict(X["sub-01"][:4], "a"),
                               new.predict(X["sub-01"][:4], "a"), rtol=1e-5, atol=1e-6)
    with pytest.warns(FutureWarning, match=r"`lr` of CrossSubjectDecoder.adapt is deprecated"):
        new.adapt(X["new"][:20], Y[:20], subject="n", max_epochs=1, lr=1e-2)
    with pytest.raises(ValueError, match="Invalid value for `learning_rate`: expected a positive"):
        new.adapt(X["new"][:20], Y[:20], subject="m", max_epochs=1, learning_rate=0.0)
    auto = CrossSubjectDecoder(**dict(kw, device="auto")).fit(Xs, Ys)
    assert auto.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(TypeError, match="Invalid type for `device`"):
        CrossSubjectDecoder(**dict(kw, device=3)).fit(Xs, Ys)
