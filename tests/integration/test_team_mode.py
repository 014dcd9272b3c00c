"""Team mode, really started: PostgreSQL, an MLflow server on it with proxied artifacts, a Prefect server on it,
a process work pool with its worker, and an S3 endpoint (moto) as the DVC remote.

The scheduled deployment is sent to the pool and run by the worker; the model lands in the server's
registry, its files in the proxied store, the data in the S3 bucket, and both servers' records in
PostgreSQL. Promotions from several processes against the server serialise on a PostgreSQL advisory lock.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import mlflow
import pytest
import sqlalchemy
from PIL import Image

from t2igan.env import LOCK_URL_ENV
from t2igan.registry.aliases import METRICS_TAG, PREVIOUS
from t2igan.registry.promotion_lock import lock_key
from t2igan.services.processes import group_alive
from tests.support.project import (
    VENV_BIN,
    cached_outputs,
    checked,
    digests,
    dvc,
    dvc_project,
    tiny_params_dict,
    tool_env,
)
from tests.support.services import PrefectApi, free_port, nightly_cron_far_from_now, read_env_file

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SERVICES = ("postgres", "s3", "mlflow", "prefect", "worker")


@dataclass(frozen=True)
class Team:
    root: Path
    env: dict[str, str]  # team.env as written by `t2igan services start`

    def cli(self, *args: str, project: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(VENV_BIN / "t2igan"), "services", *args, "--dir", str(self.root)]
        if project is not None:
            command += ["--project", str(project)]
        done = subprocess.run(command, env=tool_env(), capture_output=True, text=True, timeout=600)
        assert not check or done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def pids(self) -> dict[str, int]:
        return {p.stem: json.loads(p.read_text())["pid"] for p in (self.root / "pids").glob("*.json")}

    def database(self, name: str) -> sqlalchemy.Engine:
        return sqlalchemy.create_engine(self.env[LOCK_URL_ENV].rsplit("/", 1)[0] + f"/{name}")

    def client(self) -> mlflow.MlflowClient:
        uri = self.env["MLFLOW_TRACKING_URI"]
        return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def team() -> Iterator[Team]:
    # PostgreSQL runs as the `postgres` user when we are root: its directory must be reachable by that user,
    # which pytest's private temporary directories are not.
    root = Path(tempfile.mkdtemp(prefix="t2igan-team-", dir="/tmp"))
    root.chmod(0o755)
    ports = [f"{name}={free_port()}" for name in ("postgres", "mlflow", "prefect", "s3")]
    team = Team(root / "services", {})
    try:
        done = team.cli("start", *(arg for port in ports for arg in ("--port", port)))
        assert all(f"{name}: started" in done.stdout for name in SERVICES), done.stdout
        yield Team(team.root, read_env_file(team.root / "team.env"))
    finally:
        team.cli("stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def team_project(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = dvc_project(tmp_path_factory.mktemp("team") / "project", tiny_params_dict())
    checked(["git", "add", "-A"], root)
    checked(["git", "commit", "-qm", "project"], root)
    return root


def test_a_second_start_finds_everything_running_and_points_the_project_at_s3(
    team: Team, team_project: Path
) -> None:
    # Given the services started by the fixture
    before = team.pids()
    assert set(before) == set(SERVICES) - {"postgres"}

    # When they are started again, for a project
    done = team.cli("start", project=team_project)

    # Then nothing was restarted, and the project's DVC remote is the bucket, on this machine only
    assert all(f"{name}: already running" in done.stdout for name in SERVICES), done.stdout
    assert team.pids() == before
    assert dvc(team_project, "remote", "default").strip() == "team"
    assert "t2igan-dvc" in (team_project / ".dvc" / "config.local").read_text()
    assert "team" not in (team_project / ".dvc" / "config").read_text()
    assert team.cli("status").stdout.count("running") == len(SERVICES)

    # And team.env names every server, the lock database among them
    assert team.env["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    assert team.env["PREFECT_API_URL"].startswith("http://127.0.0.1:")
    assert team.env[LOCK_URL_ENV].startswith("postgresql+psycopg2://")


def _run_on_worker(team: Team, project: Path) -> dict[str, Any]:
    env = {**tool_env(), **team.env}
    deploy = [str(VENV_BIN / "t2igan"), "flow", "deploy", "--pool", "t2igan", "--project", str(project)]
    nightly = nightly_cron_far_from_now()
    checked([*deploy, "--name", "nightly", "--cron", nightly], project, env)
    api = PrefectApi(team.env["PREFECT_API_URL"])
    deployment = api.deployment("t2igan-training", "nightly")
    assert deployment is not None and deployment["work_pool_name"] == "t2igan"
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == [nightly]
    return api.run_deployment(deployment["id"], {}, timeout=900)


def test_the_scheduled_deployment_runs_on_the_worker_against_the_team_servers(
    team: Team, team_project: Path
) -> None:
    # When the scheduled deployment is sent to the pool and a run is triggered
    run = _run_on_worker(team, team_project)

    # Then the pool's worker ran it (in a process it started) to completion
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert run["work_pool_name"] == "t2igan" and run["infrastructure_pid"]

    # And the model is @champion in the server's registry, its files in the server's proxied store
    client = team.client()
    champion = client.get_model_version_by_alias("t2igan", "champion")
    assert str(champion.version) == "1"
    training = client.get_run(champion.run_id)
    assert training.info.artifact_uri.startswith("mlflow-artifacts:/")
    stored = {p.name for p in (team.root / "artifacts").rglob("*") if p.is_file()}
    assert {"MLmodel", "generator.safetensors"} <= stored, sorted(stored)[:20]

    # And the data went to the S3 bucket, in sync with the workspace
    s3 = boto3.client(
        "s3",
        endpoint_url=team.env["T2IGAN_S3_ENDPOINT"],
        aws_access_key_id=team.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=team.env["AWS_SECRET_ACCESS_KEY"],
        region_name=team.env["AWS_DEFAULT_REGION"],
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="t2igan-dvc").get("Contents", [])]
    assert keys and all(key.startswith(f"{team_project.name}/") for key in keys)
    assert "in sync" in checked(["dvc", "status", "--cloud"], team_project, {**tool_env(), **team.env})

    # And both servers keep their records in PostgreSQL
    with team.database("mlflow").connect() as mlflow_db:
        names = mlflow_db.execute(sqlalchemy.text("SELECT name FROM registered_models")).scalars().all()
    assert names == ["t2igan"]
    with team.database("prefect").connect() as prefect_db:
        found = prefect_db.execute(
            sqlalchemy.text("SELECT count(*) FROM flow_run WHERE id = :id"), {"id": run["id"]}
        ).scalar()
    assert found == 1


def test_a_fresh_process_elsewhere_draws_the_champion_from_the_server(team: Team, tmp_path: Path) -> None:
    # Given a directory that is no project: the model can only come from the tracking server
    drawn = tmp_path / "drawn.png"
    command = [str(VENV_BIN / "t2igan"), "generate", "a red square", "--output", str(drawn)]

    # When a new process generates with models:/t2igan@champion against the server URL
    checked(command, tmp_path, {**tool_env(), **team.env})

    # Then it drew a PNG at the model's resolution
    with Image.open(drawn) as image:
        assert image.format == "PNG" and image.size == (16, 16)


def test_the_studio_s_votes_go_to_the_team_s_postgresql(team: Team, team_project: Path) -> None:
    from t2igan.env import FEEDBACK_URL_ENV
    from t2igan.feedback.database import open_database
    from t2igan.feedback.tokens import Shown
    from t2igan.feedback.votes import record_vote

    # Given team.env's feedback database (PostgreSQL), migrated by Alembic when first opened
    sessions = open_database(team.env[FEEDBACK_URL_ENV])
    shown = Shown("t2igan", "a red square", [1, 2], {"left": "2", "right": "1"}, "session")

    # When a vote is recorded, and the report is asked for by another process with the team's environment
    record_vote(sessions, shown, "left", "session")
    done = checked(
        [str(VENV_BIN / "t2igan"), "feedback", "report", "--json"], team_project, {**tool_env(), **team.env}
    )

    # Then the row is in PostgreSQL's `feedback` database, at the newest schema, and the report counts it
    with team.database("feedback").connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT caption, winner_version FROM votes")).all()
        revision = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    assert rows == [("a red square", "2")] and revision == "0002"
    assert json.loads(done)["votes"] == 1


def test_concurrent_first_opens_of_a_fresh_postgresql_feedback_database_migrate_it_once(
    team: Team, tmp_path: Path
) -> None:
    from tests.support.migrations import open_at_once

    # Given a new, empty database on the team's PostgreSQL
    with team.database("postgres").execution_options(isolation_level="AUTOCOMMIT").connect() as admin:
        admin.execute(sqlalchemy.text("CREATE DATABASE fresh_feedback"))
    url = team.env[LOCK_URL_ENV].rsplit("/", 1)[0] + "/fresh_feedback"

    # When three processes (the studio, a flow, the CLI) open it at the same moment
    logs = open_at_once(url, tmp_path, openers=3)

    # Then one of them migrated it, the others found it migrated, and it is at the newest schema
    assert sum(log.count("Running upgrade  -> 0001") for log in logs) == 1
    with team.database("fresh_feedback").connect() as connection:
        revision = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    assert revision == "0002"


def test_push_wipe_pull_through_the_s3_endpoint_restores_byte_identical_outputs(
    team: Team, team_project: Path
) -> None:
    env = {**tool_env(), **team.env}
    checked([str(VENV_BIN / "dvc"), "push"], team_project, env)
    outputs = cached_outputs(team_project)
    before = digests(outputs)
    assert {"artifacts/train/model", "data/clean"} <= {str(o.relative_to(team_project)) for o in outputs}

    # When the cache and every output are gone
    shutil.rmtree(team_project / ".dvc" / "cache")
    for out in outputs:
        shutil.rmtree(out) if out.is_dir() else out.unlink()

    # Then a pull from the bucket brings back the same bytes
    checked([str(VENV_BIN / "dvc"), "pull"], team_project, env)
    assert digests(outputs) == before


RACER = """
import os, sys, time
from pathlib import Path
import mlflow
from t2igan.config import RegisterParams
from t2igan.paths import ProjectPaths
from t2igan.registry import promotion

root, version, fid, start_delay, go, name = sys.argv[1:]
uri = os.environ["MLFLOW_TRACKING_URI"]  # the server; a registry URI inherited from the test process is not
client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
client.search_registered_models()  # connected before the start line
Path(go + "." + version).touch()
while not Path(go).exists():
    time.sleep(0.01)
time.sleep(float(start_delay))
read = promotion.current_champion
def slow_read(client, name):  # widens the window between reading the champion and moving the alias
    champion = read(client, name)
    time.sleep(1.0)
    return champion
promotion.current_champion = slow_read
metrics = {"fid_name": "fid_1k", "fid_1k": float(fid)}
paths = ProjectPaths.at(Path(root))
promotion.promote_if_better(client, paths, name, version, metrics, RegisterParams())
"""


def _model_with_champion(team: Team, name: str) -> mlflow.MlflowClient:
    client = team.client()
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(f"{name}-versions"))
    for fid in (60.0, 50.0, 40.0):
        source = f"{run.info.artifact_uri}/model-{fid:g}"
        version = client.create_model_version(name, source=source, run_id=run.info.run_id, await_creation_for=0)
        client.set_model_version_tag(
            name, version.version, METRICS_TAG, json.dumps({"fid_name": "fid_1k", "fid_1k": fid})
        )
    client.set_registered_model_alias(name, "champion", "1")
    return client


def _racer(team: Team, root: Path, name: str, version: str, fid: str, delay: str, go: Path) -> subprocess.Popen:
    env = {**tool_env(), **team.env}
    args = [sys.executable, "-c", RACER, str(root), version, fid, delay, str(go), name]
    return subprocess.Popen(args, env=env, cwd=root)


def _wait_for_lock_waiters(
    connection: sqlalchemy.Connection, racers: list[subprocess.Popen], count: int
) -> None:
    waiting = sqlalchemy.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    deadline = time.monotonic() + 120
    while connection.execute(waiting).scalar() < count:
        assert all(r.poll() is None for r in racers), "a promotion finished while another host held the lock"
        assert time.monotonic() < deadline, "the promotions never waited for the lock"
        time.sleep(0.1)


def test_two_hosts_promoting_at_once_wait_for_the_database_lock_and_never_leave_the_worse_champion(
    team: Team, tmp_path: Path
) -> None:
    # Given a champion (fid 60), and a third host holding the model's promotion lock in the server's PostgreSQL
    client = _model_with_champion(team, "race")
    holder = sqlalchemy.create_engine(team.env[LOCK_URL_ENV], isolation_level="AUTOCOMMIT").connect()
    holder.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": lock_key("race")})
    go = tmp_path / "go"
    go.touch()
    try:
        # When two better challengers (fid 40 and 50) are promoted at once by two more processes
        racers = [
            _racer(team, tmp_path, "race", "3", "40", "0", go),
            _racer(team, tmp_path, "race", "2", "50", "0", go),
        ]

        # Then both wait for that lock in the database, and @champion has not moved
        _wait_for_lock_waiters(holder, racers, 2)
        assert str(client.get_model_version_by_alias("race", "champion").version) == "1"
    finally:
        holder.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key("race")})
        holder.close()

    # And once it is released they run one after the other: the best is champion, in one consistent chain
    assert [r.wait(timeout=120) for r in racers] == [0, 0]
    champion = client.get_model_version_by_alias("race", "champion")
    assert str(champion.version) == "3"
    previous = champion.tags[PREVIOUS]  # 1, or 2 if version 2 got the lock first and was then beaten
    assert previous in ("1", "2")
    other = client.get_model_version("race", "2")
    if previous == "2":
        assert other.tags[PREVIOUS] == "1" and other.tags["promotion.decision"] == "promoted"
    else:
        assert other.tags["promotion.decision"] == "kept" and PREVIOUS not in other.tags


def test_stop_stops_everything_and_the_registry_outlives_it(team: Team, team_project: Path) -> None:
    # When the services are stopped
    pids = team.pids()
    done = team.cli("stop", project=team_project)

    # Then every process is gone, team.env too, and the project is back on its own remote
    assert all(f"{name}: stopped" in done.stdout for name in SERVICES), done.stdout
    assert not any(group_alive(pid) for pid in pids.values())  # their children too
    assert not (team.root / "team.env").exists()
    assert team.cli("status", check=False).returncode == 1
    default = subprocess.run(
        [str(VENV_BIN / "dvc"), "remote", "default"],
        cwd=team_project,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert "No default remote set" in default.stdout + default.stderr

    # And the registry outlives the processes: restarted, PostgreSQL still holds the model and its alias
    team.cli("start", "--only", "postgres")
    with team.database("mlflow").connect() as mlflow_db:
        aliases = mlflow_db.execute(
            sqlalchemy.text("SELECT name, alias, version FROM registered_model_aliases")
        )
        assert ("t2igan", "champion", 1) in {tuple(row) for row in aliases}
    assert team.pids() == {}
