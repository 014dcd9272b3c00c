"""Errors a user can act on.

Every error that reaches the CLI as a `T2iganError` is printed as one line (no traceback) and mapped to an
exit code, so that orchestrators can tell bad input (never retried) from transient trouble (retried).
"""

from __future__ import annotations

# Exit codes shared by the CLI and the Prefect flow's retry policy.
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2  # bad params or bad data: retrying cannot help
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: I/O hiccup, tracking server briefly down; worth a retry


class T2iganError(Exception):
    """Base class: a failure with a message meant for the person running the pipeline."""

    exit_code = EXIT_FAILURE


class ConfigError(T2iganError):
    """params.yaml (or an override) is invalid."""

    exit_code = EXIT_BAD_INPUT


class DataError(T2iganError):
    """The dataset is unusable: a stage refuses it rather than training on garbage."""

    exit_code = EXIT_BAD_INPUT


class StageInputError(T2iganError):
    """A stage's input from an earlier stage is missing or inconsistent (run the earlier stage first)."""

    exit_code = EXIT_BAD_INPUT


class TrainingDiverged(T2iganError):
    """Losses went NaN/inf or exploded; the last good checkpoint is kept."""


class ProcessesFailed(T2iganError):
    """Processes a stage started (torchrun's ranks) failed; the exit code is theirs, so a transient failure
    of a rank stays retriable."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TransientError(T2iganError):
    """Something outside our control failed in a way that may pass (retry)."""

    exit_code = EXIT_TRANSIENT
