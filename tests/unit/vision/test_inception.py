"""The FID network: TF1 resizing, the reference features, user weights files, a plain frozen module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from t2igan.errors import ConfigError
from t2igan.vision.inception import InceptionFeatures, default_inception_path, resize_bilinear_tf1
from t2igan.vision.torch_archive import read_tensors
from tests.support.fid_reference import expected_features, load_set


def test_tf1_bilinear_uses_no_half_pixel_offset() -> None:
    image = torch.tensor([[[[0.0, 10.0]]]])  # 1x2, upsampled to 1x4 columns
    out = resize_bilinear_tf1(image.expand(1, 1, 2, 2).contiguous(), 4)
    # source x = dst * 2/4 -> 0, 0.5, 1, 1.5 (clamped to the last pixel)
    assert out[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]


def test_features_match_the_reference_vectors(inception: InceptionFeatures) -> None:
    expected = expected_features()
    images = torch.from_numpy(load_set("rects_a")[:4]).permute(0, 3, 1, 2)
    ours = inception(images).double().numpy()
    assert ours.shape == (4, 2048)
    assert np.abs(ours - expected).max() / np.abs(expected).max() < 1e-4


def test_a_user_supplied_weights_file_of_the_same_port_is_used_by_path(
    inception: InceptionFeatures, tmp_path: Path
) -> None:
    # Given the network's weights under another layout and name (NVIDIA's file holds the same TF port's layers,
    # under its own top-level module): a safetensors file of them, nested one level deeper.
    tensors = read_tensors(default_inception_path())
    path = tmp_path / "inception-2015-12-05.safetensors"
    save_file({f"detector.{key}": value.contiguous() for key, value in tensors.items()}, str(path))
    user = InceptionFeatures(path)
    assert user.identity != inception.identity  # never shares a cache entry with the default network
    images = torch.from_numpy(load_set("rects_a")[:2]).permute(0, 3, 1, 2)
    expected = expected_features()[:2]
    ours = user(images).double().numpy()
    assert np.abs(ours - expected).max() / np.abs(expected).max() < 1e-4
    # Weights of another network are refused, in one line naming what is missing.
    save_file({"layers.conv.weight": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ConfigError, match=r"not the TF-Inception .* weights"):
        InceptionFeatures(tmp_path / "other.safetensors")


def test_a_missing_or_bogus_inception_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        InceptionFeatures(tmp_path / "absent.pt")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a torch archive")
    with pytest.raises(ConfigError, match="not an Inception weights file") as caught:
        InceptionFeatures(bogus)
    assert "\n" not in str(caught.value)


def test_the_network_is_a_plain_frozen_module(inception: InceptionFeatures) -> None:
    assert not isinstance(inception.net, torch.jit.ScriptModule)
    assert not list(inception.net.parameters()) and not inception.net.training  # weights are buffers
    with pytest.raises(TypeError, match="uint8"):
        inception(torch.zeros(1, 3, 8, 8))
