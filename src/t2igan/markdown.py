"""Markdown tables for the reports people read (validation, evaluation, the flow's summary), via pandas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> list[str]:
    """A pipe table of `rows` (one mapping per row), cells as given: numbers are formatted by the caller."""
    frame = pd.DataFrame(list(rows), columns=list(columns) if columns else None).fillna("")
    return str(frame.to_markdown(index=False, disable_numparse=True)).splitlines()
