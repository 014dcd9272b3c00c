"""Pixels between the store's uint8 NHWC and the networks' float NCHW in [-1, 1]: one rule, both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2igan.pixels import channels_first, to_network, to_uint8


def test_store_images_round_trip_through_the_network_range() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    tensor = to_network(images)
    assert tensor.shape == (2, 3, 5, 6) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    assert np.array_equal(to_uint8(tensor).numpy(), images)
    assert to_network(np.array([[[[0, 255, 127]]]], dtype=np.uint8)).flatten().tolist() == pytest.approx(
        [-1, 1, -1 / 255]
    )


def test_out_of_range_values_are_clipped_and_only_uint8_goes_in() -> None:
    assert to_uint8(torch.tensor([[[[-3.0]], [[0.0]], [[9.0]]]])).flatten().tolist() == [0, 128, 255]
    with pytest.raises(TypeError, match="uint8"):
        to_network(np.zeros((1, 2, 2, 3), dtype=np.float32))


def test_channels_first_leaves_values_alone() -> None:
    nhwc = np.arange(24, dtype=np.uint8).reshape(1, 2, 4, 3)
    assert torch.equal(channels_first(nhwc), torch.from_numpy(nhwc).permute(0, 3, 1, 2))
    assert channels_first(torch.zeros(1, 3, 4, 4, dtype=torch.uint8)).shape == (1, 3, 4, 4)
