"""The installed `t2igan` command as a user runs it: one-line errors, exit codes that drive retries."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.datasets import bad_tsv_project, photo_project
from tests.support.project import cli, tiny_params_dict


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


def test_cli_quarantines_without_a_traceback_and_fails_past_the_threshold(tmp_path: Path) -> None:
    paths, raw, expected, _ = bad_tsv_project(tmp_path)
    assert cli("ingest", cwd=paths.root).returncode == 0
    done = cli("validate", cwd=paths.root)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert f"{len(expected)} rejected" in done.stdout

    raw["validation"]["max_bad_fraction"] = 0.05
    (paths.root / "params.yaml").write_text(yaml.safe_dump(raw))
    done = cli("validate", cwd=paths.root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "rows rejected" in errors[0] and "rejected.parquet" in errors[0]


def test_a_dataset_that_cannot_be_read_fails_ingest_in_one_line(tmp_path: Path) -> None:
    paths, _ = photo_project(tmp_path, source="coco", path=str(tmp_path / "nowhere"))
    done = cli("ingest", "--project", str(paths.root), cwd=tmp_path)  # from elsewhere: the project's params
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{tmp_path / 'nowhere'}: does not exist (data.path)" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing written where the command ran
    (tmp_path / "nowhere").mkdir()  # there, but not a COCO dataset
    done = cli("ingest", "--project", str(paths.root), cwd=tmp_path)
    assert done.returncode == 2 and "no captions_*.json files (COCO layout expected)" in done.stderr
