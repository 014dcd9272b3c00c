"""Images as stored (uint8 NHWC, 0..255) and images as networks take them (float NCHW in [-1, 1]).

The image store, the generator's output and every evaluation network meet here, so there is one rounding
rule and one channel order for all of them.
"""

from __future__ import annotations

import numpy as np
import torch


def to_network(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1] (x / 127.5 - 1)."""
    tensor = torch.as_tensor(np.ascontiguousarray(images))
    if tensor.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {tensor.dtype}")
    return tensor.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float NCHW in [-1, 1] -> uint8 NHWC, rounding to the nearest level as an image encoder would."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def channels_first(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (the store's layout) or NCHW -> uint8 NCHW, values untouched."""
    tensor = torch.as_tensor(np.ascontiguousarray(images))
    return tensor.permute(0, 3, 1, 2) if tensor.shape[-1] == 3 else tensor
