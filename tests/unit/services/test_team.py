"""What team mode starts, in which order, with which addresses, and what a bad option says."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2igan.errors import ConfigError
from t2igan.services import team
from t2igan.services.layout import Ports, ServicesConfig, ServicesLayout
from tests.support.services import read_env_file


def test_a_service_brings_what_it_needs_in_start_order() -> None:
    assert team.chosen(None) == ("postgres", "s3", "mlflow", "prefect", "worker")
    assert team.chosen(("mlflow",)) == ("postgres", "mlflow")
    assert team.chosen(("worker", "s3")) == ("postgres", "s3", "prefect", "worker")
    with pytest.raises(ConfigError, match=r"unknown service\(s\) \['redis'\]"):
        team.chosen(("redis",))


def test_the_environment_names_only_what_was_started() -> None:
    config = ServicesConfig(Ports(postgres=6000, mlflow=6001, prefect=6002, s3=6003))

    env = team.team_env(config, team.chosen(("mlflow",)))

    assert env == {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:6001",
        "T2IGAN_PROMOTION_LOCK_URL": "postgresql+psycopg2://t2igan@127.0.0.1:6000/mlflow",
        "T2IGAN_FEEDBACK_URL": "postgresql+psycopg2://t2igan@127.0.0.1:6000/feedback",
    }
    everything = team.team_env(config, team.chosen(None))
    assert everything["PREFECT_API_URL"] == "http://127.0.0.1:6002/api"
    assert everything["T2IGAN_S3_ENDPOINT"] == everything["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:6003"


def test_ports_and_artifacts_from_the_command_line(tmp_path: Path) -> None:
    config = team.wanted_config(str(tmp_path / "store"), ["mlflow=7000", "s3=7001"])
    assert config.ports == Ports(mlflow=7000, s3=7001)
    assert config.artifacts_destination == (tmp_path / "store").as_uri()
    assert team.wanted_config("s3://bucket/mlflow", None).artifacts_destination == "s3://bucket/mlflow"
    for bad in ("mlflow", "mlflow=x", "redis=7000", "mlflow=70000"):
        with pytest.raises(ConfigError, match="--port"):
            team.wanted_config(None, [bad])


def test_the_first_start_s_choices_are_kept_for_later_starts(tmp_path: Path) -> None:
    layout = ServicesLayout.at(tmp_path / "services")
    first = layout.config(ServicesConfig(Ports(mlflow=7100)))

    later = layout.config(ServicesConfig(Ports(mlflow=7200)))

    assert first == later and later.ports.mlflow == 7100


def test_the_env_file_is_key_value_lines(tmp_path: Path) -> None:
    layout = ServicesLayout.at(tmp_path)
    team.write_env_file(layout, {"B": "2", "A": "x://y:1/z"})
    lines = layout.env_file.read_text().splitlines()
    assert lines[0].startswith("#") and lines[1:] == ["A=x://y:1/z", "B=2"]
    assert read_env_file(layout.env_file) == {"A": "x://y:1/z", "B": "2"}


def test_the_services_directory_defaults_to_the_project_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T2IGAN_SERVICES_DIR", raising=False)
    assert ServicesLayout.at(None, tmp_path).root == tmp_path / ".t2igan-services"
    monkeypatch.setenv("T2IGAN_SERVICES_DIR", str(tmp_path / "shared"))
    assert ServicesLayout.at(None, tmp_path).root == tmp_path / "shared"
    assert ServicesLayout.at(tmp_path / "given", tmp_path).root == tmp_path / "given"
