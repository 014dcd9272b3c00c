"""Flow benchmark: a run with nothing changed against a full run, and the flow's overhead over its stages.

In one run, in a fresh temporary project (git + DVC, the repo's params or --tiny), through the real training
flow (`t2igan flow run`, on an ephemeral Prefect API, as `make run` does):
- a full run from nothing; the baseline;
- a second run with nothing changed, against the full run (goal: under 5%);
- the full run's overhead over the sum of its stages' own times, as each `t2igan <stage>` measured itself
  (goal: under 10% on the default run), split into what DVC adds per stage (its start, hashing, lock file)
  and what Prefect and the process around it add;
- with --team: `t2igan services start` from nothing, and the same full run in a second fresh project against
  those servers (`make run` in team mode: Prefect and MLflow servers on PostgreSQL, dvc push to S3), against
  the laptop-mode full run above.

Usage: python bench/bench_flow.py [--tiny] [--keep] [--team]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import _project  # noqa: F401  (puts the repository root on the path)
from t2igan.config import merge_layers
from tests.support.project import TINY, VENV_BIN, copy_project_files, repo_params, tool_env


def make_project(tiny: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="t2igan-bench-flow-"))
    copy_project_files(root)
    params = merge_layers(repo_params(), TINY) if tiny else repo_params()
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".gitignore").write_text("mlruns/\n.prefect/\n.t2igan-cache/\n.t2igan.lock*\nsummary-*.json\n")
    env = environment(root)
    for command in (["git", "init", "-q"], [str(VENV_BIN / "dvc"), "init", "-q"]):
        subprocess.run(command, cwd=root, env=env, check=True)
    return root


def environment(root: Path) -> dict[str, str]:
    return tool_env(PREFECT_HOME=str(root / ".prefect"))


def run_flow(root: Path, label: str, team_env: dict[str, str] | None = None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "t2igan"), "flow", "run", "--json"],
        cwd=root,
        env={**environment(root), **(team_env or {})},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"flow run '{label}' failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def services(command: str, directory: Path, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "t2igan"), "services", command, "--dir", str(directory), *args],
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"t2igan services {command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def team_run(tiny: bool, laptop_s: float, keep: bool) -> None:
    """The same full run against team mode's servers, started from nothing for it."""
    from t2igan.services.credentials import read_env_file
    from tests.support.services import free_port

    base = Path(tempfile.mkdtemp(prefix="t2igan-bench-team-", dir="/tmp"))
    base.chmod(0o755)  # PostgreSQL runs as the `postgres` user when this runs as root
    directory, root = base / "services", make_project(tiny)
    ports = [
        arg for name in ("postgres", "mlflow", "prefect", "s3") for arg in ("--port", f"{name}={free_port()}")
    ]
    try:
        start_s = services("start", directory, "--project", str(root), *ports)
        team_env = read_env_file(directory / "team.env")
        team_s, _ = run_flow(root, "team", team_env)
    finally:
        services("stop", directory, "--project", str(root))
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nteam mode: services start from nothing {start_s:8.2f} s")
    print(f"full run against the servers       {team_s:8.2f} s   {team_s / laptop_s:.2f}x the laptop full run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny config (about a minute)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument("--team", action="store_true", help="also the full run against team mode's servers")
    args = parser.parse_args()

    root = make_project(args.tiny)
    print(f"project: {root} ({'tiny' if args.tiny else 'default'} params)")
    full_s, full = run_flow(root, "full")
    again_s, again = run_flow(root, "again")

    stages = full["stages"]
    own = sum(s["stage_seconds"] for s in stages)
    tasks = sum(s["seconds"] for s in stages)
    print("\nfull run, per stage (seconds): task = dvc repro --single-item, own = the t2igan command itself")
    for s in stages:
        print(f"  {s['stage']:9s} task {s['seconds']:8.2f}   own {s['stage_seconds']:8.2f}")
    print(f"  {'sum':9s} task {tasks:8.2f}   own {own:8.2f}")
    print(f"\nfull run (flow, wall)            {full_s:8.2f} s")
    ran_again = [s["stage"] for s in again["stages"] if s["ran"]]
    print(f"nothing changed (flow, wall)     {again_s:8.2f} s   stages run: {ran_again}")
    print(f"  against the full run           {again_s / full_s:8.1%}   (goal < 5%)")
    print(f"flow overhead over stages' own   {(full_s - own) / own:8.1%}   (goal < 10%)")
    print(f"  of which DVC (tasks - own)     {(tasks - own) / own:8.1%}")
    print(f"  of which Prefect and process   {(full_s - tasks) / own:8.1%}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    if args.team:
        team_run(args.tiny, full_s, args.keep)


if __name__ == "__main__":
    main()
