"""R-precision: does a generated image retrieve its own caption among mismatched ones?

Real datasets have no ground-truth attributes to judge, so text alignment is measured by retrieval, as AttnGAN
and DF-GAN report it: an image encoder is trained contrastively (symmetric InfoNCE, as in DAMSM and CLIP)
to map training images next to their captions' embeddings from the frozen text encoder. For each generated
image, its caption and `candidates - 1` captions of other images are ranked by cosine similarity; R-precision
is the share of images whose own caption ranks first. The same score on real held-out images is the ceiling.
The encoder is trained once per dataset and text-encoder fingerprint and cached.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from t2igan.config import RetrievalParams
from t2igan.metrics.weights import load_module, save_module
from t2igan.pixels import to_network


class RetrievalImageEncoder(nn.Module):
    """uint8 NHWC images -> unit vectors in the caption embedding space."""

    def __init__(self, text_dim: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for out in (width, width * 2, width * 4, width * 8):
            layers += [nn.Conv2d(channels, out, 3, 2, 1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.project = nn.Linear(channels, text_dim)
        # CLIP's learnable temperature, starting at 1/0.07.
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.body(images)), dim=-1)

    @torch.inference_mode()
    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        self.eval()
        parts = [
            self(to_network(images[s : s + batch_size])).numpy() for s in range(0, len(images), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.project.out_features), np.float32)


def _unit(text: np.ndarray) -> torch.Tensor:
    return F.normalize(torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32)), dim=-1)


def train_retrieval_encoder(
    images: np.ndarray, image_of_caption: np.ndarray, text: np.ndarray, params: RetrievalParams
) -> RetrievalImageEncoder:
    """Fit the image side against frozen caption embeddings.

    `images` holds each training image once; caption i (row i of `text`) belongs to image
    `image_of_caption[i]`. Each epoch visits every image once with one of its captions drawn at random, as
    the GAN's own sampler does, so images with many captions do not count more.
    """
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    encoder = RetrievalImageEncoder(text.shape[1], params.width)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=params.lr)
    steps = params.epochs * -(-len(images) // params.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, total_steps=steps)
    captions_of = [np.flatnonzero(image_of_caption == i) for i in range(len(images))]
    targets = _unit(text)
    encoder.train()
    for _ in range(params.epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order), params.batch_size):
            index = np.sort(order[start : start + params.batch_size])
            if len(index) < 2:  # a contrastive batch needs negatives (and BatchNorm more than one image)
                continue
            caption = np.array([rng.choice(captions_of[i]) for i in index])
            logits = (
                encoder.logit_scale.exp().clamp(max=100)
                * encoder(to_network(images[index]))
                @ targets[caption].T
            )
            labels = torch.arange(len(index))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return encoder.eval()


def r_precision(
    image_vectors: np.ndarray,
    true_caption: np.ndarray,
    caption_image: np.ndarray,
    image_id: np.ndarray,
    text: np.ndarray,
    candidates: int,
    rounds: int,
    seed: int,
) -> tuple[float, float]:
    """(mean, std over `rounds` draws of distractors) of top-1 retrieval of each image's own caption.

    Image j was made for caption `true_caption[j]` (a row of `text`) and shows image `image_id[j]`;
    distractors are captions of other images (`caption_image` names each caption's image), never the
    image's own other captions, which would be correct answers counted wrong.
    """
    rng = np.random.default_rng(seed)
    vectors = torch.from_numpy(np.ascontiguousarray(image_vectors, dtype=np.float32))
    targets = _unit(text)
    scores = []
    for _ in range(rounds):
        hits = 0
        for j in range(len(vectors)):
            pool = np.flatnonzero(caption_image != image_id[j])
            distractors = rng.choice(pool, size=min(candidates - 1, len(pool)), replace=False)
            rows = np.concatenate([[true_caption[j]], distractors])
            similarity = targets[rows] @ vectors[j]
            hits += int(similarity.argmax() == 0)
        scores.append(hits / max(len(vectors), 1))
    return float(np.mean(scores)), float(np.std(scores))


def save_encoder(encoder: RetrievalImageEncoder, path: Path, width: int) -> None:
    save_module(encoder, path, {"text_dim": encoder.project.out_features, "width": width})


def load_encoder(path: Path) -> RetrievalImageEncoder:
    return load_module(path, lambda meta: RetrievalImageEncoder(meta["text_dim"], meta["width"]))
