"""Data beyond one machine, measured: parallel data stages, the streaming feed, and training memory.

In one run, on this machine:
1. ingest + validate of a WebDataset (photo JPEGs, 512 px, in shards of 500) with `data.workers` 1 and 2:
   images/s of the two stages together, and the ratio (goal: >= 1.7x on 2 cores);
2. training batches at 64x64 (batch 32) from the sharded store's stream against the memory-mapped store's,
   and against what a default training step consumes (images/s of `t2igan train`'s step at 64x64);
3. peak RSS of `t2igan train` (a child process, 30 steps) on sharded stores of 10k and 100k images
   (goal: flat, the ratio about 1).

Usage: python bench/bench_data.py [--images 6000] [--small 10000] [--large 100000]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _project import peak_rss_gib, project, run_stages
from t2igan.config import StreamParams
from t2igan.training.data import BatchSampler, TrainingSet
from t2igan.training.stream import StreamingSampler
from tests.support.shards import write_tar

BATCH = 32


def photo_shards(directory: Path, count: int, per_shard: int = 500, side: int = 512) -> None:
    """`count` distinct JPEGs: random crops of scikit-image's photos, with a caption each."""
    from skimage import data as samples

    photos = [np.asarray(getattr(samples, name)()) for name in ("astronaut", "chelsea", "coffee", "rocket")]
    photos = [p if p.ndim == 3 else np.stack([p] * 3, -1) for p in photos]
    rng = np.random.default_rng(0)
    members: list[tuple[str, bytes]] = []
    for number in range(count):
        photo = photos[number % len(photos)]
        top, left = (int(rng.integers(0, max(1, s - side // 2))) for s in photo.shape[:2])
        crop = Image.fromarray(photo[top : top + side, left : left + side]).resize((side, side))
        buffer = io.BytesIO()
        crop.save(buffer, format="JPEG", quality=90)
        key = f"{number:07d}"
        members += [
            (f"{key}.jpg", buffer.getvalue()),
            (f"{key}.txt", f"photo {number} of {photo.shape}".encode()),
        ]
        if (number + 1) % per_shard == 0 or number + 1 == count:
            write_tar(directory / f"{number // per_shard:05d}.tar", members)
            members = []


def parallel_stages(images: int) -> None:
    paths, _ = project({}, "data-shards")
    shards = paths.root / "shards"
    photo_shards(shards, images)
    seconds = {}
    for workers in (1, 2):
        data = {
            "name": "photos",
            "source": "webdataset",
            "path": str(shards),
            "store": "shards",
            "workers": workers,
        }
        run_paths, params = project({"data": {**data, "image_size": 64}}, f"data-w{workers}")
        started = time.perf_counter()
        run_stages(params, run_paths, "ingest", "validate")
        seconds[workers] = time.perf_counter() - started
    for workers, took in seconds.items():
        print(
            f"ingest+validate, {images} JPEGs 512px -> 64px, {workers} worker(s): {images / took:7.1f} images/s"
        )
    print(f"2 workers / 1 worker: {seconds[1] / seconds[2]:.2f}x  (goal >= 1.7x on 2 cores)")


def feeds(steps: int) -> None:
    synthetic = {"num_train": 4000, "num_test": 200, "num_heldout": 100, "resolution": 64}
    rates = {}
    for store in ("array", "shards"):
        paths, params = project(
            {"data": {"image_size": 64, "store": store, "synthetic": synthetic}}, f"feed-{store}"
        )
        run_stages(params, paths, "ingest", "validate", "embed")
        data = TrainingSet.load(paths, "train")
        samplers: dict[str, BatchSampler] = {"array": BatchSampler(data, BATCH, seed=0)}
        if store == "shards":
            samplers = {
                "shards, in process": StreamingSampler(data, BATCH, 0, StreamParams()),
                "shards, 1 loader worker": StreamingSampler(data, BATCH, 0, StreamParams(loader_workers=1)),
            }
        for label, sampler in samplers.items():
            sampler.batch(0)
            started = time.perf_counter()
            for step in range(1, steps + 1):
                sampler.batch(step)
            rates[label] = steps * BATCH / (time.perf_counter() - started)
        if store == "array":
            step_paths, step_params = paths, params
    train = {"steps": 20, "log_every": 10, "sample_every": 20, "checkpoint_every": 20, "batch_size": BATCH}
    step_params = step_params.model_copy(update={"train": step_params.train.model_copy(update=train)})
    run_stages(step_params, step_paths, "train")
    consumed = json.loads(step_paths.metrics("train").read_text())["images_per_second"]
    for label, rate in rates.items():
        share = rate / consumed
        print(f"feed at 64x64, batch {BATCH}, {label:24s}: {rate:8.0f} images/s  ({share:6.1f}x the step)")
    print(f"training step at 64x64 (default model), batch {BATCH}: {consumed:.0f} images/s")
    print(f"stream / memory-mapped store: {rates['shards, in process'] / rates['array']:.2f}x")


def peak_rss(images: int, steps: int) -> float:
    """GiB: `t2igan train` on a sharded store of `images` synthetic images, in a child process."""
    synthetic = {
        "num_train": images,
        "num_test": 200,
        "num_heldout": 100,
        "resolution": 32,
        "captions_per_image": 1,
    }
    train = {"steps": steps, "sample_every": steps, "checkpoint_every": steps, "log_every": steps}
    paths, params = project(
        {"data": {"store": "shards", "shard_samples": 1000, "synthetic": synthetic}, "train": train},
        f"rss{images}",
    )
    run_stages(params, paths, "ingest", "validate", "embed")
    return peak_rss_gib(paths, "train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["stages", "feed", "rss"])
    args = parser.parse_args()
    if "stages" not in args.skip:
        parallel_stages(args.images)
    if "feed" not in args.skip:
        feeds(args.steps)
    if "rss" not in args.skip:
        small, large = peak_rss(args.small, 30), peak_rss(args.large, 30)
        where = f"{small:.2f} GiB at {args.small} images, {large:.2f} GiB at {args.large}"
        print(f"t2igan train, sharded store: peak RSS {where}")
        print(f"peak RSS, {args.large // args.small}x data / 1x data: {large / small:.2f}  (goal: about 1)")


if __name__ == "__main__":
    main()
