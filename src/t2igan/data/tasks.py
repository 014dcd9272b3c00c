"""Independent tasks of a data stage (one per shard, or per chunk of rows), run where the user says.

- `T2IGAN_DASK_SCHEDULER` set (`t2igan flow run --dask-scheduler`, or by hand): each task goes to that Dask
  cluster through `distributed.Client.map`, with retries; a worker that dies mid-task has its tasks rerun
  elsewhere by Dask's scheduler (each task writes nothing: it returns its result, which only this process
  writes, so a lost task leaves nothing half-written).
- otherwise `data.workers` local processes (None: one per core), or the calling process for one worker.

Results come back in task order whatever ran them or in which order they finished, which is what makes a
stage's outputs byte-identical between one process, several, and a cluster. Why Dask and not Ray: the data
stages are Python functions over shards that return small pandas/numpy results, which is Dask's `map`/`gather`;
Dask's `LocalCluster` starts in a second with no extra daemon; and the team's machines already run Python
environments with pip, where `distributed` is one more wheel (Ray brings its own object store and raylet).
"""

from __future__ import annotations

import atexit
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, TypeVar

from t2igan.env import DASK_SCHEDULER_ENV
from t2igan.errors import TransientError
from t2igan.progress import tracked

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_POOLS: dict[int, ProcessPoolExecutor] = {}
ROWS_PER_TASK = 512  # files per task for the sources that are not shards
WINDOW_PER_WORKER = 3  # tasks in flight per worker: one running, the next ones queued
TASK_RETRIES = 2  # a task that raised (a worker's disk, a network read) is tried this many more times


def task_chunks(items: Sequence[T]) -> list[list[T]]:
    """`items` in chunks of ROWS_PER_TASK: a task should cost far more than sending it."""
    return [list(items[i : i + ROWS_PER_TASK]) for i in range(0, len(items), ROWS_PER_TASK)]


def workers_for(configured: int | None, tasks: int) -> int:
    return max(1, min(tasks, configured or os.cpu_count() or 1))


def run_tasks(
    function: Callable[[T], R], items: Sequence[T], *, workers: int | None, stage: str, phase: str
) -> list[R]:
    """`function(item)` for every item, results in item order (see the module docstring for where)."""
    return list(iter_tasks(function, items, workers=workers, stage=stage, phase=phase, total=len(items)))


def iter_tasks(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None,
    stage: str,
    phase: str,
    total: int,
) -> Iterator[R]:
    """`function(item)` for each of `total` items, yielded in item order while at most a few tasks per worker
    are in flight: items made lazily (chunks of a store) and results written as they come keep memory to a
    window of tasks, however many there are."""
    address = os.environ.get(DASK_SCHEDULER_ENV)
    if address:
        results = _on_dask(function, items, address, stage, phase)
    else:
        count = workers_for(workers, total)
        results = map(function, items) if count == 1 else _in_pool(function, items, count, stage, phase)
    yield from tracked(results, stage, phase, total, unit="task")


def _windowed(submit: Callable[[T], Any], items: Iterable[T], window: int) -> Iterator[Any]:
    """Futures of `submit(item)`, in item order, with at most `window` submitted and not yet handed out."""
    pending: deque[Any] = deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= window:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def _in_pool(function: Callable[[T], R], items: Iterable[T], count: int, stage: str, phase: str) -> Iterator[R]:
    pool = _pool(count)
    try:
        for future in _windowed(lambda item: pool.submit(function, item), items, WINDOW_PER_WORKER * count):
            yield future.result()
    except BrokenProcessPool:
        _POOLS.pop(count, None)
        raise TransientError(f"{stage}: a local worker process died during {phase} (out of memory?)") from None


def _pool(count: int) -> ProcessPoolExecutor:
    """This process's pool of `count` workers, started on first use and kept for the next phase or stage:
    starting one costs seconds (spawn imports t2igan in every worker), as much as a small stage's work.
    Spawn, not fork: a fork of a process that has started threads (torch, pyarrow) can deadlock in the child."""
    if count not in _POOLS:
        _POOLS[count] = ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn"))
    return _POOLS[count]


@atexit.register
def _shut_down_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)


def _on_dask(
    function: Callable[[T], R], items: Iterable[T], address: str, stage: str, phase: str
) -> Iterator[R]:
    from distributed import Client

    try:
        client = Client(address, timeout="60s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise TransientError(
            f"{stage}: no Dask scheduler answers at {address} ({DASK_SCHEDULER_ENV}): {exc}"
        ) from None
    with client:
        log.info("%s: %s tasks on the Dask cluster at %s", stage, phase, address)
        workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))

        def submit(item: T) -> Any:
            return client.submit(function, item, pure=False, retries=TASK_RETRIES)

        for future in _windowed(submit, items, WINDOW_PER_WORKER * workers):
            yield future.result()
