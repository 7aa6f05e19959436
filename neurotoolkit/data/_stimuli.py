"""StimulusSet: stimuli by id (image paths or arrays, captions, categories)."""

from pathlib import Path

import numpy as np
import pandas as pd

from .._utils.validation import _raise, check_image_array, check_image_files, check_type, describe

__all__ = ["StimulusSet"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class StimulusSet:
    """Stimuli keyed by id.

    Parameters
    ----------
    ids : sequence of str, shape (n_stimuli,)
        Unique stimulus ids; the keys that ``Recording.stimulus_ids`` refer to.
    images : sequence of path-like | array (n_stimuli, height, width, 3) | None
        Image files, or decoded images as uint8 RGB (or floats in [0, 1]).
    captions : sequence of str | sequence of list of str | None
        One caption (or several) per stimulus.
    categories : pandas.DataFrame | None
        One row per stimulus (index = ids, or same order as ``ids``); columns
        are category labels (bool) or annotations.
    name : str
        Name of the set, e.g. "92objects".
    meta : dict | None
        Provenance (source folder, licence, generator parameters).
    verify_images : bool
        If True (default), every image file is opened with PIL at
        construction (``Image.open(path).verify()``, which does not decode
        the pixels), and a missing file or one that is not an image (say, a
        text file named ``.png``) raises an error that names it. Pass False
        only for very large sets whose files were checked before.

    Raises
    ------
    ValueError
        No ids, duplicated ids, a length mismatch, array images that are not
        uint8 or floats in [0, 1] (NaN and inf included), or an image file
        that PIL cannot read.
    FileNotFoundError
        An image path that does not exist.
    """

    def __init__(self, ids, images=None, captions=None, categories=None, name="stimuli", meta=None,
                 verify_images=True):
        if isinstance(ids, str):
            _raise("ids", "a sequence of stimulus ids", describe(ids),
                   "Wrap a single id in a list.", exc=TypeError)
        ids = [str(i) for i in ids]
        if not ids:
            _raise("ids", "at least 1 stimulus id", "an empty sequence")
        if len(set(ids)) != len(ids):
            dup = pd.Series(ids)[pd.Series(ids).duplicated()].unique()[:5].tolist()
            raise ValueError(
                f"Invalid value for `ids`: expected unique stimulus ids, got duplicates {dup}."
            )
        self.ids = np.asarray(ids, dtype=object)
        self._index = {sid: k for k, sid in enumerate(ids)}
        n = len(ids)
        if images is not None:
            if isinstance(images, np.ndarray) and images.dtype != object:
                if images.ndim not in (3, 4) or images.shape[0] != n:
                    raise ValueError(
                        "Invalid value for `images`: expected an array (n_stimuli, height, width[, 3]) "
                        f"with n_stimuli={n}, got {describe(images)}."
                    )
            elif len(images) != n:
                raise ValueError(
                    f"Invalid value for `images`: expected {n} entries (one per id), got {len(images)}."
                )
            _check_images(images, verify_images)
        if captions is not None and len(captions) != n:
            raise ValueError(
                f"Invalid value for `captions`: expected {n} entries (one per id), got {len(captions)}."
            )
        if categories is not None:
            check_type("categories", categories, pd.DataFrame)
            if len(categories) != n:
                raise ValueError(
                    f"Invalid value for `categories`: expected {n} rows (one per id), got {len(categories)}."
                )
            categories = categories.copy()
            if not set(map(str, categories.index)) == set(ids):
                categories.index = ids
            categories.index = categories.index.map(str)
            categories = categories.loc[ids]
        self.images = images
        self.captions = None if captions is None else list(captions)
        self.categories = categories
        self.name = name
        self.meta = dict(meta or {})

    # ------------------------------------------------------------------ basics
    def __len__(self):
        return len(self.ids)

    def __contains__(self, sid):
        return str(sid) in self._index

    def __repr__(self):
        parts = [f"{len(self)} stimuli"]
        if self.images is not None:
            parts.append("images")
        if self.captions is not None:
            parts.append("captions")
        if self.categories is not None:
            parts.append(f"categories {list(self.categories.columns)[:6]}")
        return f"<StimulusSet {self.name!r}: " + ", ".join(parts) + ">"

    def index_of(self, ids):
        """Positions of ``ids`` in this set, shape (len(ids),); unknown ids raise."""
        ids = [str(i) for i in np.atleast_1d(ids)]
        missing = [i for i in ids if i not in self._index]
        if missing:
            raise KeyError(
                f"Invalid value for `ids`: {len(missing)} id(s) not in StimulusSet "
                f"{self.name!r}, e.g. {missing[:5]}."
            )
        return np.array([self._index[i] for i in ids], dtype=int)

    def subset(self, ids):
        """A new StimulusSet with only ``ids`` (in that order)."""
        idx = self.index_of(ids)
        images = None
        if self.images is not None:
            images = (
                self.images[idx]
                if isinstance(self.images, np.ndarray)
                else [self.images[k] for k in idx]
            )
        return StimulusSet(
            self.ids[idx],
            images=images,
            captions=None if self.captions is None else [self.captions[k] for k in idx],
            categories=None if self.categories is None else self.categories.iloc[idx],
            name=self.name,
            meta=self.meta,
            verify_images=False,  # checked when this set was built
        )

    # ------------------------------------------------------------------ images
    def load_image(self, sid, size=None):
        """Return one image as uint8 RGB array (height, width, 3).

        Parameters
        ----------
        sid : str
            Stimulus id.
        size : int | (int, int) | None
            Resize to (size, size) or (height, width) with bicubic resampling.
        """
        if self.images is None:
            raise ValueError(f"StimulusSet {self.name!r} has no images.")
        k = self.index_of([sid])[0]
        img = self.images[k]
        if isinstance(img, (str, Path)):
            from PIL import Image

            with Image.open(img) as im:
                im = im.convert("RGB")
                if size is not None:
                    hw = (size, size) if np.isscalar(size) else tuple(size)
                    im = im.resize((hw[1], hw[0]), Image.BICUBIC)
                return np.asarray(im, dtype=np.uint8)
        arr = np.asarray(img)
        if arr.dtype != np.uint8:
            arr = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if size is not None:
            from PIL import Image

            hw = (size, size) if np.isscalar(size) else tuple(size)
            arr = np.asarray(Image.fromarray(arr).resize((hw[1], hw[0]), Image.BICUBIC))
        return arr

    def load_images(self, ids=None, size=None):
        """Images for ``ids`` (default: all) as uint8 array (n, height, width, 3).

        ``size`` is required when the images do not share one size.
        """
        ids = self.ids if ids is None else ids
        imgs = [self.load_image(i, size=size) for i in ids]
        shapes = {im.shape for im in imgs}
        if len(shapes) > 1:
            raise ValueError(
                f"Images of StimulusSet {self.name!r} have different sizes {sorted(shapes)[:3]}; "
                "pass `size=` to resize them."
            )
        return np.stack(imgs)

    @classmethod
    def from_folder(cls, folder, categories=None, name=None, pattern=None, verify_images=True):
        """Build a StimulusSet from a folder of images.

        Parameters
        ----------
        folder : path-like
            Folder with image files; ids are the file names without suffix.
        categories : path-like | pandas.DataFrame | None
            A CSV file or frame with one row per image. If None and the
            folder holds ``categories.csv``, that file is used. A CSV needs an
            id column (``id``, ``stimulus_id``, ``image`` or ``filename``) or
            rows in the sorted file order.
        name : str | None
            Defaults to the folder name.
        pattern : str | None
            Glob pattern, default all common image suffixes.
        verify_images : bool
            Open every file with PIL and name any that is not an image (a
            file is checked by its content, not its suffix); see
            :class:`StimulusSet`.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"Invalid value for `folder`: expected an existing folder of images, got '{folder}'."
            )
        if pattern is None:
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        else:
            files = sorted(folder.glob(pattern))
        if not files:
            raise ValueError(f"Invalid value for `folder`: no image files found in '{folder}'.")
        ids = [p.stem for p in files]
        if categories is None and (folder / "categories.csv").exists():
            categories = folder / "categories.csv"
        if categories is not None and not isinstance(categories, pd.DataFrame):
            categories = pd.read_csv(categories)
        if categories is not None:
            categories = _align_categories(categories, ids)
        return cls(
            ids,
            images=[str(p) for p in files],
            categories=categories,
            name=name or folder.name,
            meta={"source": str(folder)},
            verify_images=verify_images,
        )


def _check_images(images, verify_files):
    """Array images: uint8 or finite floats in [0, 1]; files: readable by PIL."""
    if isinstance(images, np.ndarray) and images.dtype != object:
        check_image_array("images", images, channels=(3,))
        return
    paths = [(k, im) for k, im in enumerate(images) if isinstance(im, (str, Path))]
    for k, im in enumerate(images):
        if not isinstance(im, (str, Path)):
            arr = np.asarray(im)
            if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
                _raise(f"images[{k}]", "a path or an image array (height, width[, 3])",
                       describe(arr))
            check_image_array(f"images[{k}]", arr[None], channels=(3,))
    if verify_files and paths:
        check_image_files("images", [p for _, p in paths])


def _align_categories(frame, ids):
    for col in ("id", "stimulus_id", "image", "filename", "file"):
        if col in frame.columns:
            keys = frame[col].astype(str).map(lambda s: Path(s).stem)
            frame = frame.drop(columns=[col]).set_index(keys)
            missing = [i for i in ids if i not in frame.index]
            if missing:
                raise ValueError(
                    f"Invalid value for `categories`: no row for image(s) {missing[:5]}."
                )
            return frame.loc[ids]
    if len(frame) != len(ids):
        raise ValueError(
            f"Invalid value for `categories`: expected {len(ids)} rows (one per image, in sorted "
            f"file order) or an id column, got {len(frame)} rows and columns {list(frame.columns)}."
        )
    frame = frame.copy()
    frame.index = ids
    return frame
