"""The whole pipeline on a tiny config through real Prefect, real DVC and a real MLflow sqlite store.

One project serves the whole module, in order: a served deployment on a real `prefect server` runs it first,
then the same project is run again, retried, changed, pushed and pulled, experimented on, and finally fed bad
data. The only fault injected is a `t2igan` wrapper first on the served flow's PATH that fails one stage once
with exit code 75 when a test arms it (the tools themselves are never replaced).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml

from t2igan.config import OVERRIDE_FILE
from t2igan.config import overrides as run_overrides
from t2igan.config.overrides import empty_file
from t2igan.stages import STAGES
from tests.support.project import (
    VENV_BIN,
    cached_outputs,
    checked,
    digests,
    dvc,
    dvc_project,
    own_cache,
    repro_ran,
    tiny_params_dict,
    tool_env,
)
from tests.support.services import (
    PREFECT_DATABASE,
    PrefectApi,
    nightly_cron_far_from_now,
    prefect_server,
    served_deployment,
    service_env,
    webhook_receiver,
)

# The one run of every stage from nothing, as a user's first `make run`: evaluate computes (and reports the
# progress of) every feature, so the project keeps its own cache, unshared with the session's.
pytestmark = [pytest.mark.slow, pytest.mark.own_cache]

STAGE_TASKS = {f"dvc-{s}" for s in STAGES}
FAULT_WRAPPER = """#!/bin/sh
# Test fault hook: `t2igan <stage>` exits 75 (transient) once when {arm} names that stage, then disarms.
if [ -f "{arm}" ] && [ "$1" = "$(cat "{arm}")" ]; then
  rm -f "{arm}"
  echo "t2igan $1: error: MLflow tracking server unreachable (injected by the test)" >&2
  exit 75
fi
exec "{real}" "$@"
"""


def _env(project: Path) -> dict[str, str]:
    # its own Prefect database and settings (the ephemeral API's start-up timeout is t2igan's default)
    return tool_env(PREFECT_HOME=str(project / ".prefect"))


def _flow(project: Path) -> dict:
    return json.loads(checked([str(VENV_BIN / "t2igan"), "flow", "run", "--json"], project, _env(project)))


def _ran(summary: dict) -> set[str]:
    return {s["stage"] for s in summary["stages"] if s["ran"]}


def _client(project: Path) -> mlflow.MlflowClient:
    uri = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _registered(project: Path) -> dict[str, Any]:
    return json.loads((project / "metrics" / "register.json").read_text())


@pytest.fixture(scope="module")
def flow_project(tmp_path_factory: pytest.TempPathFactory, prefect_database: Path) -> Path:
    base = tmp_path_factory.mktemp("e2e")
    root = dvc_project(base / "project", tiny_params_dict(), ignore=".fault/\n")
    dvc(root, "remote", "add", "--default", "local", str(base / "dvc-remote"))  # the one-command remote
    checked(["git", "add", "-A"], root)
    checked(["git", "commit", "-qm", "project"], root)
    wrapper = root / ".fault" / "bin" / "t2igan"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(FAULT_WRAPPER.format(arm=root / ".fault" / "arm", real=VENV_BIN / "t2igan"))
    wrapper.chmod(0o755)
    (root / ".prefect").mkdir()  # the home of `t2igan flow run`'s ephemeral API (_env), migrated already
    shutil.copy2(prefect_database, root / ".prefect" / PREFECT_DATABASE)
    return root


NIGHTLY = nightly_cron_far_from_now()


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory, prefect_database: Path) -> Iterator[PrefectApi]:
    with prefect_server(tmp_path_factory.mktemp("prefect-server"), prefect_database) as api:
        yield api


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def deployment(flow_project: Path, prefect: PrefectApi, webhook: tuple[str, list]) -> Iterator[dict[str, Any]]:
    url, _ = webhook
    args = ["--cron", NIGHTLY, "--notify-url", url]
    with (
        own_cache(),
        served_deployment(
            flow_project, prefect, "e2e", args, path_prefix=flow_project / ".fault" / "bin"
        ) as found,
    ):
        yield found


def test_served_deployment_runs_every_stage_and_registers_a_champion(
    flow_project: Path, prefect: PrefectApi, deployment: dict[str, Any]
) -> None:
    # Given the deployment served on a real Prefect server, with its nightly schedule
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == [NIGHTLY]

    # When a run is triggered
    run = prefect.run_deployment(deployment["id"], {})

    # Then every stage ran once as its own task, between a pull and a push, and the run completed
    assert run["state"]["type"] == "COMPLETED", run["state"]
    tasks = prefect.task_runs(run["id"])
    assert set(tasks) == STAGE_TASKS | {"dvc-pull", "dvc-push", "feedback"}
    assert {name: t["run_count"] for name, t in tasks.items()} == dict.fromkeys(tasks, 1)
    assert "in sync" in dvc(flow_project, "status", "--cloud")

    registered = _registered(flow_project)
    assert registered["version"] == "1" and registered["promoted"] is True
    assert registered["compared_with"] is None  # the first version had no champion to meet
    evaluation = json.loads((flow_project / "metrics" / "eval.json").read_text())
    assert evaluation["fid_name"] == "fid_24" and evaluation["fid_24"] > 0
    assert set(evaluation["attr_acc_heldout"]) >= {"color", "shape", "mean"}

    client = _client(flow_project)
    version = client.get_model_version_by_alias("t2igan", "champion")
    assert str(version.version) == "1"
    assert version.tags["lineage.git_dirty"] == "false"
    mlflow_run = client.get_run(registered["run_id"])
    assert mlflow_run.data.metrics["fid_24"] == pytest.approx(evaluation["fid_24"])
    assert any(a.path.startswith("samples") for a in client.list_artifacts(mlflow_run.info.run_id))

    # Lineage leads back to exactly the data DVC recorded: the tags are dvc.lock's output hashes.
    lock = yaml.safe_load((flow_project / "dvc.lock").read_text())
    assert set(lock["stages"]) == {s.removeprefix("dvc-") for s in STAGE_TASKS}
    for stage, out in (("validate", "data/clean"), ("embed", "data/embeddings"), ("ingest", "data/ingest")):
        locked = next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == out)
        assert version.tags[f"lineage.dvc.{stage}_md5"] == locked
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=flow_project, capture_output=True, text=True).stdout
    assert version.tags["lineage.git_commit"] == head.strip()

    # And the run left its report in Prefect: metrics table, sample grid, links, decision
    artifacts = prefect.artifacts(run["id"])
    assert set(artifacts) == {
        "t2igan-training-summary",
        "t2igan-metrics",
        "t2igan-samples",
        "t2igan-mlflow-run",
        "t2igan-model-version",
    }
    report = artifacts["t2igan-training-summary"]["data"]
    assert "promoted to @champion (no champion yet)" in report
    assert "## People's feedback\n\n0 votes so far; 0 hard prompts in all." in report  # nobody voted yet
    table = json.loads(artifacts["t2igan-metrics"]["data"])
    fid_row = next(row for row in table if row["metric"] == "fid_24")
    assert fid_row["version 1"] == pytest.approx(evaluation["fid_24"], rel=1e-5)
    grid = artifacts["t2igan-samples"]["data"]
    assert (
        base64.b64decode(grid.removeprefix("data:image/png;base64,"))
        == (flow_project / "artifacts" / "evaluate" / "samples.png").read_bytes()
    )
    assert registered["run_id"] in artifacts["t2igan-mlflow-run"]["data"]
    assert "#/models/t2igan/versions/1" in artifacts["t2igan-model-version"]["data"]
    _assert_progress_shown_to_the_end(prefect, run["id"])


def _assert_progress_shown_to_the_end(prefect: PrefectApi, run_id: str) -> None:
    """Each long phase of validate and evaluate kept a progress artifact on its task, and finished it."""
    progress = prefect.progress(run_id)
    phases = {
        "validate: decode-images",
        "train: steps",
        "evaluate: inception-real",
        "evaluate: inception-generated",
    }
    assert phases <= set(progress), progress
    assert set(progress.values()) == {100.0}


def test_second_run_with_nothing_changed_runs_nothing(flow_project: Path) -> None:
    checkpoint_times = {
        p: p.stat().st_mtime_ns for p in (flow_project / "artifacts/train/checkpoints").iterdir()
    }
    summary = _flow(flow_project)  # `make run`: the same flow on an ephemeral Prefect API
    # the dataset listing and the hard prompts' export (both outside DVC's sight): unchanged, so nothing after
    # them runs
    assert _ran(summary) == {"scan", "prompts"}
    assert summary["version"] == "1" and summary["registered_now"] is False
    assert {
        p: p.stat().st_mtime_ns for p in (flow_project / "artifacts/train/checkpoints").iterdir()
    } == checkpoint_times


def test_a_transient_failure_is_retried_and_the_run_succeeds_with_its_overrides(
    flow_project: Path, prefect: PrefectApi, deployment: dict[str, Any]
) -> None:
    # Given register armed to fail once as if the tracking server were down, and an override for this run
    (flow_project / ".fault" / "arm").write_text("register")
    params_before = (flow_project / "params.yaml").read_bytes()

    run = prefect.run_deployment(deployment["id"], {"overrides": {"register.fid_margin": 0.5}})

    # Then the register task ran twice, and the run completed; the weights are the champion's own, so no new
    # version was registered (only register's params changed)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert not (flow_project / ".fault" / "arm").exists()  # the fault fired
    tasks = prefect.task_runs(run["id"])
    assert tasks["dvc-register"]["run_count"] == 2
    assert {name: t["run_count"] for name, t in tasks.items() if name != "dvc-register"} == dict.fromkeys(
        set(tasks) - {"dvc-register"}, 1
    )
    registered = _registered(flow_project)
    assert registered["version"] == "1" and registered["promoted"] is False
    assert registered["reason"] == "identical weights to @champion (version 1)"
    assert registered["compared_with"]["version"] == "1"

    # params.yaml untouched, the override recorded where DVC reads it, and the file empty again
    assert (flow_project / "params.yaml").read_bytes() == params_before
    lock = yaml.safe_load((flow_project / "dvc.lock").read_text())
    assert lock["stages"]["register"]["params"][OVERRIDE_FILE] == {
        "register": {"fid_margin": 0.5},
        "validation": {},
    }
    assert (flow_project / OVERRIDE_FILE).read_text() == empty_file()


def test_changing_an_evaluation_param_reruns_only_evaluate_and_register(flow_project: Path) -> None:
    params = yaml.safe_load((flow_project / "params.yaml").read_text())
    params["evaluate"]["seed"] = 99
    (flow_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro_ran(dvc(flow_project, "repro")) == {"scan", "prompts", "evaluate", "register"}
    # the same generator: re-evaluated, not registered a second time
    registered = _registered(flow_project)
    assert registered["version"] == "1" and "identical weights" in registered["reason"]


def test_params_back_to_an_earlier_set_evaluate_and_register_again(flow_project: Path) -> None:
    # Given evaluate.seed back to the first run's (A -> B -> A): DVC's run cache holds A's evaluate and register
    first_seed = tiny_params_dict()["evaluate"]["seed"]
    params = yaml.safe_load((flow_project / "params.yaml").read_text())
    assert params["evaluate"]["seed"] == 99 != first_seed  # B, from the test before
    params["evaluate"]["seed"] = first_seed
    (flow_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    output = dvc(flow_project, "repro")

    # Then both ran (neither restored from the run cache), so MLflow's run holds A's evaluation again
    assert {"evaluate", "register"} <= repro_ran(output), output
    assert "is cached - skipping run" not in output
    registered = _registered(flow_project)
    client = _client(flow_project)
    logged = client.download_artifacts(registered["run_id"], "evaluation", str(flow_project / ".logged"))
    assert json.loads((Path(logged) / "params.json").read_text())["seed"] == first_seed
    assert json.loads((Path(logged) / "eval.json").read_text()) == json.loads(
        (flow_project / "metrics" / "eval.json").read_text()
    )
    shutil.rmtree(flow_project / ".logged")


def test_two_overlapping_runs_with_different_overrides_each_get_their_own(
    flow_project: Path, prefect_database: Path, tmp_path: Path
) -> None:
    # Given a run with evaluate.seed=7, under way: it has written its overrides
    def start(seed: int, prefect_home: Path) -> subprocess.Popen[str]:
        command = [str(VENV_BIN / "t2igan"), "flow", "run", "--json", "-S", f"evaluate.seed={seed}"]
        env = tool_env(PREFECT_HOME=str(prefect_home))
        return subprocess.Popen(command, cwd=flow_project, env=env, stdout=subprocess.PIPE, text=True)

    first = start(7, flow_project / ".prefect")
    deadline = time.monotonic() + 300
    while "seed: 7" not in (flow_project / OVERRIDE_FILE).read_text() and first.poll() is None:
        assert time.monotonic() < deadline, "the first run never wrote its overrides"
        time.sleep(0.1)
    # When a second run (an ad-hoc one beside a scheduled one: its own Prefect API) starts with seed=8
    (tmp_path / "prefect").mkdir()
    shutil.copy2(prefect_database, tmp_path / "prefect" / PREFECT_DATABASE)
    second = start(8, tmp_path / "prefect")
    outputs = [process.communicate(timeout=900)[0] for process in (first, second)]

    # Then both succeed, and each evaluated with its own seed: its figures are that seed's, evaluated alone
    assert (first.returncode, second.returncode) == (0, 0), outputs
    summaries = {7: json.loads(outputs[0]), 8: json.loads(outputs[1])}
    assert summaries[7]["overrides"] == {"evaluate.seed": 7} and summaries[7]["fid"] != summaries[8]["fid"]
    for seed, summary in summaries.items():
        assert "evaluate" in _ran(summary)
        with run_overrides.applied(flow_project, {"evaluate.seed": seed}):
            checked([str(VENV_BIN / "t2igan"), "evaluate"], flow_project)
        alone = json.loads((flow_project / "metrics" / "eval.json").read_text())
        assert alone[summary["fid_name"]] == summary["fid"], seed
    assert (flow_project / OVERRIDE_FILE).read_text() == empty_file()
    dvc(flow_project, "repro")  # the workspace back to what dvc.lock says, for the tests after this one


def test_push_then_pull_into_an_empty_cache_restores_byte_identical_outputs(flow_project: Path) -> None:
    # Given everything pushed to the local-directory remote
    dvc(flow_project, "push")
    outputs = cached_outputs(flow_project)
    assert {"data/clean", "data/embeddings", "artifacts/train/checkpoints", "artifacts/train/model"} <= {
        str(out.relative_to(flow_project)) for out in outputs
    }
    before = digests(outputs)

    # When the cache and every output are gone
    shutil.rmtree(flow_project / ".dvc" / "cache")
    for out in outputs:
        shutil.rmtree(out) if out.is_dir() else out.unlink()

    # Then a pull brings back the same bytes
    dvc(flow_project, "pull")
    assert digests(outputs) == before


def test_the_flow_s_pull_keeps_outputs_changed_in_the_workspace(flow_project: Path) -> None:
    # Given an output changed in the workspace since dvc.lock (as an interrupted training leaves checkpoints)
    changed = flow_project / "data" / "ingest" / "dataset.json"
    original = changed.read_bytes()
    changed.write_text("{}")
    script = (
        "import json, sys; from flows.dvc_tasks import dvc_pull; "
        "print(json.dumps(dvc_pull.fn(sys.argv[1], 'local')))"
    )
    try:
        # When the flow's pull task runs, Then it warns instead of failing the run, and keeps the change
        out = checked([sys.executable, "-c", script, str(flow_project)], flow_project, _env(flow_project))
        result = json.loads(out.strip().splitlines()[-1])
        assert result["summary"].startswith("kept outputs changed in the workspace")
        assert changed.read_text() == "{}"
    finally:
        changed.write_bytes(original)
    assert "modified" not in dvc(flow_project, "status", "ingest")


def test_dvc_exp_run_becomes_an_mlflow_run_tagged_with_the_experiment(flow_project: Path) -> None:
    # the outputs so far committed with dvc.lock, metrics/*.json included (the repository's .gitignore)
    checked(["git", "add", "-A"], flow_project)
    checked(["git", "commit", "-qm", "runs so far"], flow_project)
    assert "metrics/eval.json" in checked(["git", "ls-files", "metrics"], flow_project)
    champion = str(_client(flow_project).get_model_version_by_alias("t2igan", "champion").version)

    done = dvc(flow_project, "exp", "run", "-n", "lr-probe", "-S", "train.lr_g=0.0003")
    assert {"train", "evaluate", "register"} <= repro_ran(done)
    runs = _client(flow_project).search_runs(
        experiment_ids=[_client(flow_project).get_experiment_by_name("t2igan").experiment_id],
        filter_string="tags.`dvc.exp_name` = 'lr-probe'",
    )
    assert len(runs) == 1
    assert runs[0].data.params["train.lr_g"] == "0.0003"
    assert runs[0].data.tags["dvc.exp_baseline_rev"]
    assert _registered(flow_project)["run_id"] == runs[0].info.run_id
    assert "lr-probe" in dvc(flow_project, "exp", "list")

    # An experiment never moves @champion: its version is a challenger, with what the gate made of it.
    client = _client(flow_project)
    assert str(client.get_model_version_by_alias("t2igan", "champion").version) == champion
    challenger = client.get_model_version_by_alias("t2igan", "challenger")
    assert str(challenger.version) == _registered(flow_project)["version"] != champion
    assert challenger.tags["promotion.reason"].startswith("experiment lr-probe (dvc exp run)")

    # Its metrics compare with the commit's, in `dvc metrics diff` and `dvc exp show`.
    diff = dvc(flow_project, "metrics", "diff", "--all", "--md")
    fid_name = json.loads((flow_project / "metrics" / "eval.json").read_text())["fid_name"]
    for metric in (fid_name, "alignment"):
        assert re.search(rf"\| metrics/eval\.json\s+\| {metric}\s+\| [\d.]+\s+\| [\d.]+", diff), diff
    table = list(csv.DictReader(io.StringIO(dvc(flow_project, "exp", "show", "--csv"))))
    rows = {row["Experiment"]: row for row in table if row["Experiment"]}
    baseline = next(row for row in table if row["rev"] in ("main", "master"))
    for row in (rows["lr-probe"], baseline):
        assert float(row[fid_name]) > 0  # a number, not "!"


def test_bad_data_fails_the_run_with_the_validation_reason_and_no_retry(
    flow_project: Path, prefect: PrefectApi, deployment: dict[str, Any], webhook: tuple[str, list]
) -> None:
    # Given a landing directory where most images are broken, chosen for this run by an override
    landing = flow_project.parent / "bad-landing"
    landing.mkdir()
    for i in range(10):
        (landing / f"img{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
        (landing / f"img{i}.txt").write_text(f"a broken picture number {i}\n")
    overrides = {"data.source": "folder", "data.path": str(landing), "data.name": "bad"}
    params_before = (flow_project / "params.yaml").read_bytes()

    run = prefect.run_deployment(deployment["id"], {"overrides": overrides})

    # Then the run failed in validate, once, saying why; nothing after validate ran
    assert run["state"]["type"] == "FAILED"
    message = run["state"]["message"]
    assert "stage 'validate' failed (exit code 2)" in message
    assert "10 of 10 rows rejected" in message
    tasks = prefect.task_runs(run["id"])
    assert tasks["dvc-validate"]["run_count"] == 1
    assert not {"dvc-embed", "dvc-train", "dvc-push"} & set(tasks)

    # And the failure hook logged it, and the deployment's Automation sent it to the webhook, whose URL is
    # in no flow parameter
    url, received = webhook
    deadline = time.monotonic() + 120
    while not received and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(received) == 1, received
    assert "stage 'validate' failed (exit code 2)" in received[0]["message"]
    assert "10 of 10 rows rejected" in received[0]["message"] and received[0]["subject"].endswith(": Failed")
    assert received[0]["text"] == f"{received[0]['subject']}: {received[0]['message']}"
    assert url not in json.dumps(run["parameters"]) and url not in json.dumps(deployment)
    assert prefect.log_line(run["id"], "failed in stage validate") is not None
    assert (flow_project / "params.yaml").read_bytes() == params_before
    assert (flow_project / OVERRIDE_FILE).read_text() == empty_file()


def test_deploy_sends_the_scheduled_flow_to_work_pools_with_gpu_job_variables(
    flow_project: Path, prefect: PrefectApi
) -> None:
    # Given a process pool (a GPU machine that sees the flow_project) and a docker pool on the server
    env = service_env(flow_project / ".prefect", prefect.url)

    def cli(*args: str) -> None:
        done = subprocess.run(args, cwd=flow_project, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    for pool, kind in (("gpu-procs", "process"), ("gpu-docker", "docker")):
        cli(str(VENV_BIN / "prefect"), "work-pool", "create", pool, "--type", kind)

    # When the flow is deployed to each
    deploy = [str(VENV_BIN / "t2igan"), "flow", "deploy", "--project", str(flow_project)]
    cli(*deploy, "--pool", "gpu-procs", "--name", "procs", "--cron", "0 4 * * *", "-S", "train.steps=4000")
    cli(
        *deploy,
        "--pool",
        "gpu-docker",
        "--name",
        "docker",
        "--image",
        "registry.local/t2igan:cuda",
        "--gpus",
        "1",
    )

    # Then each is registered on its pool with the schedule, the run's parameters and the GPU request
    procs = prefect.deployment("t2igan-training", "procs")
    assert procs["work_pool_name"] == "gpu-procs"
    assert [s["schedule"]["cron"] for s in procs["schedules"]] == ["0 4 * * *"]
    assert procs["parameters"] == {"project_dir": str(flow_project), "overrides": {"train.steps": 4000}}
    assert procs["entrypoint"] == "flows/training.py:training_flow"
    docker = prefect.deployment("t2igan-training", "docker")
    assert docker["work_pool_name"] == "gpu-docker" and docker["parameters"]["project_dir"] == "."
    assert [s["schedule"]["cron"] for s in docker["schedules"]] == ["0 3 * * *"]
    assert docker["job_variables"]["image"] == "registry.local/t2igan:cuda"
    assert docker["job_variables"]["container_create_kwargs"] == {
        "device_requests": [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}]
    }
