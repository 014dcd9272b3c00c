"""The failure hook's message: the failed stage and its one-line reason, from the exception or the message."""

from __future__ import annotations

from typing import Any

from flows.dvc_tasks import StageFailed
from flows.notify import failure_details


class _State:
    def __init__(self, message: str, error: Exception | None = None) -> None:
        self.message, self.name, self.error = message, "Failed", error

    def result(self, raise_on_failure: bool = True) -> Any:
        return self.error


def test_the_stage_and_reason_come_from_the_exception_when_the_state_holds_it() -> None:
    error = StageFailed("validate", 2, "10 of 10 rows rejected")
    assert failure_details(_State("whatever", error)) == {
        "stage": "validate",
        "reason": "10 of 10 rows rejected",
        "message": "whatever",
    }


def test_otherwise_from_the_state_message() -> None:
    details = failure_details(_State("Flow run failed: stage 'train' failed (exit code 75): server down"))
    assert (details["stage"], details["reason"]) == ("train", "server down")
    assert failure_details(_State("Crashed: out of memory")) == {
        "stage": None,
        "reason": "Crashed: out of memory",
        "message": "Crashed: out of memory",
    }
