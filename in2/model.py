"""The IN2 generator and its strict, safetensors-only weight loading.

Forward: masked image -> encoder (stem + 3 DPBs, 1/8 resolution) -> attention body ->
implicit pyramid decoder (1/4, 1/2, full size) -> sigmoid RGB. Any H, W >= 1.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .config import IN2Config
from .errors import InputError, WeightsError
from .nn import AttentionBody, Encoder, FFCBody, PyramidDecoder
from .nn.prefill import prefill
from .runtime import resolve_device

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Sizes at 1/2, 1/4, 1/8 (ceil division at every stride-2 step)."""
    sizes = []
    for _ in range(3):
        height, width = math.ceil(height / 2), math.ceil(width / 2)
        sizes.append((height, width))
    return sizes


class IN2(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="in2",
    tags=["image-inpainting", "face-inpainting"],
    repo_url="https://github.com/in2-inpaint/in2",
):
    """IN2 generator. `model(image, mask)` returns the raw prediction (not composited)."""

    def __init__(self, config: IN2Config | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = IN2Config()
        elif isinstance(config, dict):
            config = IN2Config.from_dict(config)
        self.config = config
        self._hub_mixin_config = config  # so save_pretrained always knows the architecture
        c = config
        widths = (c.base_channels, 2 * c.base_channels, c.body_dim)
        self.encoder = Encoder(c.in_channels, widths, c.ffc_ratio, c.cab_compress, c.cab_squeeze)
        if c.use_attention_body:
            self.body: nn.Module = AttentionBody(
                c.body_dim, c.num_groups, c.blocks_per_group, heads=c.num_heads, kernel=c.na_kernel,
                mlp_ratio=c.mlp_ratio, alpha=c.cab_alpha, cab_compress=c.cab_compress, cab_squeeze=c.cab_squeeze,
            )
        else:
            self.body = FFCBody(c.body_dim, c.num_groups * c.blocks_per_group, c.ffc_ratio)
        dec_widths = [c.body_dim, *(c.body_dim, 2 * c.base_channels, c.base_channels)[-c.pyramid_levels :]]
        self.decoder = PyramidDecoder(dec_widths, c.out_channels, c.decoder_hidden, c.decoder_layers)
        # Plain LIIF evaluation of the first decoder layer when False (same function, slower).
        self.factorized_decoder = c.factorized_decoder
        if c.hole_prefill == "smooth":  # start as the pre-fill itself: the decoder learns a correction
            nn.init.zeros_(self.decoder.to_rgb.weight)
            nn.init.zeros_(self.decoder.to_rgb.bias)

    # -- forward ----------------------------------------------------------------------------
    def _check_inputs(self, image: torch.Tensor, mask: torch.Tensor) -> None:
        if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != self.config.out_channels:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise InputError(f"image must be a [B, 3, H, W] tensor, got {shape}")
        if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[1] != 1:
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise InputError(f"mask must be a [B, 1, H, W] tensor, got {shape}")
        if mask.shape[-2:] != image.shape[-2:] or mask.shape[0] not in (1, image.shape[0]):
            raise InputError(
                f"mask {tuple(mask.shape)} does not match image {tuple(image.shape)}: same H, W and batch 1 or B needed"
            )
        if image.shape[-1] < 1 or image.shape[-2] < 1:
            raise InputError(f"image must be at least 1x1, got {tuple(image.shape[-2:])}")

    def forward(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        *,
        chunk_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        region: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """image [B,3,H,W] in [0,1], mask [B,1,H,W] (1 = hole) -> prediction [B,3,H,W] in [0,1].

        region: [B or 1, 1, H, W], True (or > 0.5) where the output is needed, e.g. the hole
            that compositing reads. Only those pixels are decoded at full size (exactly as a
            full decode gives them); the others are returned as 0. None decodes every pixel.

        chunk_size: output pixels decoded at once per pyramid level (None = all at once). With
            gradients enabled, chunks are recomputed in backward, which bounds training memory too.
        progress(done, total): called after every decoded chunk; an exception raised there aborts.
        """
        self._check_inputs(image, mask)
        dtype = self.decoder.to_rgb.weight.dtype
        image, mask = image.to(dtype), mask.to(dtype).expand(image.shape[0], -1, -1, -1)
        height, width = image.shape[-2:]
        min_size = self.config.min_size
        pad_h, pad_w = max(0, min_size - height), max(0, min_size - width)
        if region is not None:
            region = (region > 0.5) if region.dtype != torch.bool else region
            region = region.expand(image.shape[0], 1, height, width)
            if pad_h or pad_w:
                region = F.pad(region, (0, pad_w, 0, pad_h))
        # the pre-fill relaxes many times: fp32 whatever the weights' dtype (bf16 would smear it)
        filled = prefill(image.float(), mask.float(), self.config.hole_prefill, self.config.prefill_steps)
        x = torch.cat([filled.to(dtype), mask], dim=1)
        if pad_h or pad_w:  # pad the blanked input, mask included: a border hole stays a hole, nothing leaks
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            mask = x[:, -1:]
        feat = self.body(self.encoder(x))
        full = (height + pad_h, width + pad_w)
        sizes = [*reversed(level_sizes(*full)[:2]), full][-self.config.pyramid_levels :]
        y = self.decoder(feat, sizes, chunk_size=chunk_size, factorized=self.factorized_decoder, progress=progress,
                         region=None if region is None else region[:, 0])
        y = y[..., :height, :width] if (pad_h or pad_w) else y
        if self.config.hole_prefill == "smooth":  # sigmoid output -> a correction in (-1, 1)
            y = (filled + 2 * y.float() - 1).clamp(0, 1).to(dtype)
            if region is not None:
                y = y * region[..., :height, :width]
        return y

    # -- weights ----------------------------------------------------------------------------
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write model.safetensors and config.json (our own dict, so the loader can be strict)."""
        from safetensors.torch import save_model

        save_directory = Path(save_directory)
        save_model(self, str(save_directory / WEIGHTS_FILE))
        (save_directory / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | Path,
        revision: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        map_location: str | torch.device = "cpu",
        **model_kwargs: Any,
    ) -> "IN2":
        """Load from a directory (config.json + model.safetensors) or a Hub repo id.

        Only safetensors are read; loading is strict. HF_HUB_OFFLINE=1 uses the local cache only.
        """
        return cls._from_pretrained(
            model_id=str(pretrained_model_name_or_path), revision=revision, cache_dir=cache_dir,
            force_download=force_download, local_files_only=local_files_only, token=token,
            map_location=map_location, **model_kwargs,
        )

    @classmethod
    def _from_pretrained(  # type: ignore[override]
        cls,
        *,
        model_id: str,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        map_location: str | torch.device = "cpu",
        **model_kwargs: Any,
    ) -> "IN2":
        model_kwargs.pop("config", None)  # the mixin may pass a decoded config; ours is read strictly below
        model_kwargs.pop("strict", None)
        if model_kwargs:
            raise TypeError(f"unexpected arguments for IN2.from_pretrained: {sorted(model_kwargs)}")
        device = resolve_device(map_location)  # an unusable device fails before any download
        config_path, weights_path = _resolve_files(
            model_id, revision, cache_dir=cache_dir, force_download=force_download,
            local_files_only=local_files_only, token=token,
        )
        model = cls(_read_config(config_path))
        _load_weights(model, weights_path)
        model.to(device)
        model.eval()
        return model


# -- file resolution and strict loading --------------------------------------------------------

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

_PICKLE_HELP = (
    "pickled checkpoints (.bin/.pt/.pth/.ckpt) can run arbitrary code when loaded, so IN2 never loads them. "
    "Convert it once in a trusted environment: `from safetensors.torch import save_file; "
    "save_file(torch.load(PATH, weights_only=True), 'model.safetensors')` and put it next to config.json."
)


def _is_pickle(path: Path) -> bool:
    return path.suffix.lower() in PICKLE_SUFFIXES


def _resolve_files(
    model_id: str, revision: str | None, *, cache_dir: str | Path | None, force_download: bool,
    local_files_only: bool, token: str | bool | None,
) -> tuple[Path, Path]:
    """(config.json, model.safetensors) for a local directory/file or a Hub repo id."""
    path = Path(model_id).expanduser()
    if _is_pickle(path):
        raise WeightsError(f"refusing to load {model_id}: {_PICKLE_HELP}")
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise WeightsError(f"{model_id} is not a weights folder or a .safetensors file; pass the folder holding "
                               f"{CONFIG_FILE} and {WEIGHTS_FILE}")
        path = path.parent
        weights = Path(model_id).expanduser()
    else:
        weights = path / WEIGHTS_FILE
    if path.is_dir():
        if not weights.is_file():
            pickled = sorted(p.name for p in path.iterdir() if _is_pickle(p))
            if pickled:
                raise WeightsError(f"{path} holds {pickled} but no {WEIGHTS_FILE}: {_PICKLE_HELP}")
            raise WeightsError(f"no {WEIGHTS_FILE} in {path}; save weights with IN2.save_pretrained(DIR)")
        config = path / CONFIG_FILE
        if not config.is_file():
            raise WeightsError(
                f"no {CONFIG_FILE} next to {weights}: the architecture is unknown without it. "
                f"Write it with IN2.save_pretrained(DIR) or copy the config.json that came with the weights"
            )
        return config, weights
    if not _REPO_ID.match(model_id) or ".." in model_id or model_id.endswith((".", "-")):
        raise WeightsError(
            f"weights not found: {model_id!r} is not an existing directory and not a Hub repo id (org/name)"
        )
    return _download(model_id, revision, cache_dir=cache_dir, force_download=force_download,
                     local_files_only=local_files_only, token=token)


def _offline() -> bool:
    """HF_HUB_OFFLINE read at call time (huggingface_hub reads it once at import)."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _download(
    repo_id: str, revision: str | None, *, cache_dir: str | Path | None, force_download: bool,
    local_files_only: bool, token: str | bool | None,
) -> tuple[Path, Path]:
    """Fetch config.json and model.safetensors through the Hub client (cache first when offline)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = local_files_only or _offline()
    if cache_dir is None:
        cache_dir = os.environ.get("HF_HUB_CACHE") or None
    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    files = []
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            files.append(Path(hf_hub_download(
                repo_id, name, revision=revision, cache_dir=cache_dir, force_download=force_download,
                local_files_only=offline, token=token,
            )))
        except LocalEntryNotFoundError as exc:
            reason = "offline mode (HF_HUB_OFFLINE=1)" if offline else "the Hub could not be reached"
            raise WeightsError(
                f"{name} of {where} is not in the local Hugging Face cache and {reason}; "
                f"download it once with network access, or pass a local directory (no such directory: {repo_id!r})"
            ) from exc
        except RepositoryNotFoundError as exc:
            raise WeightsError(f"Hub repo {repo_id!r} not found (and no such local directory); check the name and token") from exc
        except RevisionNotFoundError as exc:
            raise WeightsError(f"revision {revision!r} not found in Hub repo {repo_id!r}") from exc
        except EntryNotFoundError as exc:
            extra = f" {_PICKLE_HELP}" if name == WEIGHTS_FILE else ""
            raise WeightsError(f"Hub repo {where} has no {name}.{extra}") from exc
        except HfHubHTTPError as exc:
            raise WeightsError(f"could not fetch {name} of {where} from the Hub: {exc}") from exc
    return files[0], files[1]


def _read_config(path: Path) -> IN2Config:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"cannot read {path}: {exc}; it must be the JSON written by IN2.save_pretrained") from exc
    return IN2Config.from_dict(data)


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _load_weights(model: IN2, path: Path) -> None:
    """Strict load: every tensor present, no extras, same shapes; corrupt files named as such.

    The file is read on the CPU, where the model is built; the caller moves the model after,
    so a device problem is never reported as a damaged file.
    """
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises SafetensorError / OSError for damaged files
        raise WeightsError(
            f"{path} is not a readable safetensors file (truncated or corrupt: {exc}); download or export it again"
        ) from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    hint = f"; the config.json ({model.config.__class__.__name__}) probably does not match these weights"
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing tensor(s): {_few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s): {_few(unexpected)}")
        raise WeightsError(f"weights in {path} do not fit the model: " + "; ".join(parts) + hint)
    wrong = [
        f"{name} has shape {tuple(state[name].shape)} in the file but the model expects {tuple(t.shape)}"
        for name, t in expected.items() if tuple(state[name].shape) != tuple(t.shape)
    ]
    if wrong:
        raise WeightsError(f"weights in {path} do not fit the model: {_few(wrong, 3)}" + hint)
    model.load_state_dict(state, strict=True)
