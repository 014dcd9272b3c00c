"""What adapting the language model costs a training step: frozen LM against LoRA and top layers.

    python bench/bench_text_tuning.py                    # the default config: 32x32, batch 32, MiniLM
    python bench/bench_text_tuning.py --size 64

All three steps are the default trainer at the same size, widths and batch; the frozen one reads fixed
sentence vectors (the embedding cache), the adapted ones run the step's captions through MiniLM (forward, and
backward into the adapter or the top layers) every step. Captions are the synthetic default's own kind. Each is
timed in alternating rounds so that a busy machine slows all alike, and the median round counts; the figure
is each step's time as a ratio of the frozen one's, measured in this run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _project  # noqa: F401  (puts the repository root on the path)
from _rounds import median_step_seconds, step_arguments
from t2igan.config import EmbedParams, ModelParams, TextTuningParams, TrainParams
from t2igan.gan.architecture import GANConfig
from t2igan.text.encoder import encoder_from_params
from t2igan.text.locate import resolve_encoder_path
from t2igan.text.tuning import Tuning
from t2igan.training.text_model import TrainableText
from t2igan.training.trainer import Trainer

CAPTIONS = [
    "a small red circle on the left on a white background",
    "a large blue square at the top right on a black background",
    "a medium green triangle in the center on a gray background",
    "a small yellow star at the bottom left on a white background",
]


def step_function(method: str, size: int, batch: int) -> Callable[[int], None]:
    """One training step of the default trainer with the LM frozen or adapted by `method`."""
    encoder = encoder_from_params(EmbedParams(), resolve_encoder_path(EmbedParams().encoder))
    captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(batch)]
    params = TrainParams(batch_size=batch, text=TextTuningParams(finetune=method))  # type: ignore[arg-type]
    text = None
    if method != "none":
        tuning = Tuning.from_params(params.text, encoder.model)
        text = TrainableText(encoder, tuning, encoder.token_ids(captions))
    gan = GANConfig.build(ModelParams(), image_size=size, text_dim=encoder.dim)
    trainer = Trainer(gan, params, torch.device("cpu"), text=text)
    images = torch.rand(batch, 3, size, size) * 2 - 1
    vectors = torch.from_numpy(encoder.encode(captions))
    rows = np.arange(batch)

    def step(index: int) -> None:
        trainer.step(index, images, text.tokens(rows) if text is not None else vectors)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    step_arguments(parser)
    args = parser.parse_args()

    methods = ("none", "lora", "top_layers")
    steps = {method: step_function(method, args.size, args.batch) for method in methods}
    seconds_per_step = median_step_seconds(steps, args.rounds, args.steps_per_round)
    frozen = seconds_per_step["none"]
    where = f"{args.size}x{args.size}, batch {args.batch}, MiniLM"
    print(f"{where}: seconds per step (median of {args.rounds} rounds)")
    for method in methods:
        seconds = seconds_per_step[method]
        print(f"  {method:<11} {seconds:.3f} s  {seconds / frozen:.2f}x the frozen step")


if __name__ == "__main__":
    main()
