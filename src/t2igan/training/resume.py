"""Where a training run starts: the newest intact checkpoint of the same configuration, or fresh weights.

A checkpoint is resumed only when it was written by a run that computes the same thing on the same data
(`run_signature`); any other configuration's checkpoints are removed, so they cannot be resumed later by
mistake. A fresh run may start from another model's weights (`train.init_from`, fine-tuning).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2igan.config import Params, section_hash
from t2igan.io import sha256_file
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import EMBEDDINGS_FILE
from t2igan.training.checkpoint import CheckpointManager
from t2igan.training.distributed import barrier
from t2igan.training.init_from import InitialWeights, check_compatible, load_initial_weights
from t2igan.training.trainer import Trainer

log = logging.getLogger(__name__)

# Settings that change how long or how verbosely a run goes, not what it computes: a run may resume
# from a checkpoint written under different values of these.
BOOKKEEPING = {
    "steps",
    "checkpoint_every",
    "keep_last",
    "log_every",
    "sample_every",
    "resume",
    "threads",
    "device",
}
# Within sections: where the shards are read from and by how many loader processes (the stream is the same).
BOOKKEEPING_FIELDS = {"stream": {"url": True, "loader_workers": True}}


@dataclass(frozen=True)
class Start:
    step: int  # the first step this process runs
    signature: str  # what the run's checkpoints are written under
    run_id: str | None = None  # the MLflow run of the resumed checkpoint (None: a new run)
    initial: InitialWeights | None = None  # a new run's fine-tuning source
    init_source: str | None = None  # where the weights first came from, as recorded (resolved init_from)


def run_signature(params: Params, paths: ProjectPaths) -> str:
    """What a checkpoint must match to be resumed: the computing settings and the exact data."""
    excluded: dict[str, Any] = {**dict.fromkeys(BOOKKEEPING, True), **BOOKKEEPING_FIELDS}
    computing = params.train.model_dump(mode="json", exclude=excluded)
    inputs = [sha256_file(paths.clean_manifest), sha256_file(paths.embeddings_dir / EMBEDDINGS_FILE)]
    payload = json.dumps([computing, section_hash(params.data, params.embed), inputs], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _resumable(
    trainer: Trainer, checkpoints: CheckpointManager, signature: str
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of this run whose state fits the trainer (one that does not is passed over)."""
    for path, state in checkpoints.resumable(signature):
        unfit = trainer.why_unfit(state.get("trainer"))
        if unfit is None:
            return path, state
        log.warning("checkpoint %s does not fit this trainer (%s); trying the previous one", path.name, unfit)
    return None


def resume_or_initialise(
    trainer: Trainer, params: Params, paths: ProjectPaths, checkpoints: CheckpointManager, encoder: str
) -> Start:
    """Load the trainer's state from where this run starts; `encoder` is the embeddings' fingerprint."""
    cfg, world = params.train, trainer.world
    signature = run_signature(params, paths)
    resumed = _resumable(trainer, checkpoints, signature) if cfg.resume == "auto" else None
    if resumed is None and world.is_main:
        checkpoints.clear()  # another configuration's checkpoints must not be resumed later
    barrier(world)  # no rank reads the checkpoints while rank 0 removes them
    if resumed is not None:
        path, state = resumed
        trainer.load_state_dict(state["trainer"])
        log.info("resuming from %s (step %d of %d)", path.name, int(state["step"]), cfg.steps)
        return Start(int(state["step"]), signature, state.get("run_id"), None, state.get("init_from"))
    if not cfg.init_from:
        return Start(0, signature)
    initial = load_initial_weights(cfg.init_from, paths)
    check_compatible(initial, trainer.gan, encoder)
    trainer.start_from(initial)
    log.info("fine-tuning from %s (%s)", initial.requested, initial.resolved)
    return Start(0, signature, None, initial, initial.resolved)
