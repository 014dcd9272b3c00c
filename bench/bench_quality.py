"""The quality of each training variant at the default run's wall-clock budget, two seeds each: the table in
README "Images worth keeping".

    python bench/bench_quality.py                  # all variants, seeds 0 and 1 (about 2 hours on 2 cores)
    python bench/bench_quality.py --variants default mode-seeking --seeds 0
    python bench/bench_quality.py --table-only             # the table from the runs already in --work

1. Each variant's training step is timed against the default step in alternating rounds (bench_d_backbone),
   and its steps are set to the default's `train.steps` over that ratio: the same wall-clock budget.
2. One project is prepared (scan, ingest, validate, embed of the default synthetic data) and copied per run;
   each run trains and evaluates there (`t2igan train`, `t2igan evaluate`), `--parallel` runs at a time with
   one thread each. Training is deterministic in its steps, so how many run at once does not change a figure.
3. The table: held-out attribute accuracy, per-caption diversity, KID and two Fréchet distances: FID, and
   FD in the space of the attribute judge (a network trained on the real images that no D uses: it is the
   evidence for a D that judges through the Inception, where FID is not).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _project  # noqa: F401  (puts the repository root on the path)
from _rounds import median_step_seconds
from bench_d_backbone import step_function
from t2igan.config import ModelParams

REPO = Path(__file__).resolve().parent.parent
T2IGAN = Path(sys.executable).parent / "t2igan"
# name -> (overrides of params.yaml, what the step timing builds)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "mode-seeking": {"train.mode_seeking_weight": 0.2},
    "mode-seeking-003": {"train.mode_seeking_weight": 0.03},
    "inception-D": {
        "train.mode_seeking_weight": 0.2,
        "train.model.d_backbone": "inception",
        "train.model.d_backbone_resolution": 75,
        "register.allow_primary_on_d_backbone": True,  # the table reads FD on the judge, not the gate
    },
}


def step_ratios(names: list[str], size: int, batch: int) -> dict[str, float]:
    """Seconds per step of each variant over the default's, timed in alternating rounds in this run."""
    steps = {}
    for name in {"default", *names}:
        overrides = VARIANTS[name]
        model = ModelParams(
            d_backbone=overrides.get("train.model.d_backbone"),
            d_backbone_resolution=overrides.get("train.model.d_backbone_resolution"),
        )
        weight = overrides.get("train.mode_seeking_weight", 0.0)
        steps[name] = step_function(size, batch, model, mode_seeking_weight=weight)
    seconds = median_step_seconds(steps, rounds=3, steps_per_round=3)
    return {name: seconds[name] / seconds["default"] for name in names}


def _set(params: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    node = params
    for part in path:
        node = node[part]
    node[last] = value


def prepare(work: Path) -> Path:
    """The default synthetic data, ingested, validated and embedded once."""
    base = work / "base"
    if not (base / "data" / "embeddings").is_dir():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        shutil.copy(REPO / "params.yaml", base / "params.yaml")
        for stage in ("scan", "ingest", "validate", "embed"):
            subprocess.run([str(T2IGAN), stage, "--project", str(base)], check=True)
    return base


def run(base: Path, directory: Path, overrides: dict[str, Any]) -> None:
    """Train and evaluate one variant in a copy of the prepared project."""
    if (directory / "metrics" / "eval.json").is_file():
        return
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(base, directory, symlinks=True)
    params = yaml.safe_load((directory / "params.yaml").read_text())
    for dotted, value in {**overrides, "train.threads": 1}.items():
        _set(params, dotted, value)
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(directory / "run.log", "w") as log:
        for stage in ("train", "evaluate"):
            subprocess.run(
                [str(T2IGAN), stage, "--project", str(directory)], check=True, stdout=log, stderr=log, env=env
            )


def judge_fd(directory: Path) -> float:
    """FD between the FID sample's real and generated images in the judge's 256-d penultimate space."""
    import numpy as np
    import torch

    from t2igan.config import load_params
    from t2igan.metrics.alignment import attribute_judge
    from t2igan.metrics.context import EvalContext
    from t2igan.metrics.distances import distances
    from t2igan.metrics.fid import frechet_distance
    from t2igan.paths import ProjectPaths
    from t2igan.pixels import to_network

    context = EvalContext(load_params(directory / "params.yaml"), ProjectPaths(directory))
    judge, sample = attribute_judge(context).eval(), distances(context)

    def features(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.concatenate(
                [judge.body(to_network(images[i : i + 256])).numpy() for i in range(0, len(images), 256)]
            )

    return frechet_distance(features(sample.real_images), features(sample.fake_images))


def row(name: str, seed: int, steps: int, directory: Path) -> dict[str, Any]:
    metrics = json.loads((directory / "metrics" / "eval.json").read_text())
    heldout = metrics["attr_acc_heldout"]
    return {
        "variant": name,
        "seed": seed,
        "steps": steps,
        "shape": heldout["shape"],
        "position": heldout["position"],
        "diversity_pixels": metrics["diversity_pixels"],
        "kid": metrics[metrics["kid_name"]],
        "fid": metrics[metrics["fid_name"]],
        "fd_judge": judge_fd(directory),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--work", type=Path, default=REPO / "bench-runs" / "quality")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--table-only", action="store_true", help="read the runs already in --work")
    args = parser.parse_args()

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    budget, size, batch = params["train"]["steps"], params["data"]["image_size"], params["train"]["batch_size"]
    steps_file = args.work / "steps.json"
    if args.table_only:
        steps = json.loads(steps_file.read_text())
    else:
        ratios = step_ratios([v for v in args.variants if v != "default"], size, batch)
        steps = {name: round(budget / ratios.get(name, 1.0)) for name in args.variants}
        args.work.mkdir(parents=True, exist_ok=True)
        steps_file.write_text(json.dumps(steps))
        print("steps at the default's budget:", steps, flush=True)
        base = prepare(args.work)
        jobs = [
            (
                base,
                args.work / f"{name}-s{seed}",
                {**VARIANTS[name], "train.seed": seed, "train.steps": steps[name]},
            )
            for name in args.variants
            for seed in args.seeds
        ]
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda job: run(*job), jobs))
    rows = [
        row(name, seed, steps[name], args.work / f"{name}-s{seed}")
        for name in args.variants
        for seed in args.seeds
        if (args.work / f"{name}-s{seed}" / "metrics" / "eval.json").is_file()
    ]
    print("| variant | seed | steps | held-out shape | position | diversity | kid_1k | fid_1k | FD judge |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['seed']} | {r['steps']} | {r['shape']:.3f} | {r['position']:.3f} | "
            f"{r['diversity_pixels']:.2f} | {r['kid']:.3f} | {r['fid']:.1f} | {r['fd_judge']:.2f} |"
        )


if __name__ == "__main__":
    main()
