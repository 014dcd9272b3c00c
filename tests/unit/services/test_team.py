"""What team mode starts, in which order, with which addresses, and what a bad option says."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2igan.errors import ConfigError
from t2igan.services import team
from t2igan.services.credentials import Credentials, read_env_file
from t2igan.services.layout import Ports, ServicesConfig, ServicesLayout


def test_a_service_brings_what_it_needs_in_start_order() -> None:
    assert team.chosen(None) == ("postgres", "s3", "mlflow", "prefect", "worker")
    assert team.chosen(("mlflow",)) == ("postgres", "mlflow")
    assert team.chosen(("worker", "s3")) == ("postgres", "s3", "prefect", "worker")
    with pytest.raises(ConfigError, match=r"unknown service\(s\) \['redis'\]"):
        team.chosen(("redis",))


def test_the_environment_names_every_server_and_no_url_carries_a_password() -> None:
    config = ServicesConfig(Ports(postgres=6000, mlflow=6001, prefect=6002, s3=6003), host="10.1.2.3")
    credentials = Credentials("pg-secret", "mlflow-secret", "prefect-secret", "KEYID", "s3-secret")

    env = team.team_env(config, credentials)

    assert env["MLFLOW_TRACKING_URI"] == "http://10.1.2.3:6001"
    assert env["PREFECT_API_URL"] == "http://10.1.2.3:6002/api"
    assert env["T2IGAN_S3_ENDPOINT"] == env["MLFLOW_S3_ENDPOINT_URL"] == "http://10.1.2.3:6003"
    assert env["T2IGAN_PROMOTION_LOCK_URL"] == "postgresql+psycopg2://t2igan@10.1.2.3:6000/mlflow"
    assert env["T2IGAN_FEEDBACK_URL"] == "postgresql+psycopg2://t2igan@10.1.2.3:6000/feedback"
    assert env["T2IGAN_WORK_POOL"] == "t2igan"
    # each secret sits in the variable its client library reads, and in no other value
    assert env["PGPASSWORD"] == "pg-secret"
    assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == ("admin", "mlflow-secret")
    assert env["PREFECT_API_AUTH_STRING"] == "team:prefect-secret"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("KEYID", "s3-secret")
    holders = {key for key, value in env.items() if any(secret in value for secret in credentials.secrets())}
    assert holders == {
        "PGPASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
        "PREFECT_API_AUTH_STRING",
        "AWS_SECRET_ACCESS_KEY",
    }


def test_what_the_team_env_holds_is_what_a_later_start_reads_back(tmp_path: Path) -> None:
    layout = ServicesLayout.at(tmp_path / "services")
    config = ServicesConfig()
    credentials = Credentials.generate()

    team.save(layout, config, credentials)

    assert layout.env_file.stat().st_mode & 0o777 == 0o600
    assert Credentials.from_env(read_env_file(layout.env_file)) == credentials


def test_ports_and_artifacts_from_the_command_line(tmp_path: Path) -> None:
    config = team.wanted_config(str(tmp_path / "store"), ["mlflow=7000", "s3=7001"])
    assert config.ports == Ports(mlflow=7000, s3=7001)
    assert config.artifacts_destination == (tmp_path / "store").as_uri()
    assert team.wanted_config("s3://bucket/mlflow", None).artifacts_destination == "s3://bucket/mlflow"
    for bad in ("mlflow", "mlflow=x", "redis=7000", "mlflow=70000"):
        with pytest.raises(ConfigError, match="--port"):
            team.wanted_config(None, [bad])
    assert config.host == "127.0.0.1" and config.allow == ("127.0.0.1/32",)
    assert team.wanted_config(None, None, "127.0.0.1", ["10.0.0.7/8"]).allow == ("10.0.0.0/8",)
    with pytest.raises(ConfigError, match="not an address of this host"):
        team.wanted_config(None, None, "192.0.2.1")  # TEST-NET-1: never an interface's


def test_the_first_start_s_choices_are_kept_for_later_starts(tmp_path: Path) -> None:
    layout = ServicesLayout.at(tmp_path / "services")
    first = layout.config(ServicesConfig(Ports(mlflow=7100)))
    assert not layout.config_file.exists()  # nothing recorded until a start passed its checks
    layout.record(first)

    later = layout.config(ServicesConfig(Ports(mlflow=7200)))
    layout.record(later)

    assert first == later and later.ports.mlflow == 7100
    assert layout.config() == first


def test_the_services_directory_defaults_to_the_project_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T2IGAN_SERVICES_DIR", raising=False)
    assert ServicesLayout.at(None, tmp_path).root == tmp_path / ".t2igan-services"
    monkeypatch.setenv("T2IGAN_SERVICES_DIR", str(tmp_path / "shared"))
    assert ServicesLayout.at(None, tmp_path).root == tmp_path / "shared"
    assert ServicesLayout.at(tmp_path / "given", tmp_path).root == tmp_path / "given"
