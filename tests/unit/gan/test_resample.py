"""The low-resolution rewrites compute the published blocks' function, values and gradients alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from t2igan.gan.discriminator import DownBlock
from t2igan.gan.generator import UpBlock
from t2igan.gan.resample import transposed_kernel, upsample_conv3x3
from tests.support.dfgan import down_block_published, up_block_published


def _values_and_grads(
    fn: Callable[..., torch.Tensor], inputs: list[torch.Tensor], module: nn.Module | None = None
) -> list[torch.Tensor]:
    """fn's output and the gradients of a fixed random projection of it w.r.t. inputs and module weights."""
    for tensor in inputs:
        tensor.grad = None
    if module is not None:
        module.zero_grad(set_to_none=True)
    out = fn(*inputs)
    probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    (out * probe).sum().backward()
    grads = [tensor.grad.clone() for tensor in inputs]
    if module is not None:
        grads += [p.grad.clone() for p in module.parameters() if p.grad is not None]
    return [out.detach(), *grads]


def _assert_all_close(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)  # float32 rounding, values ~1


def test_upsample_conv3x3_equals_upsampling_then_convolving() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 7, requires_grad=True)  # not square: each axis is handled on its own
    weight = torch.randn(4, 5, 3, 3, requires_grad=True)
    bias = torch.randn(4, requires_grad=True)

    def reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)

    got = _values_and_grads(upsample_conv3x3, [x, weight, bias])
    want = _values_and_grads(reference, [x, weight, bias])
    assert got[0].shape == (2, 4, 12, 14)
    _assert_all_close(got, want)


def test_the_transposed_kernel_sums_the_taps_each_output_phase_reads() -> None:
    weight = torch.arange(9.0).view(1, 1, 3, 3)  # taps 0..8, row-major
    kernel = transposed_kernel(weight)[0, 0]
    # Kernel row 1 (output 2i from input i) sums 3x3 rows 1 and 2; column 0 (output 2j+1 from j+1) is column 2.
    assert kernel[1, 0].item() == weight[0, 0, 1, 2].item() + weight[0, 0, 2, 2].item()
    assert kernel[3, 3].item() == weight[0, 0, 0, 0].item()  # output 2i from input i-1: tap (0, 0) alone
    assert kernel.sum().item() == 4 * weight.sum().item()  # every tap is read by 4 of the 16 positions


def test_upsample_conv3x3_refuses_other_kernels() -> None:
    with pytest.raises(ValueError, match="3x3"):
        upsample_conv3x3(torch.randn(1, 2, 4, 4), torch.randn(3, 2, 5, 5), None)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize(("in_ch", "out_ch"), [(8, 4), (6, 6)])
def test_generator_block_at_low_resolution_equals_published_order(norm: str, in_ch: int, out_ch: int) -> None:
    torch.manual_seed(0)
    block = UpBlock(cond_dim=5, in_ch=in_ch, out_ch=out_ch, norm=norm)
    for param in block.parameters():  # off the identity initialisation of the affines
        param.data.add_(0.3 * torch.randn_like(param))
    h = torch.randn(4, in_ch, 4, 4, requires_grad=True)
    cond = torch.randn(4, 5, requires_grad=True)
    got = _values_and_grads(block, [h, cond], block)
    want = _values_and_grads(lambda h, c: up_block_published(block, h, c), [h, cond], block)
    assert got[0].shape == (4, out_ch, 8, 8)
    _assert_all_close(got, want)


@pytest.mark.parametrize(("in_ch", "out_ch"), [(3, 8), (8, 8)])
def test_discriminator_block_pooling_first_equals_the_published_order(in_ch: int, out_ch: int) -> None:
    torch.manual_seed(0)
    block = DownBlock(in_ch, out_ch, gate_init=1.0)
    x = torch.randn(4, in_ch, 8, 8, requires_grad=True)
    got = _values_and_grads(block, [x], block)
    want = _values_and_grads(lambda x: down_block_published(block, x), [x], block)
    assert got[0].shape == (4, out_ch, 4, 4)
    _assert_all_close(got, want)
