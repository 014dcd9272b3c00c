"""Safe image decoding: a dataset is untrusted input.

Every image passes through `decode`, which confines the path to the dataset root, refuses decompression bombs
before decoding pixels, applies EXIF orientation, and turns any mode (L, LA, P, RGBA, CMYK, 16-bit) into RGB.
Failures raise `BadImage` with a short reason that validate records in `rejected.parquet`. Uploaded bytes
(`t2igan describe`) pass through `decode_bytes`: the same checks.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MISSING_FILE = "missing file"


class BadImage(Exception):
    """An image that cannot be used; the message is the one-line reason."""


def confine(root: Path, relative: str) -> Path:
    """Resolve `relative` under `root`, refusing absolute paths and anything that escapes the root."""
    if not relative or not relative.strip():
        raise BadImage("empty image path")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise BadImage(f"absolute image path {relative!r} (paths must be relative to the dataset root)")
    root = root.resolve()
    full = (root / candidate).resolve()
    if not full.is_relative_to(root):
        raise BadImage(f"image path {relative!r} escapes the dataset root")
    return full


def _deep_gray_to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit integer) grayscale to 8 bits, scaled to the bit depth its values actually use.

    A 16-bit file often holds 8-, 10- or 12-bit data; dividing by 65535 would store such images almost black.
    The smallest depth of at least 8 bits that holds the brightest value is the image's range.
    """
    array = np.asarray(image, dtype=np.float64)
    brightest = int(max(array.max(), 0))
    top = float(2 ** max(8, brightest.bit_length()) - 1)
    return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = _deep_gray_to_8_bit(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # Composite transparency over white rather than letting convert() expose undefined colour values.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _decode_checked(source: Path | BinaryIO, max_pixels: int, formats: tuple[str, ...] | None) -> Image.Image:
    """The checks and decoding `decode` and `decode_bytes` share; `formats` limits the decoders tried."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=formats) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise BadImage(f"decompression bomb: {width}x{height} exceeds {max_pixels} pixels")
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image))
    except BadImage:
        raise
    except UnidentifiedImageError:
        allowed = "" if formats is None else f" in a format accepted here ({', '.join(formats)})"
        raise BadImage(f"not an image Pillow can read{allowed}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"truncated or corrupt image ({exc})") from None


def decode(path: Path, max_pixels: int) -> Image.Image:
    """Open, check and fully decode one image as RGB (EXIF orientation applied)."""
    if not path.is_file():
        raise BadImage(MISSING_FILE)
    if path.stat().st_size == 0:
        raise BadImage("empty file")
    return _decode_checked(path, max_pixels, None)


def decode_bytes(data: bytes, max_pixels: int, formats: tuple[str, ...] | None = None) -> Image.Image:
    """An image that arrives as bytes (an upload), checked and decoded exactly as `decode` does a file.

    `formats` (Pillow's names: "PNG", "JPEG", "WEBP") narrows which decoders may read untrusted bytes.
    """
    if not data:
        raise BadImage("empty file")
    return _decode_checked(io.BytesIO(data), max_pixels, formats)


def center_crop_resize(image: Image.Image, size: int) -> np.ndarray:
    """Center-crop to a square and resize to `size` (Lanczos, so downsampling does not alias)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.uint8)
