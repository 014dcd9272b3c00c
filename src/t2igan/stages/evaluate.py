"""Evaluate: FID and KID of the EMA generator against real test images, text alignment, and a report.

Text alignment is attribute accuracy read by a judge on held-out combinations for the synthetic set, and
R-precision for datasets without ground-truth attributes. Deterministic: captions and seeds are fixed by
`evaluate.seed`, so two evaluations of one checkpoint give the same numbers. What depends only on the data
(real-image features, the judge, the retrieval encoder) is cached by fingerprint, so evaluating another
checkpoint recomputes only the generated side. Outputs: metrics/eval.json (DVC metrics), artifacts/evaluate/
(report.md with samples.png and nearest.png); all of it is logged to the training run in MLflow.
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
from PIL import Image

from t2igan.config import EvaluateParams, Params, resolve_device
from t2igan.data.dataset import DatasetInfo
from t2igan.data.fixed_captions import grid_rows
from t2igan.data.manifest import read_manifest
from t2igan.data.store import open_store
from t2igan.errors import StageInputError
from t2igan.gan.export import WEIGHTS_FILE, load_generator
from t2igan.gan.sampling import generate, image_grid
from t2igan.io import atomic_dir, sha256_file, write_json, write_text
from t2igan.metrics.features import cache_key, cached_features
from t2igan.metrics.fid import frechet_distance, metric_name
from t2igan.metrics.inception import InceptionFeatures
from t2igan.metrics.judge import accuracy, encode_labels, load_judge, save_judge, train_judge
from t2igan.metrics.kid import kernel_inception_distance
from t2igan.metrics.memorization import nearest, side_by_side
from t2igan.metrics.report import ChampionFigures, ReportInputs, flatten, render
from t2igan.metrics.rprecision import load_encoder, r_precision, save_encoder, train_retrieval_encoder
from t2igan.paths import ProjectPaths
from t2igan.stages.embed import load_embeddings
from t2igan.tracking import continue_run

log = logging.getLogger(__name__)

INCEPTION_BATCH = 8  # small batches keep Inception's activations in cache: ~20% faster on CPU than 64
MEMORIZATION_BASELINE = 200  # generated and real test images whose nearest-training distances are compared


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
    manifest_sha: str
    store: np.ndarray
    generator: torch.nn.Module
    text: np.ndarray  # caption embeddings, one row per manifest row
    text_fingerprint: str
    generator_sha: str
    info: DatasetInfo

    @property
    def cfg(self) -> EvaluateParams:
        return self.params.evaluate

    def train_images(self) -> np.ndarray:
        index = np.unique(self.manifest.loc[self.manifest["split"] == "train", "store_index"].to_numpy())
        return self.store[index]


@dataclass(frozen=True)
class _Distances:
    metrics: dict[str, Any]
    real_images: np.ndarray  # the real test images the distances were measured against
    fake_images: np.ndarray
    real_cached: bool


def _distances(inputs: _Inputs, network: InceptionFeatures) -> _Distances:
    """FID and KID between generated images and real test images, over one Inception pass per side."""
    cfg, manifest = inputs.cfg, inputs.manifest
    rows = _pick_rows(manifest[manifest["split"] == "test"], cfg.fid_samples, cfg.seed, one_per_image=True)
    if len(rows) < 2:
        raise StageInputError(
            f"{inputs.paths.clean_manifest}: FID needs at least 2 test images, found {len(rows)}"
        )
    if len(rows) < cfg.fid_samples:
        log.warning("only %d test images for FID (asked for %d)", len(rows), cfg.fid_samples)
    count = len(rows)
    key = cache_key(
        kind="inception-features",
        manifest=inputs.manifest_sha,
        split="test",
        count=count,
        size=int(inputs.store.shape[1]),
        seed=cfg.seed,
        network=network.identity,
    )
    real_images = inputs.store[np.sort(rows["store_index"].to_numpy())]
    real, cached = cached_features(
        network, inputs.paths.cache_dir / "inception" / f"real-{key}.npy", lambda: _batches(real_images)
    )
    seeds = [cfg.seed + i for i in range(count)]
    text = inputs.text[rows.index.to_numpy()]
    fake_images = generate(inputs.generator, text, seeds, batch_size=cfg.batch_size)
    # Images depend only on (weights, caption, seed): evaluating the same checkpoint again (another report
    # setting, a forced rerun) reuses the generated side too. A new checkpoint always misses.
    generated_key = cache_key(
        kind="generated-features",
        generator=inputs.generator_sha,
        manifest=inputs.manifest_sha,
        rows=rows.index.tolist(),
        seeds=[seeds[0], count],
        network=network.identity,
    )
    fake, fake_cached = cached_features(
        network,
        inputs.paths.cache_dir / "inception" / f"generated-{generated_key}.npy",
        lambda: _batches(fake_images),
    )
    fid_name, kid_name = metric_name(count), metric_name(count, "kid")
    kid, kid_std = kernel_inception_distance(real, fake, cfg.kid_subsets, cfg.kid_subset_size, cfg.seed)
    metrics = {
        "fid_name": fid_name,
        fid_name: frechet_distance(real, fake),
        "kid_name": kid_name,
        kid_name: kid,
        f"{kid_name}_std": kid_std,
        "inception": network.identity,
        "real_features_cached": cached,
        "generated_features_cached": fake_cached,
    }
    return _Distances(metrics, real_images, fake_images, cached)


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


def _confusion(
    predicted: dict[str, np.ndarray], labels: dict[str, np.ndarray], vocab: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    tables = {}
    for name, values in vocab.items():
        counts = np.zeros((len(values), len(values)), dtype=np.int64)
        np.add.at(counts, (labels[name], predicted[name]), 1)
        tables[name] = {"values": list(values), "counts": counts.tolist()}
    return tables


@dataclass(frozen=True)
class _Alignment:
    metrics: dict[str, Any]
    confusion: dict[str, dict[str, Any]]


def _attribute_alignment(inputs: _Inputs) -> _Alignment:
    """Per-attribute accuracy of generated images, as read by the judge, and the judge's own ceiling."""
    cfg, manifest, store = inputs.cfg, inputs.manifest, inputs.store
    vocab = inputs.info.extra.get("attributes")
    if not vocab:
        return _Alignment({}, {})
    attrs = manifest["attributes"].map(json.loads)
    judge_train, heldout_scored = _judge_rows(manifest)
    judge_key = cache_key(
        manifest=inputs.manifest_sha, judge=cfg.judge.model_dump(), vocab=vocab, rows="train+heldout/2"
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
        save_judge(judge, judge_path)

    out: dict[str, Any] = {}
    confusion: dict[str, dict[str, Any]] = {}
    for label, pool in {"heldout": heldout_scored, "seen": manifest[manifest["split"] == "test"]}.items():
        rows = _pick_rows(pool, cfg.alignment_samples, cfg.seed + 1, one_per_image=False)
        if rows.empty:
            continue
        labels = encode_labels(attrs[rows.index].tolist(), vocab)
        seeds = [cfg.seed + 100_000 + i for i in range(len(rows))]
        fake = generate(inputs.generator, inputs.text[rows.index.to_numpy()], seeds, batch_size=cfg.batch_size)
        predicted = judge.predict(fake)
        out[f"attr_acc_{label}"] = accuracy(predicted, labels)
        out[f"judge_ceiling_{label}"] = accuracy(judge.predict(store[rows["store_index"].to_numpy()]), labels)
        if label == "heldout":
            confusion = _confusion(predicted, labels, vocab)
    if "attr_acc_heldout" in out:
        out["alignment"] = out["attr_acc_heldout"]["mean"]
    return _Alignment(out, confusion)


def _retrieval_wanted(inputs: _Inputs) -> bool:
    enabled = inputs.cfg.retrieval.enabled
    return enabled == "always" or (enabled == "auto" and not inputs.info.extra.get("attributes"))


def _retrieval_alignment(inputs: _Inputs) -> dict[str, Any]:
    """R-precision of generated test-caption images, with an encoder trained on the training split."""
    cfg, rcfg, manifest, store = inputs.cfg, inputs.cfg.retrieval, inputs.manifest, inputs.store
    train = manifest[manifest["split"] == "train"]
    test = manifest[manifest["split"] == "test"]
    if train["store_index"].nunique() < 2 or test["store_index"].nunique() < 2:
        log.warning("R-precision needs at least 2 training and 2 test images; skipped")
        return {}
    training_key = rcfg.model_dump(exclude={"enabled", "candidates", "rounds"})
    key = cache_key(
        kind="retrieval-encoder",
        manifest=inputs.manifest_sha,
        text=inputs.text_fingerprint,
        size=int(store.shape[1]),
        params=training_key,
    )
    path = inputs.paths.cache_dir / "retrieval" / f"{key}.safetensors"
    if path.is_file():
        encoder = load_encoder(path)
    else:
        started = time.perf_counter()
        images, image_of_caption = np.unique(train["store_index"].to_numpy(), return_inverse=True)
        encoder = train_retrieval_encoder(
            store[images], image_of_caption, inputs.text[train.index.to_numpy()], rcfg
        )
        log.info("trained the R-precision image encoder in %.1fs", time.perf_counter() - started)
        save_encoder(encoder, path, rcfg.width)

    rows = _pick_rows(test, cfg.alignment_samples, cfg.seed + 2, one_per_image=True)
    position = {row: i for i, row in enumerate(test.index)}
    true_caption = np.array([position[row] for row in rows.index])
    seeds = [cfg.seed + 200_000 + i for i in range(len(rows))]
    fake = generate(inputs.generator, inputs.text[rows.index.to_numpy()], seeds, batch_size=cfg.batch_size)
    scores = {}
    for label, images in {"generated": fake, "real": store[rows["store_index"].to_numpy()]}.items():
        scores[label] = r_precision(
            encoder.embed(images),
            true_caption,
            caption_image=test["store_index"].to_numpy(),
            image_id=rows["store_index"].to_numpy(),
            text=inputs.text[test.index.to_numpy()],
            candidates=rcfg.candidates,
            rounds=rcfg.rounds,
            seed=rcfg.seed,
        )
    return {
        "r_precision": scores["generated"][0],
        "r_precision_std": scores["generated"][1],
        "r_precision_ceiling": scores["real"][0],
        "r_precision_candidates": min(rcfg.candidates, len(test)),
    }


@dataclass(frozen=True)
class _Memorization:
    metrics: dict[str, Any]
    picture: np.ndarray | None
    distances: list[float]


def _memorization(inputs: _Inputs, samples: np.ndarray, distances: _Distances) -> _Memorization:
    """Nearest training images of a few samples, and how close samples sit to training images overall."""
    train = inputs.train_images()
    if len(train) == 0:
        return _Memorization({}, None, [])
    count = min(MEMORIZATION_BASELINE, len(distances.fake_images), len(distances.real_images))
    _, fake_distance = nearest(train, distances.fake_images[:count])
    _, real_distance = nearest(train, distances.real_images[:count])
    fake_median, real_median = float(np.median(fake_distance)), float(np.median(real_distance))
    metrics = {"nn_distance_generated": fake_median, "nn_distance_real": real_median}
    if real_median > 0:  # zero only for a test set that duplicates training images
        metrics["memorization_ratio"] = fake_median / real_median
    if len(samples) == 0:
        return _Memorization(metrics, None, [])
    index, sample_distance = nearest(train, samples)
    return _Memorization(metrics, side_by_side(samples, train[index]), [float(d) for d in sample_distance])


def _champion_figures(params: Params, paths: ProjectPaths) -> ChampionFigures | None:
    """The current champion's evaluation figures, from its training run; None without a champion."""
    import mlflow

    from t2igan.registry.promotion import current_champion
    from t2igan.tracking import configure

    configure(paths)
    client = mlflow.MlflowClient()
    try:
        champion = current_champion(client, params.registry.model_name)
        if champion is None:
            return None
        run = client.get_run(champion.run_id)
    except mlflow.exceptions.MlflowException as exc:
        log.warning("could not read the champion's figures: %s", exc)
        return None
    return ChampionFigures(str(champion.version), champion.run_id, dict(run.data.metrics))


def _load_inputs(params: Params, paths: ProjectPaths) -> _Inputs:
    device = resolve_device(params.evaluate.device)
    manifest = read_manifest(paths.clean_manifest).reset_index(drop=True)
    store = open_store(paths.image_store)
    embeddings = load_embeddings(paths, expected_rows=len(manifest))
    generator, meta = load_generator(paths.model_dir, device=device)
    if meta["encoder"]["fingerprint"] != embeddings.fingerprint:
        raise StageInputError(
            f"{paths.model_dir}: the generator was trained on another encoder's embeddings; retrain it"
        )
    return _Inputs(
        params=params,
        paths=paths,
        manifest=manifest,
        manifest_sha=sha256_file(paths.clean_manifest),
        store=store,
        generator=generator,
        text=embeddings.vectors,
        text_fingerprint=embeddings.fingerprint,
        generator_sha=sha256_file(paths.model_dir / WEIGHTS_FILE),
        info=DatasetInfo.read(paths),
    )


def evaluate(params: Params, paths: ProjectPaths) -> tuple[dict[str, Any], ReportInputs, dict[str, Any]]:
    """Compute every figure; return (metrics, the report's inputs, pictures by file name)."""
    cfg = params.evaluate
    inputs = _load_inputs(params, paths)
    started = time.perf_counter()
    network = InceptionFeatures(cfg.inception, device=resolve_device(cfg.device))
    distances = _distances(inputs, network)
    metrics: dict[str, Any] = dict(distances.metrics)
    attribute = _attribute_alignment(inputs)
    metrics.update(attribute.metrics)
    if _retrieval_wanted(inputs):
        metrics.update(_retrieval_alignment(inputs))
        if "alignment" not in metrics and "r_precision" in metrics:
            metrics["alignment"] = metrics["r_precision"]

    captions, index = grid_rows(paths, cfg.grid_captions)
    seeds = [cfg.seed + s for _ in captions for s in range(cfg.grid_seeds)]
    grid_images = generate(inputs.generator, np.repeat(inputs.text[index], cfg.grid_seeds, axis=0), seeds)
    first_per_caption = grid_images[:: cfg.grid_seeds][: cfg.memorization_samples]
    memorization = _memorization(inputs, first_per_caption, distances)
    metrics.update(memorization.metrics)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)

    pictures: dict[str, Any] = {"samples.png": image_grid(grid_images, columns=cfg.grid_seeds)}
    if memorization.picture is not None:
        pictures["nearest.png"] = Image.fromarray(memorization.picture)
    report = ReportInputs(
        metrics=metrics,
        grid_captions=captions,
        champion=_champion_figures(params, paths),
        confusion=attribute.confusion,
        nearest_distances=memorization.distances,
        nearest_captions=captions[: len(memorization.distances)],
    )
    return metrics, report, pictures


def run(params: Params, paths: ProjectPaths) -> EvalResult:
    import mlflow

    cfg = params.evaluate
    metrics, report, pictures = evaluate(params, paths)
    with atomic_dir(paths.eval_dir) as staging:
        for name, picture in pictures.items():
            picture.save(staging / name)
        write_text(staging / "report.md", render(report))
        write_json(staging / "confusion.json", report.confusion)
        write_json(
            staging / "captions.json", {"captions": report.grid_captions, "seeds_per_caption": cfg.grid_seeds}
        )
    write_json(paths.metrics("eval"), metrics)

    with continue_run(paths, params.tracking.experiment):
        mlflow.log_metrics(flatten(metrics))
        mlflow.log_artifacts(str(paths.eval_dir), "evaluation")
        mlflow.log_dict(metrics, "evaluation/eval.json")
        # Params are immutable in a run and evaluation may be repeated with other settings: log them as a file.
        mlflow.log_dict(cfg.model_dump(mode="json"), "evaluation/params.json")
    fid_name, kid_name = metrics["fid_name"], metrics["kid_name"]
    log.info(
        "%s = %.3f, %s = %.4f ± %.4f%s",
        fid_name,
        metrics[fid_name],
        kid_name,
        metrics[kid_name],
        metrics[f"{kid_name}_std"],
        f", alignment = {metrics['alignment']:.3f}" if "alignment" in metrics else "",
    )
    return EvalResult(metrics)
