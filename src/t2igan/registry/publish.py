"""Registering a trained model: the pyfunc model logged to its training run, a new version, its tags.

The model is "models from code" (t2igan.registry.model_code): its directory carries the generator, the text
encoder's own files and t2igan's code, so it loads offline in a fresh environment. The version carries its
lineage (t2igan.registry.lineage); its summary figures, which the promotion policy compares, are metrics of
the logged model it is registered from, each on its own, on the run's test split: the MLflow UI shows and
sorts them, and `mlflow.search_logged_models` filters on them (t2igan.registry.aliases reads them back).
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pandas as pd

import t2igan
from t2igan.config import Params
from t2igan.errors import StageInputError
from t2igan.gan.export import WEIGHTS_FILE
from t2igan.io import sha256_file
from t2igan.metrics.figures import summary
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import CHALLENGER, FIGURES_TAG
from t2igan.registry.lineage import lineage_tags
from t2igan.registry.pyfunc import SIGNATURE
from t2igan.text.embeddings import read_encoder_record
from t2igan.text.locate import resolve_encoder_path, weights_hash
from t2igan.text.tuning import TUNING_DIR, read_tuning

MODEL_ARTIFACT = "model"
IDENTITY_TAG = "model.sha256"
PINNED = [
    "torch",
    "transformers",
    "safetensors",
    "pillow",
    "numpy",
    "pandas",
    "mlflow",
    "tokenizers",
    "peft",  # an adapted LM's LoRA (t2igan.text.tuning)
    "pydantic",
]
EXAMPLE = {"caption": ["A small red circle on the left on a white background"], "seed": [0], "num_images": [1]}


def pip_requirements() -> list[str]:
    return [f"{name}=={installed_version(name).split('+')[0]}" for name in PINNED]


def encoder_files(paths: ProjectPaths) -> Path:
    """The encoder's files, re-resolved by name and checked against the weights the embeddings came from."""
    spec = read_encoder_record(paths.model_dir)["spec"]
    directory = resolve_encoder_path(spec["name"])
    if weights_hash(directory) != spec["weights_sha256"]:
        raise StageInputError(
            f"encoder {spec['name']!r} at {directory} is not the one the model was trained with; re-run embed"
        )
    return directory


def model_identity(paths: ProjectPaths, params: Params) -> str:
    """What makes two registered models the same model: generator weights, text encoder and its adaptation,
    caption limit."""
    encoder = read_encoder_record(paths.model_dir)["fingerprint"]
    weights = sha256_file(paths.model_dir / WEIGHTS_FILE)
    tuning = read_tuning(paths.model_dir / TUNING_DIR)
    if tuning is not None:
        weights = f"{weights}+{tuning['weights_sha256']}"
    return hashlib.sha256(f"{weights} {encoder} {params.validation.max_caption_chars}".encode()).hexdigest()


def registered_twin(client: Any, name: str, identity: str) -> Any | None:
    """The version already registered with this identity (an experiment that changed only evaluation).

    The registry finds it by its identity tag, so a model with many versions is not read whole.
    """
    found = client.search_model_versions(
        f"name='{name}' and tags.`{IDENTITY_TAG}` = '{identity}'", max_results=1
    )
    return found[0] if found else None


def evaluation_dataset(run: Any) -> Any | None:
    """The dataset the training run logged as its test split (t2igan.training.run_log), which evaluation
    measures on; None for a run without one."""
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    found = None
    for item in run.inputs.dataset_inputs if run.inputs else []:
        if any(tag.key == MLFLOW_DATASET_CONTEXT and tag.value == "testing" for tag in item.tags or []):
            found = item.dataset
    return found


def log_figures(run_id: str, model_id: str, figures: dict[str, Any]) -> None:
    """The summary figures on the logged model: each number a metric on the run's test split, the entries
    naming them (`fid_name`) tags, then FIGURES_TAG, which says they are there.

    On a dataset because MLflow also links to the model every metric its run logged (or logs later, a re-run
    evaluate) at the model's step, without one; the test split is the dataset those figures were measured on.
    """
    import mlflow

    client = mlflow.MlflowClient()
    dataset = evaluation_dataset(client.get_run(run_id))
    numbers = {key: float(value) for key, value in figures.items() if not isinstance(value, str)}
    mlflow.log_metrics(numbers, run_id=run_id, model_id=model_id, dataset=dataset, synchronous=True)
    names = {key: value for key, value in figures.items() if isinstance(value, str)}
    client.set_logged_model_tags(model_id, {**names, FIGURES_TAG: dataset.name if dataset is not None else ""})


def publish(params: Params, paths: ProjectPaths, run_id: str, metrics: dict[str, Any]) -> Any:
    """Log the model to the active run, register it as a new @challenger version; return that version.

    Identical weights are not registered twice: the version that has them becomes @challenger again.
    """
    import mlflow

    name = params.register_.model_name
    client = mlflow.MlflowClient()
    identity = model_identity(paths, params)
    twin = registered_twin(client, name, identity)
    if twin is not None:
        client.set_registered_model_alias(name, CHALLENGER, twin.version)
        return twin
    info = mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=str(Path(__file__).with_name("model_code.py")),
        artifacts={"generator": str(paths.model_dir), "encoder": str(encoder_files(paths))},
        code_paths=[str(Path(t2igan.__file__).parent)],
        signature=SIGNATURE,
        input_example=pd.DataFrame(EXAMPLE),
        pip_requirements=pip_requirements(),
        # What the served model refuses is what validation refused in training (t2igan.registry.pyfunc).
        model_config={"max_caption_chars": params.validation.max_caption_chars},
    )
    log_figures(run_id, info.model_id, summary(metrics))
    tags = lineage_tags(params, paths)
    tags["run_id"] = run_id
    tags[IDENTITY_TAG] = identity
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version
