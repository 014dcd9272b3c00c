"""Evaluate: FID of the EMA generator against real test images, and attribute accuracy on held-out combos.

Deterministic: the captions and seeds are fixed by `evaluate.seed`, so two evaluations of one checkpoint give
the same numbers. Outputs: metrics/eval.json (DVC metrics), artifacts/evaluate/ (sample grid, report); the
same figures and files are logged to the training run in MLflow.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from t2igan.config import Params, resolve_device
from t2igan.data.dataset import DatasetInfo
from t2igan.data.fixed_captions import grid_rows
from t2igan.data.manifest import read_manifest
from t2igan.data.store import open_store
from t2igan.errors import StageInputError
from t2igan.gan.export import load_generator
from t2igan.gan.sampling import generate, image_grid
from t2igan.io import atomic_dir, sha256_file, write_json, write_text
from t2igan.metrics.fid import FID, metric_name, stats_key
from t2igan.metrics.inception import InceptionFeatures
from t2igan.metrics.judge import accuracy, encode_labels, load_judge, save_judge, train_judge
from t2igan.paths import ProjectPaths
from t2igan.stages.embed import load_embeddings
from t2igan.tracking import continue_run

log = logging.getLogger(__name__)

INCEPTION_BATCH = 8  # small batches keep Inception's activations in cache: ~20% faster on CPU than 64


@dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, Any]


def _pick_rows(rows: pd.DataFrame, count: int, seed: int, one_per_image: bool) -> pd.DataFrame:
    """A fixed sample of `rows` (the same for the same seed), sorted by image."""
    if one_per_image:  # one caption per image, chosen by the seed
        rows = rows.sample(frac=1.0, random_state=seed).drop_duplicates("store_index")
    rows = rows.sort_values("store_index", kind="stable")
    if len(rows) > count:
        rows = rows.sample(n=count, random_state=seed).sort_values("store_index", kind="stable")
    return rows


def _batches(array: np.ndarray, size: int = INCEPTION_BATCH):
    for start in range(0, len(array), size):
        yield array[start : start + size]


@dataclass(frozen=True)
class _Inputs:
    """Everything one evaluation reads, loaded once."""

    params: Params
    paths: ProjectPaths
    manifest: pd.DataFrame  # clean manifest, index = embedding row
    store: np.ndarray
    generator: torch.nn.Module
    text: np.ndarray  # caption embeddings, one row per manifest row
    info: DatasetInfo


def _fid(inputs: _Inputs) -> tuple[str, float, bool]:
    """(metric name, FID, whether the real statistics came from the cache)."""
    cfg, manifest = inputs.params.evaluate, inputs.manifest
    rows = _pick_rows(manifest[manifest["split"] == "test"], cfg.fid_samples, cfg.seed, one_per_image=True)
    if len(rows) < 2:
        raise StageInputError(
            f"{inputs.paths.clean_manifest}: FID needs at least 2 test images, found {len(rows)}"
        )
    if len(rows) < cfg.fid_samples:
        log.warning("only %d test images for FID (asked for %d)", len(rows), cfg.fid_samples)
    count = len(rows)
    features = InceptionFeatures(device=resolve_device(cfg.device))
    fid = FID(features)
    key = stats_key(
        manifest=sha256_file(inputs.paths.clean_manifest),
        split="test",
        count=count,
        size=int(inputs.store.shape[1]),
        seed=cfg.seed,
        network=features.identity,
    )
    real_images = inputs.store[np.sort(rows["store_index"].to_numpy())]
    cached = fid.load_or_add_real(inputs.paths.cache_dir / "fid" / f"{key}.pt", _batches(real_images))
    seeds = [cfg.seed + i for i in range(count)]
    fake = generate(inputs.generator, inputs.text[rows.index.to_numpy()], seeds, batch_size=cfg.batch_size)
    fid.add(_batches(fake), real=False)
    return metric_name(count), fid.compute(), cached


def _judge_rows(manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows the judge trains on, held-out rows it is scored on).

    The judge must know every color-shape combination, or it reads shape from color and its verdict on
    held-out combinations means little. So it trains on the training images plus every other held-out image
    (the generator never sees any of them), and its ceiling is measured on the held-out images it did not see.
    """
    images = manifest.drop_duplicates("store_index").sort_values("store_index", kind="stable")
    heldout = images[images["split"] == "heldout"]
    judge_heldout = heldout.iloc[::2]
    train = pd.concat([images[images["split"] == "train"], judge_heldout])
    scored = manifest[
        (manifest["split"] == "heldout") & ~manifest["store_index"].isin(judge_heldout["store_index"])
    ]
    return train, scored


def _alignment(inputs: _Inputs) -> dict[str, Any]:
    """Per-attribute accuracy of generated images, as read by the judge, and the judge's own ceiling."""
    cfg, manifest, store = inputs.params.evaluate, inputs.manifest, inputs.store
    vocab = inputs.info.extra.get("attributes")
    if not vocab:
        return {}
    attrs = manifest["attributes"].map(json.loads)
    judge_train, heldout_scored = _judge_rows(manifest)
    judge_key = stats_key(
        manifest=sha256_file(inputs.paths.clean_manifest),
        judge=cfg.judge.model_dump(),
        vocab=vocab,
        rows="train+heldout/2",
    )
    judge_path = inputs.paths.cache_dir / "judge" / f"{judge_key}.safetensors"
    if judge_path.is_file():
        judge = load_judge(judge_path)
    else:
        started = time.perf_counter()
        judge = train_judge(
            store[judge_train["store_index"].to_numpy()],
            encode_labels(attrs[judge_train.index].tolist(), vocab),
            vocab,
            cfg.judge,
        )
        log.info("trained the attribute judge in %.1fs", time.perf_counter() - started)
        judge_path.parent.mkdir(parents=True, exist_ok=True)
        save_judge(judge, judge_path)

    out: dict[str, Any] = {}
    for label, pool in {"heldout": heldout_scored, "seen": manifest[manifest["split"] == "test"]}.items():
        rows = _pick_rows(pool, cfg.alignment_samples, cfg.seed + 1, one_per_image=False)
        if rows.empty:
            continue
        labels = encode_labels(attrs[rows.index].tolist(), vocab)
        seeds = [cfg.seed + 100_000 + i for i in range(len(rows))]
        fake = generate(inputs.generator, inputs.text[rows.index.to_numpy()], seeds, batch_size=cfg.batch_size)
        out[f"attr_acc_{label}"] = accuracy(judge.predict(fake), labels)
        out[f"judge_ceiling_{label}"] = accuracy(judge.predict(store[rows["store_index"].to_numpy()]), labels)
    return out


def _report(metrics: dict[str, Any], captions: list[str]) -> str:
    lines = ["# Evaluation", "", f"- {metrics['fid_name']}: {metrics[metrics['fid_name']]:.3f}"]
    if "alignment" in metrics:
        lines.append(
            f"- alignment (mean attribute accuracy, held-out combinations): {metrics['alignment']:.3f}"
        )
    for key in ("attr_acc_heldout", "attr_acc_seen", "judge_ceiling_heldout", "judge_ceiling_seen"):
        if key in metrics:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in metrics[key].items())
            lines.append(f"- {key}: {scores}")
    lines += ["", "## Samples", "", "![samples](samples.png)", "", "Rows, top to bottom:", ""]
    lines += [f"{i + 1}. {caption}" for i, caption in enumerate(captions)]
    return "\n".join(lines) + "\n"


def _mlflow_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{key}/{k}": float(v) for k, v in value.items()})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[key] = float(value)
    return flat


def run(params: Params, paths: ProjectPaths) -> EvalResult:
    import mlflow

    cfg = params.evaluate
    device = resolve_device(cfg.device)
    manifest = read_manifest(paths.clean_manifest).reset_index(drop=True)
    store = open_store(paths.image_store)
    embeddings = load_embeddings(paths, expected_rows=len(manifest))
    generator, meta = load_generator(paths.model_dir, device=device)
    if meta["encoder"]["fingerprint"] != embeddings.fingerprint:
        raise StageInputError(
            f"{paths.model_dir}: the generator was trained on another encoder's embeddings; retrain it"
        )
    info = DatasetInfo.read(paths)
    text = embeddings.vectors

    started = time.perf_counter()
    inputs = _Inputs(params, paths, manifest, store, generator, text, info)
    fid_name, fid_value, cached = _fid(inputs)
    metrics: dict[str, Any] = {"fid_name": fid_name, fid_name: fid_value, "fid_real_stats_cached": cached}
    metrics.update(_alignment(inputs))
    if "attr_acc_heldout" in metrics:
        metrics["alignment"] = metrics["attr_acc_heldout"]["mean"]
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)

    captions, index = grid_rows(paths, cfg.grid_captions)
    seeds = [cfg.seed + s for _ in captions for s in range(max(cfg.grid_seeds, 1))]
    grid = image_grid(
        generate(generator, np.repeat(text[index], cfg.grid_seeds, axis=0), seeds), columns=cfg.grid_seeds
    )
    with atomic_dir(paths.eval_dir) as staging:
        grid.save(staging / "samples.png")
        write_text(staging / "report.md", _report(metrics, captions))
        write_json(staging / "captions.json", {"captions": captions, "seeds_per_caption": cfg.grid_seeds})
    write_json(paths.metrics("eval"), metrics)

    with continue_run(paths, params.tracking.experiment):
        mlflow.log_metrics(_mlflow_metrics(metrics))
        mlflow.log_artifacts(str(paths.eval_dir), "evaluation")
        mlflow.log_dict(metrics, "evaluation/eval.json")
        # Params are immutable in a run and evaluation may be repeated with other settings: log them as a file.
        mlflow.log_dict(cfg.model_dump(mode="json"), "evaluation/params.json")
    log.info(
        "%s = %.3f%s",
        fid_name,
        fid_value,
        f", alignment = {metrics['alignment']:.3f}" if "alignment" in metrics else "",
    )
    return EvalResult(metrics)
