"""Hinge losses with mismatched-caption negatives, and the matching-aware gradient penalty (MA-GP).

MA-GP (DF-GAN): penalise k * ||grad D(x, s)||^p at real images with their own sentences, the gradient taken
with respect to both the image and the sentence; k=2, p=6 in the paper. It smooths D around the matching
real data without a second real-vs-fake interpolation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from t2igan.gan.conditioning import Words
from t2igan.gan.discriminator import Discriminator

MODE_SEEKING_EPS = 1e-5


def d_hinge(real: torch.Tensor, fake: torch.Tensor, mismatched: torch.Tensor) -> torch.Tensor:
    """Real pairs above +1; fake images and real images with the wrong caption below -1 (half weight each)."""
    return F.relu(1.0 - real).mean() + 0.5 * (F.relu(1.0 + fake).mean() + F.relu(1.0 + mismatched).mean())


def g_hinge(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def contrastive(scores: torch.Tensor, temperature: float, symmetric: bool) -> torch.Tensor:
    """In-batch InfoNCE on a [B, B] image-sentence similarity matrix whose diagonal holds the true pairs.

    symmetric: also each sentence picking its image (D on real pairs); G only asks its images to pick their
    sentences.
    """
    logits = scores / temperature
    target = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
    return loss


def mode_seeking(
    first: torch.Tensor, second: torch.Tensor, z_first: torch.Tensor, z_second: torch.Tensor
) -> torch.Tensor:
    """MSGAN's term (Mao et al. 2019): the reciprocal of how far two images of one caption are apart per unit of
    noise apart, mean absolute differences, over the pairs.

    G minimises it, so a generator that maps two noises to one image pays most; as its images move apart the
    pull weakens (1/x) but never stops, so the weight sets where it meets the adversarial losses (README: at
    0.2 the variety overshot the data's, at 0.03 it came near it). The epsilon keeps an exact collapse finite.
    """
    images = (first - second).abs().flatten(1).mean(dim=1)
    noises = (z_first - z_second).abs().flatten(1).mean(dim=1)
    return 1.0 / ((images / noises).mean() + MODE_SEEKING_EPS)


def matching_aware_gp(
    disc: Discriminator,
    images: torch.Tensor,
    text: torch.Tensor,
    weight: float,
    power: float,
    words: Words | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (penalty, real features, real logits) from one pass, which the hinge terms then reuse.

    With word attention the words are an input of the pass but not of the penalty: it stays DF-GAN's, with
    respect to the image and the sentence (the words' states are of the same captions). With a pretrained
    backbone in D, with respect to its maps of the image (what D's trainable layers read) and the sentence."""
    observed = [x.detach().requires_grad_(True) for x in disc.observe(images.detach())]
    text = text.detach().requires_grad_(True)
    features = disc.features_from(observed)
    logits = disc.head(features, text, words)
    grads = torch.autograd.grad(logits.sum(), (*observed, text), create_graph=True)
    norm = torch.cat([grad.flatten(1) for grad in grads], dim=1).norm(2, dim=1)
    return weight * norm.pow(power).mean(), features, logits
