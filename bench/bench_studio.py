"""Studio benchmark: what a person waits for, and how many votes the feedback database takes.

Measures, in one run and against baselines from the same run:
- p50 / p95 latency of a 4-image studio request (`/api/generate`) and a 4+4-image comparison (`/api/compare`)
  through a real `t2igan studio` (uvicorn) on 127.0.0.1, against the same 4 images drawn in process by the
  registered model (what the studio's HTTP, JSON, signing and alias lookup add);
- votes per second through `/api/vote` from one client and from 4 at once, against votes per second written
  straight to the database (`record_vote`, one transaction each: what HTTP and the token check cost).

Usage:
    python bench/bench_studio.py                  # builds a champion and a challenger in a temp project
    python bench/bench_studio.py --requests 100 --votes 400
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from _project import timed  # first: it puts the repository on sys.path
from t2igan.env import apply_offline_defaults
from t2igan.feedback.database import open_database
from t2igan.feedback.tokens import Shown
from t2igan.feedback.votes import record_vote
from tests.support.studio import champion_and_waiting_challenger, studio_server

CAPTION = "a large red circle in the center on a black background"
UNLIMITED = ["--draw-limit", "100000/second", "--feedback-limit", "100000/second"]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(samples), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(label: str, samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"{label:34s} p50 {p50 * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms"


def tokens(client: httpx.Client, count: int) -> list[str]:
    body = {"caption": CAPTION, "num_images": 1}
    return [client.post("/api/compare", json=body).raise_for_status().json()["token"] for _ in range(count)]


def vote_rate(base: str, votes: int, clients: int) -> float:
    """Votes per second: `clients` browsers (their own sessions) voting on comparisons they were shown."""
    sessions = [httpx.Client(base_url=base, timeout=60) for _ in range(clients)]
    issued = [tokens(client, votes // clients) for client in sessions]

    def send(k: int) -> None:
        for token in issued[k]:
            sessions[k].post("/api/vote", json={"token": token, "choice": "left"}).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, range(clients)))
    elapsed = time.perf_counter() - started
    for client in sessions:
        client.close()
    return clients * (votes // clients) / elapsed


def direct_vote_rate(url: str, votes: int) -> float:
    sessions = open_database(url)
    shown = [Shown("t2igan", CAPTION, [k], {"left": "2", "right": "1"}, "bench") for k in range(votes)]
    started = time.perf_counter()
    for item in shown:
        record_vote(sessions, item, "left", "bench")
    return votes / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--votes", type=int, default=200)
    args = parser.parse_args()
    apply_offline_defaults()

    import mlflow
    import pandas as pd

    workdir = Path(tempfile.mkdtemp(prefix="t2igan-bench-studio-"))
    print(f"building a champion and a challenger in {workdir} ...", flush=True)
    paths, _ = champion_and_waiting_challenger(workdir / "project")
    uri = f"sqlite:///{paths.mlruns / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model("models:/t2igan@champion")
    four = pd.DataFrame({"caption": [CAPTION] * 4, "seed": list(range(4))})
    model.predict(four)
    in_process = timed(lambda: model.predict(four), args.requests)

    feedback = f"sqlite:///{workdir / 'feedback.db'}"
    with (
        studio_server(paths, feedback, workdir / "studio.log", *UNLIMITED) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        body = {"caption": CAPTION, "num_images": 4, "seed": 0}
        client.post("/api/generate", json=body).raise_for_status()
        generate = timed(lambda: client.post("/api/generate", json=body).raise_for_status(), args.requests)
        compare = timed(lambda: client.post("/api/compare", json=body).raise_for_status(), args.requests)
        one_client = vote_rate(base, args.votes, 1)
        four_clients = vote_rate(base, args.votes, 4)
    direct = direct_vote_rate(f"sqlite:///{workdir / 'direct.db'}", args.votes)

    med = statistics.median
    print(f"torch threads: {__import__('torch').get_num_threads()}; feedback database: sqlite (WAL)")
    print(line("in-process predict, 4 images", in_process))
    print(line("studio /api/generate, 4 images", generate))
    print(line("studio /api/compare, 4 + 4 images", compare))
    print(f"{'votes/s through /api/vote, 1 client':34s} {one_client:8.1f}")
    print(f"{'votes/s through /api/vote, 4 clients':34s} {four_clients:8.1f}")
    print(f"{'votes/s straight to the database':34s} {direct:8.1f}")
    print("ratios (same run):")
    print(f"  studio generate / in-process predict (p50)   {med(generate) / med(in_process):6.2f}x")
    print(f"  studio compare / studio generate (p50)        {med(compare) / med(generate):6.2f}x")
    print(f"  HTTP votes/s (1 client) / direct writes/s     {one_client / direct:6.2f}x")
    print(f"  HTTP votes/s, 4 clients / 1 client            {four_clients / one_client:6.2f}x")


if __name__ == "__main__":
    main()
