"""The environment of the tools t2igan starts: offline, this environment's scripts found, PATH order kept."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from t2igan.env import OFFLINE_DEFAULTS, apply_offline_defaults, script, subprocess_env

SCRIPTS = str(Path(sys.executable).parent)


def test_the_offline_defaults_yield_to_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("DVC_NO_ANALYTICS", raising=False)
    apply_offline_defaults()
    assert (
        os.environ["HF_HUB_OFFLINE"] == "0"
        and os.environ["DVC_NO_ANALYTICS"] == OFFLINE_DEFAULTS["DVC_NO_ANALYTICS"]
    )


def test_this_environment_s_scripts_go_on_path_unless_already_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    assert subprocess_env()["PATH"].split(os.pathsep) == [SCRIPTS, "/usr/bin"]
    monkeypatch.setenv("PATH", os.pathsep.join(["/wrapper", SCRIPTS, "/usr/bin"]))  # a fault wrapper first
    assert subprocess_env()["PATH"].split(os.pathsep) == ["/wrapper", SCRIPTS, "/usr/bin"]
    env = subprocess_env(first_on_path=["/first"], overrides={"MLFLOW_TRACKING_URI": "sqlite:///x.db"})
    assert env["PATH"].split(os.pathsep)[0] == "/first" and env["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"


def test_a_script_is_found_in_this_environment() -> None:
    assert script("dvc") == str(Path(SCRIPTS) / "dvc")
    assert script("no-such-tool-anywhere") == "no-such-tool-anywhere"
