"""Training speed against DF-GAN's own step and against the machine's convolution throughput; training memory.

    python bench/bench_train.py                  # CPU: 64x64, nf=32, batch 32; then peak RSS (default config)
    python bench/bench_train.py --device cuda --sizes 64 256 --skip-rss      # GPU, bf16 autocast

Everything is measured in this run. The baseline is the DF-GAN training step as published (no normalisation in
G's fusion blocks, D's residual gates starting at 0, MA-GP on every step, float32, NCHW) run by the same
trainer at the same size, widths and batch, alternating D and G updates; t2igan's step is the default
configuration (lazy MA-GP every 4 steps, channels_last, the contrastive head, and on CUDA bf16 autocast); the
fast step adds simultaneous updates (G's gradient from D's own pass over the fakes: one D forward fewer) and
MA-GP every 16 steps, StyleGAN2's R1 interval (README: what is known of its sample quality). Each is timed in
alternating rounds so that a busy machine slows both alike, and the median round counts.

FLOPs are counted with torch.utils.flop_counter over `gp_every` consecutive steps (so the lazy penalty is
averaged in), and the achieved FLOP/s is set against a large convolution (N=32, 256->256 channels, 32x32,
3x3) timed here in the step's precision; on CUDA also against a large bf16 matrix product (8192^3).

Memory: `t2igan train` on the default config in a child process, once on a dataset 4x the size of the other;
the child's peak RSS for each (goal: under 3 GiB, and not growing with the dataset: the image store is
memory-mapped and batches are read per step).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _project  # noqa: F401  (puts the repository root on the path)
from t2igan.config import ModelParams, TrainParams
from t2igan.gan.architecture import GANConfig
from t2igan.training.trainer import Trainer
from tests.support.dfgan import use_published_order

TEXT_DIM = 384  # all-MiniLM-L6-v2
DF_GAN_REFERENCE_IMAGES_PER_SECOND = 22.0  # the figure for DF-GAN's step on a machine like this one


class _GlobalOnly:
    """Stands in for FlopCounterMode's per-module tracker, which cannot follow autograd.grad (MA-GP's pass)."""

    parents: ClassVar[set[str]] = {"Global"}

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def flop_counter() -> FlopCounterMode:
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()  # totals only; that is all this benchmark reads
    return counter


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Seconds per call: median of `repeats` calls after two warm-ups."""
    for _ in range(2):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_ceiling(device: torch.device, dtype: torch.dtype, repeats: int) -> float:
    """FLOP/s of a large 3x3 convolution (N=32, 256->256, 32x32), NHWC, in the step's precision."""
    x = torch.randn(32, 256, 32, 32, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    seconds = _timed(lambda: torch.nn.functional.conv2d(x, w, padding=1), device, repeats)
    return 2 * 32 * 256 * 256 * 9 * 32 * 32 / seconds


def matmul_ceiling(device: torch.device, repeats: int) -> float:
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    seconds = _timed(lambda: a @ b, device, repeats)
    return 2 * 8192**3 / seconds


@dataclass
class StepSetup:
    label: str
    gan: GANConfig
    params: TrainParams
    published_order: bool = False  # G upsamples before its first fusion, D pools after its shortcut conv


def setups(size: int, precision: str, compile_: bool) -> list[StepSetup]:
    published = ModelParams(
        nf=32,
        d_nf=32,
        g_norm="none",
        d_gate_init=0.0,
        d_projection=False,
        text_in_seed=False,
        contrastive_dim=0,
    )
    df_gan = GANConfig.build(published, image_size=size, text_dim=TEXT_DIM)
    ours = GANConfig.build(ModelParams(nf=32, d_nf=32), image_size=size, text_dim=TEXT_DIM)  # the defaults
    df_gan_params = TrainParams(
        batch_size=32,
        gp_every=1,
        updates="alternating",
        channels_last=False,
        precision="float32",
        contrastive_weight=0.0,
    )
    ours_params = TrainParams(batch_size=32, precision=precision, compile=compile_)
    fast_params = ours_params.model_copy(update={"updates": "simultaneous", "gp_every": 16})
    return [
        StepSetup("DF-GAN step (baseline)", df_gan, df_gan_params, published_order=True),
        StepSetup("t2igan step", ours, ours_params),
        StepSetup("t2igan fast step", ours, fast_params),
    ]


class StepRunner:
    def __init__(self, setup: StepSetup, device: torch.device) -> None:
        self.setup = setup
        self.device = device
        self.trainer = Trainer(setup.gan, setup.params, device)
        if setup.published_order:
            use_published_order(self.trainer)
        generator = torch.Generator().manual_seed(0)
        size, batch = setup.gan.image_size, setup.params.batch_size
        self.images = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
        self.text = torch.randn(batch, TEXT_DIM, generator=generator)
        self.step = 0
        self.period = max(1, setup.params.gp_every)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.trainer.step(self.step, self.images, self.text)
            self.step += 1

    def flops_per_step(self) -> float:
        """Counted on an eager twin (torch.compile changes how, not what, is computed)."""
        params = self.setup.params.model_copy(update={"compile": False})
        twin = StepRunner(
            StepSetup(self.setup.label, self.setup.gan, params, self.setup.published_order), self.device
        )
        twin.run(1)  # lazily built state (optimizer moments) out of the count
        with flop_counter() as counter:
            twin.run(self.period)
        return counter.get_total_flops() / self.period


def compare_steps(
    size: int, device: torch.device, precision: str, compile_: bool, rounds: int, steps_per_round: int
) -> list[dict[str, float | str]]:
    runners = [StepRunner(setup, device) for setup in setups(size, precision, compile_)]
    for runner in runners:  # warm-up, and torch.compile's compilation, outside the timing
        runner.run(2 * runner.period)
        _sync(device)
    seconds: dict[str, list[float]] = {r.setup.label: [] for r in runners}
    for _ in range(rounds):
        for runner in runners:
            steps = -(-steps_per_round // runner.period) * runner.period  # whole penalty periods per round
            start = time.perf_counter()
            runner.run(steps)
            _sync(device)
            seconds[runner.setup.label].append((time.perf_counter() - start) / steps)
    out = []
    for runner in runners:
        per_step = statistics.median(seconds[runner.setup.label])
        flops = runner.flops_per_step()
        out.append(
            {
                "label": runner.setup.label,
                "size": size,
                "seconds_per_step": per_step,
                "images_per_second": runner.setup.params.batch_size / per_step,
                "gflop_per_step": flops / 1e9,
                "flop_per_second": flops / per_step,
            }
        )
    return out


def peak_rss_of_training(num_train: int, steps: int) -> dict[str, float]:
    """Prepare a default-config project with `num_train` images, then `t2igan train` in a child process."""
    from _project import peak_rss_gib, project, run_stages

    paths, params = project(
        {"data": {"synthetic": {"num_train": num_train}}, "train": {"steps": steps, "sample_every": steps}},
        f"rss{num_train}",
    )
    run_stages(params, paths, "ingest", "validate", "embed")
    peak_gib = peak_rss_gib(paths, "train")
    metrics = json.loads(paths.metrics("train").read_text())
    return {
        "num_train": num_train,
        "peak_rss_gib": peak_gib,
        "images_per_second": metrics["images_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--precision", default="auto", help="t2igan step's autocast (auto: bf16 on CUDA only)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the t2igan step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-per-round", type=int, default=4)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--rss-steps", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    bf16 = args.precision == "bfloat16" or (args.precision == "auto" and device.type == "cuda")
    repeats = 20 if device.type == "cuda" else 5
    report: dict[str, object] = {"device": str(device), "threads": torch.get_num_threads()}
    ceiling = conv_ceiling(device, torch.bfloat16 if bf16 else torch.float32, repeats)
    report["conv_ceiling_tflops"] = ceiling / 1e12
    print(f"device {device}, {torch.get_num_threads()} threads; t2igan step in {'bf16' if bf16 else 'fp32'}")
    print(
        f"ceiling: conv2d N=32 256->256 32x32 3x3 ({'bf16' if bf16 else 'fp32'}): {ceiling / 1e9:.1f} GFLOP/s"
    )
    matmul = None
    if device.type == "cuda":
        matmul = matmul_ceiling(device, repeats)
        report["matmul_bf16_tflops"] = matmul / 1e12
        print(f"ceiling: bf16 matmul 8192^3: {matmul / 1e12:.1f} TFLOP/s")
        fp32_conv = conv_ceiling(device, torch.float32, repeats)
        report["conv_ceiling_fp32_tflops"] = fp32_conv / 1e12

    steps = []
    for size in args.sizes:
        results = compare_steps(size, device, args.precision, args.compile, args.rounds, args.steps_per_round)
        base = results[0]
        for row in results:
            fp32_row = row["label"].startswith("DF-GAN")
            own_ceiling = report.get("conv_ceiling_fp32_tflops", 0) * 1e12 if fp32_row and matmul else ceiling
            row["of_conv_ceiling"] = row["flop_per_second"] / own_ceiling
            if matmul:
                row["of_matmul_ceiling"] = row["flop_per_second"] / matmul
            print(
                f"{size}x{size} {row['label']:<24} {row['images_per_second']:8.1f} images/s  "
                f"{row['gflop_per_step']:8.1f} GFLOP/step  {row['flop_per_second'] / 1e9:9.1f} GFLOP/s  "
                f"{row['of_conv_ceiling']:.0%} of conv"
                + (f"  {row['of_matmul_ceiling']:.1%} of bf16 matmul" if matmul else "")
            )
        speedups = {}
        for row in results[1:]:
            speedups[row["label"]] = row["images_per_second"] / base["images_per_second"]
            print(
                f"{size}x{size} {row['label']} / DF-GAN images/s: {speedups[row['label']]:.2f}x (goal >= 1.5x)"
            )
        steps.append({"size": size, "speedups": speedups, "rows": results})
    report["steps"] = steps

    if not args.skip_rss and device.type == "cpu":
        small = peak_rss_of_training(1500, args.rss_steps)
        large = peak_rss_of_training(6000, args.rss_steps)
        report["rss"] = [small, large]
        for row in (small, large):
            print(
                f"t2igan train, default config, {row['num_train']} training images: peak RSS "
                f"{row['peak_rss_gib']:.2f} GiB, {row['images_per_second']:.1f} images/s (32x32)"
            )
        growth = large["peak_rss_gib"] / small["peak_rss_gib"]
        print(f"peak RSS, 4x data / 1x data: {growth:.2f} (goal: about 1, and under 3 GiB)")
    report["max_rss_this_process_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
