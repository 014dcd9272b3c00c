"""The `t2igan` app: the root callback (offline environment, logging, the project object) and every command.

Other crashes than a `T2iganError` print a traceback without local variables: logs are kept (by Prefect, by
CI), and locals can hold anything.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from t2igan.cli import doctor, feedback, flow, models, people, services, stages, store
from t2igan.cli.project import Project
from t2igan.env import apply_offline_defaults

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train, evaluate, register and serve text-to-image GANs: every pipeline stage, the training flow, "
    "and the registry's, the studio's and team mode's commands.",
    pretty_exceptions_show_locals=False,
)
for commands in (stages.app, models.app, people.app, doctor.app):
    app.add_typer(commands)
app.add_typer(flow.app, name="flow")
app.add_typer(services.app, name="services")
app.add_typer(feedback.app, name="feedback")
app.add_typer(store.app, name="store")

NOISY_LOGGERS = ("alembic", "httpx", "urllib3", "great_expectations", "mlflow.store.db.utils")


@app.callback()
def _setup(ctx: typer.Context, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    apply_offline_defaults()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = Project()  # the command's --project and --params fill it


def main() -> None:
    """The console script; under torchrun, with torch's `record`, so a rank's error reaches its summary."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        from torch.distributed.elastic.multiprocessing.errors import record

        record(app)()
    else:
        app()
