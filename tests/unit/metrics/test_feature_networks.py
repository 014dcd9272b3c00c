"""fd_<name>: a Fréchet distance in another network's space, on the same images FID reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from t2igan.config import parse_params
from t2igan.metrics.catalog import evaluate_all
from t2igan.metrics.context import EvalContext
from t2igan.metrics.distances import distances
from t2igan.paths import ProjectPaths
from tests.support.project import reset_mlflow, run_stages, tiny_params_dict
from tests.support.templates import ProjectTemplates


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, templates: ProjectTemplates) -> ProjectPaths:
    raw = tiny_params_dict()
    paths = templates.project(tmp_path_factory.mktemp("fd") / "project", raw, "ingest", "validate", "embed")
    reset_mlflow()
    try:
        run_stages(parse_params(raw), paths, "train")
    finally:
        reset_mlflow()
    return paths


def _reference_fd(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance by its definition, with scipy's matrix square root."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def _dinov2_embedding(directory: Path, images: np.ndarray) -> np.ndarray:
    """DINOv2's normalised class token of uint8 NHWC images at its 32-pixel input, computed here directly."""
    from transformers import Dinov2Model

    model = Dinov2Model.from_pretrained(directory).eval()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    with torch.no_grad():
        return model(pixel_values=x).pooler_output.numpy()


def _reference_clip_score(directory: Path, images: np.ndarray, captions: list[str]) -> float:
    """100 x mean max(cos, 0) of CLIP's projected image and caption embeddings, one pair at a time."""
    from transformers import AutoTokenizer, CLIPModel

    model, tokenizer = CLIPModel.from_pretrained(directory).eval(), AutoTokenizer.from_pretrained(directory)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    scores = []
    with torch.no_grad():
        for image, caption in zip(images, captions, strict=True):
            x = torch.from_numpy(image[None]).permute(0, 3, 1, 2).float() / 255
            x = F.interpolate(x, size=(32, 32), mode="bicubic", align_corners=False, antialias=True)
            a = model.get_image_features(pixel_values=(x - mean) / std)
            b = model.get_text_features(**tokenizer([caption], return_tensors="pt"))
            a = a if isinstance(a, torch.Tensor) else a.pooler_output
            b = b if isinstance(b, torch.Tensor) else b.pooler_output
            scores.append(max(float(F.cosine_similarity(a, b)), 0.0))
    return 100 * float(np.mean(scores))


def test_fd_equals_a_reference_frechet_distance_on_the_same_features(
    trained: ProjectPaths, tiny_vision_models: dict[str, Path]
) -> None:
    raw = tiny_params_dict()
    raw["evaluate"]["feature_networks"] = {
        "dino": str(tiny_vision_models["dinov2"]),
        "clip": str(tiny_vision_models["clip"]),
    }
    context = EvalContext(parse_params(raw), trained)
    figures = evaluate_all(context, ["fid", "feature_networks"])
    assert {"fd_dino", "fd_clip"} <= set(figures)
    sample = distances(context)
    real = _dinov2_embedding(tiny_vision_models["dinov2"], sample.real_images)
    fake = _dinov2_embedding(tiny_vision_models["dinov2"], sample.fake_images)
    assert figures["fd_dino"] == pytest.approx(_reference_fd(real, fake), rel=1e-3)
    assert figures["fd_dino"] != pytest.approx(figures["fd_clip"])  # each network measures in its own space
    # A full CLIP checkpoint also scores the images against their captions; DINOv2 has no text tower.
    assert "clip_score_dino" not in figures
    assert figures["clip_score_clip"] == pytest.approx(
        _reference_clip_score(tiny_vision_models["clip"], sample.fake_images, list(sample.captions)), rel=1e-4
    )
    # Cached by the network's weights and the images: a second evaluation gives the same figures.
    again = evaluate_all(EvalContext(parse_params(raw), trained), ["fid", "feature_networks"])
    assert again["fd_dino"] == figures["fd_dino"]
