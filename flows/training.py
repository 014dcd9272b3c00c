"""The t2igan training flow: dvc pull → one Prefect task per DVC stage → dvc push → artifacts.

Each stage task runs `dvc repro --single-item <stage>`, so dvc.lock and the DVC cache stay the one record of
what was built from what, whichever entry point ran it, and an unchanged stage is skipped. Transient
failures are retried with backoff, bad data and bad params fail at once (flows/dvc_tasks.py). Pull and push
happen when the project has a default DVC remote. `overrides` change params.yaml values for this run only:
they go to params.override.yaml, which DVC tracks beside params.yaml, and that file is emptied again
afterwards (t2igan.overrides). A failed run names the stage and its reason in its state message, and the
on_failure hook logs it and posts it to a webhook (flows/notify.py).

Run it once: `make run` (or `python -m flows.training`); on a schedule: `python -m flows.deployment serve`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from prefect import flow

from flows.dvc_tasks import StageFailed, default_remote, dvc_pull, dvc_push, run_stage
from flows.notify import notify_failure
from flows.report import publish, render_markdown, summarize
from t2igan import overrides as run_overrides
from t2igan.env import apply_offline_defaults
from t2igan.errors import T2iganError
from t2igan.stages import STAGES

__all__ = ["StageFailed", "main", "render_markdown", "training_flow"]


@flow(name="t2igan-training", on_failure=[notify_failure], on_crashed=[notify_failure])
def training_flow(
    project_dir: str = ".",
    overrides: dict[str, Any] | None = None,
    pull: bool = True,
    push: bool = True,
    notify_url: str | None = None,
    mlflow_ui_url: str | None = None,
) -> dict[str, Any]:
    """Pull, run every DVC stage in order (skipping unchanged ones), push, then report.

    Args:
        project_dir: the t2igan project (a DVC repository).
        overrides: params for this run only, as dotted keys (`{"train.lr_g": 0.0002}`) or sections.
        pull: `dvc pull` first when a default remote is configured.
        push: `dvc push` the outputs afterwards when a default remote is configured.
        notify_url: a webhook to POST to when the run fails (default: $T2IGAN_NOTIFY_WEBHOOK).
        mlflow_ui_url: where the report's MLflow links point (default: the tracking server, or `mlflow ui`).
    """
    apply_offline_defaults()
    project = Path(project_dir).resolve()
    run_overrides.ensure_file(project)
    remote = default_remote(str(project)) if pull or push else None
    transfers: list[dict[str, Any]] = []
    with run_overrides.applied(project, overrides):
        if remote and pull:
            transfers.append(dvc_pull(str(project), remote))
        results = [run_stage(stage, str(project)) for stage in STAGES]
        if remote and push:
            transfers.append(dvc_push(str(project), remote))
    summary = summarize(project, results, overrides, transfers, mlflow_ui_url)
    publish(summary)
    return summary


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs, values read as YAML (numbers, booleans, lists), as `dvc exp run -S` reads them."""
    import yaml

    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected key=value, such as train.lr_g=0.0002")
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run the t2igan training flow (Prefect) over the DVC stages.")
    parser.add_argument("--project", default=os.environ.get("T2IGAN_PROJECT", "."), help="project root")
    parser.add_argument(
        "--set", "-S", action="append", default=[], metavar="KEY=VALUE", help="override a param"
    )
    parser.add_argument("--no-pull", action="store_true", help="skip dvc pull")
    parser.add_argument("--no-push", action="store_true", help="skip dvc push")
    parser.add_argument("--summary-json", type=Path, help="also write the run summary here as JSON")
    args = parser.parse_args(argv)
    apply_offline_defaults()
    try:
        summary = training_flow(
            project_dir=args.project,
            overrides=parse_set(args.set),
            pull=not args.no_pull,
            push=not args.no_push,
        )
    except (StageFailed, T2iganError) as exc:
        print(f"t2igan training flow: {exc}", file=sys.stderr)
        return 1
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2, default=str))
    print()
    print(render_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
