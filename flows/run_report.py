"""What a training run leaves in Prefect: the summary, the metrics against the champion's, the samples, links.

Everything is read from what the stages wrote (metrics/*.json, the model's run.json, the sample grid), so the
report says the same whichever entry point built the outputs. Links point at the MLflow UI: the tracking
server when MLFLOW_TRACKING_URI is one, else `mlflow ui`'s default address (T2IGAN_MLFLOW_UI_URL overrides);
and at the data validation's Data Docs (data/clean/data_docs/index.html), a file on the machine that ran the
flow, like the sample grid.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from t2igan.data.quality import DATA_DOCS_INDEX
from t2igan.env import MLFLOW_UI_URL_ENV
from t2igan.markdown import table
from t2igan.metrics.figures import BEYOND_INCEPTION, better, is_figure
from t2igan.paths import ProjectPaths
from t2igan.tracking import RUN_FILE, tracking_uri

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"  # `mlflow ui`'s address
INLINE_IMAGE_LIMIT = 2 << 20  # bytes; a larger grid is linked, not embedded


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def mlflow_ui_url(paths: ProjectPaths, override: str | None = None) -> str:
    uri = tracking_uri(paths)
    base = override or os.environ.get(MLFLOW_UI_URL_ENV)
    if not base:
        base = uri if uri.startswith(("http://", "https://")) else DEFAULT_MLFLOW_UI
    return base.rstrip("/")


def summarize(
    project: Path,
    stage_results: list[dict[str, Any]],
    overrides: dict[str, Any] | None = None,
    transfers: list[dict[str, Any]] | None = None,
    ui_url: str | None = None,
    feedback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    paths = ProjectPaths.at(project)
    evaluation = _read(paths.metrics("eval"))
    registration = _read(paths.metrics("register"))
    run = _read(paths.model_dir / RUN_FILE)
    fid_name = evaluation.get("fid_name")
    base = mlflow_ui_url(paths, ui_url)
    name, version = registration.get("model_name"), registration.get("version")
    data_docs = paths.clean_dir / DATA_DOCS_INDEX
    return {
        "model_name": name,
        "version": version,
        "registered_now": any(s["stage"] == "register" and s["ran"] for s in stage_results),
        "promoted": registration.get("promoted"),
        "reason": registration.get("reason"),
        "champion_version": registration.get("champion_version"),
        "compared_with": registration.get("compared_with"),
        "comparison": registration.get("comparison"),
        "version_metrics": registration.get("metrics") or {},
        "run_id": registration.get("run_id"),
        "run_url": f"{base}/#/experiments/{run['experiment_id']}/runs/{run['run_id']}" if run else None,
        "model_url": f"{base}/#/models/{name}/versions/{version}" if name and version else None,
        "fid_name": fid_name,
        "fid": evaluation.get(fid_name) if fid_name else None,
        "kid_name": evaluation.get("kid_name"),
        "kid": evaluation.get(evaluation.get("kid_name", ""), None),
        "kid_std": evaluation.get(f"{evaluation.get('kid_name')}_std"),
        "alignment": evaluation.get("alignment"),
        "diversity": {k: v for k, v in evaluation.items() if k in ("diversity", "diversity_pixels")},
        "beyond_inception": {k: v for k, v in evaluation.items() if k.startswith(BEYOND_INCEPTION)},
        "r_precision": evaluation.get("r_precision"),
        "attr_acc_heldout": evaluation.get("attr_acc_heldout"),
        "hard_prompts": {k: v for k, v in evaluation.items() if k.startswith("hard_prompts")},
        "feedback": feedback,
        "sample_grid": str(paths.eval_dir / "samples.png"),
        "data_docs": data_docs.resolve().as_uri() if data_docs.is_file() else None,
        "overrides": overrides or {},
        "transfers": transfers or [],
        "stages": stage_results,
    }


def metrics_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure promotion compares: this version's value beside the champion's it was judged by."""
    ours = summary["version_metrics"]
    compared = summary.get("compared_with") or {}
    theirs = compared.get("metrics") or {}
    rows = []
    for key, value in ours.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        other = theirs.get(key)
        ours_better = None
        comparable = isinstance(other, (int, float)) and not isinstance(other, bool) and other != value
        if comparable and is_figure(key):
            ours_better = better(key, float(value), float(other))  # type: ignore[arg-type]
        rows.append(
            {
                "metric": key,
                f"version {summary['version']}": round(float(value), 6),
                f"champion {compared.get('version') or '(none)'}": None
                if other is None
                else round(float(other), 6),
                "better": "-" if ours_better is None else ("yes" if ours_better else "no"),
            }
        )
    return rows


def _comparison_line(comparison: dict[str, Any]) -> str:
    """The gate's evidence: both models measured on this run's data, the gains and their intervals."""
    name, gain = comparison["fid_name"], comparison["fid_gain"]
    line = (
        f"- re-scored on this data (manifest {comparison['data_sha256'][:12]}): {name} "
        f"{comparison['challenger'][name]:.3f} vs champion {comparison['champion_version']}'s "
        f"{comparison['champion'][name]:.3f}; gain {gain['point']:+.3f} "
        f"[{gain['low']:+.3f}, {gain['high']:+.3f}] at {gain['confidence']:.0%}"
    )
    for figure in ("alignment", "diversity"):
        interval = comparison.get(f"{figure}_gain")
        if interval:
            line += (
                f"; {figure} gain {interval['point']:+.3f} [{interval['low']:+.3f}, {interval['high']:+.3f}]"
            )
    return line


def _figure_lines(summary: dict[str, Any]) -> list[str]:
    """The evaluation's figures, one line each."""
    lines: list[str] = []
    acc = summary.get("attr_acc_heldout") or {}
    lines.append(
        f"- {summary['fid_name']}: {summary['fid']:.3f}" if summary["fid"] is not None else "- FID: n/a"
    )
    if summary.get("kid") is not None:
        lines.append(f"- {summary['kid_name']}: {summary['kid']:.4f} ± {summary['kid_std']:.4f}")
    if summary.get("r_precision") is not None:
        lines.append(f"- R-precision: {summary['r_precision']:.3f}")
    if acc:
        lines.append(
            "- attribute accuracy, held-out combinations: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
        )
    spread = summary.get("diversity") or {}
    if spread:
        lines.append(
            "- per-caption diversity (1: as varied as real images of the caption; 0: noise changes nothing): "
            + ", ".join(f"{'Inception' if k == 'diversity' else 'pixels'} {v:.3f}" for k, v in spread.items())
        )
    beyond = summary.get("beyond_inception") or {}
    if beyond:
        lines.append("- beyond Inception: " + ", ".join(f"{k} {v:.3f}" for k, v in beyond.items()))
    hard = summary.get("hard_prompts") or {}
    if hard:
        scores = ", ".join(
            f"{k.removeprefix('hard_prompts_')} {v:.3f}" for k, v in hard.items() if k != "hard_prompts"
        )
        lines.append(f"- hard prompts from people's feedback ({hard['hard_prompts']}): {scores}")
    return lines


def render_markdown(summary: dict[str, Any]) -> str:
    decision = "promoted to @champion" if summary["promoted"] else "kept as @challenger"
    lines = [
        f"# t2igan training: {summary['model_name']} version {summary['version']}",
        "",
        f"- decision: {decision} ({summary['reason']}); champion is version {summary['champion_version']}",
    ]
    if not summary.get("registered_now"):
        lines.append("- nothing changed since that version was registered: no new version this run")
    comparison = summary.get("comparison")
    if comparison:
        lines.append(_comparison_line(comparison))
    lines += _figure_lines(summary)
    lines.append(f"- MLflow run: {summary['run_id']}; sample grid: {summary['sample_grid']}")
    if summary.get("data_docs"):
        lines.append(f"- data validation, every expectation's result: [Data Docs]({summary['data_docs']})")
    if summary["overrides"]:
        lines.append(
            "- overrides for this run: " + ", ".join(f"`{k}={v!r}`" for k, v in summary["overrides"].items())
        )
    for transfer in summary["transfers"]:
        lines.append(f"- dvc {transfer['command']} ({transfer['remote']}): {transfer['summary']}")
    stages = [
        {
            "stage": s["stage"],
            "ran": str(s["ran"]),
            "task seconds": str(s["seconds"]),
            "stage seconds": str(s.get("stage_seconds", "")),
        }
        for s in summary["stages"]
    ]
    lines += ["", *table(stages, ["stage", "ran", "task seconds", "stage seconds"])]
    lines += _feedback_lines(summary.get("feedback"))
    return "\n".join(lines) + "\n"


def _feedback_lines(feedback: dict[str, Any] | None) -> list[str]:
    """People's votes since the last run, and what the human gate decided (flows/human_feedback.py)."""
    if not feedback:
        return []
    lines = ["", "## People's feedback", "", *feedback["lines"]]
    gate = feedback.get("gate")
    if gate:
        state = "promoted to @champion" if gate["promoted"] else "not promoted"
        subject = f"version {gate['version']}" if gate["version"] else "human gate"
        lines.append(f"- human gate: {subject} {state}: {gate['reason']}")
    return lines


def _image_url(path: Path) -> str | None:
    """The grid inline as a data URI (the UI shows it with no file server), or a file URI when it is large."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    if len(data) > INLINE_IMAGE_LIMIT:
        return path.resolve().as_uri()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def publish(summary: dict[str, Any]) -> None:
    """Create the run's artifacts (keys are stable, so each deployment keeps a history per key)."""
    create_markdown_artifact(
        key="t2igan-training-summary",
        markdown=render_markdown(summary),
        description="promotion decision, metrics, overrides, DVC transfers and stage times",
    )
    rows = metrics_table(summary)
    if rows:
        create_table_artifact(
            key="t2igan-metrics",
            table=rows,
            description=f"{summary['model_name']} version {summary['version']} against the champion's figures",
        )
    image = _image_url(Path(summary["sample_grid"]))
    if image:
        create_image_artifact(image_url=image, key="t2igan-samples", description="fixed captions x seeds")
    if summary.get("run_url"):
        create_link_artifact(
            key="t2igan-mlflow-run", link=summary["run_url"], link_text=f"MLflow run {summary['run_id']}"
        )
    if summary.get("model_url"):
        create_link_artifact(
            key="t2igan-model-version",
            link=summary["model_url"],
            link_text=f"{summary['model_name']} version {summary['version']}",
        )
