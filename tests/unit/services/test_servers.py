"""The servers' commands: bound to the team's address, authenticated, and no secret among their arguments."""

from __future__ import annotations

import configparser
from pathlib import Path

from t2igan.services import servers
from t2igan.services.credentials import Credentials
from t2igan.services.layout import Ports, ServicesConfig, ServicesLayout


def test_no_server_gets_a_secret_in_its_arguments_and_each_binds_the_team_s_address(tmp_path: Path) -> None:
    layout = ServicesLayout.at(tmp_path / "services")
    config = ServicesConfig(Ports(postgres=6000, mlflow=6001, prefect=6002, s3=6003), host="10.1.2.3")
    credentials = Credentials("pg-secret", "mlflow-secret", "prefect-secret", "KEYID", "s3-secret")

    started = [
        servers.s3(config),
        servers.mlflow(layout, config, credentials),
        servers.prefect_server(layout, config, credentials),
    ]

    for server in started:
        arguments = " ".join(server.command)
        assert not any(secret in arguments for secret in credentials.secrets()), server.name
        assert "10.1.2.3" in arguments and "127.0.0.1" not in arguments, server.name
    mlflow, prefect = started[1], started[2]
    assert mlflow.command[mlflow.command.index("--app-name") + 1] == "basic-auth"
    assert mlflow.env["PGPASSWORD"] == prefect.env["PGPASSWORD"] == "pg-secret"
    assert mlflow.env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "mlflow-secret"
    assert prefect.env["PREFECT_SERVER_API_AUTH_STRING"] == "team:prefect-secret"
    assert "10.1.2.3:6001" in mlflow.command[mlflow.command.index("--allowed-hosts") + 1].split(",")


def test_the_auth_app_s_configuration_file_holds_no_secret(tmp_path: Path) -> None:
    layout = ServicesLayout.at(tmp_path / "services")
    config = ServicesConfig(host="10.1.2.3")
    credentials = Credentials("pg-secret", "mlflow-secret", "prefect-secret")

    servers.mlflow(layout, config, credentials)

    text = layout.mlflow_auth_config.read_text()
    assert not any(secret in text for secret in credentials.secrets())
    parsed = configparser.ConfigParser()
    parsed.read_string(text)
    assert parsed["mlflow"]["database_uri"] == "postgresql+psycopg2://t2igan@10.1.2.3:55432/mlflow_auth"
    assert parsed["mlflow"]["default_permission"] == "READ"
