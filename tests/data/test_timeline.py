"""Timeline: validation, selection, readers on real files written here (PyAV video, praatio
TextGrid, BIDS events TSV, WAV), save/load without pickle."""

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import StimulusSet, Timeline


def _frames_events(run=1, n=5, fps=10.0):
    return pd.DataFrame({"run": run, "onset": np.arange(n) / fps, "duration": 1 / fps,
                         "kind": "frame", "stim_id": [f"{run}-{k}" for k in range(n)]})


def _write_video(path, n=12, fps=10, size=(24, 32), codec="mpeg4"):
    av = pytest.importorskip("av")
    levels = (np.arange(n) * 20).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        for v in levels:
            frame = av.VideoFrame.from_ndarray(np.full(size + (3,), v, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return levels


# --------------------------------------------------------------------- basics
def test_events_are_validated_sorted_and_copied():
    ev = pd.concat([_frames_events(2, 3), _frames_events(1, 3)]).sample(frac=1, random_state=0)
    tl = Timeline(ev)
    assert tl.runs == [int(ev["run"].iloc[0]), 3 - int(ev["run"].iloc[0])]  # first appearance
    out = tl.events
    for run, grp in out.groupby("run"):
        assert np.all(np.diff(grp["onset"]) > 0)
    assert set(out.columns) >= {"run", "onset", "duration", "kind", "stim_id", "text", "stim_file"}
    out.loc[0, "onset"] = 99.0
    assert tl.events.loc[0, "onset"] != 99.0  # a copy


def test_select_and_to_stimulus_set():
    ev = pd.concat([_frames_events(1, 4), _frames_events(2, 4)])
    words = Timeline.from_words(["a", "bb"], [0.0, 0.2], [0.1, 0.3], runs=1).events
    imgs = np.random.default_rng(0).integers(0, 255, (8, 6, 6, 3), dtype=np.uint8)
    stim = StimulusSet(list(ev["stim_id"]), images=imgs)
    tl = Timeline(pd.concat([ev, words]), stimuli=stim)
    assert len(tl.select(kind="word")) == 2
    sub = tl.select(kind="frame", run=[2])
    assert sub.runs == [2] and len(sub) == 4 and set(sub.events["run"]) == {2}
    ss = sub.to_stimulus_set()
    assert list(ss.ids) == ["2-0", "2-1", "2-2", "2-3"]
    np.testing.assert_array_equal(ss.load_image("2-1"), imgs[5])
    assert tl.select(run="2").runs == [2]  # string labels match
    with pytest.raises(KeyError, match="run"):
        tl.select(run=7)
    with pytest.raises(ValueError, match="kind"):
        tl.select(kind="movie")


def test_from_words_and_images():
    tl = Timeline.from_words(["the", "cat", "sat"], [0.0, 0.5, 4.0], [0.4, 0.9, 4.3], runs=[1, 1, 2])
    assert tl.runs == [1, 2]
    assert list(tl.events["stim_id"]) == ["1/w00000", "1/w00001", "2/w00000"]
    np.testing.assert_allclose(tl.events["duration"], [0.4, 0.4, 0.3])
    with pytest.raises(ValueError, match="offsets"):
        Timeline.from_words(["a"], [1.0], [0.5])
    ti = Timeline.from_images(["x", "y"], [0.0, 3.0], 1.5)
    assert list(ti.events["kind"]) == ["image", "image"] and ti.runs == [0]


# ----------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("change, match", [
    (lambda e: e.drop(columns="onset"), r"missing \['onset'\]"),
    (lambda e: e.assign(duration=-0.1), r"durations >= 0"),
    (lambda e: e.assign(kind="movie"), r"events\['kind'\].*'frame'.*\['movie'\]"),
    (lambda e: e.assign(stim_id=""), r"stimulus id for every frame"),
    (lambda e: e.assign(onset=np.nan), r"finite"),
    (lambda e: e.assign(duration=0.5), r"do not overlap.*run 1"),
])
def test_bad_events_name_the_problem(change, match):
    with pytest.raises(ValueError, match=match):
        Timeline(change(_frames_events()))


def test_overlapping_runs_are_refused(tmp_path):
    a, b = Timeline(_frames_events(1)), Timeline(_frames_events(1))
    with pytest.raises(ValueError, match="different run labels.*run 1"):
        Timeline.concatenate([a, b])
    both = Timeline.concatenate([a, Timeline(_frames_events(2))])
    assert both.runs == [1, 2] and len(both) == 10
    tg = tmp_path / "a.TextGrid"
    tg.write_text("x")
    with pytest.raises(ValueError, match="distinct run labels"):
        Timeline.from_textgrid([tg, tg], runs=[1, 1])


def test_words_need_text():
    ev = pd.DataFrame({"run": [0], "onset": [0.0], "duration": [0.2], "kind": ["word"]})
    with pytest.raises(ValueError, match="text"):
        Timeline(ev)
    with pytest.raises(TypeError, match="events"):
        Timeline(ev.to_dict())


# ----------------------------------------------------------------------- video
def test_from_video_decodes_frames_at_their_timestamps(tmp_path):
    levels = _write_video(tmp_path / "clip.mp4", n=12, fps=10)
    tl = Timeline.from_video(tmp_path / "clip.mp4", runs=["r1"])
    ev = tl.events
    assert len(ev) == 12 and set(ev["kind"]) == {"frame"} and tl.runs == ["r1"]
    np.testing.assert_allclose(ev["onset"], np.arange(12) / 10, atol=1e-9)
    np.testing.assert_allclose(ev["duration"], 0.1, atol=1e-9)
    frames = tl.to_stimulus_set().load_images()
    assert frames.shape == (12, 24, 32, 3)
    # lossy codec: the grey level of each frame is kept within a few units
    np.testing.assert_allclose(frames.reshape(12, -1).mean(axis=1), levels, atol=6)
    # every 3rd frame, resized
    sub = Timeline.from_video(tmp_path / "clip.mp4", every_n_frames=3, size=(12, 16))
    np.testing.assert_allclose(sub.events["onset"], [0.0, 0.3, 0.6, 0.9], atol=1e-9)
    np.testing.assert_allclose(sub.events["duration"], 0.3, atol=1e-9)
    assert sub.stimuli.images.shape == (4, 12, 16, 3)


def test_video_errors(tmp_path):
    pytest.importorskip("av")
    with pytest.raises(FileNotFoundError, match="video_files.*nope.mp4"):
        Timeline.from_video(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="cannot be decoded"):
        Timeline.from_video(bad)


# -------------------------------------------------------------------- TextGrid
def test_from_textgrid_written_with_praatio(tmp_path):
    textgrid = pytest.importorskip("praatio.textgrid")
    tg = textgrid.Textgrid()
    entries = [(0.0, 0.3, "sp"), (0.3, 0.7, "Hello"), (0.7, 1.2, "world"), (1.2, 1.5, "{NS}")]
    tg.addTier(textgrid.IntervalTier("words", entries, 0, 1.5))
    tg.addTier(textgrid.IntervalTier("phones", [(0.3, 0.5, "HH"), (0.5, 0.7, "AH")], 0, 1.5))
    path = tmp_path / "story.TextGrid"
    tg.save(str(path), format="short_textgrid", includeBlankSpaces=True)
    tl = Timeline.from_textgrid(path, runs=["story"])
    ev = tl.events
    assert list(ev["text"]) == ["Hello", "world"]  # silences / non-words skipped
    np.testing.assert_allclose(ev["onset"], [0.3, 0.7])
    np.testing.assert_allclose(ev["duration"], [0.4, 0.5])
    phones = Timeline.from_textgrid(path, tier="phones")
    assert list(phones.events["text"]) == ["HH", "AH"]
    with pytest.raises(ValueError, match="tier.*words, phones"):
        Timeline.from_textgrid(path, tier="syllables")


# -------------------------------------------------------------- BIDS / audio
def _write_wav(path, sfreq=8000, seconds=1.0):
    from scipy.io import wavfile

    t = np.arange(int(sfreq * seconds)) / sfreq
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    wavfile.write(str(path), sfreq, wave)
    return wave


def test_from_bids_events_reads_images_words_video_and_audio(tmp_path):
    root = tmp_path / "ds"
    (root / "stimuli").mkdir(parents=True)
    (root / "dataset_description.json").write_text("{}")
    func = root / "sub-01" / "func"
    func.mkdir(parents=True)
    (root / "stimuli" / "img").mkdir()
    from PIL import Image

    for name in ("face1", "house1"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "stimuli" / "img" / f"{name}.png")
    _write_video(root / "stimuli" / "movie.mp4", n=6, fps=10)
    _write_wav(root / "stimuli" / "story.wav")
    pd.DataFrame({"onset": [1.0, 3.0, 5.0], "duration": [1.0, 1.0, 0.5],
                  "trial_type": ["face", "house", "fixation"],
                  "stim_file": ["img/face1.png", "img/house1.png", "n/a"]}
                 ).to_csv(func / "sub-01_task-x_run-01_events.tsv", sep="\t", index=False)
    pd.DataFrame({"onset": [2.0, 0.0, 0.5], "duration": [0.6, 10.0, 0.3],
                  "stim_file": ["movie.mp4", "story.wav", "n/a"], "word": ["n/a", "n/a", "hi"]}
                 ).to_csv(func / "sub-01_task-x_run-02_events.tsv", sep="\t", index=False)
    tl = Timeline.from_bids_events(sorted(func.glob("*_events.tsv")))
    assert tl.runs == [1, 2]
    ev = tl.events
    r1 = ev[ev["run"] == 1]
    assert list(r1["kind"]) == ["image", "image"] and list(r1["stim_id"]) == ["face1", "house1"]
    assert list(r1["trial_type"]) == ["face", "house"]
    assert r1["stim_file"].iloc[0] == str(root / "stimuli" / "img" / "face1.png")
    r2 = ev[ev["run"] == 2]
    assert sorted(set(r2["kind"])) == ["audio", "frame", "word"]
    frames = r2[r2["kind"] == "frame"]
    np.testing.assert_allclose(frames["onset"], 2.0 + np.arange(6) / 10, atol=1e-9)
    wave, sfreq = tl.audio(2)
    assert sfreq == 8000 and wave.shape == (8000,) and abs(wave).max() == pytest.approx(0.5, 1e-3)
    ss = tl.to_stimulus_set()  # image files and decoded video frames, in order of appearance
    assert list(ss.ids[:2]) == ["face1", "house1"] and len(ss) == 8
    assert ss.load_image(ss.ids[-1]).shape == (24, 32, 3)


def test_bids_bad_inputs(tmp_path):
    tsv = tmp_path / "sub-01_run-1_events.tsv"
    pd.DataFrame({"onset": [0.0], "trial_type": ["a"]}).to_csv(tsv, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"onset.*duration.*missing \['duration'\]"):
        Timeline.from_bids_events(tsv)
    pd.DataFrame({"onset": [0.0], "duration": [1.0], "stim_file": ["gone.mp4"]}).to_csv(
        tsv, sep="\t", index=False)
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        Timeline.from_bids_events(tsv, stim_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="events_tsvs"):
        Timeline.from_bids_events(tmp_path / "missing.tsv")


def test_audio_add_from_wav_and_save_load(tmp_path):
    _write_wav(tmp_path / "a.wav", sfreq=4000, seconds=0.5)
    tl = Timeline.from_audio([tmp_path / "a.wav"], runs=[3])
    assert tl.runs == [3] and tl.events["duration"].iloc[0] == pytest.approx(0.5)
    words = Timeline.from_words(["x"], [0.1], [0.2], runs=3)
    words.add_audio(3, np.zeros(100), 1000.0)
    assert words.has_audio == [3] and words.audio(3)[1] == 1000.0
    with pytest.raises(ValueError, match="sfreq"):
        words.add_audio(3, np.zeros(10), 0)
    # save / load: events, audio and array stimuli round-trip, no pickle
    ev = _frames_events(1, 3)
    stim = StimulusSet(list(ev["stim_id"]), images=np.zeros((3, 4, 4, 3), np.uint8))
    full = Timeline.concatenate([Timeline(ev, stimuli=stim), words])
    path = full.save(tmp_path / "tl.h5")
    back = Timeline.load(path)
    assert back.runs == [1, 3]
    pd.testing.assert_frame_equal(back.events, full.events)
    np.testing.assert_array_equal(back.audio(3)[0], np.zeros(100))
    assert back.stimuli.images.shape == (3, 4, 4, 3)
    with pytest.raises(FileExistsError):
        full.save(path)
