"""torchmetrics' FID and KID, fed our features: the references our own FID and KID are checked against."""

from __future__ import annotations

import torch
from torch import nn


class Precomputed(nn.Module):
    """A torchmetrics feature extractor that passes already extracted features through.

    torchmetrics' FID and KID call their `feature` module on what `update` receives; giving them features
    lets a test compute torchmetrics' own statistics over the same Inception pass ours used.
    """

    def __init__(self, num_features: int, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.num_features = num_features
        self.dtype = dtype

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.to(self.dtype)
