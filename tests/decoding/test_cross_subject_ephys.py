"""The cross-subject decoder on electrophysiology: (channel, time-window) units of simulated MEG."""

import pytest

from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
from neurotoolkit.decoding import (
    CrossSubjectDecoder,
    RidgeDecoder,
    paired_responses,
    retrieval_accuracy,
)

pytest.importorskip("torch")


def test_cross_subject_decoder_on_meg_channel_window_units(torch_single_thread, gabor_pca_space):
    stim = make_builtin_stimuli(n_per_category=60, size=64)  # 300 images: 240 train, 60 test
    ds = simulate_recordings(stimuli=stim, n_subjects=3, modality="meg", mode="time_resolved",
                             random_state=0)
    fs = gabor_pca_space(ds.truth)
    assert {"channel", "tmin", "tmax"} <= set(ds.recordings[0].units.columns)
    train = {r.subject: paired_responses(r, fs, ids=ds.truth.train_ids) for r in ds.recordings}
    test = {r.subject: paired_responses(r, fs, ids=ds.truth.test_ids) for r in ds.recordings}
    dec = CrossSubjectDecoder(hidden_dim=64, n_blocks=1, max_epochs=40, batch_size=32, learning_rate=3e-3,
                              temperature=0.1, patience=10, device="cpu", random_state=0)
    dec.fit({s: xy[0] for s, xy in train.items()}, {s: xy[1] for s, xy in train.items()})
    acc = {}
    for s, (Xt, Yt, _) in test.items():
        ret = retrieval_accuracy(dec.predict(Xt, subject=s), Yt, n_way="all").set_index("direction")
        acc[s] = ret["accuracy"].round(3).to_dict()
        ridge = RidgeDecoder(cv=5).fit(*train[s][:2]).predict(Xt)  # the per-subject baseline, printed
        acc[s]["ridge"] = retrieval_accuracy(ridge, Yt, n_way="all")["accuracy"].round(3).tolist()
        chance = ret["chance"].iloc[0]
    print("\nMEG cross-subject retrieval (all-way, chance %.3f):" % chance, acc)
    # measured (60-way, chance 0.017): image 0.28 / 0.18 / 0.12, brain 0.25 / 0.23 / 0.20
    assert all(a["image"] > 5 * chance and a["brain"] > 5 * chance for a in acc.values())
