"""Hugging Face vision checkpoints as frozen backbones: every family, from tiny random models built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from t2igan.errors import ConfigError
from t2igan.vision.families import CLIP_NORM, IMAGENET, TAPS, load_backbone
from tests.support.tiny_vision import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_each_family_gives_maps_a_gradient_and_an_embedding(
    kind: str, tiny_vision_models: dict[str, Path]
) -> None:
    backbone = load_backbone(str(tiny_vision_models[kind]), resolution=32)
    images = (torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_(True)
    maps = backbone(images)
    assert len(maps) == TAPS
    assert tuple(m.shape[1] for m in maps) == backbone.channels
    assert all(m.ndim == 4 and m.shape[0] == 2 for m in maps)
    # G's gradient reaches the images through the frozen network; none of its weights wants one.
    sum(m.square().mean() for m in maps).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in backbone.parameters())
    assert backbone.embed(images.detach()).shape[0] == 2


def test_a_vit_s_maps_are_its_patch_tokens_on_their_grid(tiny_vision_models: dict[str, Path]) -> None:
    backbone = load_backbone(str(tiny_vision_models["dinov2"]), resolution=32)  # patch 8: a 4x4 grid
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        last = backbone(images)[-1]
        x = (images * 0.5 + 0.5 - backbone.mean) / backbone.std
        tokens = backbone.model(pixel_values=x, output_hidden_states=True).hidden_states[-1]
    assert last.shape == (1, 32, 4, 4)
    assert torch.equal(last[0, :, 1, 2], tokens[0, 1 + 1 * 4 + 2])  # after the class token, row-major


def test_the_normalisation_is_the_checkpoints_own_else_the_familys(
    tiny_vision_models: dict[str, Path], tmp_path: Path
) -> None:
    clip = load_backbone(str(tiny_vision_models["clip"]), resolution=32)
    assert torch.allclose(clip.mean.flatten(), torch.tensor(CLIP_NORM[0]))
    assert torch.allclose(
        load_backbone(str(tiny_vision_models["vit"])).std.flatten(), torch.tensor(IMAGENET[1])
    )
    own = tmp_path / "vit"
    own.mkdir()
    for path in tiny_vision_models["vit"].iterdir():
        (own / path.name).write_bytes(path.read_bytes())
    (own / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.1, 0.2, 0.3], "image_std": [1, 1, 1]})
    )
    assert torch.allclose(load_backbone(str(own)).mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))


def test_an_unsupported_or_missing_checkpoint_is_refused_in_one_line(
    tmp_path: Path, tiny_vision_models: dict[str, Path]
) -> None:
    from tests.support.tiny_lms import build

    with pytest.raises(ConfigError, match=r"d_backbone: .*bert model; supported: CLIP") as refused:
        load_backbone(str(build("bert", tmp_path)))
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"d_backbone_resolution: 4 pixels is less than one 8-pixel patch"):
        load_backbone(str(tiny_vision_models["vit"]), resolution=4)
    with pytest.raises(ConfigError, match=r"cannot load 'no/such-model'"):
        load_backbone("no/such-model")
