"""What one evaluation reads, loaded once, and a memo for the work its metrics share.

FID and KID read the same Inception features; the attribute accuracy and the report's confusion tables read
the same judge verdicts; the memorization figures and the report's picture read the same nearest-neighbour
search. The module that computes each of those owns it and keeps it in the context's memo
(`EvalContext.shared`), computed on first use by whichever metric asks first; this module knows none of
them, so every metric may import it and it imports no metric. Every choice of images, captions and seeds is
fixed by `evaluate.seed` (`t2igan.metrics.seeds`), so a repeat gives the same numbers.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from t2igan.config import EvaluateParams, Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.manifest import read_clean_manifest
from t2igan.data.splits import TRAIN
from t2igan.data.store import open_images
from t2igan.devices import resolve_device
from t2igan.errors import StageInputError
from t2igan.gan.conditioning import CaptionFeatures, cached_caption_features, caption_features
from t2igan.gan.export import WEIGHTS_FILE, load_generator
from t2igan.gan.sampling import generate
from t2igan.io import sha256_file
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import TokenStates, load_embeddings, load_token_states, read_encoder_record
from t2igan.text.tuning import TUNING_DIR
from t2igan.vision.inception import InceptionFeatures

if TYPE_CHECKING:
    from t2igan.text.encoder import TextEncoder

T = TypeVar("T")


class EvalContext:
    """One evaluation: the generator, the clean data and its embeddings, and the work the metrics share."""

    def __init__(self, params: Params, paths: ProjectPaths, model_dir: Path | None = None) -> None:
        """`model_dir`: the exported generator to evaluate (default: the project's; the champion's to
        re-score it on this data)."""
        model_dir = model_dir or paths.model_dir
        self.model_dir = model_dir
        self.params = params
        self.paths = paths
        self.device = resolve_device(params.evaluate.device)
        self.manifest = read_clean_manifest(paths).reset_index(drop=True)  # index = embedding row
        self.manifest_sha = sha256_file(paths.clean_manifest)
        self.store = open_images(paths)
        embeddings = load_embeddings(paths.embeddings_dir, expected_rows=len(self.manifest))
        self.generator, meta = load_generator(model_dir, device=self.device)
        if meta["encoder"]["fingerprint"] != embeddings.fingerprint:
            raise StageInputError(
                f"{model_dir}: the generator was trained on another encoder's embeddings; retrain it"
            )
        self.text = embeddings.vectors  # the frozen LM's caption embeddings, one row per manifest row
        self.text_fingerprint = embeddings.fingerprint
        # Their token states (memory-mapped), for a generator that attends to words
        self.tokens: TokenStates | None = None
        if self.generator.config.word_attention:
            self.tokens = load_token_states(paths.embeddings_dir, expected_rows=len(self.manifest))
        self.tuning: dict[str, Any] | None = meta.get("text_tuning")
        # A generator is its weights and, when its LM was adapted with it, that adaptation's
        self.generator_sha = sha256_file(model_dir / WEIGHTS_FILE)
        if self.tuning is not None:
            self.generator_sha = hashlib.sha256(
                f"{self.generator_sha} {self.tuning['weights_sha256']}".encode()
            ).hexdigest()
        self.info = DatasetInfo.read(paths)
        self._shared: dict[str, Any] = {}

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        """The result stored under `key`, computed by `compute` the first time it is asked for.

        The modules that compute shared work name their own keys (`distances`, `attributes`, ...), so one
        evaluation computes each once, whichever metric asks first.
        """
        if key not in self._shared:
            self._shared[key] = compute()
        result: T = self._shared[key]
        return result

    @property
    def cfg(self) -> EvaluateParams:
        return self.params.evaluate

    @property
    def vocab(self) -> dict[str, list[str]]:
        """The dataset's ground-truth attributes and their values ({} for data without them)."""
        vocab: dict[str, list[str]] = self.info.extra.get("attributes") or {}
        return vocab

    def split(self, name: str) -> pd.DataFrame:
        return self.manifest[self.manifest["split"] == name]

    def train_images(self) -> np.ndarray:
        index = np.unique(self.split(TRAIN)["store_index"].to_numpy())
        return self.store[index]

    @functools.cache  # noqa: B019 - a context lives as long as its evaluation
    def encoder(self, adapted: bool) -> TextEncoder:
        """The LM the embeddings came from or, `adapted`, as the generator's training adapted it."""
        from t2igan.text.encoder import TextEncoder
        from t2igan.text.locate import resolve_encoder_path
        from t2igan.text.spec import EncoderSpec

        spec = EncoderSpec.from_record(read_encoder_record(self.model_dir)["spec"])
        tuning_dir = self.model_dir / TUNING_DIR if adapted and self.tuning is not None else None
        files = resolve_encoder_path(spec.name, spec.revision)
        return TextEncoder(files, spec, device=self.device, tuning_dir=tuning_dir)

    def encode(self, captions: list[str]) -> CaptionFeatures:
        """What the generator is conditioned on for new captions (the adapted LM's vectors, when adapted, and
        the token states, when it attends to words)."""
        return caption_features(self.encoder(adapted=True), captions, self.generator.config.word_attention)

    def conditioning(self, rows: np.ndarray) -> CaptionFeatures:
        """What the generator is conditioned on for manifest `rows`: the cached embeddings (and token states),
        or, when its LM was adapted with it, that LM's vectors (computed for the rows asked for only)."""
        if self.tuning is not None:
            return self.encode(self.manifest.loc[rows, "caption"].astype(str).tolist())
        return cached_caption_features(self.text, rows, self.tokens)

    def generate(self, rows: pd.DataFrame, first_seed: int) -> np.ndarray:
        """Images for the captions of `rows`, seeds first_seed, first_seed + 1, ..."""
        seeds = [first_seed + i for i in range(len(rows))]
        text = self.conditioning(rows.index.to_numpy())
        return generate(self.generator, text, seeds, batch_size=self.cfg.batch_size)

    @cached_property
    def network(self) -> InceptionFeatures:
        return InceptionFeatures(self.cfg.inception, device=self.device)

    def cache_path(self, kind: str, name: str) -> Path:
        """Where a cached artefact of this kind lives (content-addressed: `name` carries its key)."""
        return self.paths.cache_dir / kind / name
