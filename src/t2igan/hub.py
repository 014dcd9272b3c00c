"""Loading Hugging Face checkpoints quietly: what text towers and vision backbones share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Loading one tower from a full checkpoint (CLIP's text or vision tower) leaves the other tower's weights
    unused, as it should: transformers' load report would print each of them as a warning, and a progress bar
    per load."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
