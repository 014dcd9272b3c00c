"""Tests that start the real tools: the CLI, DVC, Prefect servers and workers, MLflow servers, torchrun."""
