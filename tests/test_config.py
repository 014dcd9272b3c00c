"""params.yaml is complete, strict, and its errors name the bad key in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO, cli, repo_params, tiny_params_dict
from t2igan.config import load_params, parse_params
from t2igan.errors import ConfigError


def test_repo_params_file_is_valid_and_names_every_knob() -> None:
    # Given the committed params.yaml, when it is validated, then it spells out every setting (no hidden
    # defaults): its contents equal the full dump of the validated model.
    params = load_params(REPO / "params.yaml")
    assert params.model_dump(mode="json", by_alias=True) == repo_params()


def test_unknown_key_fails_with_its_dotted_name_and_a_suggestion(tmp_path: Path) -> None:
    raw = tiny_params_dict()
    raw["train"]["lr_gg"] = 0.1
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as excinfo:
        load_params(path)
    message = str(excinfo.value)
    assert "train.lr_gg: unknown key (did you mean 'lr_g'?)" in message
    assert "\n" not in message


def test_wrong_type_names_key_and_value() -> None:
    raw = tiny_params_dict()
    raw["train"]["steps"] = "many"
    with pytest.raises(ConfigError, match=r"train\.steps: .*'many'"):
        parse_params(raw)


def test_image_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ConfigError, match=r"data\.image_size"):
        parse_params(tiny_params_dict(data={"image_size": 24}))


def test_register_section_keeps_its_yaml_name() -> None:
    params = parse_params(tiny_params_dict(register={"model_name": "shapes"}))
    assert params.registry.model_name == "shapes"
    with pytest.raises(ConfigError, match=r"register\.model_nam: unknown key"):
        parse_params(tiny_params_dict(register={"model_nam": "x"}))


def test_overrides_apply_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params_dict()))
    params = load_params(path, overrides={"train.steps": 7, "evaluate.judge.epochs": 2})
    assert (params.train.steps, params.evaluate.judge.epochs) == (7, 2)


def test_cli_reports_a_bad_params_file_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    raw = tiny_params_dict()
    raw["validation"]["max_bad_fractoin"] = 0.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    done = cli("ingest", cwd=tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert errors == [
        "t2igan ingest: error: params.yaml: validation.max_bad_fractoin: unknown key "
        "(did you mean 'max_bad_fraction'?)"
    ]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()
