"""Motion energy (Nishimoto et al., 2011) through the field's own package, pymoten."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._utils.docs import fill_doc
from .._utils.logging import logger, warn
from .._utils.optional import require
from .._utils.validation import _raise, check_option, check_type, describe

__all__ = ["MotionEnergy"]


def _moten():
    return require("moten", "MotionEnergy (pip install pymoten)")


def _int_fps(fps):
    """pymoten needs an int frame rate."""
    rounded = int(round(float(fps)))
    if rounded < 1:
        _raise("fps", "a frame rate of at least 1 Hz", describe(fps))
    if abs(rounded - float(fps)) > 1e-3 * float(fps):
        warn(f"MotionEnergy: pymoten takes whole frame rates; using {rounded} Hz for {fps:g} Hz.")
    return rounded


@fill_doc
class MotionEnergy(TransformerMixin, BaseEstimator):
    """Spatio-temporal Gabor motion-energy features of a video (pymoten pyramid).

    Frames are converted to luminance as pymoten does
    (``moten.io.imagearray2luminance``: CIE L* in 0..100, optional resize),
    projected on a ``moten.pyramids.MotionEnergyPyramid`` (quadrature pairs
    combined as ``sqrt(sin^2 + cos^2)``, then ``log(x + 1e-5)``), one
    feature per filter and frame. The numbers are pymoten's own (Nishimoto
    et al., 2011, Current Biology; Nunez-Elizalde et al., pymoten). Frames
    of one call are one continuous run: the temporal filters never see
    frames of another run when used through
    :func:`~neurotoolkit.features.feature_timecourses`, which calls
    :meth:`transform_timeline` run by run and then resamples the per-frame
    features to the acquisition times.

    Parameters
    ----------
    fps : float | None
        Frame rate of the video in Hz; None infers it from the frame
        durations of the timeline (:meth:`transform_timeline`), and is an
        error for :meth:`transform`. pymoten takes whole frame rates: a
        rate such as 29.97 is rounded (with a warning), which shifts the
        filters' temporal frequencies by the same ratio (0.1 %).
    size : (int, int) | None
        Resize frames to (height, width) before filtering (pymoten's
        antialiased PIL resize); default the frame size.
    temporal_frequencies, spatial_frequencies, spatial_directions : sequence of float | None
        Pyramid parameters (Hz, cycles per image, degrees); None uses
        pymoten's defaults ([0, 2, 4], [0, 2, 4, 8, 16], 8 directions).
    filter_temporal_width : "auto" | int
        Temporal support of the filters in frames (pymoten's default "auto":
        about 2/3 s).
    output : {"log", "energy"}
        pymoten's ``log(x + 1e-5)`` compression, or the raw energy.
    dtype : {"float32", "float64"}
    %(verbose)s

    Attributes
    ----------
    pyramid_ : moten.pyramids.MotionEnergyPyramid
        The pyramid of the last call.
    n_features_out_ : int
        Number of filters.

    Examples
    --------
    >>> me = MotionEnergy(fps=15, spatial_frequencies=[0, 2, 4])  # doctest: +SKIP
    >>> X = me.transform(frames)  # (n_frames, n_filters)          # doctest: +SKIP
    """

    def __init__(self, fps=None, size=None, temporal_frequencies=None, spatial_frequencies=None,
                 spatial_directions=None, filter_temporal_width="auto", output="log",
                 dtype="float32", verbose=None):
        self.fps = fps
        self.size = size
        self.temporal_frequencies = temporal_frequencies
        self.spatial_frequencies = spatial_frequencies
        self.spatial_directions = spatial_directions
        self.filter_temporal_width = filter_temporal_width
        self.output = output
        self.dtype = dtype
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """No-op (the transformer is stateless); returns self."""
        return self

    # --------------------------------------------------------------- helpers
    def _pyramid(self, vhsize, fps):
        moten = _moten()
        kw = {}
        for name in ("temporal_frequencies", "spatial_frequencies", "spatial_directions"):
            if getattr(self, name) is not None:
                kw[name] = [float(v) for v in getattr(self, name)]
        return moten.pyramids.MotionEnergyPyramid(
            stimulus_vhsize=tuple(int(v) for v in vhsize), stimulus_fps=_int_fps(fps),
            filter_temporal_width=self.filter_temporal_width, **kw)

    def _frames(self, frames):
        from ..data import StimulusSet

        if isinstance(frames, StimulusSet):
            frames = frames.load_images()
        arr = np.asarray(frames)
        if arr.ndim == 3:  # grey frames -> RGB, so the luminance conversion is pymoten's
            arr = np.repeat(arr[..., None], 3, axis=-1)
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
            _raise("frames", "a StimulusSet or an array (n_frames, height, width[, 3])",
                   describe(arr))
        if arr.dtype != np.uint8:
            if arr.dtype.kind not in "fiu" or not np.isfinite(arr).all() or arr.min() < 0 \
                    or arr.max() > 1:
                _raise("frames", "uint8 frames or floats in [0, 1]", describe(arr))
            arr = arr * 255.0  # pymoten divides by 255
        return arr

    def luminance(self, frames):
        """pymoten luminance (CIE L*, 0..100), array (n_frames, height, width)."""
        moten = _moten()
        size = None if self.size is None else tuple(int(v) for v in self.size)
        frames = self._frames(frames)
        with warnings.catch_warnings():  # pymoten imports the deprecated scipy.misc
            warnings.filterwarnings("ignore", "scipy.misc", DeprecationWarning)
            return moten.io.imagearray2luminance(frames, size=size)

    def transform(self, frames, fps=None):
        """Motion energy of one continuous run of frames.

        Parameters
        ----------
        frames : StimulusSet | array, shape (n_frames, height, width[, 3])
            uint8 RGB (or grey) frames, or floats in [0, 1], in time order.
        fps : float | None
            Overrides ``self.fps``.

        Returns
        -------
        array, shape (n_frames, n_filters)
        """
        fps = fps if fps is not None else self.fps
        if fps is None:
            _raise("fps", "the frame rate in Hz (MotionEnergy(fps=...))", "None")
        check_type("fps", fps, "numeric")
        check_option("output", self.output, ("log", "energy"))
        check_option("dtype", self.dtype, ("float32", "float64"))
        lum = self.luminance(frames)
        self.pyramid_ = self._pyramid(lum.shape[1:], fps)
        self.n_features_out_ = int(self.pyramid_.nfilters)
        kw = {} if self.output == "log" else {"output_nonlinearity": lambda x: x}
        logger.info("MotionEnergy: %d frames x %d filters", lum.shape[0], self.n_features_out_)
        out = self.pyramid_.project_stimulus(lum, dtype=self.dtype, **kw)
        return np.asarray(out, dtype=self.dtype)

    def transform_timeline(self, timeline, stimuli=None):
        """Per-frame motion energy of the frame/image events of a timeline, run by run.

        Parameters
        ----------
        timeline : Timeline
        stimuli : StimulusSet | None
            Pixels, if the timeline holds none.

        Returns
        -------
        array, shape (n_events, n_filters)
            Rows in the timeline's event order (run by run, by onset).
        """
        tl = timeline.select(kind=["frame", "image"])
        stim = tl.to_stimulus_set(stimuli)
        ev = tl.events
        out = []
        for run in tl.runs:
            grp = ev[ev["run"] == run]
            fps = self.fps
            if fps is None:
                fps = 1.0 / float(np.median(grp["duration"]))
                if len(grp) > 1:
                    step = float(np.median(np.diff(grp["onset"])))
                    if not np.isclose(step, 1.0 / fps, rtol=0.05):
                        warn(f"MotionEnergy: frame durations and onset steps of run {run!r} "
                             "disagree; pass fps= explicitly.")
            out.append(self.transform(stim.load_images(grp["stim_id"].tolist()), fps=fps))
        return np.concatenate(out)

    def get_feature_names_out(self, input_features=None):
        """Names such as ``"me_sf2_dir45_tf4_x0.25_y0.50_env0.30"``, array (n_filters,) of str."""
        if not hasattr(self, "pyramid_"):
            raise AttributeError("MotionEnergy: call transform first (names depend on frame size).")
        return np.asarray([
            f"me_sf{f['spatial_freq']:g}_dir{f['direction']:g}_tf{f['temporal_freq']:g}"
            f"_x{f['centerh']:.2f}_y{f['centerv']:.2f}_env{f['spatial_env']:.2f}"
            for f in self.pyramid_.filters], dtype=object)
