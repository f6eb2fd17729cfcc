"""Neighborhood attention: portable path against a dense reference and against NATTEN."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch

from in2.nn import attention
from in2.nn.attention import (
    attention_backend,
    effective_kernel,
    get_attention_backend,
    neighborhood_attention,
    portable_na2d,
    set_attention_backend,
)


def dense_na2d(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Full attention with an explicit window mask built from NATTEN's definition (slow, obvious)."""
    b, h, w, heads, d = q.shape
    allowed = torch.zeros(h * w, h * w, dtype=torch.bool)
    for i in range(h):
        si = min(max(i - kh // 2, 0), h - kh)
        for j in range(w):
            sj = min(max(j - kw // 2, 0), w - kw)
            for a in range(si, si + kh):
                for c in range(sj, sj + kw):
                    allowed[i * w + j, a * w + c] = True
    assert bool((allowed.sum(1) == kh * kw).all())  # every query sees exactly kh*kw keys
    qq, kk, vv = (t.reshape(b, h * w, heads, d).transpose(1, 2).double() for t in (q, k, v))
    scores = (qq @ kk.transpose(-1, -2)) * d**-0.5
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return (probs @ vv).transpose(1, 2).reshape(b, h, w, heads, d).to(q.dtype)


def _qkv(b: int, h: int, w: int, heads: int = 2, d: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, w, heads, d, generator=g) for _ in range(3)]


@pytest.mark.parametrize(
    "b,h,w,kh,kw",
    [
        (1, 9, 13, 7, 7),  # odd, non-square
        (2, 20, 17, 7, 7),  # more than one tile per axis, sizes not multiples of the tile
        (1, 5, 3, 5, 3),  # k == n on both axes
        (1, 3, 4, 2, 3),  # even kernel
        (1, 1, 1, 1, 1),
        (1, 1, 9, 1, 5),  # one-row map
        (2, 30, 11, 7, 5),  # different kernels per axis
        (1, 16, 16, 3, 3),  # exact tile multiple
    ],
)
def test_portable_matches_dense_reference(b, h, w, kh, kw):
    q, k, v = _qkv(b, h, w)
    out = portable_na2d(q, k, v, (kh, kw))
    assert out.shape == q.shape
    torch.testing.assert_close(out, dense_na2d(q, k, v, kh, kw), atol=1e-5, rtol=1e-5)


def test_kernel_is_clamped_per_axis():
    assert effective_kernel(7, 3, 20) == (3, 7)
    q, k, v = _qkv(1, 3, 20)
    with attention_backend("portable"):
        out = neighborhood_attention(q, k, v, 7)
    torch.testing.assert_close(out, dense_na2d(q, k, v, 3, 7), atol=1e-5, rtol=1e-5)


def test_score_budget_splits_into_several_calls(monkeypatch):
    """A tiny score budget forces one attention call per tile row; the result must not change."""
    q, k, v = _qkv(2, 19, 23, heads=3)
    full = portable_na2d(q, k, v, 7)
    monkeypatch.setattr(attention, "_MAX_SCORES", 1)
    torch.testing.assert_close(portable_na2d(q, k, v, 7), full)
    torch.testing.assert_close(portable_na2d(q, k, v, 7, tile=5), full, atol=1e-5, rtol=1e-5)


def test_half_precision_close_to_fp32():
    q, k, v = _qkv(1, 12, 10, heads=2, d=16)
    ref = portable_na2d(q, k, v, 7)
    out = portable_na2d(q.bfloat16(), k.bfloat16(), v.bfloat16(), 7)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)


def test_gradients_flow():
    q, k, v = (t.requires_grad_() for t in _qkv(1, 9, 11))
    portable_na2d(q, k, v, 5).sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, k, v))


def test_backend_selection_and_context_manager():
    previous = get_attention_backend()
    with attention_backend("portable"):
        assert get_attention_backend() == "portable"
        with pytest.raises(ValueError, match="unknown attention backend"):
            set_attention_backend("fast")
    assert get_attention_backend() == previous


def test_environment_variable_sets_default(monkeypatch):
    monkeypatch.setattr(attention, "_backend", None)
    monkeypatch.setenv("IN2_ATTENTION_BACKEND", "portable")
    assert get_attention_backend() == "portable"
    monkeypatch.setattr(attention, "_backend", None)
    monkeypatch.setenv("IN2_ATTENTION_BACKEND", "bogus")
    with pytest.raises(ValueError, match="IN2_ATTENTION_BACKEND"):
        get_attention_backend()
    monkeypatch.setattr(attention, "_backend", None)


def test_auto_uses_portable_on_cpu(monkeypatch):
    """On CPU tensors "auto" never takes NATTEN's slow Flex path."""

    def fail(*args, **kwargs):
        raise AssertionError("natten must not be called for CPU tensors in auto mode")

    natten = pytest.importorskip("natten")
    monkeypatch.setattr(natten, "na2d", fail)
    q, k, v = _qkv(1, 9, 9)
    with attention_backend("auto"):
        out = neighborhood_attention(q, k, v, 7)
    torch.testing.assert_close(out, portable_na2d(q, k, v, 7))


def _natten():
    try:
        return importlib.import_module("natten")
    except Exception as exc:  # noqa: BLE001 - truly absent or broken install
        pytest.skip(f"natten does not import here: {exc}")


@pytest.mark.parametrize("h,w,kernel", [(9, 13, 7), (9, 13, (5, 3)), (6, 8, (6, 4)), (7, 7, 7), (2, 3, (2, 3))])
def test_portable_matches_natten(h, w, kernel):
    _natten()
    q, k, v = _qkv(1, h, w, heads=2, d=16, seed=1)
    with attention_backend("natten"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Flex on CPU warns that it is not compiled
        reference = neighborhood_attention(q, k, v, kernel)
    with attention_backend("portable"):
        ours = neighborhood_attention(q, k, v, kernel)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_portable_on_cuda_matches_cpu():
    q, k, v = _qkv(2, 21, 17, heads=2, d=16)
    ref = portable_na2d(q, k, v, 7)
    with attention_backend("auto"):
        out = neighborhood_attention(q.cuda(), k.cuda(), v.cuda(), 7)
    torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-4)


def test_a_plan_made_under_inference_mode_serves_training_too():
    """The tile plan is cached per map size: one first built inside torch.inference_mode (the
    pipeline) must not break a later differentiable call of the same size (training)."""
    q, k, v = (torch.randn(1, 11, 13, 2, 4) for _ in range(3))
    with torch.inference_mode():
        expected = portable_na2d(q, k, v, 5)
    q.requires_grad_(True)
    out = portable_na2d(q, k, v, 5)
    out.sum().backward()
    torch.testing.assert_close(out.detach(), expected)
    assert q.grad is not None
