"""Train: the conditional GAN on the clean store and caption embeddings, resumable, tracked in MLflow.

Outputs: artifacts/train/checkpoints/ (persisted between runs: `resume: auto` continues the newest intact
checkpoint of the same configuration), artifacts/train/model/ (t2igan.training.outputs), metrics/train.json
and metrics/train_log.csv. Under torchrun every rank trains and rank 0 alone writes and tracks; with
`train.nproc` > 1 outside torchrun, the stage starts its ranks under torchrun itself (t2igan.training.launch).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from t2igan.config import Params
from t2igan.data.dataset import DatasetInfo
from t2igan.data.splits import TRAIN
from t2igan.errors import ProcessesFailed, TrainingDiverged
from t2igan.gan.architecture import GANConfig
from t2igan.paths import ProjectPaths
from t2igan.tracking import RunRef
from t2igan.training.checkpoint import Checkpointer, CheckpointManager
from t2igan.training.data import TrainingSet
from t2igan.training.distributed import World, ranks_agree, training_process
from t2igan.training.launch import launch, processes, under_torchrun
from t2igan.training.loop import Intervals, train_steps
from t2igan.training.outputs import export_model, read_summary, write_summary
from t2igan.training.resume import resume_or_initialise
from t2igan.training.run_log import MlflowRunLog, SampleGrid, training_run, write_loss_log
from t2igan.training.stream import sampler_for
from t2igan.training.text_model import TrainableText
from t2igan.training.trainer import Trainer


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    steps: int
    resumed_from: int
    images_per_second: float
    final_losses: dict[str, float]


def run(params: Params, paths: ProjectPaths) -> TrainResult:
    """Train in this process, or as one rank of a `torchrun` launch, or start `train.nproc` ranks."""
    nproc = processes(params.train)
    if nproc > 1 and not under_torchrun():
        return _launched(params, paths, nproc)
    with training_process(params.train) as (device, world):
        return _train(params, paths, device, world)


def _launched(params: Params, paths: ProjectPaths, nproc: int) -> TrainResult:
    """Start the ranks under torchrun and wait; their result, from what rank 0 wrote."""
    code = launch(nproc, params, paths)
    if code != 0:
        raise ProcessesFailed(f"{nproc} processes under torchrun, exit code {code}", code)
    summary, losses = read_summary(paths)
    run_id = RunRef.read(paths.model_dir).run_id
    return TrainResult(
        run_id, int(summary["steps"]), int(summary["resumed_from"]), float(summary["images_per_second"]), losses
    )


def _train(params: Params, paths: ProjectPaths, device: torch.device, world: World) -> TrainResult:
    cfg = params.train
    data = TrainingSet.load(paths, TRAIN, words=cfg.model.word_attention)
    gan = GANConfig.build(cfg.model, image_size=data.image_size, text_dim=data.text_dim, word_dim=data.word_dim)
    text = TrainableText.build(params, paths, device) if cfg.text.finetune != "none" else None
    trainer = Trainer(gan, cfg, device, world, text)
    checkpoints = CheckpointManager(paths.checkpoints_dir, cfg.keep_last)
    start = resume_or_initialise(trainer, params, paths, checkpoints, data.embeddings.fingerprint)
    grid = SampleGrid.fixed(paths, data.embeddings, text.embed_rows if text else None, data.tokens)
    sampler = sampler_for(data, cfg.batch_size, cfg.seed, cfg.stream, world.rank, world.size, text)
    info = DatasetInfo.read(paths)
    tracked = training_run(params, paths, info, start, grid) if world.is_main else contextlib.nullcontext()
    with tracked as ref:
        run: RunRef | None = ref
        checkpointer = Checkpointer(
            checkpoints,
            start.signature,
            run.run_id if run else None,
            gan.to_dict(),
            data.embeddings.fingerprint,
            start.init_source,
            enabled=world.is_main,
        )
        run_log = MlflowRunLog(grid, trainer.ema) if run else None
        outcome = train_steps(trainer, sampler, start.step, Intervals.from_params(cfg), checkpointer, run_log)
        if not ranks_agree(trainer.ema, world):
            raise TrainingDiverged(f"the {world.size} ranks ended with different generator weights")
        if run is None:
            return TrainResult("", cfg.steps, start.step, outcome.images_per_second, outcome.final_losses)
        export_model(trainer.ema, paths, run, cfg.steps, info.name, text)
        write_loss_log(paths, run.run_id)
    write_summary(paths, cfg.steps, start, outcome, world.size)
    return TrainResult(run.run_id, cfg.steps, start.step, outcome.images_per_second, outcome.final_losses)
