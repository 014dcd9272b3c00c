"""The deployment's parameters and the GPU request a docker work pool passes to `docker run --gpus`."""

from __future__ import annotations

from flows.deployment import gpu_job_variables, parameters


def test_parameters_carry_the_project_and_the_run_s_overrides_never_the_webhook() -> None:
    assert parameters("/srv/t2igan", {"train.steps": 10}) == {
        "project_dir": "/srv/t2igan",
        "overrides": {"train.steps": 10},
    }


def test_a_gpu_request_becomes_the_engine_s_request_for_that_many_nvidia_gpus() -> None:
    # What the docker work pool hands to docker-py's `containers.create`, as docker-py sends it to the engine
    # (`docker run --gpus N`: N GPUs with the gpu capability; -1: all of them)
    from docker.types import HostConfig

    for gpus in (2, -1):
        requests = gpu_job_variables(gpus)["container_create_kwargs"]["device_requests"]
        (sent,) = HostConfig(version="1.44", device_requests=requests)["DeviceRequests"]
        assert (sent["Driver"], sent["Count"], sent["Capabilities"]) == ("nvidia", gpus, [["gpu"]])
        assert sent["DeviceIDs"] == []  # any N of them, not named ones
