"""Registry: a self-contained pyfunc model by alias, lineage tags, the promotion gate both ways, rollback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from t2igan.config import RegisterParams, merge_layers, parse_params
from t2igan.io import read_json
from t2igan.metrics.figures import summary
from t2igan.paths import ProjectPaths
from t2igan.registry.aliases import FIGURES_TAG, logged_model_id, version_metrics
from t2igan.stages import register
from t2igan.tracking import configure
from tests.support.png import decode_png
from tests.support.project import (
    cli,
    reset_mlflow,
    run_stages,
    set_generator_weights,
    tiny_params_dict,
    tool_env,
)

pytestmark = pytest.mark.slow

FRESH_PROCESS = """
import base64, io, json
import mlflow, pandas as pd
from PIL import Image
model = mlflow.pyfunc.load_model("models:/t2igan@champion")
out = model.predict(pd.DataFrame({"caption": ["a large red circle in the center on a black background"],
                                  "seed": [7], "num_images": [2]}))
images = [Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB") for data in out["image"]]
print(json.dumps({"seeds": out["seed"].tolist(), "shapes": [[i.height, i.width, 3] for i in images]}))
"""


def _client(paths: ProjectPaths) -> mlflow.MlflowClient:
    configure(paths)
    return mlflow.MlflowClient()


def test_first_version_is_champion_with_lineage_and_metrics(trained_project: ProjectPaths) -> None:
    client = _client(trained_project)
    outcome = read_json(trained_project.metrics("register"))
    assert outcome["version"] == "1" and outcome["promoted"] and outcome["reason"] == "no champion yet"
    champion = client.get_model_version_by_alias("t2igan", "champion")
    challenger = client.get_model_version_by_alias("t2igan", "challenger")
    assert str(champion.version) == str(challenger.version) == "1"
    tags = champion.tags
    evaluation = read_json(trained_project.metrics("eval"))
    assert version_metrics(client, champion)[evaluation["fid_name"]] == pytest.approx(
        evaluation[evaluation["fid_name"]]
    )
    assert tags["dataset.name"] == "synthetic" and int(tags["dataset.images"]) == 240
    assert len(tags["lineage.params_sha256"]) == 64 and "lineage.git_commit" in tags
    run = client.get_run(tags["run_id"])
    assert evaluation["fid_name"] in run.data.metrics and "loss_d" in run.data.metrics
    assert run.data.params["train.steps"] == "12"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"samples", "evaluation", "config"} <= artifacts


def test_the_version_s_figures_are_metrics_of_its_logged_model_found_by_a_metric_filter(
    trained_project: ProjectPaths,
) -> None:
    client = _client(trained_project)
    version = client.get_model_version_by_alias("t2igan", "champion")
    evaluation = read_json(trained_project.metrics("eval"))
    name, fid = evaluation["fid_name"], evaluation[evaluation["fid_name"]]
    experiment = client.get_run(version.run_id).info.experiment_id
    found = mlflow.search_logged_models(
        experiment_ids=[experiment],
        filter_string=f"metrics.{name} < {fid + 1:.6f} AND metrics.{name} > {fid - 1:.6f}",
        datasets=[{"dataset_name": "synthetic-test"}],  # the figures are measured on the test split
        output_format="list",
    )
    assert [model.model_id for model in found] == [logged_model_id(version)]
    model = found[0]
    assert model.tags[FIGURES_TAG] == "synthetic-test" and model.tags["fid_name"] == name
    figures = {m.key: m.value for m in model.metrics if m.dataset_name == "synthetic-test"}
    assert figures == {key: value for key, value in summary(evaluation).items() if not isinstance(value, str)}
    # What the gate compares is what evaluate measured, read back from there; no JSON tag any more.
    assert version_metrics(client, version) == summary(evaluation)
    assert "metrics" not in version.tags


def _claim_figure(client: mlflow.MlflowClient, version: str, name: str, value: float) -> None:
    """A later value of one of a version's figures (on the figures' dataset: the last one counts)."""
    from mlflow.entities import Metric
    from mlflow.utils.time import get_current_time_millis

    model = client.get_logged_model(logged_model_id(client.get_model_version("t2igan", version)))
    dataset = model.tags[FIGURES_TAG]
    digest = next(m.dataset_digest for m in model.metrics if m.dataset_name == dataset)
    later = max(m.timestamp for m in model.metrics) + 1
    metric = Metric(
        name,
        value,
        max(later, get_current_time_millis()),
        0,
        model_id=model.model_id,
        dataset_name=dataset,
        dataset_digest=digest,
    )
    client.log_batch(model.source_run_id, metrics=[metric])


def test_champion_loads_in_a_fresh_process_with_no_network(trained_project: ProjectPaths, tmp_path) -> None:
    env = tool_env(MLFLOW_TRACKING_URI=f"sqlite:///{trained_project.mlruns / 'mlflow.db'}")
    command = [sys.executable, "-c", FRESH_PROCESS]
    isolated = shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0
    if isolated:  # a network namespace with no interfaces up: any download attempt fails
        command = ["unshare", "-n", *command]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"seeds": [7, 8], "shapes": [[16, 16, 3], [16, 16, 3]]}


def test_bad_requests_are_refused_with_a_clear_message(trained_project: ProjectPaths) -> None:
    configure(trained_project)
    model = mlflow.pyfunc.load_model("models:/t2igan@champion")
    cases = [
        (pd.DataFrame({"caption": ["   "]}), "caption must be a non-empty string"),
        (pd.DataFrame({"caption": ["x" * 401]}), "limit 400"),
        (pd.DataFrame({"caption": ["a red circle"], "num_images": [17]}), "between 1 and 16"),
        (pd.DataFrame({"seed": [1]}), "caption"),
    ]
    for frame, message in cases:
        with pytest.raises(MlflowException, match=message):
            model.predict(frame)
    same = model.predict(pd.DataFrame({"caption": ["a red circle", "a red circle"], "seed": [3, 3]}))
    assert same["image"][0] == same["image"][1] and list(same["row"]) == [0, 1]
    assert decode_png(same["image"][0]).shape == (16, 16, 3)


def test_generate_command_writes_pngs(trained_project: ProjectPaths, tmp_path) -> None:
    done = cli(
        "generate",
        "a small green square at the top",
        "-o",
        str(tmp_path / "g.png"),
        "-n",
        "2",
        "--seed",
        "4",
        cwd=trained_project.root,
    )
    assert done.returncode == 0, done.stderr
    for k in (0, 1):
        assert (tmp_path / f"g-{k}.png").read_bytes().startswith(b"\x89PNG")


def _evaluate_and_register(paths: ProjectPaths) -> register.RegisterResult:
    reset_mlflow()
    return run_stages(parse_params(tiny_params_dict()), paths, "evaluate", "register")["register"]


def test_the_gate_rescores_the_champion_and_ignores_noise_then_rollback(trained_project: ProjectPaths) -> None:
    from safetensors.torch import load_file

    from t2igan.registry.promotion import decide

    client = _client(trained_project)
    trained = load_file(str(trained_project.model_dir / "generator.safetensors"))

    # The same weights again (only evaluation could have changed): no second version, nothing moves.
    again = _evaluate_and_register(trained_project)
    assert again.version == "1" and not again.promoted and "identical weights to @champion" in again.reason
    assert len(client.search_model_versions("name='t2igan'")) == 1
    assert client.get_model_version("t2igan", "1").tags["promotion.reason"] == "no champion yet"  # kept

    # The champion's stored figure says it is terrible: the stored-figures gate would promote anything.
    stored = version_metrics(client, client.get_model_version("t2igan", "1"))
    _claim_figure(client, "1", stored["fid_name"], 1e6)
    stored = version_metrics(client, client.get_model_version("t2igan", "1"))
    assert stored[stored["fid_name"]] == 1e6
    set_generator_weights(trained_project, trained, noise=3.0)  # a much worse generator
    worse = _evaluate_and_register(trained_project)
    assert decide(read_json(trained_project.metrics("eval")), stored, RegisterParams()).promote
    assert worse.version == "2" and not worse.promoted and "re-scored on this data" in worse.reason
    comparison = worse.comparison
    assert comparison is not None and comparison["champion_version"] == "1"
    name = comparison["fid_name"]
    assert comparison["champion"][name] < comparison["challenger"][name]
    assert comparison["fid_gain"]["high"] < 0  # worse beyond the noise
    tags = client.get_model_version("t2igan", "2").tags
    assert json.loads(tags["promotion.comparison"]) == comparison
    assert client.get_model_version("t2igan", "2").description == worse.reason

    # A difference of measurement noise only (a tiny perturbation of the champion) does not promote.
    set_generator_weights(trained_project, trained, noise=1e-3)
    noise = _evaluate_and_register(trained_project)
    assert not noise.promoted and "beyond the noise" in noise.reason
    assert str(client.get_model_version_by_alias("t2igan", "champion").version) == "1"

    # With the bad version made champion by hand, the trained weights win against it, re-scored.
    done = cli("promote", "--version", "2", "--reason", "hand-picked for a demo", cwd=trained_project.root)
    assert done.returncode == 0, done.stderr
    assert client.get_model_version("t2igan", "2").tags["champion.reason"] == "manual: hand-picked for a demo"
    set_generator_weights(trained_project, trained, noise=0.0)
    better = _evaluate_and_register(trained_project)
    assert better.version == "1" and better.promoted, better.reason  # the twin of version 1, not a new one
    champion = client.get_model_version_by_alias("t2igan", "champion")
    assert str(champion.version) == "1" and champion.tags["champion.previous"] == "2"

    done = cli("rollback", cwd=trained_project.root)
    assert done.returncode == 0, done.stderr
    assert str(client.get_model_version_by_alias("t2igan", "champion").version) == "2"


def test_the_training_run_records_its_datasets_sample_grids_and_system_metrics(
    trained_project: ProjectPaths,
) -> None:
    client = _client(trained_project)
    run = client.get_run(read_json(trained_project.model_dir / "run.json")["run_id"])
    inputs = {
        d.dataset.name: {t.key: t.value for t in d.tags}["mlflow.data.context"]
        for d in run.inputs.dataset_inputs
    }
    assert inputs == {"synthetic-train": "training", "synthetic-test": "testing"}
    assert any(m.startswith("system/cpu_utilization") for m in run.data.metrics)
    grids = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert grids and all("samples" in path for path in grids)  # log_image by key and step: the UI's slider


def test_a_failed_register_leaves_the_training_run_finished(
    trained_project: ProjectPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from t2igan.errors import TransientError

    client = _client(trained_project)
    run_id = read_json(trained_project.model_dir / "run.json")["run_id"]

    def tracking_down(*args: object, **kwargs: object) -> None:
        raise TransientError("tracking server briefly down")

    monkeypatch.setattr(register, "publish", tracking_down)
    reset_mlflow()
    with pytest.raises(TransientError):
        register.run(parse_params(tiny_params_dict()), trained_project)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["t2igan.register.error"] == "TransientError: tracking server briefly down"

    monkeypatch.undo()  # the retry succeeds, and the error is gone from the run
    reset_mlflow()
    register.run(parse_params(tiny_params_dict()), trained_project)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "t2igan.register.error" not in run.data.tags


def _champion_generator(paths: ProjectPaths, tmp_path) -> tuple[str, dict]:
    from safetensors.torch import load_file

    version = str(_client(paths).get_model_version_by_alias("t2igan", "champion").version)
    local = mlflow.artifacts.download_artifacts(f"models:/t2igan/{version}", dst_path=str(tmp_path))
    found = sorted(Path(local).rglob("generator.safetensors"))
    assert len(found) == 1
    return version, load_file(str(found[0]))


def test_fine_tunes_from_the_registered_champion_on_a_new_dataset(
    trained_project: ProjectPaths, tmp_path
) -> None:
    from t2igan.errors import ConfigError
    from t2igan.stages import train
    from t2igan.training.checkpoint import CheckpointManager

    version, champion = _champion_generator(trained_project, tmp_path)
    # Another synthetic dataset (a new seed), one step from the champion at lr 1e-4.
    raw = tiny_params_dict(
        data={"synthetic": {"seed": 7}}, train={"init_from": "models:/t2igan@champion", "steps": 1}
    )
    params = parse_params(raw)
    reset_mlflow()
    run_stages(params, trained_project, "ingest", "validate", "embed", "train")
    outcome = read_json(trained_project.metrics("train"))
    assert outcome["init_from"] == f"models:/t2igan/{version}"  # the alias, resolved when the run started
    run = _client(trained_project).get_run(read_json(trained_project.model_dir / "run.json")["run_id"])
    assert run.data.tags["init_from"] == "models:/t2igan@champion"

    _, state = CheckpointManager(trained_project.checkpoints_dir, keep_last=1).newest_intact()
    tuned = state["trainer"]["generator"]
    weights = [name for name in champion if "running" not in name and "num_batches" not in name]
    # One Adam step moves each weight by about lr; a fresh initialisation would be far away.
    assert max(float((tuned[n] - champion[n]).abs().max()) for n in weights) < 3e-4

    reset_mlflow()
    mismatched = parse_params(merge_layers(raw, {"train": {"model": {"nf": 16}}}))
    with pytest.raises(ConfigError, match=r"different architecture: nf 32 \(this run: 16\)"):
        train.run(mismatched, trained_project)
    reset_mlflow()
    with pytest.raises(ConfigError, match=r"train\.init_from models:/t2igan@nobody"):
        train.run(
            parse_params(merge_layers(raw, {"train": {"init_from": "models:/t2igan@nobody"}})), trained_project
        )
