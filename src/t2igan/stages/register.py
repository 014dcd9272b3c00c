"""Register: log the pyfunc model to the training run, register it, tag its lineage, apply the policy.

Every new version becomes @challenger; it becomes @champion only if it beats the current champion (see
registry/promotion.py). metrics/register.json says which version was registered and what was decided.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import t2igan
from t2igan.config import Params
from t2igan.errors import StageInputError
from t2igan.io import read_json, write_json
from t2igan.paths import ProjectPaths
from t2igan.registry.lineage import lineage_tags
from t2igan.registry.promotion import (
    CHALLENGER,
    METRICS_TAG,
    promote_if_better,
    summary_metrics,
    version_metrics,
)
from t2igan.registry.pyfunc import SIGNATURE
from t2igan.stages.embed import ENCODER_FILE
from t2igan.text.encoder import resolve_encoder_path, weights_hash
from t2igan.tracking import continue_run, tracking_uri

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"


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

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    pins = ["torch", "transformers", "safetensors", "pillow", "numpy", "pandas", "mlflow", "tokenizers"]
    return [f"{name}=={version(name).split('+')[0]}" for name in pins]


def _encoder_dir(paths: ProjectPaths) -> Path:
    """The encoder's files, re-resolved by name and checked against the weights the embeddings came from."""
    encoder = json.loads((paths.model_dir / ENCODER_FILE).read_text())
    spec = encoder["spec"]
    directory = resolve_encoder_path(spec["name"])
    if weights_hash(directory) != spec["weights_sha256"]:
        raise StageInputError(
            f"encoder {spec['name']!r} at {directory} is not the one the model was trained with; re-run embed"
        )
    return directory


def _compared_with(client: Any, name: str, version: str, promoted: bool, champion: str | None) -> dict | None:
    """The champion the decision was made against (version and figures), read back from the registry.

    A promoted version records the champion it replaced (`champion.previous*` tags); otherwise the champion is
    still in place and carries its own figures. None when there was no champion yet.
    """
    if promoted:
        tags = client.get_model_version(name, version).tags or {}
        previous = tags.get("champion.previous")
        if not previous:
            return None
        return {"version": previous, "metrics": json.loads(tags.get("champion.previous_metrics") or "{}")}
    if champion is None:
        return None
    return {"version": champion, "metrics": version_metrics(client.get_model_version(name, champion)) or {}}


def run(params: Params, paths: ProjectPaths) -> RegisterResult:
    import mlflow

    metrics = read_json(paths.metrics("eval")) if paths.metrics("eval").is_file() else None
    if not metrics:
        raise StageInputError(f"{paths.metrics('eval')}: not found (run `t2igan evaluate` first)")
    name = params.registry.model_name
    example = pd.DataFrame(
        {"caption": ["A small red circle on the left on a white background"], "seed": [0], "num_images": [1]}
    )
    with continue_run(paths, params.tracking.experiment) as ref:
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(Path(__file__).parents[1] / "registry" / "model_code.py"),
            artifacts={"generator": str(paths.model_dir), "encoder": str(_encoder_dir(paths))},
            code_paths=[str(Path(t2igan.__file__).parent)],
            signature=SIGNATURE,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
        tags = lineage_tags(params, paths)
        tags[METRICS_TAG] = json.dumps(summary_metrics(metrics), sort_keys=True)
        tags["run_id"] = ref.run_id
        version = mlflow.register_model(info.model_uri, name, tags=tags)
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(name, CHALLENGER, version.version)
        lock_dir = paths.mlruns if tracking_uri(paths).startswith("sqlite:") else None
        decision, champion = promote_if_better(
            client, name, version.version, metrics, params.registry, lock_dir
        )
        mlflow.set_tags({"registered_model": name, "registered_version": version.version})
        compared = _compared_with(client, name, str(version.version), decision.promote, champion)

    result = RegisterResult(
        model_name=name,
        version=str(version.version),
        run_id=ref.run_id,
        promoted=decision.promote,
        reason=decision.reason,
        champion_version=str(champion) if champion is not None else None,
        metrics=summary_metrics(metrics),
        compared_with=compared,
    )
    write_json(paths.metrics("register"), {**asdict(result), "model_uri": result.model_uri})
    log.info(
        "registered %s version %s (%s): %s",
        name,
        result.version,
        "promoted to @champion" if result.promoted else "@challenger",
        result.reason,
    )
    return result
