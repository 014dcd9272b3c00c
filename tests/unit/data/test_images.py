"""Safe decoding: confined paths, bombs refused, any mode to RGB, EXIF orientation applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from t2igan.data.images import BadImage, center_crop_resize, confine, decode

LIMIT = 10_000_000


def test_confine_refuses_escapes_and_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "ok.png").touch()
    assert confine(tmp_path, "ok.png") == (tmp_path / "ok.png").resolve()
    with pytest.raises(BadImage, match="escapes the dataset root"):
        confine(tmp_path, "../outside.png")
    with pytest.raises(BadImage, match="escapes the dataset root"):
        confine(tmp_path, "sub/../../outside.png")
    with pytest.raises(BadImage, match="absolute image path"):
        confine(tmp_path, "/etc/passwd")


def test_symlink_out_of_the_root_is_an_escape(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.png").symlink_to(outside)
    with pytest.raises(BadImage, match="escapes"):
        confine(root, "link.png")


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 200, (200, 200, 200)),
        ("RGB", (10, 20, 30), (10, 20, 30)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent red shows the white matte
        ("LA", (0, 255), (0, 0, 0)),
        ("I;16", 65535, (255, 255, 255)),
    ],
)
def test_every_mode_decodes_to_rgb(tmp_path: Path, mode: str, value: object, expected: tuple) -> None:
    path = tmp_path / "image.png" if mode != "CMYK" else tmp_path / "image.jpg"
    Image.new(mode, (20, 20), value).save(path)
    image = decode(path, LIMIT)
    assert image.mode == "RGB"
    assert np.abs(np.asarray(image)[10, 10].astype(int) - expected).max() <= 2


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    assert tuple(np.asarray(decode(tmp_path / "p.png", LIMIT))[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert decode(tmp_path / "rotated.jpg", LIMIT).size == (20, 40)


def test_bad_files_have_reasons(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImage, match="missing file"):
        decode(tmp_path / "nope.png", LIMIT)
    with pytest.raises(BadImage, match="empty file"):
        decode(tmp_path / "empty.png", LIMIT)
    with pytest.raises(BadImage, match="not an image"):
        decode(tmp_path / "text.png", LIMIT)
    with pytest.raises(BadImage, match="truncated or corrupt"):
        decode(tmp_path / "truncated.png", LIMIT)


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    Image.new("L", (4000, 4000)).save(tmp_path / "big.png")  # compresses to a few KB
    with pytest.raises(BadImage, match="decompression bomb: 4000x4000 exceeds 1000000 pixels"):
        decode(tmp_path / "big.png", 1_000_000)


def test_center_crop_resize_keeps_the_middle() -> None:
    canvas = np.zeros((20, 40, 3), dtype=np.uint8)
    canvas[:, 10:30] = 255  # the central square is white, the sides black
    out = center_crop_resize(Image.fromarray(canvas), 8)
    assert out.shape == (8, 8, 3) and out.min() >= 250


@pytest.mark.parametrize(("bits", "top"), [(8, 255), (12, 4095), (16, 65535)])
def test_16_bit_grayscale_is_scaled_to_the_range_its_data_use(tmp_path: Path, bits: int, top: int) -> None:
    # 8-bit data saved in a 16-bit file, a 12-bit sensor's, a full 16-bit range: each comes out 0..255
    ramp = np.linspace(0, top, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "gray16.png")
    decoded = np.asarray(decode(tmp_path / "gray16.png", LIMIT))[..., 0].astype(int)
    assert decoded.max() == 255 and decoded.min() == 0
    np.testing.assert_allclose(decoded, ramp / top * 255, atol=1)
