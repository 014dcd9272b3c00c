"""Beyond one machine: a sharded store through team mode's S3 endpoint with DVC, training that streams its
shards from S3 and resumes exactly after `kill -9`, two torchrun nodes on disjoint shards, and the data stages
on a real Dask cluster through the Prefect flow (one worker killed mid-stage) giving the one-process bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from t2igan.config import parse_params
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.services.credentials import read_env_file
from t2igan.services.layout import BUCKET
from tests.support.project import (
    VENV_BIN,
    checked,
    cli,
    dvc,
    dvc_project,
    reset_mlflow,
    run_stages,
    tiny_params_dict,
    tool_env,
    train_killed_after,
)
from tests.support.services import free_port
from tests.support.shards import good_members, photo_samples, write_tar
from tests.support.templates import ProjectTemplates
from tests.unit.stages.test_train import weights_hash

pytestmark = pytest.mark.slow

SHARDED = {"store": "shards", "shard_samples": 24}  # the tiny synthetic set's 240 images: 10 shards


def _digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def team_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A DVC project with the team's S3 endpoint (moto, IAM keys) as its remote, and the team.env."""
    root = tmp_path_factory.mktemp("team-s3")
    project = dvc_project(root / "project", tiny_params_dict(data=SHARDED))
    services = root / "services"
    port = free_port()
    start = ["services", "start", "--only", "s3", "--dir", str(services), "--port", f"s3={port}"]
    done = cli(*start, cwd=project, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    try:
        yield project, read_env_file(services / "team.env")
    finally:
        cli("services", "stop", "--dir", str(services), cwd=project, timeout=120)


def _bucket_keys(env: dict[str, str]) -> set[str]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_a_sharded_store_goes_through_team_s3_with_dvc_and_a_change_uploads_only_its_shards(
    team_s3: tuple[Path, dict[str, str]],
) -> None:
    project, env = team_s3
    dvc(project, "repro", "validate")
    shards = project / "data" / "clean" / "images"
    first = _digests(shards)
    assert len([name for name in first if name.endswith(".tar")]) == 10
    dvc(project, "push", "validate")
    pushed = _bucket_keys(env)
    shutil.rmtree(project / "data" / "clean")
    shutil.rmtree(project / ".dvc" / "cache")
    dvc(project, "pull", "validate")
    assert _digests(shards) == first  # byte-identical after the round trip

    # One more test image: the shards that hold only training images keep their bytes and are not sent again.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["synthetic"]["num_test"] += 1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(project, "repro", "validate")
    second = _digests(shards)
    unchanged = {name for name, digest in second.items() if first.get(name) == digest and name.endswith(".tar")}
    changed = {name for name in second if name not in unchanged and name.endswith(".tar")}
    assert len(unchanged) >= 5 and changed
    dvc(project, "push", "validate")
    new_keys = _bucket_keys(env) - pushed
    new_md5 = {key.replace("/", "")[-32:] for key in new_keys}
    assert all(_md5(shards / name) not in new_md5 for name in unchanged)
    assert all(_md5(shards / name) in new_md5 for name in changed)


def test_training_streams_from_s3_and_a_run_killed_with_sigkill_resumes_bit_identical(
    tmp_path: Path, templates: ProjectTemplates, team_s3: tuple[Path, dict[str, str]]
) -> None:
    _, env = team_s3
    data = ("ingest", "validate", "embed")
    train = {"steps": 24, "checkpoint_every": 4, "stream": {"url": f"s3://{BUCKET}/stores/resume"}}
    raw = tiny_params_dict(data=SHARDED, train=train)
    straight = templates.project(tmp_path / "straight", raw, *data)
    team = {key: value for key, value in env.items() if key.startswith("AWS_")}
    copied = cli("store", "copy", train["stream"]["url"], cwd=straight.root, env=tool_env(**team))
    assert copied.returncode == 0, copied.stderr[-2000:]
    done = cli("train", cwd=straight.root, env=tool_env(**team), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"from s3://{BUCKET}/stores/resume" in done.stderr

    killed = templates.project(tmp_path / "killed", raw, *data)
    shutil.rmtree(killed.image_shards)  # nothing local: every image comes from the bucket
    killed.image_shards.mkdir()
    shutil.copy(straight.image_shards / "index.json", killed.image_shards / "index.json")
    reset_mlflow()
    train_killed_after(killed, 8, tool_env(**team))
    resumed = cli("train", cwd=killed.root, env=tool_env(**team), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 8 <= read_json(killed.metrics("train"))["resumed_from"] < 24
    assert weights_hash(straight) == weights_hash(killed)


def test_two_torchrun_nodes_read_disjoint_shards_and_end_with_identical_weights(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    raw = tiny_params_dict(data=SHARDED)
    nodes = [templates.project(tmp_path / f"node{n}", raw, "ingest", "validate", "embed") for n in range(2)]
    port = str(free_port())
    torchrun = [str(VENV_BIN / "torchrun"), "--nnodes", "2", "--nproc-per-node", "1"]
    rendezvous = ["--master-addr", "127.0.0.1", "--master-port", port]
    processes = [
        subprocess.Popen(
            [*torchrun, "--node-rank", str(n), *rendezvous, "-m", "t2igan.cli", "train"],
            cwd=node.root,
            env=tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n, node in enumerate(nodes)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    streamed = []
    for rank, output in enumerate(outputs):
        line = next(line for line in output.splitlines() if f"rank {rank} of 2 streams" in line)
        streamed.append(set(line.rsplit(": ", 1)[1].split(",")))
    assert (
        streamed[0].isdisjoint(streamed[1]) and len(streamed[0] | streamed[1]) == 7
    )  # shards with training images
    summary = read_json(nodes[0].metrics("train"))
    assert summary["processes"] == 2 and summary["steps"] == 12
    assert (nodes[0].model_dir / "generator.safetensors").is_file()
    assert not nodes[1].model_dir.exists()  # rank 0 alone writes; the ranks compared their weights at the end


def _shard_dataset(root: Path, scratch: Path, shards: int = 8, per_shard: int = 30) -> None:
    photos = photo_samples(scratch)
    names = list(photos)
    for number in range(shards):
        members = []
        for item in range(per_shard):
            name = names[item % len(names)]
            image, extension, captions = photos[name]
            split = "test" if item % 5 == 0 else "train"
            key = f"{number:03d}{item:03d}"
            members += good_members(key, image, extension, f"{captions[item % 2]} {number} {item}", split)
        if number == 3:
            members += [("broken.jpg", photos["astronaut"][0][:999]), ("broken.txt", b"half of it")]
        write_tar(root / f"{number:05d}.tar", members)


class _WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the Dask worker that first holds a validate decoding task, once."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address, self.killed, self.stop = address, "", threading.Event()

    def run(self) -> None:
        from distributed import Client

        with Client(self.address, set_as_default=False) as client:
            while not self.stop.is_set() and not self.killed:
                for worker, keys in client.processing().items():
                    if any("_decode_task" in str(key) for key in keys):
                        pid = client.run(os.getpid, workers=[worker])[worker]
                        os.kill(pid, signal.SIGKILL)
                        self.killed = worker
                        break
                time.sleep(0.01)


def test_data_stages_on_a_dask_cluster_through_the_flow_match_one_process_with_a_worker_killed(
    tmp_path: Path,
) -> None:
    from distributed import LocalCluster

    _shard_dataset(tmp_path / "shards", tmp_path / "photos")
    data = {"name": "photos", "source": "webdataset", "path": str(tmp_path / "shards"), "store": "shards"}
    raw = tiny_params_dict(data={**data, "shard_samples": 50, "image_size": 32})
    raw["validation"]["max_bad_fraction"] = 0.2

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "params.yaml").write_text(yaml.safe_dump(raw))
    one = parse_params({**raw, "data": {**raw["data"], "workers": 1}})
    run_stages(one, ProjectPaths.at(alone), "ingest", "validate")

    project = dvc_project(tmp_path / "cluster", raw)
    dvc(project, "remote", "add", "--default", "local", str(tmp_path / "remote"))
    env = tool_env(PREFECT_HOME=str(project / ".prefect"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        killer = _WorkerKiller(cluster.scheduler_address)
        killer.start()
        command = [str(VENV_BIN / "t2igan"), "flow", "run", "--json", "--until", "validate"]
        command += ["--dask-scheduler", cluster.scheduler_address]  # pull and push the data stages' outputs
        output = checked(command, project, env, timeout=600)
        killer.stop.set()
        killer.join(timeout=30)
    assert killer.killed, "no worker held a decoding task to kill"
    assert '"stage": "validate"' in output
    pushed = {path.name for path in (tmp_path / "remote").rglob("*") if path.is_file()}
    shard_md5 = {_md5(path)[2:] for path in (project / "data" / "clean" / "images").glob("*.tar")}
    assert len(shard_md5) == 5 and shard_md5 <= pushed  # every store shard (240 images, 50 a shard) went there
    for directory in ("data/ingest", "data/clean"):
        assert _digests(project / directory) == _digests(alone / directory), directory
    rejected = pd.read_parquet(project / "data" / "clean" / "rejected.parquet")
    assert rejected[["shard", "key"]].values.tolist() == [["00003.tar", "broken"]]
