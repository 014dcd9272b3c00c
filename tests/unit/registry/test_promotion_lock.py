"""Which promotion lock is taken, and what a bad or unreachable lock database says."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from t2igan.env import LOCK_URL_ENV
from t2igan.errors import ConfigError, TransientError
from t2igan.paths import ProjectPaths
from t2igan.registry.promotion_lock import lock_key, promotion_lock
from tests.support.services import free_port


def test_the_lock_key_is_the_same_everywhere_and_differs_per_model() -> None:
    assert lock_key("t2igan") == lock_key("t2igan")
    assert lock_key("t2igan") != lock_key("other")
    assert -(2**63) <= lock_key("t2igan") < 2**63


def test_a_local_store_is_locked_with_a_file_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    paths = ProjectPaths.at(tmp_path)
    with promotion_lock(paths, "m"):
        assert (paths.mlruns / ".promotion.lock").exists()


def test_a_server_without_a_lock_database_is_named_in_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    with caplog.at_level(logging.WARNING), promotion_lock(ProjectPaths.at(tmp_path), "m"):
        pass
    assert f"not serialised across hosts: set {LOCK_URL_ENV}" in caplog.text


def test_a_lock_database_that_is_not_postgresql_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_URL_ENV, f"sqlite:///{tmp_path / 'lock.db'}")
    with (
        pytest.raises(ConfigError, match="needs PostgreSQL, not sqlite"),
        promotion_lock(ProjectPaths.at(tmp_path), "m"),
    ):
        pass


def test_an_unreachable_lock_database_is_transient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_URL_ENV, f"postgresql://t2igan:secret@127.0.0.1:{free_port()}/mlflow")
    with (
        pytest.raises(TransientError, match=r"unreachable") as raised,
        promotion_lock(ProjectPaths.at(tmp_path), "m"),
    ):
        pass
    assert "secret" not in str(raised.value)
