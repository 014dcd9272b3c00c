"""One run's overrides: written where DVC sees them, layered over params.yaml, gone after the run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from t2igan.config import OVERRIDE_FILE, load_params, overrides
from t2igan.errors import ConfigError
from t2igan.stages import STAGES
from tests.support.project import REPO, tiny_params_dict


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params_dict(), sort_keys=False))
    return tmp_path


def test_nest_keeps_every_section_and_merges_dotted_keys_with_sections() -> None:
    nested = overrides.nest({"train.lr_g": 0.0002, "train.model.nf": 8, "evaluate": {"seed": 3}})
    assert list(nested) == ["data", "validation", "embed", "train", "evaluate", "register", "tracking"]
    assert nested["train"] == {"lr_g": 0.0002, "model": {"nf": 8}}
    assert nested["evaluate"] == {"seed": 3}
    assert nested["data"] == {} and nested["register"] == {}


def test_unknown_section_and_bad_section_values_fail_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"override trian: unknown section"):
        overrides.nest({"trian.steps": 3})
    with pytest.raises(ConfigError, match=r"override train: a whole section must be a mapping"):
        overrides.nest({"train": 5})


def test_override_file_is_layered_over_params_yaml(root: Path) -> None:
    (root / OVERRIDE_FILE).write_text(overrides.render(overrides.nest({"train.steps": 5, "train.lr_g": 0.001})))
    params = load_params(root / "params.yaml")
    assert (params.train.steps, params.train.lr_g) == (5, 0.001)
    assert params.train.batch_size == tiny_params_dict()["train"]["batch_size"]  # the rest from params.yaml


def test_a_bad_key_in_the_override_file_names_both_files(root: Path) -> None:
    (root / OVERRIDE_FILE).write_text(overrides.render(overrides.nest({"train.lr_gg": 0.1})))
    with pytest.raises(ConfigError) as excinfo:
        load_params(root / "params.yaml")
    assert str(excinfo.value) == (
        f"{root / 'params.yaml'} + {OVERRIDE_FILE}: train.lr_gg: unknown key (did you mean 'lr_g'?)"
    )


def test_applied_writes_the_run_s_values_then_empties_the_file_even_on_failure(root: Path) -> None:
    params_bytes = (root / "params.yaml").read_bytes()
    with (
        pytest.raises(RuntimeError, match="stage blew up"),
        overrides.applied(root, {"train.steps": 3}) as params,
    ):
        assert params.train.steps == 3
        written = yaml.safe_load((root / OVERRIDE_FILE).read_text())
        assert written["train"] == {"steps": 3}
        assert load_params(root / "params.yaml").train.steps == 3  # what the stages' CLI reads
        raise RuntimeError("stage blew up")
    assert (root / OVERRIDE_FILE).read_text() == overrides.empty_file()
    assert (root / "params.yaml").read_bytes() == params_bytes
    assert load_params(root / "params.yaml").train.steps == tiny_params_dict()["train"]["steps"]


def test_invalid_overrides_fail_before_anything_is_written(root: Path) -> None:
    with (
        pytest.raises(ConfigError, match=r"train\.steps: .*'many'"),
        overrides.applied(root, {"train.steps": "many"}),
    ):
        pass
    assert not (root / OVERRIDE_FILE).exists()


def test_committed_override_file_is_empty_and_in_step_with_the_sections() -> None:
    assert (REPO / OVERRIDE_FILE).read_text() == overrides.empty_file()


def test_every_stage_tracks_its_sections_in_both_params_files() -> None:
    # Given dvc.yaml, every section a stage tracks in params.yaml is tracked in the override file too: an
    # override DVC cannot see would leave dvc.lock claiming values the outputs were not built with.
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert tuple(stages) == STAGES
    for name, stage in stages.items():
        base, layered = set(), set()
        for entry in stage.get("params", []):
            if isinstance(entry, dict):
                layered |= {key.split(".")[0] for key in entry[OVERRIDE_FILE]}
            else:
                base.add(entry.split(".")[0])
        assert base and base <= layered, f"{name}: params.yaml {sorted(base)}, override file {sorted(layered)}"
