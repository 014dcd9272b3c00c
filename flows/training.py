"""The t2igan training flow: one Prefect task per DVC stage, then a summary artifact.

Each task runs `dvc repro --single-item <stage>`, so dvc.lock and the DVC cache stay the one record of what was
built from what, whichever entry point ran it, and an unchanged stage is skipped. A stage that fails with a
transient error (the CLI's exit code 75: I/O, a tracking server briefly down) is retried with backoff; bad
data or bad params (exit code 2) fail at once, with the stage's own one-line reason in the state message.

Run it: `make run` (or `python -m flows.training`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from t2igan.env import apply_offline_defaults
from t2igan.errors import EXIT_TRANSIENT
from t2igan.stages import STAGES

_EXIT_CODE = re.compile(r"exited with (\d+)")
_PROGRESS = re.compile(r"\d+%\|")  # a tqdm progress line
PROGRESS_LOG_SECONDS = 15.0


class StageFailed(RuntimeError):
    def __init__(self, stage: str, exit_code: int | None, reason: str) -> None:
        self.stage = stage
        self.exit_code = exit_code
        self.transient = exit_code == EXIT_TRANSIENT
        super().__init__(f"stage '{stage}' failed (exit code {exit_code}): {reason}")


def _tool(name: str) -> str:
    """A console script from this interpreter's environment, so the flow works without an activated venv."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def _stage_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _reason(output: str) -> str:
    """The most telling line of a failed stage's output: the t2igan one-line error, else DVC's."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in (r"^t2igan \w+: error: ", r"^ERROR"):
        found = [line for line in lines if re.match(pattern, line)]
        if found:
            return found[0]
    return lines[0] if lines else "no output"


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except StageFailed as exc:
        return exc.transient
    except Exception:
        return False
    return False


@task(
    task_run_name="dvc-{stage}",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_retry_if_transient,
)
def run_stage(stage: str, project_dir: str) -> dict[str, Any]:
    """`dvc repro --single-item <stage>`; returns whether it ran or was up to date, and how long it took."""
    logger = get_run_logger()
    started = time.perf_counter()
    process = subprocess.Popen(
        [_tool("dvc"), "repro", "--single-item", stage],
        cwd=project_dir,
        env=_stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    last_progress = 0.0
    assert process.stdout is not None
    for line in process.stdout:  # text mode turns tqdm's carriage returns into lines: log them sparingly
        if _PROGRESS.search(line):
            if time.perf_counter() - last_progress < PROGRESS_LOG_SECONDS:
                continue
            last_progress = time.perf_counter()
        else:
            lines.append(line)
        if line.strip():
            logger.info("%s | %s", stage, line.rstrip())
    code = process.wait()
    output = "".join(lines)
    seconds = time.perf_counter() - started
    if code != 0:
        match = _EXIT_CODE.search(output)
        raise StageFailed(stage, int(match.group(1)) if match else code, _reason(output))
    ran = f"Stage '{stage}' didn't change, skipping" not in output
    logger.info("stage %s %s in %.1fs", stage, "ran" if ran else "was up to date", seconds)
    return {"stage": stage, "ran": ran, "seconds": round(seconds, 2)}


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def summarize(project: Path, stage_results: list[dict[str, Any]]) -> dict[str, Any]:
    evaluation = _read(project / "metrics" / "eval.json")
    registration = _read(project / "metrics" / "register.json")
    fid_name = evaluation.get("fid_name")
    return {
        "model_name": registration.get("model_name"),
        "version": registration.get("version"),
        "promoted": registration.get("promoted"),
        "reason": registration.get("reason"),
        "champion_version": registration.get("champion_version"),
        "run_id": registration.get("run_id"),
        "fid_name": fid_name,
        "fid": evaluation.get(fid_name) if fid_name else None,
        "kid_name": evaluation.get("kid_name"),
        "kid": evaluation.get(evaluation.get("kid_name", ""), None),
        "kid_std": evaluation.get(f"{evaluation.get('kid_name')}_std"),
        "alignment": evaluation.get("alignment"),
        "r_precision": evaluation.get("r_precision"),
        "attr_acc_heldout": evaluation.get("attr_acc_heldout"),
        "sample_grid": str(project / "artifacts" / "evaluate" / "samples.png"),
        "stages": stage_results,
    }


def render_markdown(summary: dict[str, Any]) -> str:
    acc = summary.get("attr_acc_heldout") or {}
    lines = [
        f"# t2igan training: {summary['model_name']} version {summary['version']}",
        "",
        f"- decision: {'promoted to @champion' if summary['promoted'] else 'kept as @challenger'} "
        f"({summary['reason']}); champion is version {summary['champion_version']}",
        f"- {summary['fid_name']}: {summary['fid']:.3f}" if summary["fid"] is not None else "- FID: n/a",
    ]
    if summary.get("kid") is not None:
        lines.append(f"- {summary['kid_name']}: {summary['kid']:.4f} ± {summary['kid_std']:.4f}")
    if summary.get("r_precision") is not None:
        lines.append(f"- R-precision: {summary['r_precision']:.3f}")
    if acc:
        lines.append(
            "- attribute accuracy, held-out combinations: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
        )
    lines.append(f"- MLflow run: {summary['run_id']}; sample grid: {summary['sample_grid']}")
    lines += ["", "| stage | ran | seconds |", "|---|---|---|"]
    lines += [f"| {s['stage']} | {s['ran']} | {s['seconds']} |" for s in summary["stages"]]
    return "\n".join(lines) + "\n"


@flow(name="t2igan-training")
def training_flow(project_dir: str = ".") -> dict[str, Any]:
    """Run every DVC stage in order (skipping unchanged ones), then report."""
    apply_offline_defaults()
    project = Path(project_dir).resolve()
    results = [run_stage(stage, str(project)) for stage in STAGES]
    summary = summarize(project, results)
    create_markdown_artifact(
        key="t2igan-training-summary",
        markdown=render_markdown(summary),
        description="metrics, registry decision and where the samples are",
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run the t2igan training flow (Prefect) over the DVC stages.")
    parser.add_argument("--project", default=os.environ.get("T2IGAN_PROJECT", "."), help="project root")
    parser.add_argument("--summary-json", type=Path, help="also write the run summary here as JSON")
    args = parser.parse_args(argv)
    apply_offline_defaults()
    try:
        summary = training_flow(project_dir=args.project)
    except StageFailed as exc:
        print(f"t2igan training flow: {exc}", file=sys.stderr)
        return 1
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2, default=str))
    print()
    print(render_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
