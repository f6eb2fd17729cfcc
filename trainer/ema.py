"""Exponential moving average of the generator's weights (the weights that get exported).

Kept as a plain module copy so the EMA model can be evaluated and saved with the model's own
``save_pretrained``; ``state_dict``/``load_state_dict`` let ``trainer.checkpoints`` checkpoint
it (JSON plus safetensors), so a resumed run continues the same average.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.999, ramp: bool = True) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.ramp = ramp
        self.num_updates = 0

    def current_decay(self) -> float:
        """Ramp the decay up so early, bad weights do not dominate short runs."""
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n)) if self.ramp else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        src = model.state_dict()
        for k, v in self.model.state_dict().items():
            s = src[k].detach()
            if v.dtype.is_floating_point:
                v.mul_(d).add_(s.to(v.dtype), alpha=1 - d)
            else:
                v.copy_(s)  # counters such as BatchNorm's num_batches_tracked
        self.num_updates += 1

    def to(self, device: torch.device | str) -> EMA:
        self.model.to(device)
        return self

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "num_updates": self.num_updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
        self.decay = float(state["decay"])
