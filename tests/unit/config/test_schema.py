"""params.yaml is complete, strict, and its errors name the bad key in one line."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml

from t2igan.config import DataParams, Source, apply_dotted, load_params, merge_layers, parse_params
from t2igan.errors import ConfigError
from tests.support.project import REPO, repo_params, tiny_params_dict


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
    assert params.register_.model_name == "shapes"
    with pytest.raises(ConfigError, match=r"register\.model_nam: unknown key"):
        parse_params(tiny_params_dict(register={"model_nam": "x"}))


def test_overrides_apply_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params_dict()))
    params = load_params(path, overrides={"train.steps": 7, "evaluate.judge.epochs": 2})
    assert (params.train.steps, params.evaluate.judge.epochs) == (7, 2)


def test_layers_merge_section_by_section_and_replace_lists_and_scalars_whole() -> None:
    merged = merge_layers(
        {"train": {"steps": 1, "augment": ["color"], "model": {"nf": 8}}},
        None,
        {"train": {"augment": ["cutout"], "model": {"d_nf": 4}}},
    )
    assert merged == {"train": {"steps": 1, "augment": ["cutout"], "model": {"nf": 8, "d_nf": 4}}}
    assert merge_layers({"data": {"path": "${HOME}/x"}}) == {"data": {"path": "${HOME}/x"}}  # taken as written


def test_dotted_overrides_reach_into_sections_and_refuse_a_value_as_a_section() -> None:
    assert apply_dotted({"train": {"steps": 1}}, {"train.model.nf": 4}) == {
        "train": {"steps": 1, "model": {"nf": 4}}
    }
    with pytest.raises(ConfigError, match=r"override train\.steps: 'train' is not a section"):
        apply_dotted({"train": 5}, {"train.steps": 3})


def test_every_source_is_accepted_and_a_file_or_directory_source_needs_its_path() -> None:
    sources = get_args(Source)
    assert sources[0] == "synthetic" and len(sources) == 9
    for source in sources[1:]:
        assert DataParams(source=source, path="/data").source == source
    with pytest.raises(ConfigError, match=r"data\.path: source 'coco' needs data\.path"):
        parse_params(tiny_params_dict(data={"source": "coco"}))
    with pytest.raises(ConfigError, match=r"data\.source: Input should be 'synthetic', 'coco'"):
        parse_params(tiny_params_dict(data={"source": "parquet"}))


def test_types_are_strict_a_bool_is_not_a_count_and_a_float_is_not_an_int() -> None:
    with pytest.raises(
        ConfigError, match=r"^params.yaml: train\.steps: Input should be a valid integer \(got True\)$"
    ):
        parse_params(tiny_params_dict(train={"steps": True}))
    with pytest.raises(ConfigError, match=r"train\.batch_size: Input should be a valid integer \(got 8\.5\)"):
        parse_params(tiny_params_dict(train={"batch_size": 8.5}))
    with pytest.raises(ConfigError, match=r"train\.compile: Input should be a valid boolean \(got 1\)"):
        parse_params(tiny_params_dict(train={"compile": 1}))
    params = parse_params(tiny_params_dict(train={"lr_g": 1, "betas": [0.0, 0.99]}))  # an int is a fine float
    assert params.train.lr_g == 1.0 and params.train.betas == (0.0, 0.99)


def test_a_missing_dataset_path_is_one_line_naming_the_key_not_the_section() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_params(tiny_params_dict(data={"source": "reed", "path": None}))
    assert (
        str(caught.value)
        == "params.yaml: data.path: source 'reed' needs data.path (the dataset directory or file)"
    )


def test_a_gate_reading_the_network_d_judges_through_is_refused_in_one_line(tmp_path: Path) -> None:
    raw = tiny_params_dict()
    raw["train"]["model"]["d_backbone"] = "inception"
    with pytest.raises(
        ConfigError, match=r"register\.primary_metric: fid is measured in 'inception'"
    ) as refused:
        parse_params(raw)
    assert "\n" not in str(refused.value)
    raw["register"]["allow_primary_on_d_backbone"] = True  # explicitly allowed
    assert parse_params(raw).train.model.d_backbone == "inception"
    # An fd_<name> on the same checkpoint, however the path is written, is refused the same way.
    dino = tmp_path / "dino"
    dino.mkdir()
    raw = tiny_params_dict()
    raw["train"]["model"]["d_backbone"] = str(dino)
    raw["evaluate"]["feature_networks"] = {"dino": str(tmp_path / "." / "dino"), "other": "org/another"}
    raw["register"]["primary_metric"] = "fd_dino"
    with pytest.raises(
        ConfigError, match=r"fd_dino is measured in .*dino'.* the network train\.model\.d_backbone"
    ):
        parse_params(raw)
    raw["register"]["primary_metric"] = "fd_other"  # another network: the intended use
    assert parse_params(raw).register_.primary_metric == "fd_other"
    raw["register"]["primary_metric"] = "fd_missing"
    with pytest.raises(
        ConfigError, match=r"fd_missing names no network of evaluate\.feature_networks \(dino, other\)"
    ):
        parse_params(raw)
