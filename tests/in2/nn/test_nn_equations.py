"""FourierUnit, FFC, FFC residual block and NHAB against small references written from their
equations (LaMa's FFC, the paper's Eq. for NHAB), with numpy FFTs and explicit loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from in2.nn.body import NHAB
from in2.nn.ffc import FFC, FFCResBlock, FourierUnit


def _randomise_bn(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial running statistics and affine terms, so BN is not an identity in eval mode."""
    g = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            bn.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            bn.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def _bn(x: np.ndarray, bn: torch.nn.BatchNorm2d) -> np.ndarray:
    """Eval-mode batch norm on [B, C, H, W]: (x - mean) / sqrt(var + eps) * gamma + beta."""
    m, v = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
    gamma, beta = bn.weight.detach().double().numpy(), bn.bias.detach().double().numpy()
    shape = (1, -1, 1, 1)
    return (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + bn.eps) * gamma.reshape(shape) + beta.reshape(shape)


def _conv1x1(x: np.ndarray, conv: torch.nn.Conv2d) -> np.ndarray:
    return np.einsum("oc,bchw->bohw", conv.weight.detach().double().numpy()[:, :, 0, 0], x)


def _conv3x3_reflect(x: np.ndarray, conv: torch.nn.Conv2d) -> np.ndarray:
    """3x3 convolution (cross-correlation) over a reflect-padded map, by explicit shifts."""
    w = conv.weight.detach().double().numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    h, wd = x.shape[-2:]
    out = np.zeros((x.shape[0], w.shape[0], h, wd))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oc,bchw->bohw", w[:, :, dy, dx], padded[:, :, dy : dy + h, dx : dx + wd])
    return out


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def fourier_unit_reference(x: np.ndarray, fu: FourierUnit) -> np.ndarray:
    """y = irfft2( ReLU(BN(Conv1x1([Re F(x); Im F(x)]))) ), F the orthonormal 2-D real FFT."""
    h, w = x.shape[-2:]
    spec = np.fft.rfft2(x, axes=(-2, -1), norm="ortho")
    y = _relu(_bn(_conv1x1(np.concatenate([spec.real, spec.imag], axis=1), fu.conv), fu.bn))
    c = y.shape[1] // 2
    return np.fft.irfft2(y[:, :c] + 1j * y[:, c:], s=(h, w), axes=(-2, -1), norm="ortho")


def spectral_reference(x: np.ndarray, st) -> np.ndarray:
    """Global branch: r = ReLU(BN(Conv1x1_reduce x)); Conv1x1_expand(r + FU(r))."""
    r = _relu(_bn(_conv1x1(x, st.reduce[0]), st.reduce[1]))
    return _conv1x1(r + fourier_unit_reference(r, st.fourier), st.expand)


def ffc_reference(x_l: np.ndarray, x_g: np.ndarray, ffc: FFC) -> tuple[np.ndarray, np.ndarray]:
    """Y_l = ReLU(BN(f_l->l(X_l) + f_g->l(X_g))), Y_g = ReLU(BN(f_l->g(X_l) + f_g->g(X_g)))."""
    y_l = _relu(_bn(_conv3x3_reflect(x_l, ffc.l2l) + _conv3x3_reflect(x_g, ffc.g2l), ffc.bn_l))
    y_g = _relu(_bn(_conv3x3_reflect(x_l, ffc.l2g) + spectral_reference(x_g, ffc.g2g), ffc.bn_g))
    return y_l, y_g


@pytest.mark.parametrize("h, w", [(6, 9), (7, 7), (5, 4)])  # odd and even, non-square
def test_fourier_unit_matches_its_equation(h, w):
    torch.manual_seed(0)
    fu = FourierUnit(3).eval().double()
    _randomise_bn(fu, 1)
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    with torch.no_grad():
        got = fu(x).numpy()
    # The unit runs its FFTs in fp32 whatever the input dtype: fp32 tolerances.
    np.testing.assert_allclose(got, fourier_unit_reference(x.numpy(), fu), rtol=1e-4, atol=1e-5)


def test_ffc_and_residual_block_match_their_equations():
    torch.manual_seed(0)
    block = FFCResBlock(8, ratio=0.75).eval().double()
    _randomise_bn(block, 2)
    x = torch.randn(2, 8, 7, 10, dtype=torch.float64)
    local = block.local_channels
    assert local == 2  # 75% of the channels are global
    x_l, x_g = x[:, :local].numpy(), x[:, local:].numpy()
    with torch.no_grad():
        one_l, one_g = block.first(x[:, :local], x[:, local:])
        out = block(x).numpy()
    ref_l, ref_g = ffc_reference(x_l, x_g, block.first)
    np.testing.assert_allclose(one_l.numpy(), ref_l, rtol=1e-4, atol=1e-5)  # fp32 FFTs inside
    np.testing.assert_allclose(one_g.numpy(), ref_g, rtol=1e-4, atol=1e-5)
    # The block: two FFC layers, a residual on each branch, branches concatenated local first.
    two_l, two_g = ffc_reference(ref_l, ref_g, block.second)
    np.testing.assert_allclose(out, np.concatenate([x_l + two_l, x_g + two_g], axis=1), rtol=1e-4, atol=1e-5)


def _layer_norm(x: np.ndarray, ln: torch.nn.LayerNorm) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * ln.weight.detach().double().numpy() + ln.bias.detach().double().numpy()


def _linear(x: np.ndarray, lin: torch.nn.Linear) -> np.ndarray:
    return x @ lin.weight.detach().double().numpy().T + lin.bias.detach().double().numpy()


def _neighborhood_attention(x: np.ndarray, na, kernel: int) -> np.ndarray:
    """Each pixel attends to the k x k window around it, shifted inward at the borders."""
    b, h, w, c = x.shape
    heads = na.heads
    d = c // heads
    qkv = _linear(x, na.qkv).reshape(b, h, w, 3, heads, d)
    q, k, v = qkv[:, :, :, 0], qkv[:, :, :, 1], qkv[:, :, :, 2]
    out = np.zeros((b, h, w, heads, d))
    for i in range(h):
        si = min(max(i - kernel // 2, 0), h - kernel)
        for j in range(w):
            sj = min(max(j - kernel // 2, 0), w - kernel)
            keys = k[:, si : si + kernel, sj : sj + kernel].reshape(b, -1, heads, d)
            vals = v[:, si : si + kernel, sj : sj + kernel].reshape(b, -1, heads, d)
            scores = np.einsum("bhd,bnhd->bhn", q[:, i, j], keys) / np.sqrt(d)
            p = np.exp(scores - scores.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            out[:, i, j] = np.einsum("bhn,bnhd->bhd", p, vals)
    return _linear(out.reshape(b, h, w, c), na.proj)


def test_nhab_matches_its_equation():
    # X_M = X + NA(LN1 X) + alpha * CAB(LN1 X);  Y = X_M + MLP(LN2 X_M)  (MLP: Linear, GELU, Linear)
    torch.manual_seed(0)
    block = NHAB(12, heads=2, kernel=3, mlp_ratio=2.0, alpha=0.3, cab_compress=3, cab_squeeze=4).eval().double()
    for ln in (block.norm1, block.norm2):  # distinct affine terms, so the two norms cannot be swapped
        ln.weight.data.uniform_(0.5, 1.5)
        ln.bias.data.normal_(0.0, 0.2)
    x = torch.randn(2, 5, 6, 12, dtype=torch.float64)
    with torch.no_grad():
        got = block(x).numpy()
        xn = torch.from_numpy(_layer_norm(x.numpy(), block.norm1))
        cab = block.cab(xn.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()  # CAB has its own tests
    xs = x.numpy()
    x_m = xs + _neighborhood_attention(xn.numpy(), block.attn, 3) + 0.3 * cab
    hidden = _linear(_layer_norm(x_m, block.norm2), block.mlp[0])
    gelu = F.gelu(torch.from_numpy(hidden)).numpy()
    expected = x_m + _linear(gelu, block.mlp[2])
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
