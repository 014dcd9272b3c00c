"""The team's credentials: new ones are random, a rotation changes every password, team.env is 0600."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2igan.errors import ConfigError
from t2igan.services.credentials import Credentials, read_env_file, write_env_file


def test_generated_credentials_are_distinct_and_long() -> None:
    first, second = Credentials.generate(), Credentials.generate()
    values = [first.postgres, first.mlflow_admin, first.prefect, second.postgres]
    assert len(set(values)) == 4 and all(len(value) >= 40 for value in values)
    assert first.s3_env() == {}  # moto's key exists only once its server runs


def test_a_rotation_changes_every_password_and_leaves_the_s3_key_to_iam() -> None:
    current = Credentials("a", "b", "c", "KEY", "secret")
    rotated = current.rotated()
    assert {rotated.postgres, rotated.mlflow_admin, rotated.prefect}.isdisjoint({"a", "b", "c"})
    assert (rotated.s3_key_id, rotated.s3_secret) == ("KEY", "secret")


def test_an_env_file_without_credentials_reads_as_none() -> None:
    assert Credentials.from_env({"MLFLOW_TRACKING_URI": "http://x"}) is None
    assert (
        Credentials.from_env({"PGPASSWORD": "p", "MLFLOW_TRACKING_PASSWORD": "m"}) is None
    )  # no Prefect string


def test_the_env_file_is_private_key_value_lines(tmp_path: Path) -> None:
    path = tmp_path / "team.env"
    write_env_file(path, {"B": "2", "A": "x://y:1/z"})
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#") and lines[1:] == ["A=x://y:1/z", "B=2"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_env_file(path) == {"A": "x://y:1/z", "B": "2"}
    assert read_env_file(tmp_path / "missing.env") == {}
    path.write_text("A=1\nnot a pair\n")
    with pytest.raises(ConfigError, match=r"team.env:2: expected KEY=value"):
        read_env_file(path)
