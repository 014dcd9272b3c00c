"""Serving benchmark: what a request costs on the CPU, and what loading the model costs.

Measures, in one run and against baselines from the same run:
- loading the registered model (`mlflow.pyfunc.load_model`) against the time of one generation;
- latency of one caption and of a batch of 16, in process and through a real `mlflow models serve`;
- images per second for batch 16 against batch 1 (what batching buys), and HTTP against in-process
  (what the server adds).

Usage:
    python bench/bench_serving.py                      # trains a tiny model in a temp project first (~40 s)
    python bench/bench_serving.py --model models:/t2igan@champion --tracking-uri sqlite:///mlruns/mlflow.db
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

# Imported before any model is loaded: loading puts the model's own copy of t2igan (its code/ directory)
# first on sys.path, and modules imported after that come from the copy.
from _project import run_stages, timed
from t2igan.config import parse_params
from t2igan.env import apply_offline_defaults
from t2igan.paths import ProjectPaths
from t2igan.stages import STAGES
from tests.support.project import tiny_params_dict
from tests.support.services import model_server

CAPTION = "a large red circle in the center on a black background"
# The tests' tiny config at 32x32, trained a little longer: a model worth serving, made in a minute.
SERVED = {"data": {"image_size": 32, "synthetic": {"num_train": 200, "num_test": 64}}, "train": {"steps": 20}}


def tiny_model(workdir: Path) -> tuple[str, str]:
    """Run the pipeline on a tiny config in `workdir`; return (model URI, tracking URI)."""
    apply_offline_defaults()
    paths = ProjectPaths.at(workdir)
    run_stages(parse_params(tiny_params_dict(SERVED)), paths, *STAGES)
    return "models:/t2igan@champion", f"sqlite:///{paths.mlruns / 'mlflow.db'}"


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(samples) * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms"


def post(base: str, records: list[dict]) -> None:
    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(
        f"{base}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--tracking-uri")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import mlflow
    import pandas as pd

    if args.model:
        model_uri, tracking_uri = args.model, args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    else:
        workdir = Path(tempfile.mkdtemp(prefix="t2igan-bench-"))
        print(f"training a tiny model in {workdir} ...", flush=True)
        model_uri, tracking_uri = tiny_model(workdir)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)

    # A fresh process: importing mlflow alone is the baseline, loading the model on top is the cold cost.
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    importing = "import mlflow, torch, transformers"
    loading = f"{importing}; mlflow.pyfunc.load_model({model_uri!r})"
    cold_import = timed(lambda: subprocess.run([sys.executable, "-c", importing], env=env, check=True), 3)
    cold_load = timed(
        lambda: subprocess.run([sys.executable, "-c", loading], env=env, check=True, capture_output=True), 3
    )

    mlflow.pyfunc.load_model(model_uri)  # warm the import and file caches: measure loading, not first imports
    load = timed(lambda: mlflow.pyfunc.load_model(model_uri), 3)
    model = mlflow.pyfunc.load_model(model_uri)
    one = pd.DataFrame({"caption": [CAPTION], "seed": [1]})
    sixteen = pd.DataFrame({"caption": [CAPTION] * 16, "seed": list(range(16))})
    model.predict(one)
    single = timed(lambda: model.predict(one), args.repeats)
    batch = timed(lambda: model.predict(sixteen), max(3, args.repeats // 4))

    with model_server(
        model_uri, tracking_uri, Path(tempfile.mkdtemp(prefix="t2igan-serve-")) / "server.log"
    ) as base:
        post(base, [{"caption": CAPTION, "seed": 1}])
        http_single = timed(lambda: post(base, [{"caption": CAPTION, "seed": 1}]), args.repeats)
        records = [{"caption": CAPTION, "seed": s} for s in range(16)]
        http_batch = timed(lambda: post(base, records), max(3, args.repeats // 4))

    med = statistics.median
    print(f"model {model_uri}  (torch threads: {__import__('torch').get_num_threads()})")
    print(f"fresh process, imports    {summary(cold_import)}")
    print(f"fresh process, + load      {summary(cold_load)}")
    print(f"load model (warm process)  {summary(load)}")
    print(f"in-process, 1 caption      {summary(single)}   {1 / med(single):7.1f} images/s")
    print(f"in-process, batch of 16    {summary(batch)}   {16 / med(batch):7.1f} images/s")
    print(f"HTTP serve, 1 caption      {summary(http_single)}   {1 / med(http_single):7.1f} images/s")
    print(f"HTTP serve, batch of 16    {summary(http_batch)}   {16 / med(http_batch):7.1f} images/s")
    print("ratios (same run):")
    print(f"  load / one generation          {med(load) / med(single):8.1f}x")
    cold = med(cold_load) - med(cold_import)
    print(f"  cold load (fresh process, beyond imports) / one generation {cold / med(single):8.1f}x")
    print(f"  batch-16 images/s / single     {(16 / med(batch)) / (1 / med(single)):8.2f}x")
    print(f"  HTTP / in-process, 1 caption   {med(http_single) / med(single):8.2f}x")
    print(f"  HTTP / in-process, batch 16    {med(http_batch) / med(batch):8.2f}x")


if __name__ == "__main__":
    main()
