"""What a training step costs with each kind of discriminator, against the default step, in the same run.

    python bench/bench_d_backbone.py                    # the default config: 32x32, batch 32
    python bench/bench_d_backbone.py --only default mode-seeking

Variants: the default step; with the mode-seeking term (`train.mode_seeking_weight`); and D judging through a
frozen pretrained vision network (`train.model.d_backbone`): the packaged FID Inception (real weights), and
randomly initialised networks of each Hugging Face family at a real checkpoint's size (the cost of a step does
not depend on the weights' values). Timed in alternating rounds, so that a busy machine slows all alike; the
median round counts, and each figure is its ratio to the default step in this run. The ratios are what sets
each variant's steps at the default run's wall-clock budget (README: images worth keeping).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _project  # noqa: F401  (puts the repository root on the path)
from _rounds import median_step_seconds, step_arguments
from t2igan.config import ModelParams, TrainParams
from t2igan.gan.architecture import GANConfig
from t2igan.training.trainer import Trainer

TEXT_DIM = 384  # MiniLM's sentence vectors
HF_FAMILIES = ("dinov2-small", "convnext-tiny")


def step_function(size: int, batch: int, model: ModelParams, **train: object) -> Callable[[int], None]:
    gan = GANConfig.build(model, image_size=size, text_dim=TEXT_DIM)
    trainer = Trainer(gan, TrainParams(batch_size=batch, model=model, **train), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    vectors = torch.randn(batch, TEXT_DIM, generator=generator)

    def step(index: int) -> None:
        trainer.step(index, images, vectors)

    return step


def hf_backbones(where: Path) -> dict[str, str]:
    """Randomly initialised checkpoints at real sizes, saved where `d_backbone` reads them."""
    from transformers import ConvNextConfig, ConvNextModel, Dinov2Config, Dinov2Model

    made = {
        # DINOv2 ViT-S/14 at 224 (facebook/dinov2-small's shape)
        "dinov2-small": Dinov2Model(
            Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, image_size=224)
        ),
        # ConvNeXt-T (facebook/convnext-tiny-224's shape)
        "convnext-tiny": ConvNextModel(ConvNextConfig()),
    }
    paths = {}
    for name, network in made.items():
        network.save_pretrained(where / name)
        paths[name] = str(where / name)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    step_arguments(parser)
    parser.add_argument(
        "--backbone-resolution", type=int, default=None, help="train.model.d_backbone_resolution"
    )
    parser.add_argument("--only", nargs="+", help="variants to time (default: all)")
    args = parser.parse_args()

    def wanted(name: str) -> bool:
        return name == "default" or not args.only or name in args.only

    with tempfile.TemporaryDirectory() as scratch:
        variants: dict[str, tuple[ModelParams, dict[str, object]]] = {"default": (ModelParams(), {})}
        if wanted("mode-seeking"):
            variants["mode-seeking"] = (ModelParams(), {"mode_seeking_weight": 0.2})
        backbones = {"inception": "inception"} if wanted("inception") else {}
        if any(wanted(name) for name in HF_FAMILIES):
            backbones.update({k: v for k, v in hf_backbones(Path(scratch)).items() if wanted(k)})
        for name, source in backbones.items():
            model = ModelParams(d_backbone=source, d_backbone_resolution=args.backbone_resolution)
            variants[f"D on {name}"] = (model, {})
        steps = {
            name: step_function(args.size, args.batch, model, **train)
            for name, (model, train) in variants.items()
        }
        seconds_per_step = median_step_seconds(steps, args.rounds, args.steps_per_round)
    base = seconds_per_step["default"]
    print(f"{args.size}x{args.size}, batch {args.batch}: seconds per training step")
    for name, seconds in seconds_per_step.items():
        print(f"  {name:<22} {seconds:.3f} s  {seconds / base:.2f}x the default step")


if __name__ == "__main__":
    main()
