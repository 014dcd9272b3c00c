"""The language model as a part of training, when `train.text.finetune` adapts it.

Every caption of the clean manifest is tokenised once, at the start of the run (the frozen recipe's
embedding cache has no counterpart: the vectors change every step). A step's captions are padded as the
encoder pads them at inference, so the exported model embeds a caption exactly as training last did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from t2igan.config import Params
from t2igan.data.manifest import read_clean_manifest
from t2igan.errors import ConfigError
from t2igan.paths import ProjectPaths
from t2igan.text.encoder import TextEncoder, encoder_from_params
from t2igan.text.locate import resolve_encoder_path
from t2igan.text.tuning import (
    TokenBatch,
    Tuning,
    adapt,
    load_saved_weights,
    load_trainable_state,
    save_tuning,
    trainable_state,
    why_state_unfit,
)


class TrainableText:
    """The adapted LM and the token ids of every manifest row (row = embedding row)."""

    def __init__(self, encoder: TextEncoder, tuning: Tuning, token_ids: list[list[int]], seed: int = 0) -> None:
        """`seed`: LoRA's initial A matrices are random; drawn from their own stream, a run's start does not
        depend on what the process drew before (a run and its rerun begin with the same adapters)."""
        self.encoder = encoder
        self.tuning = tuning
        self.token_ids = token_ids
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # peft's wrapper for LoRA, which saves and loads the adapter; the encoder keeps running its own
            # model, adapted in place inside it
            self.adapted = adapt(encoder.model, tuning)
        encoder.model.to(encoder.device)  # peft's adapters are made on the CPU

    @classmethod
    def build(cls, params: Params, paths: ProjectPaths, device: torch.device) -> TrainableText:
        files = resolve_encoder_path(params.embed.encoder, params.embed.revision)
        encoder = encoder_from_params(params.embed, files)
        encoder.device = device
        captions = read_clean_manifest(paths)["caption"].astype(str).tolist()
        tuning = Tuning.from_params(params.train.text, encoder.model)
        return cls(encoder, tuning, encoder.token_ids(captions), seed=params.train.seed)

    @property
    def model(self) -> nn.Module:
        """The adapted LM (not peft's wrapper): its trainable parameters' names are the checkpoint's."""
        module: nn.Module = self.encoder.model
        return module

    def parameters(self) -> Iterator[nn.Parameter]:
        return (p for p in self.model.parameters() if p.requires_grad)

    def tokens(self, rows: np.ndarray) -> TokenBatch:
        return self.encoder.pad([self.token_ids[int(r)] for r in rows])

    def vectors(self, batch: TokenBatch) -> torch.Tensor:
        """Sentence vectors with gradients into the adapted weights."""
        pooled, _ = self.encoder.forward_tokens(batch)
        return pooled

    @torch.no_grad()
    def embed_rows(self, rows: np.ndarray) -> np.ndarray:
        """Sentence vectors of manifest rows as the model is now (the sample grid's)."""
        return self.vectors(self.tokens(rows)).cpu().numpy()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return trainable_state(self.model)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        load_trainable_state(self.model, state)

    def why_unfit(self, state: object) -> str | None:
        return why_state_unfit(self.model, state)

    def export(self, directory: Path) -> dict[str, Any]:
        return save_tuning(self.adapted, self.tuning, directory, base_model=self.encoder.spec.name)

    def start_from(self, weights: dict[str, torch.Tensor], saved: dict[str, Any] | None) -> None:
        """Fine-tuning: an earlier run's adaptation, from its checkpoint (`saved` None) or its exported
        model (`saved`: its tuning record); refused unless it was adapted as this run adapts."""
        if saved is not None:
            theirs = Tuning.from_record(saved)
            if theirs != self.tuning:
                raise ConfigError(
                    f"train.init_from: its language model was adapted otherwise ({theirs}; "
                    f"this run: {self.tuning})"
                )
            load_saved_weights(self.adapted, theirs, weights)
            return
        unfit = self.why_unfit(weights)
        if unfit is not None:
            raise ConfigError(f"train.init_from: {unfit}")
        self.load_state_dict(weights)
