"""Files landing in a folder dataset the way a careful writer delivers them: a temporary name, then rename."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220), "yellow": (230, 220, 40)}


def land(
    root: Path, name: str, captions: list[str] | None, color: str = "red", in_flight: bool = False
) -> None:
    """Drop an image (and its caption file, if given) as a careful writer does: temp name, then rename."""
    path = root / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((24, 24, 3), np.uint8)
    image[4:20, 4:20] = COLORS[color]
    temporary = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image).save(temporary, format="PNG")
    if in_flight:
        return
    os.replace(temporary, path)
    if captions is not None:
        path.with_suffix(".txt").write_text("\n".join(captions) + "\n")
