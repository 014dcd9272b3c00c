"""Timing several variants of a training step against each other on one machine, in the same run.

Each variant runs `steps_per_round` steps in turn, round after round, so that a machine that slows down
(another job, thermal limits) slows every variant alike; the median round is each one's figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable


def median_step_seconds(
    steps: dict[str, Callable[[int], None]], rounds: int, steps_per_round: int
) -> dict[str, float]:
    """Seconds per step of each variant: one warm-up step each, then alternating rounds, the median round."""
    for step in steps.values():  # warm-up: first-call allocations and kernels
        step(0)
    timings: dict[str, list[float]] = {name: [] for name in steps}
    done = 1
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for offset in range(steps_per_round):
                step(done + offset)
            timings[name].append((time.perf_counter() - started) / steps_per_round)
        done += steps_per_round
    return {name: statistics.median(seconds) for name, seconds in timings.items()}


def step_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every step-timing benchmark takes: the step's size and batch, and the rounds timed."""
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-per-round", type=int, default=4)
