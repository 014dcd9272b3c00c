"""The layers hold: stage modules are imported only by entry points, and dvc.yaml's code deps are the imports.

DESIGN.md's arrows point down: entry points (cli, flows) > stages > domain packages > infrastructure. A domain
module importing a stage would put stage logic where the flows and the CLI cannot see it. And DVC reruns a
stage only when a dependency it was told about changes, so the deps must name all the code the stage imports.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from t2igan.stages import STAGES
from tests.support.imports import closure, code_units, imported, modules
from tests.support.project import REPO


def is_entry_point(name: str) -> bool:
    return name == "t2igan.cli" or name.startswith("t2igan.cli.")


# The registered model carries t2igan's whole package (registry/publish.py), so its stage depends on all of it.
SHIPS_THE_PACKAGE = {"register"}


def test_only_entry_points_and_stages_import_a_stage_module() -> None:
    offenders = {
        name: sorted(found)
        for name, path in modules().items()
        if not is_entry_point(name) and not name.startswith("t2igan.stages")
        if (found := {m for m in imported(path) if m.startswith("t2igan.stages.")})
    }
    assert offenders == {}
    for stage in STAGES:  # and no stage imports another
        others = {m for m in imported(modules()[f"t2igan.stages.{stage}"]) if m.startswith("t2igan.stages.")}
        assert others == set(), stage


def test_no_package_imports_an_entry_point() -> None:
    offenders = {
        name
        for name, path in modules().items()
        if not is_entry_point(name) and any(is_entry_point(found) for found in imported(path))
    }
    assert offenders == set()


def test_every_stage_depends_on_exactly_the_code_it_imports() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage in STAGES:
        declared = {dep for dep in stages[stage]["deps"] if dep.startswith("src/")}
        wanted = {"src/t2igan"} if stage in SHIPS_THE_PACKAGE else code_units(closure(f"t2igan.stages.{stage}"))
        assert declared == wanted, (
            f"{stage}: missing {sorted(wanted - declared)}, extra {sorted(declared - wanted)}"
        )


def test_dvc_yaml_names_the_paths_the_stages_use() -> None:
    import dataclasses

    from t2igan.paths import ProjectPaths

    layout = {field.metadata["at"] for field in dataclasses.fields(ProjectPaths) if "at" in field.metadata}
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    named = set()
    for stage in stages.values():
        for key in ("deps", "outs", "metrics", "plots"):
            named |= {next(iter(entry)) if isinstance(entry, dict) else entry for entry in stage.get(key, [])}
    data = {path for path in named if not path.startswith("src/")}
    metrics = {path for path in data if path.startswith("metrics/")}
    assert data - metrics <= layout
    assert metrics == {
        f"metrics/{name}.json" for name in ("validate", "embed", "train", "eval", "register")
    } | {"metrics/train_log.csv"}


def test_every_unit_test_file_is_named_after_the_module_it_tests() -> None:
    # tests/unit/<package>/test_<module>.py tests src/t2igan/<package>/<module>.py (tests/unit/flows: flows/);
    # a module without a file of its own is tested through its callers (the stage tests, the integration tests)
    unit = REPO / "tests" / "unit"
    orphans = []
    for test_file in sorted(unit.rglob("test_*.py")):
        package = test_file.parent.relative_to(unit)
        name = test_file.stem.removeprefix("test_")
        if package == Path(".") and name == "architecture":
            continue  # this file: the whole package's layout
        base = REPO / "flows" if package.parts[:1] == ("flows",) else REPO / "src" / "t2igan" / package
        if not ((base / f"{name}.py").is_file() or (base / name).is_dir()):
            orphans.append(str(test_file.relative_to(REPO)))
    assert orphans == []
