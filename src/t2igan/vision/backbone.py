"""A frozen pretrained vision network as multi-scale feature maps: what D judges through, what FDs measure in.

Projected GAN and Vision-aided GAN (then GALIP, StyleGAN-T, GigaGAN) put a frozen pretrained network in front
of the discriminator's trainable layers: the network already tells images apart, so D learns from far fewer
images. A backbone here takes images in [-1, 1] at any size, resizes and normalises them as the network was
trained (bilinear: differentiable, so G's gradient flows through it), and returns the feature maps of a few
layers from early to late, each [B, C_k, H_k, W_k]. Its weights never train and it is always in eval mode
(the Inception's batch norms are folded; a ViT's dropout stays off), so a training step leaves it unchanged.

Two kinds: the packaged FID Inception (the only pretrained vision network available offline here) and any
Hugging Face vision checkpoint (`t2igan.vision.families`).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from t2igan.errors import ConfigError
from t2igan.vision.inception import INCEPTION_SIZE, inception_path, load_inception_net, weights_identity

INCEPTION = "inception"  # `d_backbone` / `feature_networks` name of the packaged FID Inception
# Early to middle layers (Projected GAN found the early ones carry most of the benefit): the stem's last pool
# (192 channels, Mixed_5's input), Mixed_5d (288) and Mixed_6e (768). Mixed_7 is never run.
INCEPTION_TAPS = ("pool1", "mixed_2", "mixed_7")
INCEPTION_CHANNELS = (192, 288, 768)
INCEPTION_MIN_SIZE = 75  # smaller inputs leave Mixed_6 without pixels (its valid 3x3 stride-2 convs)


class Backbone(nn.Module):
    """The interface D and the metrics use: `channels` of each returned map, the input `resolution`, and an
    `identity` naming the network (which metrics must not be read on when D uses it)."""

    channels: tuple[int, ...]
    resolution: int
    identity: str

    def freeze(self) -> None:
        """No gradients for its weights, eval mode for good: D's own train() never reaches it (not a child)."""
        self.requires_grad_(False)
        self.eval()

    def resized(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] == self.resolution and images.shape[-2] == self.resolution:
            return images
        return F.interpolate(
            images, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False
        )


class InceptionBackbone(Backbone):
    """The FID Inception's early and middle layers. Its input rule: [0, 255] pixels as (x - 128) / 128."""

    def __init__(self, path: str | Path | None = None, resolution: int | None = None) -> None:
        super().__init__()
        self.resolution = resolution or INCEPTION_SIZE
        if self.resolution < INCEPTION_MIN_SIZE:
            raise ConfigError(
                f"train.model.d_backbone_resolution: the Inception needs at least {INCEPTION_MIN_SIZE} pixels, "
                f"got {self.resolution}"
            )
        where = inception_path(path)
        net = load_inception_net(where)
        self.identity = f"{INCEPTION}:{weights_identity(where)}"
        layers = dict(net.layers.named_children())
        last = list(layers).index(INCEPTION_TAPS[-1])
        self.layers = nn.Sequential(OrderedDict(list(layers.items())[: last + 1]))
        self.channels = INCEPTION_CHANNELS
        self.freeze()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        # [-1, 1] -> the (x - 128) / 128 of x = 127.5 (images + 1)
        x = self.resized(images) * (127.5 / 128.0) - 0.5 / 128.0
        maps = []
        for name, layer in self.layers.named_children():
            x = layer(x)
            if name in INCEPTION_TAPS:
                maps.append(x)
        return maps
