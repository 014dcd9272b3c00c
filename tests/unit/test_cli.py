"""The command line: one command per DVC stage, params found in the project, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from t2igan.cli import app, params_path, parse_set
from t2igan.errors import ConfigError
from t2igan.stages import STAGES
from tests.support.project import tiny_params_dict

runner = CliRunner()


def test_every_dvc_stage_is_a_command_and_the_flow_has_its_own() -> None:
    names = {
        command.name or command.callback.__name__ for command in app.registered_commands if command.callback
    }
    assert set(STAGES) <= names and {"generate", "promote", "rollback", "doctor"} <= names
    flow = next(group.typer_instance for group in app.registered_groups if group.name == "flow")
    assert flow is not None and {command.name for command in flow.registered_commands} == {
        "run",
        "serve",
        "deploy",
    }


def test_params_resolve_against_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    raw = tiny_params_dict()
    raw["train"]["lr_gg"] = 0.1
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)  # a params.yaml here would be the wrong one
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params_dict()))
    done = runner.invoke(app, ["ingest", "--project", str(project)])
    assert done.exit_code == 2
    assert f"t2igan ingest: error: {project / 'params.yaml'}: train.lr_gg: unknown key" in done.output
    assert params_path(Path("/etc/p.yaml"), project) == Path("/etc/p.yaml")
    assert params_path(Path("p.yaml"), None) == Path("p.yaml")  # the current directory's


def test_tracebacks_do_not_print_local_variables() -> None:
    assert app.pretty_exceptions_show_locals is False  # crash logs are kept by Prefect; locals hold anything


def test_set_values_are_read_as_yaml_and_bad_pairs_are_refused() -> None:
    assert parse_set(["train.lr_g=0.0002", "train.augment=[color, cutout]", "train.compile=true"]) == {
        "train.lr_g": 0.0002,
        "train.augment": ["color", "cutout"],
        "train.compile": True,
    }
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_set(["train.steps"])


def test_a_flow_command_outside_a_project_says_so_in_one_line(tmp_path: Path) -> None:
    done = runner.invoke(app, ["flow", "run", "--project", str(tmp_path)])
    assert done.exit_code == 2
    assert f"t2igan flow run: error: {tmp_path}: no flows/training.py here" in done.output
