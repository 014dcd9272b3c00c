"""A frozen Hugging Face language model as a sentence encoder, whatever its family (t2igan.text.families).

Loaded by path with `transformers` (t2igan.text.locate finds the files), so any checkpoint of a supported
family works; `EncoderSpec` (t2igan.text.spec) says how a caption becomes its vectors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from t2igan.config import EmbedParams
from t2igan.devices import resolve_device
from t2igan.errors import ConfigError
from t2igan.text.families import Family, Pooling, hidden_width, load_model, output_width
from t2igan.text.locate import weights_hash
from t2igan.text.sentence_head import head_width, sentence_head
from t2igan.text.spec import EncoderSpec, resolve_spec
from t2igan.text.tuning import TokenBatch, apply_tuning

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_tokenizer(path: Path) -> Any:
    """The checkpoint's tokenizer, with a pad token: GPT-2 and most LLM tokenizers have none (EOS stands in)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token or tokenizer.bos_token
        if fallback is None:
            raise ConfigError(f"embed.encoder: the tokenizer of {path} has no pad, EOS, UNK or BOS token")
        tokenizer.pad_token = fallback
    return tokenizer


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per caption from token states [B, T, D] and the attention mask [B, T], either padding side."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":  # the last real token wherever the padding is: the one that has read the caption
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if pooling == "max":
        return hidden.masked_fill(weights == 0, -1e9).max(1).values
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class Encoded(NamedTuple):
    vectors: np.ndarray  # [N, D] float32
    states: list[np.ndarray]  # per caption [length, D] float16, when asked for
    lengths: list[int]  # tokens per caption before truncation


class TextEncoder:
    """Sentence embeddings from a frozen language model; batches of similar length, within a token budget."""

    def __init__(
        self, path: Path, spec: EncoderSpec, device: str = "cpu", tuning_dir: Path | None = None
    ) -> None:
        """`tuning_dir`: an adaptation trained with the GAN (t2igan.text.tuning), applied to the base LM."""
        self.path = Path(path)
        self.spec = spec
        self.device = torch.device(device)
        self.tokenizer = load_tokenizer(self.path)
        family = cast(Family, spec.family)
        self.model: Any = load_model(self.path, family, _DTYPES[spec.dtype]).eval()
        self.model.requires_grad_(False)
        self.tuning = apply_tuning(self.model, tuning_dir) if tuning_dir is not None else None
        self.head = sentence_head(self.path, spec.head).to(self.device)  # () : the identity
        self.model.to(self.device)
        self.dim = head_width(self.head, output_width(self.model, family, cast(Pooling, spec.pooling)))
        # SigLIP was trained on captions padded to its full length, without an attention mask.
        self._padding: str | bool = "max_length" if family == "siglip" else True
        self._pass_mask = "attention_mask" in self.tokenizer.model_input_names

    def token_lengths(self, captions: list[str]) -> list[int]:
        """Tokens per caption before truncation (special tokens included)."""
        if not captions:
            return []
        ids = self.tokenizer(captions, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def token_ids(self, captions: list[str]) -> list[list[int]]:
        """Each caption's token ids as the model reads it (cut at max_length), unpadded: tokenised once,
        padded per batch by `pad`."""
        if not captions:
            return []
        encoded = self.tokenizer(captions, truncation=True, max_length=self.spec.max_length, verbose=False)
        return [list(row) for row in encoded["input_ids"]]

    def pad(self, ids: list[list[int]]) -> TokenBatch:
        """Token ids padded as `_encode_batch` pads them (the tokenizer's side; SigLIP to full length)."""
        to_full_length = {"max_length": self.spec.max_length} if self._padding == "max_length" else {}
        batch = self.tokenizer.pad(
            {"input_ids": ids},
            padding=self._padding,
            return_tensors="pt",
            return_attention_mask=True,
            **to_full_length,
        )
        return TokenBatch(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))

    def forward_tokens(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled [B, D] float32, token states [B, T, D] float32); differentiable, for the adapted LM."""
        inputs = {"input_ids": batch.input_ids}
        if self._pass_mask:
            inputs["attention_mask"] = batch.attention_mask
        outputs = self.model(**inputs, output_hidden_states=self.spec.layer is not None)
        layer = outputs.last_hidden_state if self.spec.layer is None else outputs.hidden_states[self.spec.layer]
        hidden = layer.float()
        if self.spec.pooling == "tower":
            tower = outputs.text_embeds if self.spec.family == "clip" else outputs.pooler_output
            pooled = tower.float()
        else:
            pooled = pool(hidden, batch.attention_mask, self.spec.pooling)
        pooled = self.head(pooled)
        if self.spec.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled, hidden

    @torch.inference_mode()
    def _encode_batch(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pooled [B, D] float32, token states [B, T, D], attention mask [B, T]) for one batch."""
        batch = self.pad(self.token_ids(captions))
        pooled, hidden = self.forward_tokens(batch)
        return pooled.cpu(), hidden.cpu(), batch.attention_mask.cpu()

    def batches(self, lengths: list[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
        """Indices in order of length, cut into batches of at most batch_size captions and batch_tokens
        padded tokens, so a few long captions do not pad a whole batch and memory stays bounded."""
        cap = self.spec.max_length
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            padded = cap if self._padding == "max_length" else min(lengths[i], cap)
            if current and (len(current) >= batch_size or (len(current) + 1) * padded > batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        return [*batches, current] if current else batches

    def encode(
        self, captions: list[str], batch_size: int = 256, progress: bool = False, batch_tokens: int = 16384
    ) -> np.ndarray:
        """Sentence embeddings of `captions` (float32, one row each, in the given order)."""
        return self.encode_with_tokens(
            captions, batch_size, progress, tokens=False, batch_tokens=batch_tokens
        ).vectors

    def encode_with_tokens(
        self,
        captions: list[str],
        batch_size: int = 256,
        progress: bool = False,
        tokens: bool = True,
        batch_tokens: int = 16384,
    ) -> Encoded:
        """Sentence embeddings, each caption's token count before truncation and, when `tokens`, its token
        states ([length, D] float16)."""
        out = np.empty((len(captions), self.dim), dtype=np.float32)
        empty = np.zeros((0, hidden_width(self.model)), np.float16)
        states: list[np.ndarray] = [empty] * len(captions) if tokens else []
        lengths = self.token_lengths(captions)
        batches = self.batches(lengths, batch_size, batch_tokens)
        for index in tqdm(batches, desc="embed", unit="batch", disable=not progress):
            pooled, hidden, mask = self._encode_batch([captions[i] for i in index])
            out[index] = pooled.numpy()
            if tokens:
                for row, i in enumerate(index):
                    states[i] = hidden[row][mask[row].bool()].to(torch.float16).numpy()
        return Encoded(out, states, lengths)


def encoder_from_params(cfg: EmbedParams, path: Path) -> TextEncoder:
    spec = resolve_spec(cfg, path, weights_hash(path))
    return TextEncoder(path, spec, device=resolve_device(cfg.device))
