"""The IN2 generator: configs, parameter budget, shapes at any size, chunking, dtypes."""

from __future__ import annotations

import pytest
import torch

from in2 import IN2, IN2Config, InputError, WeightsError
from in2.model import level_sizes


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def tiny() -> IN2:
    torch.manual_seed(0)
    return IN2(IN2Config.tiny()).eval()


def _inputs(b: int, h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, h, w, generator=g)
    mask = (torch.rand(b, 1, h, w, generator=g) > 0.6).float()
    return image, mask


def test_default_parameter_budget():
    model = IN2(IN2Config())
    total = n_params(model)
    assert 15_000_000 <= total <= 15_600_000
    assert total == 15_259_117  # the reference budget: 15.26M (docs/architecture.md, Parameters)
    assert n_params(model.encoder) == 1_812_866
    assert n_params(model.body) == 11_260_392
    assert n_params(model.decoder) == 2_185_859


def test_small_and_tiny_sizes():
    assert 1_500_000 <= n_params(IN2(IN2Config.small())) <= 2_500_000
    assert 100_000 <= n_params(IN2(IN2Config.tiny())) <= 500_000


def test_config_dict_round_trip_and_unknown_keys():
    cfg = IN2Config.small(na_kernel=5)
    assert IN2Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(WeightsError, match="depth"):
        IN2Config.from_dict({**cfg.to_dict(), "depth": 3})
    with pytest.raises(ValueError, match="divisible"):
        IN2Config(body_dim=100, num_heads=8)


def test_level_sizes_match_spec():
    assert level_sizes(577, 433) == [(289, 217), (145, 109), (73, 55)]


@pytest.mark.parametrize("h,w", [(37, 53), (1, 1), (5, 200), (16, 16), (17, 9)])
def test_forward_shapes_any_size(tiny, h, w):
    image, mask = _inputs(2, h, w)
    with torch.no_grad():
        y = tiny(image, mask)
    assert y.shape == (2, 3, h, w)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_forward_large_odd_size(tiny):
    image, mask = _inputs(1, 577, 433)
    with torch.no_grad():
        y = tiny(image, mask, chunk_size=50_000)
    assert y.shape == (1, 3, 577, 433)


def test_chunked_equals_unchunked(tiny):
    image, mask = _inputs(2, 37, 53)
    calls: list[tuple[int, int]] = []
    with torch.no_grad():
        full = tiny(image, mask)
        chunked = tiny(image, mask, chunk_size=97, progress=lambda d, t: calls.append((d, t)))
    torch.testing.assert_close(chunked, full, atol=1e-6, rtol=1e-5)
    total = calls[-1][1]
    assert calls == [(i, total) for i in range(1, total + 1)] and total > 3


def test_factorised_equals_plain_decoder(tiny):
    image, mask = _inputs(1, 29, 41)
    with torch.no_grad():
        fast = tiny(image, mask)
        tiny.factorised_decoder = False
        try:
            plain = tiny(image, mask, chunk_size=300)
        finally:
            tiny.factorised_decoder = True
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_progress_can_interrupt(tiny):
    image, mask = _inputs(1, 40, 40)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), torch.no_grad():
        tiny(image, mask, chunk_size=64, progress=stop)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward(dtype):
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()
    image, mask = _inputs(1, 33, 27)
    with torch.no_grad():
        ref = model(image, mask)
        y = model.to(dtype)(image, mask, chunk_size=256)
    assert y.dtype == dtype and y.shape == (1, 3, 33, 27)
    torch.testing.assert_close(y.float(), ref, atol=0.05, rtol=0)


def test_training_step_backpropagates():
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).train()
    image, mask = _inputs(2, 24, 40)
    model(image, mask).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_mask_batch_broadcast(tiny):
    image, mask = _inputs(3, 20, 21)
    with torch.no_grad():
        a = tiny(image, mask[:1])
        b = tiny(image, mask[:1].expand(3, -1, -1, -1))
    torch.testing.assert_close(a, b)


def test_bad_inputs_raise_input_error(tiny):
    image, mask = _inputs(1, 20, 20)
    with pytest.raises(InputError, match="image"):
        tiny(image[:, :2], mask)
    with pytest.raises(InputError, match="mask"):
        tiny(image, mask.expand(-1, 3, -1, -1))
    with pytest.raises(InputError, match="does not match"):
        tiny(image, mask[..., :19])


@pytest.mark.parametrize("overrides", [dict(use_attention_body=False), dict(pyramid_levels=1), dict(pyramid_levels=2)])
def test_ablation_configs_run(overrides):
    model = IN2(IN2Config.tiny(**overrides)).eval()
    image, mask = _inputs(1, 19, 30)
    with torch.no_grad():
        assert model(image, mask).shape == (1, 3, 19, 30)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@needs_cuda
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 5e-3), (torch.bfloat16, 0.05), (torch.float16, 0.05)])
def test_cuda_forward_matches_cpu(dtype, atol):
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()
    image, mask = _inputs(1, 45, 67)
    with torch.no_grad():
        ref = model(image, mask)
        y = model.to("cuda", dtype)(image.cuda(), mask.cuda(), chunk_size=500)
    assert y.dtype == dtype and y.is_cuda
    torch.testing.assert_close(y.float().cpu(), ref, atol=atol, rtol=0)


def test_inference_bn_fast_path_matches_module_path():
    """Under no_grad the stem and down convs apply BN+ReLU in place; that must equal the modules."""
    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()
    with torch.no_grad():
        for bn in (model.encoder.stem.body[2], *(block.down[1] for block in model.encoder.blocks)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    image, mask = _inputs(1, 21, 34)
    with torch.no_grad():
        fast = model(image, mask)
    with torch.enable_grad():
        slow = model(image, mask)
    torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (64, 41)])
@pytest.mark.parametrize("strip_pixels", [64, 300, 1 << 16])
def test_encoder_strips_match_the_whole_map_path(size, strip_pixels, monkeypatch):
    """Inference runs the stem and first downsample in strips (channels-last, BN folded, in-place
    sums in the FFC and CAB): it must equal the module path whatever the strip height."""
    from in2.nn import strips

    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    x = torch.rand(2, 4, *size)
    with torch.enable_grad():
        whole = model.encoder(x).detach()
    monkeypatch.setattr(strips, "STRIP_PIXELS", strip_pixels)  # the stem strips and the FFC 3x3 convolutions
    with torch.no_grad():
        striped = model.encoder(x)
    torch.testing.assert_close(striped, whole, atol=1e-5, rtol=1e-5)


def test_body_mlp_bands_match_the_whole_map(monkeypatch):
    """At inference the NHAB MLP runs a band of rows at a time; the result must not change."""
    from in2.nn import body

    torch.manual_seed(0)
    model = IN2(IN2Config.tiny()).eval()
    x = torch.randn(2, model.config.body_dim, 9, 7)
    with torch.enable_grad():
        whole = model.body(x).detach()
    monkeypatch.setattr(body, "_MLP_TOKENS", 10)
    with torch.no_grad():
        banded = model.body(x)
    torch.testing.assert_close(banded, whole, atol=1e-5, rtol=1e-5)


def test_attention_by_head_groups_matches_all_heads(monkeypatch):
    """At inference a large map takes the attention a few heads at a time; same result."""
    from in2.nn import body

    torch.manual_seed(0)
    model = IN2(IN2Config.tiny(num_heads=4)).eval()
    x = torch.randn(1, model.config.body_dim, 11, 9)
    with torch.no_grad():
        whole = model.body(x)
        monkeypatch.setattr(body, "_QKV_ELEMENTS", 11 * 9 * model.config.body_dim * 3 // 4)  # one head per group
        grouped = model.body(x)
    torch.testing.assert_close(grouped, whole, atol=1e-5, rtol=1e-5)
