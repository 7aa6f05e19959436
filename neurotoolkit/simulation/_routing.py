"""Cluttered-scene simulator where pooled features fail: location-routed and category-anywhere ROIs.

Each stimulus is a ``grid x grid`` arrangement of cells; a cell holds one
object of one of a few categories (a coloured, textured glyph with jittered
position, size, contrast and colour) or is empty. Two kinds of ROIs are
planted:

- *routed* ROIs: every unit responds to the category of the object in one
  planted cell (a location), ignoring the rest of the scene. Averaging a
  backbone's tokens over space mixes that cell with all the others, so a
  ridge model on pooled features explains only part of the signal, while a
  model that reads from the right location (attention routing, Adeli et al.
  2025) can reach the ceiling.
- *anywhere* ROIs: units respond to whether a category is present anywhere
  in the scene (a max over cells, not a sum).

Unit tuning (a vector over categories) mixes a prototype shared across
subjects with an individual deviation (``shared_tuning``), so that models
trained on some subjects transfer to new ones (in-context encoders, Yu et al.
2025). The SNR convention is the one of :func:`simulate_recordings`.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.random import check_random_state, spawn
from .._utils.validation import check_fraction, check_int, check_type
from ..data._recording import Recording
from ..data._stimuli import StimulusSet
from ._simulate import SimulatedDataset, _split

__all__ = ["ROUTING_CATEGORIES", "RoutingTruth", "simulate_routing"]

ROUTING_CATEGORIES = ("face", "body", "place", "food", "word")
# (base colour, grating orientation in degrees, grating period in px, shape)
_LOOKS = {
    "face": ((0.95, 0.75, 0.55), 0.0, 0.0, "disc"),
    "body": ((0.85, 0.25, 0.25), 90.0, 4.0, "bar"),
    "place": ((0.25, 0.6, 0.3), 0.0, 3.0, "square"),
    "food": ((0.95, 0.85, 0.2), 45.0, 5.0, "disc"),
    "word": ((0.2, 0.3, 0.85), 135.0, 2.5, "square"),
}


@dataclass
class RoutingTruth:
    """What generated :func:`simulate_routing` data.

    For subject ``s``, unit ``u`` of a routed ROI planted at cell ``(i, j)``,
    the noise-free response to stimulus ``n`` is ``intercept[u] +
    gain[u] * tuning[s][:, u] @ onehot(layout[n, i, j])`` (0 for an empty
    cell); for an anywhere ROI, ``onehot`` is replaced by the presence of
    each category anywhere in the scene.

    Attributes
    ----------
    subjects : list of str
    units : list of pandas.DataFrame
        Per subject, one row per unit: ``roi``, ``kind`` ("routed" or
        "anywhere"), ``cell_row``, ``cell_col`` (-1 for anywhere ROIs),
        ``snr``, ``noise_var``.
    tuning : list of array (n_categories, n_units)
        Effective weights (gains included) on the category code.
    intercepts : list of array (n_units,)
    signal : list of array (n_stimuli, n_units)
    layout : array (n_stimuli, grid, grid) of int
        Category index of the object in each cell, -1 for empty cells.
    category_names : list of str
    rois : dict
        ROI -> ``{"kind", "cell", "box"}``; ``box`` is the planted location
        ``(x0, y0, x1, y1)`` in [0, 1] image coordinates (y down), None for
        anywhere ROIs.
    stimulus_ids, train_ids, test_ids : array of str
    params : dict
    """

    subjects: list
    units: list
    tuning: list
    intercepts: list
    signal: list
    layout: np.ndarray
    category_names: list
    rois: dict
    stimulus_ids: np.ndarray
    train_ids: np.ndarray
    test_ids: np.ndarray
    params: dict = field(default_factory=dict)

    def noise_ceiling(self, n_average=1, subject=0):
        """True noise ceiling ``snr / (snr + 1 / n_average)`` per unit of one subject (index or label)."""
        n_average = check_int("n_average", n_average, min_value=1)
        if isinstance(subject, str):
            if subject not in self.subjects:
                raise ValueError(
                    f"Invalid value for `subject`: expected one of {self.subjects}, got {subject!r}.")
            subject = self.subjects.index(subject)
        snr = self.units[subject]["snr"].to_numpy()
        return snr / (snr + 1.0 / n_average)

    def planted_mask(self, roi, grid_shape):
        """Boolean (h, w) mask of the tokens of an ``h x w`` grid that lie in ``roi``'s planted box."""
        box = self.rois[roi]["box"]
        if box is None:
            raise ValueError(f"Invalid value for `roi`: {roi!r} is an anywhere ROI with no planted location.")
        h, w = grid_shape
        yc = (np.arange(h) + 0.5) / h
        xc = (np.arange(w) + 0.5) / w
        return ((yc[:, None] > box[1]) & (yc[:, None] < box[3]) & (xc[None] > box[0]) & (xc[None] < box[2]))


def _draw_scenes(layout, size, rng):
    """uint8 images (n, size, size, 3) of the layouts."""
    n, grid, _ = layout.shape
    cell = size // grid
    yy, xx = np.mgrid[0:cell, 0:cell].astype(np.float64)
    images = np.empty((n, size, size, 3), dtype=np.float64)
    images[:] = 0.45 + 0.05 * rng.standard_normal((n, 1, 1, 1))
    images += 0.04 * rng.standard_normal(images.shape)
    names = list(_LOOKS)
    for k in range(n):
        for i in range(grid):
            for j in range(grid):
                c = layout[k, i, j]
                if c < 0:
                    continue
                colour, ori, period, shape = _LOOKS[names[c]]
                cy, cx = (cell - 1) / 2 + rng.uniform(-1.5, 1.5, 2)
                radius = cell * rng.uniform(0.3, 0.45)
                if shape == "disc":
                    mask = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
                elif shape == "square":
                    mask = (np.abs(yy - cy) < radius * 0.85) & (np.abs(xx - cx) < radius * 0.85)
                else:
                    mask = (np.abs(yy - cy) < radius) & (np.abs(xx - cx) < radius * 0.45)
                theta = np.deg2rad(ori + rng.uniform(-10, 10))
                phase = rng.uniform(0, 2 * np.pi)
                grating = (np.cos(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period + phase)
                           if period > 0 else np.zeros_like(xx))
                rgb = np.clip(np.asarray(colour) + rng.normal(0, 0.06, 3), 0, 1)
                contrast = rng.uniform(0.7, 1.0)
                patch = rgb * contrast * (1 + 0.25 * grating[..., None])
                view = images[k, i * cell:(i + 1) * cell, j * cell:(j + 1) * cell]
                view[mask] = patch[mask]
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def _layouts(n, grid, n_cat, clutter, rng):
    """Scenes with a main category (about half the filled cells) and clutter of the others."""
    main = rng.integers(n_cat, size=n)
    filled = rng.random((n, grid, grid)) < clutter
    use_main = rng.random((n, grid, grid)) < 0.5
    other = rng.integers(n_cat, size=(n, grid, grid))
    layout = np.where(use_main, main[:, None, None], other)
    return np.where(filled, layout, -1), main


def _unit_tuning(kind, cat_index, n_cat, n_units, shared, template, rng):
    """(n_cat, n_units) tuning: shared prototype + individual deviation, each of unit norm."""
    individual = rng.standard_normal((n_cat, n_units))
    if kind == "anywhere":
        individual[cat_index] += 1.5 * np.sign(template[cat_index])
    individual /= np.linalg.norm(individual, axis=0, keepdims=True)
    proto = template / np.linalg.norm(template)
    return shared * proto[:, None] * rng.uniform(0.7, 1.3, n_units) + (1 - shared) * individual


@fill_doc
@verbose
def simulate_routing(n_stimuli=600, image_size=64, grid=4, routed_cells=((0, 0), (2, 3)),
                     anywhere=("face", "place"), n_subjects=3, n_units_per_roi=30, snr=2.0,
                     clutter=0.8, shared_tuning=0.8, n_train=None, n_test=None, n_repeats_train=1,
                     n_repeats_test=3, random_state=0, verbose=None):
    """Simulate cluttered scenes and ROIs that read from a location or a category anywhere.

    Parameters
    ----------
    n_stimuli : int
        Number of scenes (images).
    image_size : int
        Height and width of the images in pixels (a multiple of ``grid``).
    grid : int
        Scenes are ``grid x grid`` cells.
    routed_cells : sequence of (int, int)
        One location-routed ROI per (row, column) cell, named ``"routed_r{row}c{col}"``.
    anywhere : sequence of str
        One anywhere ROI per category name (from ``ROUTING_CATEGORIES``),
        named ``"{category}_anywhere"``.
    n_subjects : int
        Subjects; their units share tuning prototypes (``shared_tuning``).
    n_units_per_roi : int
        Units per ROI and subject (jittered by +-20 %).
    snr : float
        Single-trial SNR of every unit (lognormal jitter, sd 0.3).
    clutter : float in (0, 1]
        Probability that a cell holds an object.
    shared_tuning : float in [0, 1]
        Weight of the ROI prototype against each unit's individual tuning.
    n_train, n_test : int | None
        Train and test scenes (default: 20 % test, stratified by main category).
    n_repeats_train, n_repeats_test : int
        Trials per train / test scene.
    %(random_state)s
    %(verbose)s

    Returns
    -------
    SimulatedDataset
        ``recordings`` (one :class:`~neurotoolkit.data.Recording` per
        subject, units with ``roi`` and ``hemisphere``), ``stimuli`` (a
        :class:`~neurotoolkit.data.StimulusSet` with images and a boolean
        ``categories`` table of each scene's main category), ``truth``
        (:class:`RoutingTruth`, with the planted location of every routed ROI).

    Notes
    -----
    A scene's "main category" fills about half of its occupied cells (the
    rest are random categories), so scenes can be grouped by category (for
    context-selection comparisons) while every category appears anywhere.
    Units of a routed ROI respond only to their cell; the planted box is in
    ``truth.rois[roi]["box"]`` and ``truth.planted_mask(roi, grid_shape)``
    gives the token mask of a backbone's grid.
    """
    n_stimuli = check_int("n_stimuli", n_stimuli, min_value=10)
    grid = check_int("grid", grid, min_value=1)
    image_size = check_int("image_size", image_size, min_value=grid * 4)
    if image_size % grid:
        raise ValueError(f"Invalid value for `image_size`: expected a multiple of grid={grid}, got {image_size}.")
    n_subjects = check_int("n_subjects", n_subjects, min_value=1)
    n_units = check_int("n_units_per_roi", n_units_per_roi, min_value=2)
    clutter = check_fraction("clutter", clutter, inclusive=(False, True))
    shared = check_fraction("shared_tuning", shared_tuning)
    check_type("snr", snr, "numeric")
    if not snr > 0:
        raise ValueError(f"Invalid value for `snr`: expected a positive float, got {snr!r}.")
    cells = [tuple(int(v) for v in c) for c in routed_cells]
    for c in cells:
        if len(c) != 2 or not all(0 <= v < grid for v in c):
            raise ValueError(f"Invalid value for `routed_cells`: expected (row, col) pairs in [0, {grid}), got {c}.")
    anywhere = [str(a) for a in anywhere]
    bad = [a for a in anywhere if a not in ROUTING_CATEGORIES]
    if bad:
        raise ValueError(f"Invalid value for `anywhere`: expected names from {ROUTING_CATEGORIES}, got {bad}.")
    if not cells and not anywhere:
        raise ValueError("Invalid value for `routed_cells`/`anywhere`: expected at least one ROI, got none.")
    rng = check_random_state(random_state)
    n_cat = len(ROUTING_CATEGORIES)
    layout, main = _layouts(n_stimuli, grid, n_cat, clutter, rng)
    images = _draw_scenes(layout, image_size, rng)
    ids = np.asarray([f"scene_{k:04d}" for k in range(n_stimuli)], dtype=object)
    cats = pd.DataFrame({c: main == k for k, c in enumerate(ROUTING_CATEGORIES)}, index=list(ids))
    stim = StimulusSet(ids, images=images, categories=cats, name="routing_scenes",
                       meta={"generator": "simulate_routing", "grid": grid})
    onehot = np.stack([layout == k for k in range(n_cat)], axis=-1).astype(np.float64)  # n, g, g, cat
    presence = onehot.max(axis=(1, 2))
    rois = {}
    for (i, j) in cells:
        rois[f"routed_r{i}c{j}"] = {"kind": "routed", "cell": (i, j),
                                    "box": (j / grid, i / grid, (j + 1) / grid, (i + 1) / grid)}
    for a in anywhere:
        rois[f"{a}_anywhere"] = {"kind": "anywhere", "cell": None, "box": None,
                                 "category": ROUTING_CATEGORIES.index(a)}
    templates = {}
    for name, spec in rois.items():
        t = rng.standard_normal(n_cat)
        if spec["kind"] == "anywhere":
            t[spec["category"]] = 3.0
        templates[name] = t
    train_ids, test_ids = _split(ids, cats.to_numpy(dtype=float), n_train, n_test, rng)
    truth = RoutingTruth([], [], [], [], [], layout, list(ROUTING_CATEGORIES), rois, ids.copy(),
                         train_ids, test_ids,
                         params=dict(grid=grid, image_size=image_size, snr=float(snr),
                                     shared_tuning=shared, clutter=clutter, n_subjects=n_subjects,
                                     n_repeats_train=n_repeats_train, n_repeats_test=n_repeats_test))
    recordings = []
    for s, srng in enumerate(spawn(rng, n_subjects)):
        tables, tunings, signals, icpts = [], [], [], []
        for name, spec in rois.items():
            n = max(2, int(round(n_units * srng.uniform(0.8, 1.2))))
            code = onehot[:, spec["cell"][0], spec["cell"][1]] if spec["kind"] == "routed" else presence
            tun = _unit_tuning(spec["kind"], spec.get("category", 0), n_cat, n, shared, templates[name], srng)
            raw = code @ tun
            unit_snr = float(snr) * np.exp(srng.normal(0, 0.3, n) - 0.045)
            noise_var = 1.0 / (1.0 + unit_snr)
            sd = raw.std(axis=0)
            gain = np.sqrt(unit_snr * noise_var) / np.where(sd > 0, sd, 1.0)
            tun = tun * gain
            icpt = srng.normal(0, 0.5, n) - code.mean(0) @ tun
            signals.append(icpt + code @ tun)
            tunings.append(tun)
            icpts.append(icpt)
            cell = spec["cell"] or (-1, -1)
            tables.append(pd.DataFrame({
                "roi": name, "kind": spec["kind"], "cell_row": cell[0], "cell_col": cell[1],
                "hemisphere": np.where(srng.random(n) < 0.5, "left", "right"),
                "snr": unit_snr, "noise_var": noise_var,
            }, index=[f"{name}-{k:03d}" for k in range(n)]))
        units = pd.concat(tables)
        signal = np.concatenate(signals, axis=1)
        subject = f"sub-{s + 1:02d}"
        trial_ids = np.concatenate([np.repeat(train_ids, n_repeats_train),
                                    np.repeat(test_ids, n_repeats_test)])
        trial_ids = trial_ids[srng.permutation(len(trial_ids))]
        sd = np.sqrt(units["noise_var"].to_numpy())
        idx = stim.index_of(trial_ids)
        responses = signal[idx] + sd * srng.standard_normal((len(idx), signal.shape[1]))
        rec = Recording(responses.astype(np.float32), trial_ids,
                        units.drop(columns=["snr", "noise_var", "kind", "cell_row", "cell_col"]),
                        subject=subject, modality="fmri",
                        meta={"simulated": True, "generator": "simulate_routing",
                              "train_ids": list(train_ids), "test_ids": list(test_ids)})
        recordings.append(rec)
        truth.subjects.append(subject)
        truth.units.append(units.drop(columns=["hemisphere"]))
        truth.tuning.append(np.concatenate(tunings, axis=1))
        truth.intercepts.append(np.concatenate(icpts))
        truth.signal.append(signal)
        logger.info("Simulated routing %s: %d units, %d trials.", subject, rec.n_units, rec.n_trials)
    return SimulatedDataset(recordings, stim, truth)
