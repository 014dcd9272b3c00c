"""One module per pipeline stage, each with `run(params, paths)`: the only place stage logic lives.

`dvc.yaml` calls them through the CLI; the Prefect flow runs the DVC stages; nothing else orchestrates.
"""

# scan comes first: it fingerprints the dataset's files so that DVC reruns ingest when new data lands.
STAGES: tuple[str, ...] = ("scan", "ingest", "validate", "embed", "train", "evaluate", "register")
