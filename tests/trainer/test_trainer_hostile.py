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

from in2 import IN2Config
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
                           str(tmp_path / "run")], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
                          check=False)
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


def test_a_checkpoint_of_the_older_format_converts_once_and_resumes_exactly(tmp_path):
    from accelerate import Accelerator

    from in2 import IN2
    from trainer.checkpoints import TrainState, load_state
    from trainer.ema import EMA
    from trainer.legacy_checkpoints import convert

    def parts(seed: int) -> dict:
        torch.manual_seed(seed)
        g, d = IN2(IN2Config.tiny()), torch.nn.Conv2d(3, 1, 3)
        opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=1e-3) for m in (g, d))
        for m, opt in ((g, opt_g), (d, opt_d)):
            for p in m.parameters():
                p.grad = torch.randn_like(p)
            opt.step()
        sched_g, sched_d = (torch.optim.lr_scheduler.LambdaLR(o, lambda step: 0.5) for o in (opt_g, opt_d))
        state = TrainState()
        state.step, state.run_shape = 7 + seed, {"processes": 1, "batch_size": 2, "grad_accum": 1}
        return {"generator": g, "discriminator": d, "opt_g": opt_g, "opt_d": opt_d, "sched_g": sched_g,
                "sched_d": sched_d, "ema": EMA(g), "state": state}

    accelerator = Accelerator(cpu=True)
    old = parts(0)
    for name in ("sched_g", "sched_d", "ema", "state"):  # what the older trainer registered, in its order
        accelerator.register_for_checkpointing(old[name])
    accelerator.prepare(old["generator"], old["discriminator"], old["opt_g"], old["opt_d"])
    folder = tmp_path / "checkpoints" / "step-00000007"
    accelerator.save_state(str(folder))
    assert any(p.suffix == ".pkl" for p in folder.iterdir())

    fresh = parts(1)
    with pytest.raises(CheckpointError, match="trainer/legacy_checkpoints.py"):
        load_state(accelerator, folder, fresh)
    convert(folder)
    assert not any(p.suffix in (".pkl", ".bin") for p in folder.iterdir())
    load_state(accelerator, folder, fresh)
    assert fresh["state"].step == 7 and fresh["state"].run_shape == old["state"].run_shape
    for name in ("generator", "discriminator"):
        a, b = old[name].state_dict(), fresh[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    exp_avg = [parts["opt_g"].state_dict()["state"][0]["exp_avg"] for parts in (fresh, old)]
    assert torch.equal(*exp_avg)
    assert fresh["sched_g"].state_dict()["last_epoch"] == old["sched_g"].state_dict()["last_epoch"]
    assert fresh["ema"].num_updates == old["ema"].num_updates


def test_the_conversion_refuses_a_crafted_pickle_and_runs_nothing(tmp_path):
    from trainer.legacy_checkpoints import LEGACY_FILES, convert

    folder = tmp_path / "step-00000001"
    folder.mkdir()
    for name in LEGACY_FILES.values():
        (folder / name).write_bytes(b"")
    _Evil.target = str(tmp_path / "pwned")
    (folder / "optimizer.bin").write_bytes(pickle.dumps(_Evil()))
    (folder / "model.safetensors").unlink()
    from safetensors.torch import save_file

    for name in ("model.safetensors", "model_1.safetensors"):
        save_file({"w": torch.zeros(1)}, str(folder / name))
    with pytest.raises(CheckpointError, match="holds more than tensors and plain values"):
        convert(folder)
    assert not (tmp_path / "pwned").exists() and (folder / "optimizer.bin").is_file()  # the old folder is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001"]  # and nothing else is left
