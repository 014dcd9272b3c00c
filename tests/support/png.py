"""Decoding the base64 PNGs the served model returns."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def decode_png(data: str) -> np.ndarray:
    """base64 PNG -> uint8 HxWx3; raises if it is not a valid PNG."""
    raw = base64.b64decode(data)
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG")
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        return np.asarray(image.convert("RGB"))
