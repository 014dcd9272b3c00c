"""The hard-prompts file, `data/hard_prompts.csv`: the captions people disliked, one row each with its counts.

The `prompts` stage writes it from the feedback database (a DVC output: each export that changes the set is a
new version, and evaluate, which depends on it, reruns only then), sorted and deduplicated so that the same
feedback gives the same bytes; evaluation reads its captions (t2igan.metrics.hard_prompt_alignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from t2igan.io import write_text

COLUMNS = ["caption", "both_bad", "thumbs_down"]


@dataclass(frozen=True)
class HardPrompt:
    caption: str
    both_bad: int
    thumbs_down: int


def write_hard_prompts(prompts: list[HardPrompt], path: Path) -> None:
    frame = pd.DataFrame([vars(p) for p in prompts], columns=COLUMNS)
    write_text(path, frame.to_csv(index=False))  # temp file, then rename


def read_hard_prompts(path: Path) -> list[str]:
    """The captions of a hard-prompts file; none when it does not exist (no feedback yet)."""
    if not path.is_file():
        return []
    frame = pd.read_csv(path, dtype={"caption": str}, keep_default_na=False)
    return [c for c in frame["caption"].tolist() if c.strip()]
