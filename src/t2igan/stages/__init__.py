"""One module per pipeline stage, each with `run(params, paths)`: a recipe of calls into the domain packages.

`dvc.yaml` calls them through the CLI; the Prefect flow runs the DVC stages; nothing else orchestrates, and
nothing but the CLI imports them (tests/unit/test_architecture.py).
"""

# scan comes first: it fingerprints the dataset's files so that DVC reruns ingest when new data lands.
# prompts exports the captions people disliked in the studio just before evaluate scores them.
STAGES: tuple[str, ...] = ("scan", "ingest", "validate", "embed", "train", "prompts", "evaluate", "register")
