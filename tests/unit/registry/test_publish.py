"""Publishing on a real (sqlite) registry: figures as metrics of the logged model, a twin found by search."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from t2igan.metrics.figures import summary
from t2igan.registry.aliases import FIGURES_TAG, logged_model_id, version_metrics
from t2igan.registry.publish import IDENTITY_TAG, log_figures, registered_twin
from tests.support.project import empty_mlflow_store

EVALUATION = {"fid_name": "fid_1k", "fid_1k": 40.0, "alignment": 0.75, "attr_acc_heldout/shape": 0.5}


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: pd.DataFrame) -> pd.DataFrame:
        return model_input


class RecordingClient:
    """The registry client, recording what each search of model versions returned."""

    def __init__(self, client: mlflow.MlflowClient) -> None:
        self.client = client
        self.returned: list[list[str]] = []

    def search_model_versions(self, *args: Any, **kwargs: Any) -> Any:
        found = self.client.search_model_versions(*args, **kwargs)
        self.returned.append([f"{v.name}/{v.version}" for v in found])
        return found


@pytest.fixture
def client(tmp_path: Path) -> mlflow.MlflowClient:
    uri = empty_mlflow_store(tmp_path / "mlruns")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient()


def test_the_twin_is_found_by_the_registry_s_search_not_by_reading_every_version(
    client: mlflow.MlflowClient, tmp_path: Path
) -> None:
    for name in ("t2igan", "other"):
        client.create_registered_model(name)
    for identity in ("a", "b", "c", "d", "e"):
        client.create_model_version("t2igan", source=str(tmp_path), tags={IDENTITY_TAG: identity})
    client.create_model_version("other", source=str(tmp_path), tags={IDENTITY_TAG: "c"})  # another model's

    recording = RecordingClient(client)
    twin = registered_twin(recording, "t2igan", "c")
    assert twin is not None and (twin.name, str(twin.version)) == ("t2igan", "3")
    assert twin.tags[IDENTITY_TAG] == "c"
    assert recording.returned == [["t2igan/3"]]  # the registry filtered: one search, only the twin came back
    assert registered_twin(recording, "t2igan", "z") is None and recording.returned[-1] == []


def test_the_figures_are_the_logged_model_s_metrics_and_a_re_run_evaluate_does_not_change_them(
    client: mlflow.MlflowClient,
) -> None:
    from mlflow.data.pandas_dataset import from_pandas

    with mlflow.start_run() as run:  # as training and evaluate leave the run, then register
        rows = pd.DataFrame({"id": ["r1", "r2"], "caption": ["a red circle", "a blue square"]})
        with warnings.catch_warnings():  # MLflow registers its local-file source class twice and says so
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted", UserWarning)
            test_split = from_pandas(rows, source="clean.parquet", name="synthetic-test")
        mlflow.log_input(test_split, context="testing")
        mlflow.log_metrics({"fid_1k": 40.0, "alignment": 0.75})
        info = mlflow.pyfunc.log_model(name="model", python_model=Echo())
        log_figures(run.info.run_id, info.model_id, summary(EVALUATION))
        version = mlflow.register_model(info.model_uri, "t2igan")
        # Evaluate again in the same run (other weights): MLflow links these to the logged model too.
        mlflow.log_metrics({"fid_1k": 99.0, "alignment": 0.1})
    model = client.get_logged_model(info.model_id)
    assert {m.value for m in model.metrics if m.key == "fid_1k"} >= {40.0, 99.0}

    assert logged_model_id(version) == info.model_id
    assert model.tags[FIGURES_TAG] == "synthetic-test" and model.tags["fid_name"] == "fid_1k"
    assert version_metrics(client, version) == {"fid_name": "fid_1k", "fid_1k": 40.0, "alignment": 0.75}

    def found(filter_string: str) -> list[str]:
        models = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=filter_string,
            datasets=[{"dataset_name": "synthetic-test"}],
            output_format="list",
        )
        return [m.model_id for m in models]

    assert found("metrics.fid_1k < 50 AND metrics.alignment > 0.7") == [info.model_id]
    assert found("metrics.fid_1k > 50") == []  # 99 was not measured on the test split's figures
