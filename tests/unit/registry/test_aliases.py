"""Alias moves on a real (sqlite) registry: every move recorded, promote by hand, roll back along the chain."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import yaml

from t2igan.config import load_params
from t2igan.errors import T2iganError
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import (
    CHAMPION,
    METRICS_TAG,
    current_champion,
    manual_promote,
    move_champion,
    rollback_champion,
)
from tests.support.project import empty_mlflow_store, tiny_params_dict


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Path, mlflow.MlflowClient]:
    """A project whose registry holds model `t2igan` with versions 1..3 (FIDs 60, 50, 40), no champion."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params_dict()))
    uri = empty_mlflow_store(ProjectPaths.at(tmp_path).mlruns)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("t2igan")
    for fid in (60.0, 50.0, 40.0):
        version = client.create_model_version("t2igan", source=str(tmp_path))
        client.set_model_version_tag("t2igan", version.version, METRICS_TAG, json.dumps({"fid_1k": fid}))
    yield tmp_path, client


def _champion(client: mlflow.MlflowClient) -> str:
    return str(client.get_model_version_by_alias("t2igan", CHAMPION).version)


def test_a_move_records_when_why_and_what_it_replaced(registry: tuple[Path, mlflow.MlflowClient]) -> None:
    _, client = registry
    assert current_champion(client, "t2igan") is None
    move_champion(client, "t2igan", "1", "no champion yet", None)
    move_champion(client, "t2igan", "2", "better", current_champion(client, "t2igan"))
    tags = client.get_model_version("t2igan", "2").tags
    assert _champion(client) == "2" and tags["champion.reason"] == "better" and tags["champion.since"]
    assert tags["champion.previous"] == "1" and json.loads(tags["champion.previous_metrics"]) == {
        "fid_1k": 60.0
    }
    assert client.get_model_version("t2igan", "1").tags["champion.previous"] == ""


def test_promote_by_hand_then_roll_back_along_the_chain(registry: tuple[Path, mlflow.MlflowClient]) -> None:
    root, client = registry
    params, paths = load_params(root / "params.yaml"), ProjectPaths.at(root)
    with pytest.raises(T2iganError, match="has no @champion to roll back"):
        rollback_champion(params, paths)
    for version in ("1", "3"):
        manual_promote(version, "demo", params, paths)
    assert (
        _champion(client) == "3"
        and client.get_model_version("t2igan", "3").tags["champion.reason"] == "manual: demo"
    )
    assert rollback_champion(params, paths) == ("t2igan", "1")
    assert _champion(client) == "1"
    assert client.get_model_version("t2igan", "1").tags["champion.reason"] == "rollback from version 3"
    assert client.get_model_version("t2igan", "3").tags["champion.rolled_back_at"]
    with pytest.raises(T2iganError, match="version 1 replaced no earlier champion"):
        rollback_champion(params, paths)
    with pytest.raises(T2iganError, match="t2igan has no version 9"):
        manual_promote("9", "typo", params, paths)


def test_promoting_the_champion_is_a_no_op_that_says_so(registry: tuple[Path, mlflow.MlflowClient]) -> None:
    root, client = registry
    params, paths = load_params(root / "params.yaml"), ProjectPaths.at(root)
    manual_promote("1", "first", params, paths)
    manual_promote("3", "better", params, paths)
    before = client.get_model_version("t2igan", "3").tags
    assert manual_promote("3", "again", params, paths) == ("t2igan", False)
    assert client.get_model_version("t2igan", "3").tags == before  # never its own champion.previous
    assert rollback_champion(params, paths) == ("t2igan", "1")  # the chain still leads back
    with pytest.raises(T2iganError, match="replaced no earlier champion"):
        rollback_champion(params, paths)


def test_the_chain_can_never_point_at_itself(registry: tuple[Path, mlflow.MlflowClient]) -> None:
    _, client = registry
    move_champion(client, "t2igan", "2", "first", None)
    with pytest.raises(T2iganError, match="version 2 is already @champion"):
        move_champion(client, "t2igan", "2", "again", current_champion(client, "t2igan"))
    client.set_model_version_tag("t2igan", "2", "champion.previous", "2")  # a loop written by hand
    root = Path(client.tracking_uri.removeprefix("sqlite:///")).parents[1]
    with pytest.raises(T2iganError, match=r"version 2's history points at itself"):
        rollback_champion(load_params(root / "params.yaml"), ProjectPaths.at(root))


def test_a_version_registered_by_older_code_keeps_its_figures_in_the_json_tag(tmp_path: Path) -> None:
    from t2igan.registry.aliases import logged_model_id, version_metrics
    from tests.unit.registry.test_publish import Echo

    uri = empty_mlflow_store(tmp_path / "mlruns")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with mlflow.start_run():
        mlflow.log_metrics({"fid_1k": 99.0})  # MLflow copies it onto the logged model: not the figures
        info = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    stored = {"fid_name": "fid_1k", "fid_1k": 40.0}
    version = mlflow.register_model(info.model_uri, "t2igan", tags={METRICS_TAG: json.dumps(stored)})
    client = mlflow.MlflowClient()
    assert logged_model_id(version) == info.model_id
    assert version_metrics(client, version) == stored
    bare = client.create_model_version("t2igan", source=str(tmp_path))  # by hand: no logged model, no tag
    assert logged_model_id(bare) is None and version_metrics(client, bare) is None
