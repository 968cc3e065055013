"""Built-in data written out as files: scikit-learn's digits as an image folder (the README's image example)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import temporary_folder


def export_digits_images(folder: Path, limit_per_class: int | None = None) -> int:
    """Write the 1,797 8x8 digits as greyscale PNGs, folder/<digit>/<index>.png; returns how many.

    The 17 grey levels (0..16) become 0..255, white on black as scikit-learn stores them.
    limit_per_class: the first N images of each digit only (small folders for tests).
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DataError(f"{folder} already exists and is not an empty folder: choose a new folder to export to")
    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the folder and renamed into place at the end: an export stopped halfway leaves no
    # folder of a few images that would train without complaint.
    partial = temporary_folder(folder.parent, f".{folder.name}.partial-")
    try:
        written: dict[int, int] = {}
        for index, (image, label) in enumerate(zip(pixels, digits.target)):
            label = int(label)
            if limit_per_class is not None and written.get(label, 0) >= limit_per_class:
                continue
            (partial / str(label)).mkdir(exist_ok=True)
            Image.fromarray(image, mode="L").save(partial / str(label) / f"{index:04d}.png", format="PNG")
            written[label] = written.get(label, 0) + 1
        os.replace(partial, folder)  # (onto an empty folder too: rename(2) replaces an empty directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return sum(written.values())
