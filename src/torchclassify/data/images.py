"""Image folders and CSVs of image paths: finding the files, decoding them with Pillow, one size, normalised.

An image becomes one row whose single feature is its path; `ImagePreprocessor` turns paths into
(n, C*H*W) float32 pixels, normalised per channel with the training split's mean and std, so the rest of
the pipeline (batches, the loop, inference) handles images as it handles tables. Augmentation lives in
`data/image_augment.py`. torchvision is not used: its wheel does not load with this torch (docs/images.md).
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
IMAGE_COLUMN = "image"  # the feature column of an image folder: each row's file path
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")  # "P": palette images are checked once decoded
MAX_SIDE = 512  # the largest --image-size: a row is size*size*channels floats (3*512^2 < a model file's
# 10^6 inputs)
AUTO_SIDES = (8, 64)  # --image-size by default: the training images' median side, kept within these


def is_image_path(path) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def find_images(folder: Path) -> tuple[list[str], list[str], int]:
    """The ImageFolder layout: each subfolder of `folder` is a class, every image file under it a row.

    Returns (paths, labels, n_skipped): files without an image suffix (a README, .DS_Store) and files
    outside the class folders are skipped and counted; hidden files and folders are left out silently.
    """
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    n_skipped = sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    paths, labels, empty = [], [], []
    for name in classes:
        found = []
        for root, dirs, files in os.walk(folder / name):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in sorted(files):
                if file.startswith("."):
                    continue
                if is_image_path(file):
                    found.append(str(Path(root) / file))
                else:
                    n_skipped += 1
        if not found:
            empty.append(name)
        paths += found
        labels += [name] * len(found)
    if empty:
        warnings.warn(f"class folder(s) {', '.join(empty)} of {folder} hold no images: those classes are left out",
                      stacklevel=2)
    if len(set(labels)) < 2:
        raise DataError(f"{folder} needs one subfolder of images per class (at least two, e.g. {folder}/cat/1.png "
                        f"and {folder}/dog/2.png); found images in {len(set(labels))}")
    return paths, labels, n_skipped


def image_column(frame: pd.DataFrame) -> str | None:
    """The column of a table that names image files (every non-empty cell ends in an image suffix), if any."""
    for name in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_datetime64_any_dtype(frame[name]):
            continue  # (paths are text: no per-cell look at a column of numbers, on every table read)
        values = frame[name].dropna()
        looks = values.map(lambda v: isinstance(v, str) and is_image_path(v.strip()))
        if len(values) and looks.all():
            return str(name)
        if len(values) and looks.mean() >= 0.5:  # a column of image paths with a few stray cells
            stray = ", ".join(repr(v) for v in values[~looks].head(3))
            raise DataError(f"column {name!r} names image files but {int((~looks).sum())} cell(s) do not ({stray}): "
                            f"fix or remove those rows (image suffixes: {', '.join(IMAGE_SUFFIXES)})")
    return None


def resolve_paths(values: pd.Series, base: Path) -> pd.Series:
    """Paths in a CSV are relative to the CSV's folder (absolute ones stay)."""
    return values.map(lambda v: str(base / str(v).strip()) if isinstance(v, str) else v)


def decode(paths, size: int, mode: str) -> np.ndarray:
    """Read images into (n, C, size, size) float32 in [0, 1]: Pillow decodes, converts to `mode` ("L":
    C=1, "RGB": C=3) and resizes (bilinear, aspect ratio not kept). A file Pillow cannot read is one DataError
    naming it."""
    from PIL import Image

    channels = 1 if mode == "L" else 3
    out = np.empty((len(paths), channels, size, size), np.float32)
    for i, path in enumerate(paths):
        try:
            with open_image(path) as image:
                image = as_8bit(image).convert(mode).resize((size, size), Image.BILINEAR)
                pixels = np.asarray(image, dtype=np.float32)  # (size, size) or (size, size, 3)
        except FileNotFoundError:
            raise DataError(f"image {path} does not exist: check the path (CSV paths are relative to the CSV's "
                            "folder)") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise DataError(f"{path} is larger than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} "
                            "pixels: shrink it before training on it") from None
        except (OSError, ValueError) as err:
            raise DataError(f"{path} is not an image Pillow can read ({type(err).__name__}: {str(err)[:120]}): "
                            "remove or replace the file") from None
        out[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    return out / 255.0


def open_image(path):
    """Image.open on a regular file: an empty or non-text path, a missing file, a FIFO or a device (which
    would block the read for ever) is one DataError naming it. An image past Pillow's decompression-bomb limit
    (89 M pixels) raises Image.DecompressionBombWarning: Pillow only warns up to twice the limit, and decoding
    such an image takes hundreds of MB to make a thumbnail."""
    from PIL import Image

    if not isinstance(path, str) or not path.strip():
        raise DataError(f"an image path is empty or not text ({path!r}): every row needs the path of an image file")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist: check the path (CSV paths are relative to the CSV's "
                        "folder)") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path} is not a regular file (a folder, FIFO or device): an image path must name a file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(path)


def as_8bit(image):
    """16-bit, 32-bit and float greyscale images rescaled to 0..255 before Pillow's convert, which would clip
    them (a 16-bit ramp became two values): by the type's range, or the image's own maximum past it."""
    from PIL import Image

    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    top = float(np.nanmax(values)) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        scale = 255.0
    elif image.mode.startswith("I;16") or top <= 65535:
        scale = 255.0 / 65535 if top > 255 else 1.0
    else:
        scale = 255.0 / top
    return Image.fromarray(np.clip(np.nan_to_num(values * scale), 0, 255).astype(np.uint8), mode="L")


def choose_mode_and_size(paths) -> tuple[str, int]:
    """("L" when every training image is greyscale, else "RGB"; the median side), from the files' headers
    (a palette image is decoded to see its colours)."""
    from PIL import Image

    mode, sides = "L", []
    for path in paths:
        try:
            with open_image(path) as image:
                sides.append(max(image.size))
                if mode == "RGB":
                    continue
                if image.mode == "P":
                    colours = np.asarray(image.convert("RGB"), dtype=np.int16)
                    if not (np.ptp(colours, axis=2) == 0).all():
                        mode = "RGB"
                elif image.mode not in GREY_MODES:
                    mode = "RGB"
        except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            decode([path], 1, "L")  # raises the one-line DataError naming the file
    return mode, int(np.median(sides)) if sides else AUTO_SIDES[0]


@dataclass
class ImagePreprocessor:
    """Paths -> (n, C*size*size) float32, each channel normalised with the training split's mean and std.

    Quacks like data.preprocess.Preprocessor (transform, to_dict, n_features_out, ...), so the classifier,
    the run folder and the model file treat both alike; `image_shape` is what builds the CNN.
    """

    column: str
    size: int
    mode: str  # "L" or "RGB"
    mean: list[float]
    std: list[float]

    # table-only parts of the Preprocessor interface: an image row has none of them
    numeric: ClassVar[list] = []
    dates: ClassVar[list] = []
    dropped: ClassVar[list] = []
    categorical_columns: ClassVar[list] = []

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (len(self.mean), self.size, self.size)  # (C, H, W)

    @property
    def input_columns(self) -> list[str]:
        return [self.column]

    @property
    def n_features_out(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    @property
    def feature_names_out(self) -> list[str]:
        return [f"pixel_{i}" for i in range(self.n_features_out)]

    def decisions(self) -> list[str]:
        c, h, w = self.image_shape
        return [f"{self.column}: images decoded as {'greyscale' if c == 1 else 'RGB'}, resized to {h}x{w} and "
                "normalised with the training split's mean and std per channel"]

    @classmethod
    def fit_decoded(cls, X_train: pd.DataFrame, size: int | None = None) -> tuple["ImagePreprocessor", np.ndarray]:
        """Choose the colour mode (and the side, when size is None) and measure each channel's mean and std on
        the training images; also returns the (n, C, size, size) pixels it decoded, which `normalise` turns into
        the training features, so that a run decodes each training image once (most of an image run's set-up)."""
        column = X_train.columns[0]
        paths = list(X_train[column])
        mode, median_side = choose_mode_and_size(paths)
        size = size or int(np.clip(median_side, *AUTO_SIDES))
        pixels = decode(paths, size, mode)  # (n, C, size, size)
        mean = pixels.mean(axis=(0, 2, 3), dtype=np.float64)
        std = pixels.std(axis=(0, 2, 3), dtype=np.float64)
        std = np.where(std > 1e-6, std, 1.0)  # a blank channel: centred, not divided by zero
        return cls(str(column), int(size), mode, mean.tolist(), std.tolist()), pixels

    def check_columns(self, X: pd.DataFrame) -> None:
        if self.column not in X.columns:
            raise DataError(f"the rows need the column {self.column!r} of image paths the model was trained on")

    def pixels(self, X: pd.DataFrame) -> np.ndarray:
        """(n, C, size, size) float32 in [0, 1], not normalised (for pictures)."""
        self.check_columns(X)
        return decode(list(X[self.column]), self.size, self.mode)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Rows of image paths -> (n, C*size*size) float32 normalised pixels."""
        return self.normalise(self.pixels(X))

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """(n, C, size, size) pixels in [0, 1] -> (n, C*size*size) features, standardised per channel in place."""
        c = len(self.mean)
        pixels -= np.asarray(self.mean, np.float32).reshape(1, c, 1, 1)
        pixels /= np.asarray(self.std, np.float32).reshape(1, c, 1, 1)
        return pixels.reshape(len(pixels), self.n_features_out)  # (n, C*H*W): the CNN views it as (n, C, H, W)

    def invalid_values(self, X: pd.DataFrame) -> dict[str, int]:
        return {}  # an unreadable image is an error, not a missing value

    def to_dict(self) -> dict:
        return {"kind": "images", "column": self.column, "size": self.size, "mode": self.mode,
                "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, raw: dict) -> "ImagePreprocessor":
        return cls(str(raw["column"]), int(raw["size"]), str(raw["mode"]), [float(v) for v in raw["mean"]],
                   [float(v) for v in raw["std"]])


def check_image_dict(raw: dict) -> str | None:
    """What is wrong with model.json's image preprocessing, or None (checked before anything is built)."""
    finite = all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                 for v in list(raw.get("mean") or []) + list(raw.get("std") or []))
    channels = {"L": 1, "RGB": 3}.get(raw.get("mode"))
    size = raw.get("size")
    if not isinstance(raw.get("column"), str) or channels is None:
        return "image preprocessing needs a column name and a mode of L or RGB"
    if not (isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_SIDE):
        return f"image size must be a whole number in [1, {MAX_SIDE}]"
    if not (finite and isinstance(raw["mean"], list) and isinstance(raw["std"], list)
            and len(raw["mean"]) == len(raw["std"]) == channels and all(s > 0 for s in raw["std"])):
        return f"image mean and std must be {channels} finite numbers each (std above 0)"
    return None


def is_image_preprocessing(raw) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "images"


def image_rows(inputs, column: str = IMAGE_COLUMN) -> pd.DataFrame:
    """Rows to predict from folders (every image under them, sorted) and image files: one path per row."""
    paths: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                paths += [str(Path(root) / f) for f in sorted(files) if is_image_path(f) and not f.startswith(".")]
        elif item.exists() and is_image_path(item):
            paths.append(str(item))
        else:
            raise DataError(f"{item} is neither a folder nor an image file ({', '.join(IMAGE_SUFFIXES)})")
    if not paths:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, inputs))}")
    return pd.DataFrame({column: paths})
