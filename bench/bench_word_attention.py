"""What word attention costs a training step: the sentence-only default against G and D attending to words.

    python bench/bench_word_attention.py                 # the default config: 32x32, batch 32, MiniLM
    python bench/bench_word_attention.py --size 64

Both steps are the default trainer at the same size, widths and batch, on MiniLM's sentence vectors of the
synthetic default's kind of captions; the word-attention one also reads their token states (384 wide, about
16 tokens), as the training feed gives them. Timed in alternating rounds, so that a busy machine slows both
alike; the median round counts, and the figure is the ratio to the sentence-only step in this run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _project  # noqa: F401  (puts the repository root on the path)
from _rounds import median_step_seconds, step_arguments
from bench_text_tuning import CAPTIONS
from t2igan.config import EmbedParams, ModelParams, TrainParams
from t2igan.gan.architecture import GANConfig
from t2igan.gan.conditioning import CaptionFeatures
from t2igan.text.encoder import encoder_from_params
from t2igan.text.locate import resolve_encoder_path
from t2igan.training.trainer import Trainer


def step_function(words: bool, size: int, batch: int, blocks: int) -> Callable[[int], None]:
    encoder = encoder_from_params(EmbedParams(), resolve_encoder_path(EmbedParams().encoder))
    captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(batch)]
    encoded = encoder.encode_with_tokens(captions, tokens=True)
    features = CaptionFeatures.from_ragged(encoded.vectors, encoded.states)
    model = ModelParams(word_attention=words, word_blocks=blocks)
    width = features.tokens.shape[2] if features.tokens is not None else 0
    gan = GANConfig.build(model, image_size=size, text_dim=encoder.dim, word_dim=width if words else 0)
    trainer = Trainer(gan, TrainParams(batch_size=batch), torch.device("cpu"))
    images = torch.rand(batch, 3, size, size) * 2 - 1
    vectors = torch.from_numpy(features.sentence)
    token_states = features.words() if words else None

    def step(index: int) -> None:
        trainer.step(index, images, vectors, token_states)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    step_arguments(parser)
    parser.add_argument("--blocks", type=int, default=2, help="train.model.word_blocks")
    args = parser.parse_args()

    variants = {"sentence": False, "words": True}
    steps = {name: step_function(on, args.size, args.batch, args.blocks) for name, on in variants.items()}
    seconds_per_step = median_step_seconds(steps, args.rounds, args.steps_per_round)
    base = seconds_per_step["sentence"]
    print(f"{args.size}x{args.size}, batch {args.batch}, MiniLM, word_blocks {args.blocks}: seconds per step")
    for name in variants:
        seconds = seconds_per_step[name]
        print(f"  {name:<9} {seconds:.3f} s  {seconds / base:.2f}x the sentence-only step")


if __name__ == "__main__":
    main()
