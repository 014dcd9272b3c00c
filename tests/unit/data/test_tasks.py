"""A data stage's tasks: results in task order however they ran (in process, local processes, a Dask
cluster), a task that raised retried on the cluster, a file dataset's outputs the same with 1 or 2 workers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from t2igan.config import parse_params
from t2igan.data.store import open_images
from t2igan.data.tasks import WINDOW_PER_WORKER, iter_tasks, run_tasks, workers_for
from t2igan.env import DASK_SCHEDULER_ENV
from tests.support.datasets import CAPTIONS, photo_project, photo_suffix, save_photo
from tests.support.project import run_stages


def _square_after(item: tuple[int, float]) -> int:
    import time

    value, pause = item
    time.sleep(pause)
    return value * value


def _fails_once(item: tuple[str, int]) -> int:
    """Raises the first time it runs for an item (a marker file says it did), then succeeds."""
    marker, value = item
    if not os.path.exists(marker):
        Path(marker).write_text("failed once")
        raise OSError(f"injected fault for {value}")
    return value + 1


def test_results_come_back_in_task_order_however_the_tasks_finish() -> None:
    items = [(value, 0.2 if value % 2 == 0 else 0.0) for value in range(6)]  # evens finish last
    expected = [value * value for value in range(6)]
    assert run_tasks(_square_after, items, workers=1, stage="test", phase="square") == expected
    assert run_tasks(_square_after, items, workers=2, stage="test", phase="square") == expected
    assert (workers_for(None, 1), workers_for(8, 3), workers_for(1, 10)) == (1, 3, 1)


def test_a_lazy_source_of_tasks_is_taken_a_window_at_a_time() -> None:
    taken: list[int] = []

    def items() -> Iterator[tuple[int, float]]:
        for value in range(40):
            taken.append(value)
            yield value, 0.0

    results = iter_tasks(_square_after, items(), workers=2, stage="test", phase="square", total=40)
    assert next(results) == 0
    assert len(taken) <= WINDOW_PER_WORKER * 2  # not the 40 a pool's map would have taken at once
    assert list(results) == [value * value for value in range(1, 40)]


def test_on_a_dask_cluster_results_keep_their_order_and_a_task_that_raised_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        monkeypatch.setenv(DASK_SCHEDULER_ENV, cluster.scheduler_address)
        items = [(value, 0.1 if value % 2 == 0 else 0.0) for value in range(6)]
        assert run_tasks(_square_after, items, workers=1, stage="test", phase="square") == [
            v * v for v in range(6)
        ]
        flaky = [(str(tmp_path / f"marker-{value}"), value) for value in range(4)]
        assert run_tasks(_fails_once, flaky, workers=1, stage="test", phase="flaky") == [1, 2, 3, 4]
    assert all((tmp_path / f"marker-{value}").is_file() for value in range(4))  # each failed once, then passed


def test_a_file_dataset_gives_the_same_manifest_and_store_with_one_or_two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("t2igan.data.tasks.ROWS_PER_TASK", 4)
    data = tmp_path / "tsvdata"
    lines = []
    for copy in range(3):  # 18 images in chunks of 4 files: 5 tasks
        for name, captions in CAPTIONS.items():
            relative = f"img/{name}-{copy}{photo_suffix(name)}"
            save_photo(name, data / relative)
            lines.append(f"{captions[copy % 2]} ({copy})\t{relative}")
    (data / "captions.tsv").write_text("\n".join(lines) + "\n")
    outputs = []
    for workers in (1, 2):
        paths, raw = photo_project(tmp_path / f"w{workers}", source="tsv", path=str(data / "captions.tsv"))
        raw["data"]["workers"] = workers
        run_stages(parse_params(raw), paths, "ingest", "validate")
        outputs.append(
            (paths.manifest.read_bytes(), paths.clean_manifest.read_bytes(), np.asarray(open_images(paths)))
        )
    assert outputs[0][0] == outputs[1][0] and outputs[0][1] == outputs[1][1]
    assert np.array_equal(outputs[0][2], outputs[1][2])
