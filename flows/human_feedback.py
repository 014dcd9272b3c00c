"""The flow's feedback task: apply the human gate to a waiting @challenger, then summarise the votes.

It runs after the stages, inside the run's overrides, with the same implementations `t2igan promote
--from-feedback` and `t2igan feedback report` call (t2igan.feedback). The summary covers what people said
since the flow last asked (a mark per project in the feedback database), so each run's artifact shows what
is new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from t2igan.config import load_params
from t2igan.feedback.database import feedback_url, open_database
from t2igan.feedback.summary import summary_lines, summary_since_last
from t2igan.paths import ProjectPaths
from t2igan.registry.human_gate import promote_from_feedback


@task(name="feedback", task_run_name="feedback")
def human_feedback(project_dir: str) -> dict[str, Any]:
    paths = ProjectPaths.at(project_dir)
    params = load_params(Path(project_dir) / "params.yaml")
    sessions = open_database(feedback_url(paths))
    gate: dict[str, Any] | None = None
    if params.register_.human_gate.enabled:
        outcome = promote_from_feedback(params, paths, sessions)
        gate = {"version": outcome.challenger, "promoted": outcome.promoted, "reason": outcome.reason}
        get_run_logger().info("human gate: %s", outcome.reason)
    summary = summary_since_last(sessions, params, reader=f"flow:{paths.root}")
    return {"gate": gate, "summary": summary, "lines": summary_lines(summary)}
