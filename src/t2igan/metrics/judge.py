"""The attribute judge: a small CNN trained on real synthetic images that reads back their attributes.

Text alignment on the synthetic set is then exact and interpretable: generate an image for a caption, ask the
judge for its color, shape, size, position and background, and compare with the attributes the caption
states. The judge's own accuracy on held-out real images is the ceiling the generator can reach.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from t2igan.config import JudgeParams
from t2igan.metrics.weights import load_module, save_module
from t2igan.pixels import to_network
from t2igan.progress import tracked

log = logging.getLogger(__name__)


class AttributeJudge(nn.Module):
    def __init__(self, vocab: Mapping[str, Sequence[str]], width: int) -> None:
        super().__init__()
        self.vocab = {name: list(values) for name, values in vocab.items()}
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width * 2, 3, 2, 1),
            nn.BatchNorm2d(width * 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(width * 2, width * 4, 3, 2, 1),
            nn.BatchNorm2d(width * 4),
            nn.ReLU(inplace=True),
            nn.Conv2d(width * 4, width * 4, 3, 2, 1),
            nn.BatchNorm2d(width * 4),
            nn.ReLU(inplace=True),
            # Keep a coarse 4x4 layout rather than pooling it away: position is one of the attributes.
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(width * 4 * 16, 256),
            nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(256, len(values)) for name, values in self.vocab.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(images)
        return {name: head(h) for name, head in self.heads.items()}

    @torch.inference_mode()
    def predict(self, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """uint8 NHWC -> predicted value index per attribute."""
        self.eval()
        out: dict[str, list[np.ndarray]] = {name: [] for name in self.vocab}
        for start in range(0, len(images), batch_size):
            logits = self(to_network(images[start : start + batch_size]))
            for name, value in logits.items():
                out[name].append(value.argmax(1).numpy())
        return {name: np.concatenate(parts) if parts else np.zeros(0, int) for name, parts in out.items()}


def encode_labels(
    attributes: Sequence[dict[str, str]], vocab: Mapping[str, Sequence[str]]
) -> dict[str, np.ndarray]:
    index = {name: {value: i for i, value in enumerate(values)} for name, values in vocab.items()}
    return {name: np.array([index[name][a[name]] for a in attributes], dtype=np.int64) for name in vocab}


def accuracy(predicted: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, float]:
    scores = {name: float((predicted[name] == labels[name]).mean()) for name in labels}
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def train_judge(
    images: np.ndarray, labels: dict[str, np.ndarray], vocab: Mapping[str, Sequence[str]], params: JudgeParams
) -> AttributeJudge:
    torch.manual_seed(params.seed)
    judge = AttributeJudge(vocab, params.width)
    optimizer = torch.optim.AdamW(judge.parameters(), lr=params.lr)
    rng = np.random.default_rng(params.seed)
    steps = params.epochs * -(-len(images) // params.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, total_steps=steps)
    judge.train()
    for _ in tracked(range(params.epochs), "evaluate", "judge-training", params.epochs, unit="epoch"):
        order = rng.permutation(len(images))
        for start in range(0, len(order), params.batch_size):
            index = np.sort(order[start : start + params.batch_size])
            logits = judge(to_network(images[index]))
            losses = [F.cross_entropy(logits[n], torch.from_numpy(labels[n][index])) for n in vocab]
            loss = functools.reduce(torch.add, losses)  # summed in order: the same judge as ever
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return judge.eval()


def save_judge(judge: AttributeJudge, path: Path) -> None:
    save_module(judge, path, {"vocab": judge.vocab, "width": judge.body[0].out_channels})


def load_judge(path: Path) -> AttributeJudge:
    return load_module(path, lambda meta: AttributeJudge(meta["vocab"], meta["width"]))
