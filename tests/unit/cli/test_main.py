"""The command line: one command per DVC stage, params found in the project, one-line errors, no locals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from t2igan.cli.flow import parse_set
from t2igan.cli.main import app
from t2igan.cli.project import Project
from t2igan.errors import ConfigError
from t2igan.stages import STAGES
from tests.support.project import tiny_params_dict

runner = CliRunner()


def _names(typer_app) -> set[str]:
    return {command.name or command.callback.__name__ for command in typer_app.registered_commands}


def test_every_dvc_stage_is_a_command_and_the_flow_has_its_own() -> None:
    # the top-level commands come from groups added without a name of their own
    unnamed = [group.typer_instance for group in app.registered_groups if not isinstance(group.name, str)]
    merged = {name for commands in unnamed for name in _names(commands)}
    assert set(STAGES) <= merged
    assert {"generate", "promote", "rollback", "doctor", "studio", "describe"} <= merged
    flow = next(group.typer_instance for group in app.registered_groups if group.name == "flow")
    assert _names(flow) == {"run", "serve", "deploy"}


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
    assert Project(project, Path("/etc/p.yaml")).params_path == Path("/etc/p.yaml")
    assert Project(None, Path("p.yaml")).params_path == Path("p.yaml")  # the current directory's
    assert Project(project, Path("p.yaml")).params_path == project / "p.yaml"


CRASH = """
from t2igan.cli.main import app

@app.command()
def crash() -> None:
    token = "".join(reversed("em-tnirp-ton-od"))  # a value the source does not show
    raise RuntimeError("a crash that is not a T2iganError")

app()
"""


def test_a_crash_prints_its_traceback_without_local_variables(tmp_path: Path) -> None:
    # Crash logs are kept (by Prefect, by CI), and locals can hold anything: a password, a token.
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    done = subprocess.run([sys.executable, str(script), "crash"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "RuntimeError: a crash that is not a T2iganError" in done.stderr
    assert "do-not-print-me" not in done.stderr + done.stdout


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
