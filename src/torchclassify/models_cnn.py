"""The small CNN that image data gets by default: a few conv blocks, global average pooling, a Linear head.

It takes the flat rows the pipeline carries, (n, C*H*W) normalised pixels, and views them as (n, C, H, W).
Nothing is pretrained: the weights start random, as every other model here.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Per width: Conv3x3 -> BatchNorm -> ReLU -> MaxPool2x2 (no pooling once the side is 2 or less); then
    global average pooling -> Dropout -> Linear(last width, n_outputs).

    image_shape: (C, H, W) of the input images; widths: channels of each block, e.g. (32, 64).
    """

    def __init__(self, image_shape: tuple[int, int, int], n_outputs: int, widths=(32, 64), dropout: float = 0.0):
        super().__init__()
        self.image_shape = tuple(int(v) for v in image_shape)
        channels, side = self.image_shape[0], min(self.image_shape[1:])
        blocks: list[nn.Module] = []
        for width in widths:
            blocks += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if side > 2:  # a 2x2 map pooled again would be a single pixel before the global pool anyway
                blocks.append(nn.MaxPool2d(2))
                side //= 2
            channels = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(channels, n_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        images = X.view(X.shape[0], *self.image_shape)  # (n, C*H*W) -> (n, C, H, W)
        return self.head(self.features(images))  # (n, n_outputs) logits
