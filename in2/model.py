"""The IN2 generator: assembles ``in2.nn``'s blocks and runs the forward pass (loading: ``in2.loader``).

Forward: masked image -> encoder (stem + 3 DPBs, 1/8 resolution) -> attention body ->
implicit pyramid decoder (1/4, 1/2, full size) -> sigmoid RGB. Any H, W >= 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .config import IN2Config
from .errors import InputError
from .loader import export_config, load_pretrained
from .nn import AttentionBody, Encoder, FFCBody, PyramidDecoder
from .nn.prefill import prefill
from .runtime import release_freed_memory
from .weight_files import save


def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Sizes at 1/2, 1/4, 1/8 (ceil division at every stride-2 step; integer arithmetic only,
    so an ONNX export, whose sizes are tensors, records it instead of freezing it)."""
    sizes = []
    for _ in range(3):
        height, width = (height + 1) // 2, (width + 1) // 2
        sizes.append((height, width))
    return sizes


@dataclass
class NetworkInput:
    """What the network reads for one forward, and what turns its output into the prediction."""

    x: torch.Tensor  # [B, 4, H', W']: the pre-filled image and the mask, padded to min_size
    filled: torch.Tensor  # [B, 3, H, W] float32: the pre-filled image (the base of a "smooth" output)
    decode_only: torch.Tensor | None  # [B, 1, H', W'] bool: output pixels to decode (None = all)
    size: tuple[int, int]  # H, W before the padding


def check_inputs(image: torch.Tensor, mask: torch.Tensor, channels: int = 3) -> None:
    """A clear InputError for tensors the generator cannot take."""
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != channels:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"image must be a [B, {channels}, H, W] tensor, got {shape}")
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[1] != 1:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"mask must be a [B, 1, H, W] tensor, got {shape}")
    if mask.shape[-2:] != image.shape[-2:] or mask.shape[0] not in (1, image.shape[0]):
        raise InputError(
            f"mask {tuple(mask.shape)} does not match image {tuple(image.shape)}: same H, W and batch 1 or B needed"
        )
    if image.shape[-1] < 1 or image.shape[-2] < 1:
        raise InputError(f"image must be at least 1x1, got {tuple(image.shape[-2:])}")


def network_input(config: IN2Config, image: torch.Tensor, mask: torch.Tensor, decode_only: torch.Tensor | None,
                  dtype: torch.dtype, guess: torch.Tensor | None = None) -> NetworkInput:
    """The pre-fill, the mask channel and the padding to ``min_size``: everything before the
    encoder, shared by the torch forward and the ONNX Runtime one (``in2.onnx_runtime``).
    ``guess`` replaces the smooth pre-fill in the hole (``in2.coarse_to_fine``)."""
    check_inputs(image, mask, config.out_channels)
    if guess is not None and (config.hole_prefill != "smooth" or guess.shape[-2:] != image.shape[-2:]):
        raise InputError("a guess needs hole_prefill 'smooth' weights and the image's size, "
                         f"got {config.hole_prefill!r} and {tuple(guess.shape[-2:])}")
    image, mask = image.to(dtype), mask.to(dtype).expand(image.shape[0], -1, -1, -1)
    height, width = image.shape[-2:]
    pad_h, pad_w = max(0, config.min_size - height), max(0, config.min_size - width)
    if decode_only is not None:
        decode_only = (decode_only > 0.5) if decode_only.dtype != torch.bool else decode_only
        decode_only = decode_only.expand(image.shape[0], 1, height, width)
        if pad_h or pad_w:
            decode_only = F.pad(decode_only, (0, pad_w, 0, pad_h))
    # the pre-fill relaxes many times: fp32 whatever the weights' dtype (bf16 would smear it)
    if guess is None:
        filled = prefill(image.float(), mask.float(), config.hole_prefill, config.prefill_steps)
    else:
        filled = torch.lerp(image.float(), guess.float().clamp(0, 1), mask.float())
    x = torch.cat([filled.to(dtype), mask], dim=1)
    if pad_h or pad_w:  # pad the blanked input, mask included: a border hole stays a hole, nothing leaks
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return NetworkInput(x, filled, decode_only, (height, width))


def network_output(config: IN2Config, y: torch.Tensor, prepared: NetworkInput) -> torch.Tensor:
    """The decoder's output [B, 3, H', W'] -> the prediction [B, 3, H, W]: the padding cropped,
    and under the "smooth" pre-fill the output read as a correction in (-1, 1) to the pre-fill."""
    height, width = prepared.size
    dtype = y.dtype
    y = y[..., :height, :width]
    if config.hole_prefill == "smooth":  # sigmoid output -> a correction in (-1, 1)
        y = (prepared.filled + 2 * y.float() - 1).clamp(0, 1).to(dtype)
        if prepared.decode_only is not None:
            y = y * prepared.decode_only[..., :height, :width]
    return y


class IN2(nn.Module):
    """IN2 generator. `model(image, mask)` returns the raw prediction (not composited)."""

    model_type = "in2"  # what config.json names it by (``in2.model_types.MODEL_TYPES``)

    def __init__(self, config: IN2Config | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = IN2Config()
        elif isinstance(config, dict):
            config = IN2Config.from_dict(config)
        self.config = config
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
        self.factorised_decoder = c.factorised_decoder
        if c.hole_prefill == "smooth":  # start as the pre-fill itself: the decoder learns a correction
            nn.init.zeros_(self.decoder.to_rgb.weight)
            nn.init.zeros_(self.decoder.to_rgb.bias)

    # -- forward ----------------------------------------------------------------------------
    def forward(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        *,
        chunk_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        decode_only: torch.Tensor | None = None,
        guess: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the whole image from its known pixels, at the input's own size.

        Args:
            image: ``[B,3,H,W]`` in [0, 1]; what the hole hides is never read.
            mask: ``[B,1,H,W]`` (or ``[1,1,H,W]`` for all), 1 = hole.
            chunk_size: output pixels decoded at once per pyramid level (None = all at once). With
                gradients enabled, chunks are recomputed in backward, which bounds training memory too.
            progress: ``progress(done, total)`` after every decoded chunk; an exception raised there aborts.
            decode_only: ``[B or 1, 1, H, W]``, True (or > 0.5) where the output is needed, e.g. the hole
                that compositing reads. Only those pixels are decoded at full size (exactly as a
                full decode gives them); the others are returned as 0. None decodes every pixel.
            guess: ``[B,3,H,W]``, a first guess of the hole (a coarser fill, upsampled) that the
                network corrects instead of the smooth pre-fill; "smooth" weights only.

        Returns:
            The prediction ``[B,3,H,W]`` in [0, 1] (paste it into the hole to keep the known pixels:
            ``in2.compositing.paste_into_hole``; ``InpaintPipeline`` does this and more).

        Examples:
            >>> model = IN2(IN2Config.tiny()).eval()
            >>> image, mask = torch.rand(1, 3, 40, 56), torch.zeros(1, 1, 40, 56)
            >>> mask[..., 10:20, 20:30] = 1
            >>> model(image, mask, decode_only=mask).shape
            torch.Size([1, 3, 40, 56])
        """
        prepared = network_input(self.config, image, mask, decode_only, self.decoder.to_rgb.weight.dtype, guess)
        x = prepared.x
        release_freed_memory(x.device)  # between stages: the peak is one stage's, not their sum
        feat = self.encoder(x)
        release_freed_memory(x.device)
        feat = self.body(feat)
        release_freed_memory(x.device)
        y = self.decoder(feat, self.decoder_sizes(*x.shape[-2:]), chunk_size=chunk_size,
                         factorised=self.factorised_decoder, progress=progress,
                         decode_only=None if prepared.decode_only is None else prepared.decode_only[:, 0])
        return network_output(self.config, y, prepared)

    def decoder_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Output size of each INRB for a network input of height x width (the last is the input's)."""
        return [*reversed(level_sizes(height, width)[:2]), (height, width)][-self.config.pyramid_levels :]

    # -- weights: thin entry points over in2.loader and in2.weight_files ----------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        revision: str | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        map_location: str | torch.device = "cpu",
    ) -> IN2:
        """Load from a folder (config.json + model.safetensors), a .safetensors file or a Hub repo id.

        Only safetensors are read and loading is strict (see ``in2.loader``).

        Args:
            pretrained_model_name_or_path: a local folder or file, or a Hub repo id ``owner/name``.
            revision: a branch, tag or commit of a Hub repo.
            cache_dir, force_download, token, local_files_only: as ``huggingface_hub`` takes them.
            map_location: where the weights go (``runtime.resolve_device`` names).

        Returns:
            The model in eval mode; a folder that holds another model type is a ``WeightsError``.

        Examples:
            >>> model = IN2.from_pretrained("runs/demo/export")  # doctest: +SKIP
            >>> model = IN2.from_pretrained("owner/name", revision="v1.0")  # doctest: +SKIP
        """
        return load_pretrained(  # type: ignore[return-value]
            pretrained_model_name_or_path, cls, revision, map_location=map_location, cache_dir=cache_dir,
            force_download=force_download, token=token, local_files_only=local_files_only,
        )

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write config.json + model.safetensors, what ``from_pretrained`` reads back."""
        return save(self, save_directory, export_config(self))
