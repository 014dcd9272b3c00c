"""Register: log the pyfunc model to the training run, register it, tag its lineage, apply the policy.

Every new version becomes @challenger; it becomes @champion only if it beats the current champion, re-scored
on the same data, by more than the noise (t2igan.registry.promotion). metrics/register.json says which version
was registered, what was decided, and the comparison it was decided on.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from t2igan.config import Params
from t2igan.errors import StageInputError
from t2igan.io import read_json, write_json
from t2igan.metrics.figures import summary
from t2igan.paths import ProjectPaths
from t2igan.registry.promotion import compared_with, promote_if_better
from t2igan.registry.publish import publish
from t2igan.registry.rescore import Comparison, rescore_champion
from t2igan.tracking import continue_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisterResult:
    model_name: str
    version: str
    run_id: str
    promoted: bool
    reason: str
    champion_version: str | None
    metrics: dict[str, object]
    # the champion this version was judged against (None for the first): what a report puts beside it
    compared_with: dict[str, object] | None = None
    # both re-scored on this data, with the gains' intervals (None: first version, identical, stored figures)
    comparison: dict[str, object] | None = None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def run(params: Params, paths: ProjectPaths) -> RegisterResult:
    import mlflow

    evaluation = paths.metrics("eval")
    metrics = read_json(evaluation) if evaluation.is_file() else None
    if not metrics:
        raise StageInputError(f"{evaluation}: not found (run `t2igan evaluate` first)")
    name = params.register_.model_name
    with (
        continue_run(paths, params.tracking.experiment, "register") as ref,
        tempfile.TemporaryDirectory() as scratch,
    ):
        version = str(publish(params, paths, ref.run_id, metrics).version)
        client = mlflow.MlflowClient()

        def rescore(champion_version: str) -> Comparison | None:
            return rescore_champion(params, paths, champion_version, Path(scratch))

        decision, champion, comparison = promote_if_better(
            client, paths, name, version, metrics, params.register_, rescore
        )
        mlflow.set_tags({"registered_model": name, "registered_version": version})
        judged_against = compared_with(client, name, version, decision.promote, champion)
    result = RegisterResult(
        model_name=name,
        version=version,
        run_id=ref.run_id,
        promoted=decision.promote,
        reason=decision.reason,
        champion_version=str(champion) if champion is not None else None,
        metrics=summary(metrics),
        compared_with=judged_against,
        comparison=comparison.as_dict() if comparison else None,
    )
    write_json(paths.metrics("register"), {**asdict(result), "model_uri": result.model_uri})
    state = "promoted to @champion" if result.promoted else "@challenger"
    log.info("registered %s version %s (%s): %s", name, version, state, result.reason)
    return result
