"""The packaged FID Inception as a backbone: its early and middle layers, on the real weights."""

from __future__ import annotations

import pytest
import torch

from t2igan.errors import ConfigError
from t2igan.vision.backbone import INCEPTION_CHANNELS, InceptionBackbone
from t2igan.vision.inception import default_inception_path, load_inception_net


def test_its_maps_are_the_fid_networks_own_layers() -> None:
    backbone = InceptionBackbone(resolution=75)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        maps = backbone(images)
        # The same layers of the whole network, fed by hand with the Inception's input rule
        x = torch.nn.functional.interpolate(images, size=(75, 75), mode="bilinear", align_corners=False)
        x = (127.5 * (x + 1) - 128) / 128
        full = load_inception_net(default_inception_path())
        expected = []
        for name, layer in full.layers.named_children():
            x = layer(x)
            if name in ("pool1", "mixed_2", "mixed_7"):
                expected.append(x)
            if name == "mixed_7":
                break
    assert tuple(m.shape[1] for m in maps) == INCEPTION_CHANNELS == backbone.channels
    assert [tuple(m.shape[2:]) for m in maps] == [(7, 7), (7, 7), (3, 3)]
    for got, want in zip(maps, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert backbone.identity.startswith("inception:") and "sha256=" in backbone.identity


def test_too_small_an_input_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 75 pixels, got 64"):
        InceptionBackbone(resolution=64)
