"""Image store benchmark: training batches from the memory-mapped store against decoding files per step.

In one run: batches of 32 at the training size (32x32), read with t2igan's sampler from the store, against the
naive loader a training script would otherwise use (open each file with Pillow, convert to RGB, center-crop,
resize, stack) on the same images: the synthetic PNGs, and photo JPEGs (scikit-image's samples at their
sizes, several hundred files). Goal: at least 20x.

Usage: python bench/bench_store.py [--steps 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from _project import project, run_stages
from t2igan.data.images import center_crop_resize
from t2igan.training.data import BatchSampler, TrainingSet

BATCH = 32


def pillow_batch(files: list[Path], index: np.ndarray, size: int) -> torch.Tensor:
    arrays = [center_crop_resize(Image.open(files[i]).convert("RGB"), size) for i in index]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def compare(label: str, paths, files: list[Path], steps: int) -> None:
    data = TrainingSet.load(paths, "train")
    sampler = BatchSampler(data, BATCH, seed=0)
    positions = [sampler.positions(step) for step in range(steps)]
    sampler.batch(0)
    pillow_batch(files, data.store_index[positions[0]], data.store.shape[1])

    started = time.perf_counter()
    for step in range(steps):
        sampler.batch(step)
    store_s = time.perf_counter() - started
    started = time.perf_counter()
    for step in range(steps):
        pillow_batch(files, data.store_index[positions[step]], data.store.shape[1])
    pillow_s = time.perf_counter() - started
    print(
        f"{label:30s} store {steps * BATCH / store_s:9.0f} images/s   Pillow per step "
        f"{steps * BATCH / pillow_s:7.0f} images/s   ratio {pillow_s / store_s:6.1f}x  (goal >= 20x)"
    )


def store_files(paths) -> list[Path]:
    """The image file behind each store row, in store order."""
    import pandas as pd

    from t2igan.data.dataset import DatasetInfo

    clean = pd.read_parquet(paths.clean_manifest).drop_duplicates("store_index").sort_values("store_index")
    root = DatasetInfo.read(paths).root_path(paths)
    return [root / p for p in clean["image_path"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    paths, params = project(
        {"data": {"synthetic": {"num_train": 2000, "num_test": 100, "num_heldout": 50}}}, "store-synthetic"
    )
    run_stages(params, paths, "ingest", "validate", "embed")
    compare("synthetic 64px PNG -> 32px", paths, store_files(paths), args.steps)

    from skimage import data as samples

    photo_dir = paths.root / "photos"
    photo_dir.mkdir()
    names = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "camera"]
    lines = []
    for i in range(420):
        name = names[i % len(names)]
        target = photo_dir / f"{i:04d}.jpg"
        if i < len(names):
            Image.fromarray(getattr(samples, name)()).convert("RGB").save(target, quality=90)
        else:
            target.write_bytes((photo_dir / f"{i % len(names):04d}.jpg").read_bytes())
        lines.append(f"photo {i} of {name}\t{target.name}")
    (photo_dir / "captions.tsv").write_text("\n".join(lines) + "\n")
    photos, photo_params = project(
        {"data": {"source": "tsv", "path": str(photo_dir / "captions.tsv"), "test_fraction": 0.05}},
        "store-photos",
    )
    run_stages(photo_params, photos, "ingest", "validate", "embed")
    compare("photo JPEGs (300-1400px) -> 32px", photos, store_files(photos), max(5, args.steps // 5))


if __name__ == "__main__":
    main()
