"""Team mode across two hosts, really started: the servers on one host, a worker joining from another.

The server host is a network namespace with its own address (tests/support/hosts.py); this test process is
the other host. On the server host: PostgreSQL (SCRAM passwords), the MLflow server with its basic-auth app
and proxied artifacts, the Prefect server with its API authentication string, and an S3 endpoint (moto, IAM
keys), all bound to its address. From the other host nothing answers without team.env's credentials; with
them a worker joins the pool, runs the scheduled deployment's flow end to end, and the model lands in the
server host's registry, its data in the S3 bucket. Promotions from several processes serialise on a
PostgreSQL advisory lock; only a user with EDIT on the model moves @champion; after `rotate` the old
team.env is refused everywhere; no secret shows in process arguments, logs, MLflow or Prefect.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import mlflow
import psycopg2
import pytest
import sqlalchemy
from botocore.exceptions import ClientError
from PIL import Image

from t2igan.env import LOCK_URL_ENV
from t2igan.registry.aliases import METRICS_TAG, PREVIOUS
from t2igan.registry.promotion_lock import lock_key
from t2igan.services.credentials import Credentials, read_env_file
from t2igan.services.processes import group_alive
from tests.support.hosts import Hosts, two_hosts
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
from tests.support.services import PrefectApi, free_port, nightly_cron_far_from_now

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SERVER_SIDE = ("postgres", "s3", "mlflow", "prefect")  # the server host runs no worker: the other host's does
CREDENTIAL_NAMES = (
    "PGPASSWORD",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "PREFECT_API_AUTH_STRING",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)


@dataclass(frozen=True)
class Team:
    root: Path  # the server host's services directory
    joined: Path  # the other host's
    env: dict[str, str]  # team.env as the server host wrote it (updated after a rotation)
    hosts: Hosts
    process_lists: list[str] = field(default_factory=list)  # `ps` while the pipeline ran, for the leak scan

    def cli(self, *args: str, project: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """`t2igan services ...` on the server host."""
        command = [str(VENV_BIN / "t2igan"), "services", *args, "--dir", str(self.root)]
        if project is not None:
            command += ["--project", str(project)]
        done = subprocess.run(
            self.hosts.on_server(command), env=tool_env(), capture_output=True, text=True, timeout=600
        )
        assert not check or done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def join(
        self, env_file: Path, project: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """`t2igan services join` on the other host (this one)."""
        command = [
            str(VENV_BIN / "t2igan"),
            "services",
            "join",
            "--env",
            str(env_file),
            "--dir",
            str(self.joined),
        ]
        command += ["--name", "other-host"] + (["--project", str(project)] if project else [])
        done = subprocess.run(command, env=tool_env(), capture_output=True, text=True, timeout=300)
        assert not check or done.returncode == 0, f"join:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def pids(self, root: Path | None = None) -> dict[str, int]:
        directory = (root or self.root) / "pids"
        return {p.stem: json.loads(p.read_text())["pid"] for p in directory.glob("*.json")}

    def database(self, name: str) -> sqlalchemy.Engine:
        return sqlalchemy.create_engine(self.env[LOCK_URL_ENV].rsplit("/", 1)[0] + f"/{name}")

    def client(self) -> mlflow.MlflowClient:
        uri = self.env["MLFLOW_TRACKING_URI"]
        return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    def prefect(self, env: Mapping[str, str] | None = None) -> PrefectApi:
        chosen = env or self.env
        return PrefectApi(chosen["PREFECT_API_URL"], chosen["PREFECT_API_AUTH_STRING"])

    def adopt(self, env: dict[str, str]) -> None:
        """Use `env` (a rewritten team.env) from now on, in this process's credentials too."""
        self.env.clear()
        self.env.update(env)
        os.environ.update({key: env[key] for key in CREDENTIAL_NAMES})


@contextlib.contextmanager
def credentials_in_environment(env: Mapping[str, str]) -> Iterator[None]:
    """The team's credentials in this process's environment (where the client libraries read them), for
    the module; what was there before comes back afterwards."""
    saved = {key: os.environ.get(key) for key in CREDENTIAL_NAMES}
    os.environ.update({key: env[key] for key in CREDENTIAL_NAMES})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    with two_hosts() as pair:
        yield pair


@pytest.fixture(scope="module")
def team(hosts: Hosts) -> Iterator[Team]:
    # PostgreSQL runs as the `postgres` user when we are root: its directory must be reachable by that user,
    # which pytest's private temporary directories are not.
    root = Path(tempfile.mkdtemp(prefix="t2igan-team-", dir="/tmp"))
    root.chmod(0o755)
    ports = [f"{name}={free_port()}" for name in ("postgres", "mlflow", "prefect", "s3")]
    team = Team(root / "services", root / "joined", {}, hosts)
    try:
        only = [arg for name in SERVER_SIDE for arg in ("--only", name)]
        done = team.cli(
            "start", "--host", hosts.server, *only, *(arg for port in ports for arg in ("--port", port))
        )
        assert all(f"{name}: started" in done.stdout for name in SERVER_SIDE), done.stdout
        team.env.update(read_env_file(team.root / "team.env"))
        with credentials_in_environment(team.env):
            yield team
    finally:
        subprocess.run(
            [str(VENV_BIN / "t2igan"), "services", "stop", "--dir", str(team.joined)],
            env=tool_env(),
            capture_output=True,
            check=False,
        )
        team.cli("stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def team_project(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = dvc_project(tmp_path_factory.mktemp("team") / "project", tiny_params_dict())
    checked(["git", "add", "-A"], root)
    checked(["git", "commit", "-qm", "project"], root)
    return root


def test_a_second_start_finds_everything_running_and_team_env_is_private(team: Team) -> None:
    # Given the services started on the server host by the fixture
    before = team.pids()
    assert set(before) == set(SERVER_SIDE) - {"postgres"}

    # When they are started again
    only = [arg for name in SERVER_SIDE for arg in ("--only", name)]
    done = team.cli("start", *only)

    # Then nothing was restarted, and each runs on the server host (its network namespace)
    assert all(f"{name}: already running" in done.stdout for name in SERVER_SIDE), done.stdout
    assert team.pids() == before
    assert {team.hosts.namespace_of(pid) for pid in before.values()} == {team.hosts.namespace}

    # And team.env, readable by its owner only, names the server host's address, no URL carrying a password
    assert (team.root / "team.env").stat().st_mode & 0o777 == 0o600
    address = team.hosts.server
    assert team.env["MLFLOW_TRACKING_URI"].startswith(f"http://{address}:")
    assert team.env["PREFECT_API_URL"].startswith(f"http://{address}:")
    assert team.env[LOCK_URL_ENV].startswith(f"postgresql+psycopg2://t2igan@{address}:")
    secrets = Credentials.from_env(team.env)
    assert secrets is not None and len(secrets.secrets()) == 4
    urls = [value for value in team.env.values() if "://" in value]
    assert not any(secret in url for url in urls for secret in secrets.secrets())


def _s3(env: Mapping[str, str]) -> Any:
    """An S3 client with `env`'s key, given explicitly: boto3's default session keeps the first key it read."""
    return boto3.client(
        "s3",
        endpoint_url=env["T2IGAN_S3_ENDPOINT"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def _refused_everywhere(team: Team, env: Mapping[str, str]) -> dict[str, Any]:
    """What each server says, from this host, to a client with `env`'s credentials (or none)."""
    urls = {
        "mlflow": team.env["MLFLOW_TRACKING_URI"],
        "prefect": team.env["PREFECT_API_URL"],
        "postgres": team.env[LOCK_URL_ENV],
        "s3": team.env["T2IGAN_S3_ENDPOINT"],
    }
    mlflow_auth = (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) if env else None
    prefect_user, _, prefect_password = env.get("PREFECT_API_AUTH_STRING", "").partition(":")
    said: dict[str, Any] = {
        "mlflow": httpx.get(
            f"{urls['mlflow']}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=mlflow_auth,
            timeout=10,
        ).status_code,
        "prefect": httpx.post(
            f"{urls['prefect']}/flows/filter",
            json={},
            auth=(prefect_user, prefect_password) if env else None,
            timeout=10,
        ).status_code,
    }
    url = sqlalchemy.make_url(urls["postgres"])
    try:
        psycopg2.connect(
            host=url.host,
            port=url.port,
            user="t2igan",
            dbname="mlflow",
            password=env.get("PGPASSWORD", ""),
            connect_timeout=10,
        ).close()
        said["postgres"] = "connected"
    except psycopg2.OperationalError as error:
        said["postgres"] = str(error).strip().splitlines()[-1]
    s3 = boto3.client(
        "s3",
        endpoint_url=urls["s3"],
        region_name="us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "nobody"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "nothing"),
    )
    try:
        s3.list_objects_v2(Bucket="t2igan-dvc", MaxKeys=1)
        said["s3"] = "listed"
    except ClientError as error:
        said["s3"] = error.response["Error"]["Code"]
    return said


def test_from_the_other_host_no_server_answers_without_the_team_s_credentials(team: Team) -> None:
    # Without credentials (or with wrong ones) every server refuses
    anonymous = _refused_everywhere(team, {})
    assert anonymous.pop("postgres").endswith("fe_sendauth: no password supplied")  # the server asked for one
    assert anonymous == {"mlflow": 401, "prefect": 401, "s3": "InvalidAccessKeyId"}
    wrong = {**team.env, "MLFLOW_TRACKING_PASSWORD": "guess", "PREFECT_API_AUTH_STRING": "team:guess"}
    wrong.update(PGPASSWORD="guess", AWS_SECRET_ACCESS_KEY="guess")
    said = _refused_everywhere(team, wrong)
    assert said["mlflow"] == said["prefect"] == 401 and "password authentication failed" in said["postgres"]
    assert said["s3"] == "SignatureDoesNotMatch"
    # and moto's control plane, which would list the IAM keys, is not served
    assert httpx.get(f"{team.env['T2IGAN_S3_ENDPOINT']}/moto-api/data.json", timeout=10).status_code == 404

    # With team.env's, each answers
    assert _refused_everywhere(team, team.env) == {
        "mlflow": 200,
        "prefect": 200,
        "postgres": "connected",
        "s3": "listed",
    }

    # And the servers listen on the server host's address only: this host's loopback reaches none of them
    for name in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        port = httpx.URL(team.env[name]).port
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_bad_input_is_one_line_and_starts_nothing(team: Team, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    command = [str(VENV_BIN / "t2igan"), "services", "start", "--dir", str(fresh)]

    def on_server(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(team.hosts.on_server(args), env=tool_env(), capture_output=True, text=True)

    # An address that is not the host's
    elsewhere = on_server([*command, "--host", team.hosts.other])
    assert elsewhere.returncode == 2
    assert elsewhere.stderr.strip().splitlines() == [
        f"t2igan services start: error: --host {team.hosts.other}: not an address of this host "
        f"(its addresses: {team.hosts.server}, 127.0.0.1)"
    ]

    # A port another process holds (the team's MLflow server's)
    taken = httpx.URL(team.env["MLFLOW_TRACKING_URI"]).port
    busy = on_server([*command, "--host", team.hosts.server, "--port", f"mlflow={taken}"])
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines() == [
        f"t2igan services start: error: mlflow: port {taken} on {team.hosts.server} is in use by another "
        "process; choose another at the first start (--port mlflow=PORT)"
    ]

    # Neither started anything, nor recorded a choice or a credential
    assert not fresh.exists() or sorted(p.name for p in fresh.iterdir()) == []


def _run_on_the_other_host(team: Team, project: Path) -> dict[str, Any]:
    env = {**tool_env(), **team.env}
    deploy = [str(VENV_BIN / "t2igan"), "flow", "deploy", "--pool", "t2igan", "--project", str(project)]
    nightly = nightly_cron_far_from_now()
    checked([*deploy, "--name", "nightly", "--cron", nightly], project, env)
    api = team.prefect()
    deployment = api.deployment("t2igan-training", "nightly")
    assert deployment is not None and deployment["work_pool_name"] == "t2igan"
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == [nightly]
    with _sampling_processes(team.process_lists):
        return api.run_deployment(deployment["id"], {}, timeout=900)


@contextlib.contextmanager
def _sampling_processes(samples: list[str], every: float = 2.0) -> Iterator[None]:
    """Every process's arguments, every `every` seconds while the block runs (the stages, dvc, torchrun)."""
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            samples.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=30)


def test_a_worker_joins_from_the_other_host_and_runs_the_scheduled_deployment(
    team: Team, team_project: Path, tmp_path: Path
) -> None:
    # Given a copy of team.env on the other host
    copy = tmp_path / "team.env"
    shutil.copy(team.root / "team.env", copy)

    # When a worker joins from it, for the project checked out there
    done = team.join(copy, team_project)

    # Then it runs here (not on the server host), is the pool's one worker, and the project's DVC remote is
    # the team's bucket, its key in config.local only
    assert "other-host joined pool t2igan" in done.stdout
    worker_pid = team.pids(team.joined)["worker"]
    assert team.hosts.namespace_of(worker_pid) == ""
    workers = team.prefect().http.post("/work_pools/t2igan/workers/filter", json={}).json()
    assert [(w["name"], w["status"]) for w in workers] == [("other-host", "ONLINE")]
    assert dvc(team_project, "remote", "default").strip() == "team"
    assert team.env["AWS_SECRET_ACCESS_KEY"] in (team_project / ".dvc" / "config.local").read_text()
    assert "team" not in (team_project / ".dvc" / "config").read_text()

    # When the scheduled deployment is sent to the pool and a run is triggered
    run = _run_on_the_other_host(team, team_project)

    # Then the joined worker ran it to completion
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert run["work_pool_name"] == "t2igan" and run["infrastructure_pid"]

    # And the model is @champion in the server host's registry, its files in the server host's proxied store
    client = team.client()
    champion = client.get_model_version_by_alias("t2igan", "champion")
    assert str(champion.version) == "1"
    training = client.get_run(champion.run_id)
    assert training.info.artifact_uri.startswith("mlflow-artifacts:/")
    stored = {p.name for p in (team.root / "artifacts").rglob("*") if p.is_file()}
    assert {"MLmodel", "generator.safetensors"} <= stored, sorted(stored)[:20]

    # And the data went to the S3 bucket, in sync with the workspace
    keys = [o["Key"] for o in _s3(team.env).list_objects_v2(Bucket="t2igan-dvc").get("Contents", [])]
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


def test_only_a_user_allowed_on_the_model_moves_champion(team: Team) -> None:
    # Given two users made on the server host, one of them given EDIT on the registered model
    for name in ("reader", "editor"):
        made = team.cli("user", "add", name)
        assert f"user {name}: created" in made.stdout
        assert read_env_file(team.root / "users" / f"{name}.env")["MLFLOW_TRACKING_PASSWORD"] not in made.stdout
    team.cli("user", "grant", "editor", "t2igan", "EDIT")
    champion = str(team.client().get_model_version_by_alias("t2igan", "champion").version)

    def move(user: str, version: str) -> int:
        env = read_env_file(team.root / "users" / f"{user}.env")
        response = httpx.post(
            f"{env['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/registered-models/alias",
            json={"name": "t2igan", "alias": "champion", "version": version},
            auth=(env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]),
            timeout=30,
        )
        return response.status_code

    # When each tries to move @champion from the other host
    # Then the reader is refused and the alias stays; the editor moves it (and back)
    assert move("reader", champion) == 403
    assert move("editor", "1") == 200 and move("editor", champion) == 200
    assert str(team.client().get_model_version_by_alias("t2igan", "champion").version) == champion


def _everything_said(team: Team, project: Path) -> dict[str, str]:
    """Where a secret must never be: each place's text, by name."""
    said = {"ps": subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout}
    said.update({f"ps while the pipeline ran ({n})": listing for n, listing in enumerate(team.process_lists)})
    private = {team.root / "team.env", team_project_config_local(project)}
    scanned = [
        *(
            p
            for p in team.root.rglob("*")
            if p.is_file() and "postgres" not in p.parts and p.parent.name != "users"
        ),
        *(p for p in team.joined.rglob("*") if p.is_file()),
        *(p for p in project.rglob("*") if p.is_file() and "cache" not in p.parts and ".git" not in p.parts),
    ]
    for path in scanned:
        if path not in private and path.name != "team.env":
            said[str(path)] = path.read_text(errors="replace")
    client = team.client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(experiments):
        said[f"mlflow run {run.info.run_id}"] = json.dumps([run.data.params, run.data.tags])
    for version in client.search_model_versions():
        said[f"mlflow model {version.name}/{version.version}"] = json.dumps(version.tags)
    api = team.prefect()
    said["prefect flow runs"] = json.dumps(
        [r["parameters"] for r in api.http.post("/flow_runs/filter", json={}).json()]
    )
    deployments = api.http.post("/deployments/filter", json={}).json()
    said["prefect deployments"] = json.dumps([[d["parameters"], d["job_variables"]] for d in deployments])
    logs = api.http.post("/logs/filter", json={"limit": 200}).json()
    said["prefect logs"] = json.dumps([entry["message"] for entry in logs])
    return said


def team_project_config_local(project: Path) -> Path:
    return project / ".dvc" / "config.local"  # DVC's place for a remote's keys: never committed


def test_no_secret_shows_in_arguments_logs_mlflow_or_prefect(team: Team, team_project: Path) -> None:
    # Given everything the tests above ran: servers, a joined worker, a full flow run, users, promotions
    secrets = Credentials.from_env(team.env)
    assert secrets is not None
    users = [read_env_file(f)["MLFLOW_TRACKING_PASSWORD"] for f in (team.root / "users").glob("*.env")]

    # When every process's arguments, every log and file of both hosts' services and of the project, every
    # MLflow run's params and tags, and Prefect's runs, deployments and logs are read
    said = _everything_said(team, team_project)

    # Then no secret is in any of them
    leaks = {place for place, text in said.items() for secret in [*secrets.secrets(), *users] if secret in text}
    assert leaks == set()
    assert len(said) > 20 and "mlflow server" in said["ps"] and any(p.endswith("worker.log") for p in said)
    assert len(team.process_lists) > 10 and any("dvc" in listing for listing in team.process_lists)


def test_after_rotate_the_old_team_env_is_refused_everywhere_and_nothing_is_lost(
    team: Team, team_project: Path, tmp_path: Path
) -> None:
    # Given the current team.env, kept as a host that missed the rotation would
    old = tmp_path / "old.env"
    shutil.copy(team.root / "team.env", old)
    old_env = read_env_file(old)
    objects = _s3(team.env).list_objects_v2(Bucket="t2igan-dvc")
    versions = {(v.name, v.version) for v in team.client().search_model_versions()}

    # When the server host rotates every credential
    done = team.cli("rotate")
    new_env = read_env_file(team.root / "team.env")

    # Then every secret changed, and the old file is refused by every server
    assert "prefect: new authentication string" in done.stdout
    old_secrets, new_secrets = Credentials.from_env(old_env), Credentials.from_env(new_env)
    assert old_secrets is not None and new_secrets is not None
    assert old_secrets.secrets().isdisjoint(new_secrets.secrets()) and len(new_secrets.secrets()) == 4
    said = _refused_everywhere(team, old_env)
    assert said["mlflow"] == said["prefect"] == 401 and "password authentication failed" in said["postgres"]
    assert said["s3"] == "InvalidAccessKeyId"
    stale = team.join(old, check=False)
    assert stale.returncode == 2 and len(stale.stderr.strip().splitlines()) == 1
    assert "refused its credentials" in stale.stderr and "stale" in stale.stderr

    # And the new one works, and nothing in the registry or the bucket was lost
    team.adopt(new_env)
    assert _refused_everywhere(team, new_env) == {
        "mlflow": 200,
        "prefect": 200,
        "postgres": "connected",
        "s3": "listed",
    }
    assert {(v.name, v.version) for v in team.client().search_model_versions()} == versions
    after = _s3(team.env).list_objects_v2(Bucket="t2igan-dvc")
    assert [o["ETag"] for o in after["Contents"]] == [o["ETag"] for o in objects["Contents"]]

    # And the other host joins again with the new file
    fresh = tmp_path / "new.env"
    shutil.copy(team.root / "team.env", fresh)
    team.join(fresh, team_project)
    workers = team.prefect().http.post("/work_pools/t2igan/workers/filter", json={}).json()
    assert ("other-host", "ONLINE") in [(w["name"], w["status"]) for w in workers]
    assert "in sync" in checked(["dvc", "status", "--cloud"], team_project, {**tool_env(), **team.env})


def test_stop_stops_everything_and_the_registry_outlives_it(team: Team, team_project: Path) -> None:
    # When the services are stopped on both hosts
    pids = {**team.pids(), **{f"joined {k}": v for k, v in team.pids(team.joined).items()}}
    joined = subprocess.run(
        [
            str(VENV_BIN / "t2igan"),
            "services",
            "stop",
            "--dir",
            str(team.joined),
            "--project",
            str(team_project),
        ],
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    done = team.cli("stop")

    # Then every process is gone, and the other host's project is back on its own remote
    assert "worker: stopped" in joined.stdout
    assert all(f"{name}: stopped" in done.stdout for name in SERVER_SIDE), done.stdout
    assert not any(group_alive(pid) for pid in pids.values())  # their children too
    assert team.cli("status", check=False).returncode == 1
    default = subprocess.run(
        [str(VENV_BIN / "dvc"), "remote", "default"],
        cwd=team_project,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert "No default remote set" in default.stdout + default.stderr

    # And team.env stays, private: the servers keep the other half of its credentials
    assert (team.root / "team.env").stat().st_mode & 0o777 == 0o600

    # And the registry outlives the processes: restarted, PostgreSQL still holds the model and its alias
    team.cli("start", "--only", "postgres")
    with team.database("mlflow").connect() as mlflow_db:
        aliases = mlflow_db.execute(
            sqlalchemy.text("SELECT name, alias, version FROM registered_model_aliases")
        )
        assert ("t2igan", "champion", 1) in {tuple(row) for row in aliases}
    assert team.pids() == {}
