"""The deployment's parameters and the GPU request a docker work pool passes to `docker run --gpus`."""

from __future__ import annotations

from flows.deployment import gpu_job_variables, parameters


def test_parameters_carry_the_project_the_run_s_overrides_and_the_webhook() -> None:
    assert parameters("/srv/t2igan", {"train.steps": 10}, None) == {
        "project_dir": "/srv/t2igan",
        "overrides": {"train.steps": 10},
    }
    assert parameters(".", {}, "http://hooks.example/x")["notify_url"] == "http://hooks.example/x"


def test_a_gpu_request_is_what_docker_run_gpus_sends() -> None:
    assert gpu_job_variables(2) == {
        "container_create_kwargs": {
            "device_requests": [{"driver": "nvidia", "count": 2, "capabilities": [["gpu"]]}]
        }
    }
