"""An uploaded image to the pixels the encoder reads, decoded as safely as the dataset's own images.

Uploads are untrusted: bytes go through `t2igan.data.images.decode_bytes` (pixel limit checked before pixels
are decoded, EXIF orientation, any mode to RGB), limited to PNG, JPEG and WebP, then center-cropped and
resized to the image store's side with the helper validate uses: the encoder sees an upload as it saw the
training images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from t2igan.data.images import BadImage, center_crop_resize, decode_bytes
from t2igan.describe.checks import UPLOAD_FORMATS, BadDescribeRequest


def read_image_file(path: Path) -> bytes:
    """The bytes of an image file named on the command line; a one-line error when there is none."""
    if not path.is_file():
        raise BadDescribeRequest(f"{path}: no such file")
    return path.read_bytes()


def _from_array(image: np.ndarray, max_pixels: int) -> Image.Image:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise BadDescribeRequest(f"expected a uint8 HxWx3 array, got {image.dtype} of shape {image.shape}")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise BadDescribeRequest(f"empty image ({height}x{width})")
    if height * width > max_pixels:
        raise BadDescribeRequest(f"too many pixels: {width}x{height} exceeds {max_pixels}")
    return Image.fromarray(np.ascontiguousarray(image))


def _from_bytes(data: bytes, max_pixels: int) -> Image.Image:
    try:
        return decode_bytes(data, max_pixels, UPLOAD_FORMATS)
    except BadImage as exc:
        raise BadDescribeRequest(f"unusable image: {exc}") from None


def upload_pixels(image: bytes | np.ndarray, size: int, max_pixels: int) -> np.ndarray:
    """uint8 `size` x `size` x 3 pixels of an upload: PNG/JPEG/WebP bytes or a uint8 HxWx3 array."""
    if isinstance(image, (bytearray, memoryview)):
        image = bytes(image)
    if isinstance(image, bytes):
        decoded = _from_bytes(image, max_pixels)
    elif isinstance(image, np.ndarray):
        decoded = _from_array(image, max_pixels)
    else:
        raise BadDescribeRequest(f"expected image bytes or a uint8 HxWx3 array, got {type(image).__name__}")
    return center_crop_resize(decoded, size).copy()  # writable: torch warns on a read-only array
