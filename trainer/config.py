"""Training configuration: YAML files plus ``key.sub=value`` overrides from the command line.

Configs are plain nested dicts on purpose: every value a run used is written next to its
checkpoints (``config.yaml``), and a new option never needs a schema change elsewhere.
``DEFAULTS`` documents every key; a config file only lists what it changes, and an unknown
key is an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "output_dir": "runs/in2",
    "model": {
        "type": "in2",  # in2 | ffc_baseline
        "preset": "default",  # in2: default | small | tiny
        "overrides": {},  # IN2Config fields, or FFCBaselineConfig fields for ffc_baseline
        "init_from": None,  # exported weights of the same architecture to start from (in2 only)
    },
    "data": {
        "source": "synthetic",  # synthetic | folder
        "root": None,  # folder of images (recursive); or env IN2_DATA_ROOT
        "train_list": None,  # optional file listing training images (relative paths or names)
        "val_list": None,
        "val_root": None,  # a separate validation folder instead of val_list
        "synthetic": {"count": 2000, "size": 512, "seed": 0, "val_count": 16, "val_seed": 1_000_000},
        "batch_size": 3,  # per process
        "num_workers": 4,
        "hflip": True,
        # scale augmentation (data.ZoomParams): this share of the samples keeps min_side..1 of
        # the crop's side, so faces larger than the data set's own scale are seen too
        "zoom": {"share": 0.0, "min_side": 0.4},
        # random similarity views (views.SimilarityParams): this share of the samples is scaled (eye
        # distance a random eye_ratio of the shorter side),
        # turned and shifted around the face; when on, it replaces the margin crop and zoom, and
        # face-part holes come from each photo's own landmarks (ROOT/landmarks.npz)
        "similarity": {"share": 0.0, "eye_ratio": [0.15, 0.42], "max_rotation": 15.0, "shift": 0.15},
        # more training folders beside data.root, each {root: ..., train_list: ...}
        "extra": [],
    },
    "ats": {
        "enabled": True,  # False = the paper's ablation: square base_size training
        "base_size": 512,
        "ratios": [0.5625, 0.6667, 0.75, 1.0, 1.3333, 1.5, 1.7778],  # H/W
        "multiple_of": 8,
        "min_keep": 0.55,  # a margin crop keeps at least this fraction of the trimmed side
    },
    "masks": {"min_area": 0.2, "max_area": 0.3, "min_width": 12.0, "max_width": 48.0,
              # face-part holes (trainer/face_parts.py): the share of samples that get one instead
              # of brush strokes, the kinds and their weights, the data set's landmarks, jitter, scale
              "face_parts": {"share": 0.0, "kinds": ["eyes", "eye", "nose", "mouth", "inner_face"],
                             "weights": [0.3, 0.3, 0.1, 0.15, 0.15],
                             "landmarks": [[0.412, 0.448], [0.584, 0.448], [0.5, 0.64]],
                             "jitter": 0.08, "scale": [0.9, 1.2]}},
    "train": {
        "epochs": 100,
        "max_steps": None,  # overrides epochs when set
        "max_minutes": None,  # stop (checkpoint + export) after this much wall time in this run
        "stop_at_step": None,  # stop this run at this step, schedule unchanged (time-limited job slots)
        "grad_accum": 1,
        "mixed_precision": None,  # no | fp16 | bf16; None = what `accelerate launch` says
        "lr": 4.0e-4,  # peak
        "lr_start": 4.0e-5,  # warm-up starts here
        "lr_min": 0.0,  # cosine decays to this
        "warmup_epochs": 15,
        "d_lr": None,  # discriminator peak lr (None = lr); same schedule
        "betas": [0.9, 0.999],
        "weight_decay": 0.0,
        "ema_decay": 0.999,
        "max_grad_norm": None,
        "decode_hole_only": False,  # IN2: decode only hole pixels (the losses read only the composite)
        # trainer/guesses.py: this share of the batches start from a coarse guess (in2.coarse_to_fine's
        # finer passes) made of the truth ("truth") or of the generator's own coarser passes where the
        # hole is deeper than model coarse_reach ("self"); "smooth" pre-fill weights only
        "coarse_guess": {"share": 0.0, "factors": [2.0, 4.0], "truth": [0.5, 1.0], "source": "truth"},
        # trainer/guesses.py: this share of the batches are brought down by a factor in ``factors``,
        # as the coarsest pass of a wide hole sees a photo
        "coarse_view": {"share": 0.0, "factors": [2.0, 4.0]},
    },
    "loss": {
        "adversarial": 1.0,
        "perceptual": 10.0,  # lambda_per
        "feature_matching": 0.1,  # lambda_fm
        "r1": 10.0,  # lambda_R = gamma: D loss += gamma/2 * E||grad||^2
        "r1_every": 1,  # lazy R1: apply every N steps (scaled by N)
        "l1": 0.0,  # optional L1 on the composite (not in the paper; speeds up tiny CPU runs)
        "perceptual_backbone": "vgg19",  # vgg19 (alias imagenet) | efficientnet_lite0 | auto (VGG-19 if found,
        # else EfficientNet-Lite0) | random (tests only)
        "perceptual_weights": None,  # explicit path to vgg19 weights (.pth or .safetensors)
        "perceptual_download": False,  # fetch timm/vgg19.tv_in1k from the Hub when not cached
        "discriminator": {"base": 64, "num_down": 3},
        "adv_start_step": 0,  # reconstruction-only warm-up: D and the adversarial/FM terms start here
        "masked_discriminator": False,  # only composite patches covering the hole are fake targets
    },
    "log": {"every": 10, "tensorboard": False, "progress_bar": True},
    "validation": {"every": 500, "count": 8, "seed": 1234, "extra_images": [], "grid_rows": 8},
    "checkpoint": {"every": 1000, "keep": 3},
    # dir None = <output_dir>/export; snapshot_every N > 0 also exports the EMA every N steps to
    # <output_dir>/snapshots/step-N (kept, for curves of any metric against training time)
    "export": {"dtype": "fp32", "dir": None, "snapshot_every": 0},
}


class ConfigError(ValueError):
    """A config file, section or override that cannot be read as asked; the message names the fix."""


def deep_update(base: dict, new: dict, path: str = "") -> dict:
    """Merge ``new`` into ``base`` recursively; unknown keys and a value where a section belongs
    raise ``ConfigError`` (``overrides`` is free-form)."""
    if not isinstance(new, dict):
        where = f"section {path.rstrip('.')!r}" if path else "the config file"
        raise ConfigError(f"{where} must be a mapping of key: value lines, got a {type(new).__name__}")
    for k, v in new.items():
        where = f"{path}{k}"
        if k not in base:
            raise ConfigError(f"unknown config key {where!r}: check its spelling against DEFAULTS in trainer/config.py")
        if k == "overrides":  # free-form: IN2Config fields, checked when the model is built
            if v is not None and not isinstance(v, dict):
                raise ConfigError(f"{where} must be a mapping of model fields, got a {type(v).__name__}")
            base[k] = v or {}
        elif isinstance(base.get(k), dict):
            deep_update(base[k], v if v is not None else {}, where + ".")  # an empty section keeps its defaults
        else:
            base[k] = v
    return base


def parse_override(text: str) -> dict:
    """``train.lr=1e-4`` -> ``{"train": {"lr": 1e-4}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, value = text.split("=", 1)
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    try:
        node[parts[-1]] = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({str(exc).splitlines()[0]})") from None
    return out


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict:
    """DEFAULTS <- YAML file <- overrides, validated for unknown keys."""
    cfg = copy.deepcopy(DEFAULTS)
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read the config {path}: {exc.strerror or exc}; pass an existing YAML file "
                              "(e.g. trainer/configs/smoke.yaml)") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"the config {path} is not valid YAML ({first}): fix that line") from None
        deep_update(cfg, data)
    for o in overrides:
        upd = parse_override(o)
        if "model" in upd and "overrides" in upd["model"]:
            cfg["model"]["overrides"].update(upd["model"].pop("overrides"))
        deep_update(cfg, upd)
    return cfg
