"""Fixtures shared by several test files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from in2 import IN2, IN2Config


@pytest.fixture
def fresh_accelerate():
    """A clean Accelerate state before and after a test that builds an ``Accelerator``."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A folder with freshly initialised tiny IN2 weights (seed 0): fast, deterministic inference."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    IN2(IN2Config.tiny(train_resolution=64)).save_pretrained(folder)
    return folder
