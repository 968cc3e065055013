"""Augmentation of training batches of images, as small tensor ops (no torchvision: see docs/images.md).

flip, crop (a random shift, as a crop of a padded image), rotate: one affine warp per image, drawn per
image and applied in a single `grid_sample`; jitter: brightness and contrast. The batch arrives normalised
and flat, (b, C*H*W); the padding a shift or rotation uncovers is 0, the training split's mean.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

ROTATE_DEGREES = 15.0  # at strength 1: each image turns by up to this angle either way
CROP_FRACTION = 1 / 8  # at strength 1: shifts of up to this share of the side (4 pixels of 32)
JITTER = 0.2  # at strength 1: brightness shift and contrast factor within +-20%


def make_image_augmenter(kinds: list[str], image_shape: tuple[int, int, int], strength: float | None,
                         generator: torch.Generator) -> Callable[[torch.Tensor, torch.Tensor], tuple]:
    """f(X_batch (b, C*H*W), y_batch) -> (X_batch, y_batch) with the augmentations in `kinds` applied.

    strength scales every magnitude (1 by default: rotations up to 15 degrees, shifts up to 1/8 of the side,
    brightness and contrast within 20%); flips are left-right, half of the images.
    """
    s = 1.0 if strength is None else float(strength)
    c, h, w = image_shape
    kinds = set(kinds)
    geometric = bool(kinds & {"flip", "crop", "rotate"})
    max_shift = max(1, round(CROP_FRACTION * s * min(h, w)))

    def uniform(b: int) -> torch.Tensor:  # (b,) in [-1, 1), drawn from the run's seeded generator
        return torch.rand(b, generator=generator) * 2 - 1

    def augment(X: torch.Tensor, y: torch.Tensor):
        b = X.shape[0]
        images = X.reshape(b, c, h, w)
        if geometric:
            theta = torch.zeros(b, 2, 3)  # per image: output coordinates -> input coordinates, in [-1, 1]
            theta[:, 0, 0] = theta[:, 1, 1] = 1.0
            if "rotate" in kinds:
                angle = uniform(b) * math.radians(ROTATE_DEGREES * s)
                cos, sin = torch.cos(angle), torch.sin(angle)
                theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
            if "flip" in kinds:
                flip = torch.rand(b, generator=generator) < 0.5
                theta[flip, :, 0] *= -1  # x -> -x: a mirror image
            if "crop" in kinds:  # whole-pixel shifts: one pixel is 2/w in grid units
                shift = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=generator).float()
                theta[:, 0, 2] = shift[:, 0] * 2 / w
                theta[:, 1, 2] = shift[:, 1] * 2 / h
            theta = theta.to(X.device, X.dtype)
            grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)  # (b, h, w, 2)
            images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if "jitter" in kinds:
            contrast = (1 + JITTER * s * uniform(b)).to(X.device, X.dtype).view(b, 1, 1, 1)
            brightness = (JITTER * s * uniform(b)).to(X.device, X.dtype).view(b, 1, 1, 1)
            images = images * contrast + brightness
        return images.reshape(b, -1), y

    return augment

