"""Train: the conditional GAN on the clean store and caption embeddings, resumable, tracked in MLflow.

Outputs: artifacts/train/checkpoints/ (persisted between runs: `resume: auto` continues the newest intact
checkpoint of the same configuration), artifacts/train/model/ (the EMA generator as safetensors, its config,
the encoder spec and the MLflow run id that later stages log to), metrics/train.json and metrics/train_log.csv.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from t2igan.config import Params, resolve_device, section_hash
from t2igan.data.dataset import DatasetInfo
from t2igan.data.fixed_captions import grid_rows
from t2igan.errors import TrainingDiverged
from t2igan.gan.config import GANConfig
from t2igan.gan.export import save_generator
from t2igan.gan.sampling import generate, image_grid
from t2igan.io import atomic_dir, atomic_path, sha256_file, write_json
from t2igan.paths import ProjectPaths
from t2igan.stages.embed import EMBEDDINGS_FILE, ENCODER_FILE
from t2igan.tracking import RunRef, configure, start_run
from t2igan.training.checkpoint import CheckpointManager
from t2igan.training.data import BatchSampler, TrainingSet
from t2igan.training.distributed import World, barrier, init_world, ranks_agree, shutdown
from t2igan.training.init_from import check_compatible, load_initial_weights
from t2igan.training.trainer import StepLosses, Trainer

log = logging.getLogger(__name__)

# Settings that change how long or how verbosely a run goes, not what it computes: a run may resume
# from a checkpoint written under different values of these.
_BOOKKEEPING = {
    "steps",
    "checkpoint_every",
    "keep_last",
    "log_every",
    "sample_every",
    "resume",
    "threads",
    "device",
}
SAMPLE_SEEDS = 4
SAMPLE_CAPTIONS = 8


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    steps: int
    resumed_from: int
    images_per_second: float
    final_losses: dict[str, float]


def run_signature(params: Params, paths: ProjectPaths) -> str:
    """What a checkpoint must match to be resumed: the computing settings and the exact data."""
    computing = params.train.model_dump(mode="json", exclude=_BOOKKEEPING)
    inputs = [sha256_file(paths.clean_manifest), sha256_file(paths.embeddings_dir / EMBEDDINGS_FILE)]
    payload = json.dumps([computing, section_hash(params.data, params.embed), inputs], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    return {prefix: value}


class _Window:
    """Averages of the losses since the last log, and throughput."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.images = 0
        self.started = time.perf_counter()

    def add(self, losses: StepLosses, images: int) -> None:
        for key, value in losses.as_metrics().items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        self.images += images

    def flush(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        out = {key: self.sums[key] / self.counts[key] for key in self.sums}
        out["images_per_second"] = self.images / elapsed
        self.__init__()
        return out


def _log_grid(trainer: Trainer, text: np.ndarray, step: int) -> None:
    import mlflow

    seeds = [s for _ in range(len(text)) for s in range(SAMPLE_SEEDS)]
    repeated = np.repeat(text, SAMPLE_SEEDS, axis=0)
    images = generate(trainer.ema, repeated, seeds)
    mlflow.log_image(image_grid(images, columns=SAMPLE_SEEDS * 2), artifact_file=f"samples/step_{step:07d}.png")


def _write_loss_log(paths: ProjectPaths, run_id: str) -> None:
    """metrics/train_log.csv from the run's metric history (the one record, whatever resumed when)."""
    import mlflow

    client = mlflow.MlflowClient()
    keys = ("loss_d", "loss_g", "ma_gp", "images_per_second")
    table: dict[int, dict[str, float]] = {}
    for key in keys:
        for metric in client.get_metric_history(run_id, key):
            table.setdefault(metric.step, {})[key] = metric.value
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", *keys])
    for step in sorted(table):
        writer.writerow([step, *(f"{table[step][k]:.6g}" if k in table[step] else "" for k in keys)])
    with atomic_path(paths.metrics_dir / "train_log.csv") as tmp:
        tmp.write_text(buffer.getvalue())


def _existing_run(paths: ProjectPaths, run_id: str | None) -> str | None:
    import mlflow

    if run_id is None:
        return None
    configure(paths)
    try:
        mlflow.MlflowClient().get_run(run_id)
        return run_id
    except mlflow.exceptions.MlflowException:
        log.warning("run %s of the checkpoint is not in the tracking store; logging to a new run", run_id)
        return None


def run(params: Params, paths: ProjectPaths) -> TrainResult:
    """Train in this process, or as one rank of a `torchrun` launch (then rank 0 does all the writing)."""
    cfg = params.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(resolve_device(cfg.device))
    world = init_world(device.type)
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    try:
        return _train(params, paths, device, world)
    finally:
        shutdown(world)


def _train(params: Params, paths: ProjectPaths, device: torch.device, world: World) -> TrainResult:
    import mlflow

    cfg = params.train
    data = TrainingSet.load(paths, "train")
    # ModelParams holds exactly GANConfig's architecture fields; the data fixes the rest.
    gan = GANConfig(image_size=int(data.store.shape[1]), text_dim=data.text_dim, **cfg.model.model_dump())
    trainer = Trainer(gan, cfg, device, world)
    checkpoints = CheckpointManager(paths.checkpoints_dir, cfg.keep_last)
    signature = run_signature(params, paths)
    resumed = checkpoints.latest(signature) if cfg.resume == "auto" else None
    start_step, run_id, init_source = 0, None, None
    if resumed is not None:
        path, state = resumed
        trainer.load_state_dict(state["trainer"])
        start_step = int(state["step"])
        init_source = state.get("init_from")
        run_id = _existing_run(paths, state.get("run_id")) if world.is_main else None
        log.info("resuming from %s (step %d of %d)", path.name, start_step, cfg.steps)
    elif paths.checkpoints_dir.exists() and world.is_main:
        shutil.rmtree(paths.checkpoints_dir)  # another configuration's checkpoints must not be resumed later
    barrier(world)
    initial = None
    if resumed is None and cfg.init_from:
        initial = load_initial_weights(cfg.init_from, paths)
        check_compatible(initial, gan, data.embeddings.fingerprint)
        trainer.start_from(initial)
        init_source = initial.resolved
        log.info("fine-tuning from %s (%s)", initial.requested, initial.resolved)

    grid_captions, grid_index = grid_rows(paths, SAMPLE_CAPTIONS)
    grid_text = data.embeddings.vectors[grid_index]
    sampler = BatchSampler(data, cfg.batch_size, cfg.seed, shard=world.rank, shards=world.size)
    info = DatasetInfo.read(paths)

    # Only rank 0 tracks and writes; the other ranks compute their share and keep in step.
    tracked = (
        start_run(paths, params.tracking.experiment, run_id=run_id, run_name=f"{info.name}-gan")
        if world.is_main
        else contextlib.nullcontext(None)
    )
    with tracked as ref:
        if world.is_main and run_id is None:
            mlflow.log_params(flatten("", params.model_dump(include={"data", "embed", "train"})))
            mlflow.set_tags({"dataset": info.name, "dataset.rows": info.rows, "stage": "train"})
            if initial is not None:
                mlflow.set_tags({"init_from": initial.requested, "init_from.resolved": initial.resolved})
            mlflow.log_dict(params.model_dump(mode="json"), "config/params.json")
            mlflow.log_dict({"captions": grid_captions}, "samples/captions.json")
            if paths.validation_report.is_file():
                mlflow.log_artifact(str(paths.validation_report), "validation")

        def save(step: int) -> None:
            if not world.is_main:
                return
            checkpoints.save(
                step,
                {
                    "step": step,
                    "signature": signature,
                    "run_id": ref.run_id,
                    "gan": gan.to_dict(),
                    "encoder_fingerprint": data.embeddings.fingerprint,
                    "init_from": init_source,
                    "trainer": trainer.state_dict(),
                },
            )

        window, throughput, last = _Window(), 0.0, None
        bar = tqdm(
            range(start_step, cfg.steps),
            desc="train",
            unit="step",
            initial=start_step,
            total=cfg.steps,
            disable=not world.is_main,
        )
        for step in bar:
            images, text = sampler.batch(step)
            try:
                last = trainer.step(step, images, text)
            except Exception:
                newest = checkpoints.newest_path()
                log.error("training stopped at step %d; last good checkpoint: %s", step, newest or "none")
                raise
            window.add(last, images.shape[0] * world.size)
            done = step + 1
            if (done % cfg.log_every == 0 or done == cfg.steps) and world.is_main:
                metrics = window.flush()
                metrics.update(
                    lr_g=trainer.opt_g.param_groups[0]["lr"], lr_d=trainer.opt_d.param_groups[0]["lr"]
                )
                throughput = metrics["images_per_second"]
                mlflow.log_metrics(metrics, step=done)
                bar.set_postfix(d=f"{last.d:.3f}", g=f"{last.g:.3f}", ips=f"{throughput:.0f}")
            if (done % cfg.sample_every == 0 or done == cfg.steps) and world.is_main:
                _log_grid(trainer, grid_text, done)
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save(done)
        bar.close()

        if not ranks_agree(trainer.ema, world):
            raise TrainingDiverged(f"the {world.size} ranks ended with different generator weights")
        if not world.is_main:
            return TrainResult("", cfg.steps, start_step, throughput, last.as_metrics() if last else {})
        with atomic_dir(paths.model_dir) as staging:
            encoder = json.loads((paths.embeddings_dir / ENCODER_FILE).read_text())
            save_generator(trainer.ema, staging, {"steps": cfg.steps, "encoder": encoder, "dataset": info.name})
            shutil.copy2(paths.embeddings_dir / ENCODER_FILE, staging / ENCODER_FILE)
            RunRef(ref.run_id, ref.experiment_id, ref.tracking_uri).write(staging)
        _write_loss_log(paths, ref.run_id)

    final = last.as_metrics() if last else {}
    result = TrainResult(ref.run_id, cfg.steps, start_step, throughput, final)
    write_json(
        paths.metrics("train"),
        {
            "steps": cfg.steps,
            "resumed_from": start_step,
            "images_per_second": round(throughput, 2),
            "processes": world.size,
            "init_from": init_source,
            **final,
        },
    )
    return result
