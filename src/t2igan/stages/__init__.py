"""One module per pipeline stage, each with `run(params, paths)`: the only place stage logic lives.

`dvc.yaml` calls them through the CLI; the Prefect flow runs the DVC stages; nothing else orchestrates.
"""

STAGES: tuple[str, ...] = ("ingest", "validate", "embed", "train", "evaluate", "register")
