"""The trainer given checkpoints and folders from elsewhere, and settings it cannot use: no code
runs from a file, no other run is overwritten, every error is one line naming the fix."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_trainer_run import ROOT, _config, _env, _train

from trainer.checkpoints import CheckpointError, check_output_folder
from trainer.state_files import StateFileError, read_tree, write_tree

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_state_trees_round_trip_every_kind_the_trainer_saves(tmp_path):
    optimiser = torch.optim.Adam([torch.nn.Parameter(torch.randn(3, 2))], lr=1e-3, betas=(0.5, 0.9))
    optimiser.param_groups[0]["params"][0].grad = torch.ones(3, 2)
    optimiser.step()
    tree = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "adam": optimiser.state_dict(), "nan": float("nan"), "nested": {3: [None, True, "x", (1, 2.5)]}}
    write_tree(tmp_path, "t", tree)
    back = read_tree(tmp_path, "t")
    random.setstate(back["python"])  # a tuple again, as setstate needs
    np.random.set_state(back["numpy"])
    assert torch.equal(back["torch"], tree["torch"]) and back["nested"] == {3: [None, True, "x", (1, 2.5)]}
    assert back["adam"]["param_groups"][0]["betas"] == (0.5, 0.9)
    assert torch.equal(back["adam"]["state"][0]["exp_avg"], optimiser.state_dict()["state"][0]["exp_avg"])
    optimiser.load_state_dict(back["adam"])
    with pytest.raises(StateFileError, match="cannot store a object"):
        write_tree(tmp_path, "bad", {"x": object()})
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(StateFileError, match="resume from another checkpoint"):
        read_tree(tmp_path, "t")


class _Evil:
    def __reduce__(self):
        return (Path.write_text, (Path(_Evil.target), "code ran"))


def test_a_checkpoint_holding_pickles_is_refused_and_runs_nothing(tmp_path):
    cfg = _config(tmp_path, train={"max_steps": 2})
    out = tmp_path / "run"
    _train(cfg, out)
    checkpoint = out / "checkpoints" / "step-00000002"
    _Evil.target = str(tmp_path / "pwned")
    (checkpoint / "custom_checkpoint_0.pkl").write_bytes(pickle.dumps(_Evil()))
    refused = _train(cfg, out, "--resume", str(checkpoint), check=False)
    assert refused.returncode == 2 and not (tmp_path / "pwned").exists()
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith("train: error: the checkpoint") and "holds pickle files" in lines[-1]
    assert "another --output-dir" in lines[-1] and "Traceback" not in refused.stderr


def test_a_checkpoint_whose_files_were_edited_is_one_line(tmp_path):
    cfg = _config(tmp_path, train={"max_steps": 2})
    out = tmp_path / "run"
    _train(cfg, out)
    checkpoint = out / "checkpoints" / "step-00000002"
    state = read_tree(checkpoint, "state")
    write_tree(checkpoint, "state", dict(state, __class__="x"))
    refused = _train(cfg, out, "--resume", "latest", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "counters hold unknown entries ['__class__']" in refused.stderr.strip().splitlines()[-1]
    (checkpoint / "opt_g.safetensors").write_bytes(b"cut short")
    refused = _train(cfg, out, "--resume", "latest", check=False)
    assert refused.returncode == 2 and "cannot read opt_g from the checkpoint" in refused.stderr


def test_a_folder_holding_another_run_is_refused_without_resume(tmp_path):
    cfg = _config(tmp_path, train={"max_steps": 2}, checkpoint={"every": 1, "keep": 1})
    out = tmp_path / "run"
    _train(cfg, out)
    export = (out / "export" / "model.safetensors").read_bytes()
    again = _train(cfg, out, "train.max_steps=1", check=False)
    assert again.returncode == 2 and "already holds another run" in again.stderr and "--resume latest" in again.stderr
    assert (out / "export" / "model.safetensors").read_bytes() == export
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002"]
    check_output_folder(out, out / "checkpoints" / "step-00000002", out / "export")  # its own resume: fine
    with pytest.raises(CheckpointError, match="already holds another run"):
        check_output_folder(out, tmp_path / "elsewhere" / "step-00000001", out / "export")


@pytest.mark.parametrize("text,expected", [
    ("- just\n- a list\n", "the config file must be a mapping"),
    ("train: [1, 2]\n", "section 'train' must be a mapping"),
    ("trian:\n  lr: 1\n", "unknown config key 'trian'"),
    ("train: {lr: [\n", "is not valid YAML"),
])
def test_config_mistakes_are_one_line(tmp_path, text, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, str(ROOT / "trainer" / "train.py"), "--config", str(cfg), "--output-dir",
                           str(tmp_path / "run")], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("train: error: ") and expected in proc.stderr


def test_a_missing_data_folder_and_config_file_are_one_line(tmp_path):
    cfg = tmp_path / "real.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"source": "folder", "root": str(tmp_path / "nowhere")}}))
    for config in (cfg, tmp_path / "missing.yaml"):
        proc = subprocess.run([sys.executable, str(ROOT / "trainer" / "train.py"), "--config", str(config),
                               "--output-dir", str(tmp_path / "run")], cwd=ROOT, env=_env(), capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("train: error: ")


@pytest.mark.parametrize("command", [["trainer/evaluate.py", "--data", "/nowhere/at/all"],
                                     ["trainer/evaluate.py", "--weights", "/nowhere/w", "--data", "/nowhere/at/all"],
                                     ["trainer/eval/compare_fills.py", "--data", "/nowhere/at/all"]])
def test_evaluation_commands_end_in_one_line_too(command):
    proc = subprocess.run([sys.executable, *command], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert ": error: " in proc.stderr.strip().splitlines()[-1]
