"""Offline-by-default process environment.

The pipeline must run with no network but the package registries: the text encoder and the FID network load
from installed wheels, and no tool may phone home. Entry points call `apply_offline_defaults()` first; values
the user set explicitly win.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
    # quieter logs in stage output (not about the network)
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def apply_offline_defaults() -> None:
    """Set the offline variables that the user has not set themselves."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
