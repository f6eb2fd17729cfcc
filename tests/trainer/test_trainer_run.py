"""End-to-end trainer runs on CPU: one step, two real ranks (gloo), exact resume, SIGKILL safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from in2 import IN2

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "seed": 3,
    "model": {"type": "in2", "preset": "tiny"},
    "data": {"source": "synthetic", "synthetic": {"count": 24, "size": 40, "val_count": 2}, "batch_size": 2,
             "num_workers": 0},
    "ats": {"base_size": 32},
    "train": {"max_steps": 4, "warmup_epochs": 0.2, "lr": 1e-3, "lr_start": 1e-4, "mixed_precision": "no"},
    "loss": {"perceptual": 0.0, "l1": 1.0, "r1_every": 2, "discriminator": {"base": 8}},
    "log": {"every": 1, "progress_bar": False},
    "validation": {"every": 0, "count": 2},
    "checkpoint": {"every": 2, "keep": 5},
}


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    env.pop("ACCELERATE_MIXED_PRECISION", None)
    return env


def _config(tmp_path: Path, **sections) -> Path:
    cfg = json.loads(json.dumps(TINY))
    for k, v in sections.items():
        cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(cfg: Path, out: Path, *extra: str, ranks: int = 1, check: bool = True) -> subprocess.CompletedProcess:
    if ranks == 1:
        cmd = [sys.executable, str(ROOT / "trainer" / "train.py")]
    else:  # a real 2-process gloo run (`--cpu --num_processes 2` would silently start one)
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(ranks),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", "29517", str(ROOT / "trainer" / "train.py")]
    env = _env()
    if ranks > 1:
        env["ACCELERATE_USE_CPU"] = "true"
    proc = subprocess.run(cmd + ["--config", str(cfg), "--output-dir", str(out), *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _train_rows(out: Path) -> dict[int, dict]:
    return {r["step"]: r for r in _log(out) if "g_total" in r}


@pytest.mark.slow  # a training run in a subprocess
def test_one_step_tiny_cpu_exports_loadable_model(tmp_path):
    cfg = _config(tmp_path, train={"max_steps": 1}, loss={"perceptual": 1.0, "perceptual_backbone": "random"})
    out = tmp_path / "run"
    _train(cfg, out)
    rows = _train_rows(out)
    assert set(rows) == {1} and {"d_adv", "g_adv", "fm", "per", "l1", "r1", "lr", "images_per_s"} <= set(rows[1])
    model = IN2.from_pretrained(out / "export")
    assert model.config.train_resolution == 32  # resize mode uses the trained size
    card = (out / "export" / "README.md").read_text()
    assert "24 procedural synthetic faces" in card and "1 optimizer steps" in card
    assert (out / "checkpoints" / "step-00000001").is_dir()


@pytest.mark.slow  # a training run in a subprocess
def test_two_ranks_train_checkpoint_resume_export(tmp_path):
    cfg = _config(tmp_path)
    out = tmp_path / "ddp"
    proc = _train(cfg, out, "train.stop_at_step=2", ranks=2)
    assert "2 process(es)" in proc.stderr + proc.stdout
    assert (out / "checkpoints" / "step-00000002").is_dir()
    rows = _train_rows(out)
    assert rows[2]["images_seen"] == 2 * 2 * 2  # batch 2 on each of 2 ranks, 2 steps
    proc = _train(cfg, out, "--resume", "latest", ranks=2)
    assert "resumed from" in proc.stderr + proc.stdout
    rows = _train_rows(out)
    assert rows[4]["images_seen"] == 16
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    IN2.from_pretrained(out / "export")


# Runs trainer.train.main under a launcher and writes, per rank, the samples of every batch the
# loop consumed, as the data loader asked the dataset for them ((index, H, W, epoch) each).
_BATCH_RECORDER = """
import json, os, sys
from trainer import data, train

pending, batches = [], []
get_item, collate = data.InpaintDataset.__getitem__, train.collate

def recording_get_item(self, sample):
    pending.append([int(v) for v in sample])
    return get_item(self, sample)

def recording_collate(items):
    batches.append(pending[-len(items):])
    pending.clear()
    return collate(items)

data.InpaintDataset.__getitem__ = recording_get_item
train.collate = recording_collate
train.main(sys.argv[1:])
with open(os.path.join(os.environ["RECORD_DIR"], "rank%s.json" % os.environ.get("RANK", "0")), "w") as f:
    json.dump(batches, f)
"""


@pytest.mark.slow  # a training run in a subprocess
def test_two_ranks_disjoint_samples_one_shape_per_batch_new_order_each_epoch(tmp_path):
    # Several epochs under two real ranks: the sampler's set_epoch must reach each rank (a new
    # order every epoch, the same global order as a sampler built here), the ranks must never
    # share a sample within an epoch, and every micro-batch must hold one shape.
    from trainer.buckets import BucketBatchSampler, make_buckets
    from trainer.config import load_config

    cfg_path = _config(tmp_path, train={"max_steps": 0, "epochs": 3, "warmup_epochs": 1})
    script = tmp_path / "record_batches.py"
    script.write_text(_BATCH_RECORDER)
    env = dict(_env(), ACCELERATE_USE_CPU="true", RECORD_DIR=str(tmp_path))
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29518",
        str(script),
        "--config",
        str(cfg_path),
        "--output-dir",
        str(tmp_path / "run"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    cfg = load_config(str(cfg_path), [])
    ats, synth = cfg["ats"], cfg["data"]["synthetic"]
    buckets = make_buckets(int(ats["base_size"]), ats["ratios"], int(ats["multiple_of"]), bool(ats["enabled"]))
    orders = {}
    for epoch in (0, 1, 2):
        batches = [[b for b in ranks[r] if b[0][3] == epoch] for r in range(2)]
        for r in range(2):
            reference = BucketBatchSampler([(synth["size"], synth["size"])] * synth["count"], buckets,
                                           int(cfg["data"]["batch_size"]), seed=int(cfg["seed"]), num_replicas=2,
                                           rank=r, min_keep=float(ats["min_keep"]))
            reference.set_epoch(epoch)
            expected = [[list(s) for s in batch] for batch in reference]
            assert batches[r] == expected[: len(batches[r])], (epoch, r)
            if epoch < 2:  # epochs 0 and 1 run to their end
                assert batches[r] == expected and batches[r], (epoch, r)
            for batch in batches[r]:
                assert len(batch) == 2 and len({(h, w) for _, h, w, _ in batch}) == 1, batch
        first, second = ({s[0] for b in batches[r] for s in b} for r in range(2))
        assert not first & second, (epoch, sorted(first & second))
        orders[epoch] = [s[0] for b in batches[0] for s in b]
    assert orders[0] != orders[1]
    # The loop consumed the epochs in order on both ranks (set_epoch reached each rank's sampler).
    for r in range(2):
        epochs = [b[0][3] for b in ranks[r]]
        assert epochs == sorted(epochs) and epochs[0] == 0 and 2 in epochs


@pytest.mark.slow  # a training run in a subprocess
def test_resume_continues_exactly(tmp_path):
    cfg = _config(tmp_path)
    straight, split = tmp_path / "straight", tmp_path / "split"
    _train(cfg, straight)
    _train(cfg, split, "train.stop_at_step=2")  # same schedule, interrupted at step 2
    _train(cfg, split, "--resume", "latest")
    a, b = _train_rows(straight), _train_rows(split)
    for step in (3, 4):
        for key in ("g_total", "d_adv", "lr", "images_seen", "epoch"):
            assert a[step][key] == pytest.approx(b[step][key], rel=1e-5, abs=1e-7), (step, key)
    wa = IN2.from_pretrained(straight / "export").state_dict()
    wb = IN2.from_pretrained(split / "export").state_dict()
    assert all(torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6) for k in wa)  # EMA continued too


@pytest.mark.slow  # a training run in a subprocess
def test_sigkill_leaves_only_complete_checkpoints_and_resumes(tmp_path):
    cfg = _config(tmp_path, train={"max_steps": 400}, checkpoint={"every": 1, "keep": 3})
    out = tmp_path / "killed"
    cmd = [sys.executable, str(ROOT / "trainer" / "train.py"), "--config", str(cfg), "--output-dir", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list((out / "checkpoints").glob("step-*"))) < 3:
            time.sleep(0.05)
        time.sleep(0.13)  # land somewhere inside the next save or step
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    ckpts = sorted((out / "checkpoints").glob("step-*"))
    assert ckpts, "no checkpoint was written before the kill"
    for c in ckpts:  # every visible checkpoint is complete
        names = {p.name for p in c.iterdir()}
        parts = ("generator", "discriminator", "opt_g", "opt_d", "sched_g", "sched_d", "ema", "state", "rng-0")
        assert {f"{part}.{ext}" for part in parts for ext in ("json", "safetensors")} == names
    last = int(ckpts[-1].name.split("-")[1])
    resumed = _train(cfg, out, "--resume", "latest", f"train.max_steps={last + 1}")
    assert f"step {last}" in resumed.stderr
    assert not list((out / "checkpoints").glob(".tmp-*")) and not list((out / "checkpoints").glob(".trash-*"))
    IN2.from_pretrained(out / "export")


def test_interrupted_save_is_never_visible(tmp_path, monkeypatch):
    from trainer import checkpoints as C

    class FakeAccelerator:
        is_main_process = True
        num_processes = 1

        def wait_for_everyone(self):
            pass

    def save_state(accelerator, path, parts):
        (Path(path) / "generator.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # dies mid-write

    monkeypatch.setattr(C, "save_state", save_state)
    root = tmp_path / "ck"
    with pytest.raises(KeyboardInterrupt):
        C.save_checkpoint(FakeAccelerator(), root, 5, {})
    assert C.latest_checkpoint(root) is None and C.resolve_resume("latest", root) is None
    assert (root / ".tmp-step-00000005").is_dir()  # only the temp dir holds the partial write


@pytest.mark.slow  # a training run in a subprocess
def test_face_part_training_keeps_snapshots_that_the_curve_scores(tmp_path):
    """A run with face-part holes exports its EMA every N steps; snapshot_curve scores each one."""
    pytest.importorskip("cv2")
    pytest.importorskip("matplotlib")
    from PIL import Image

    from trainer.eval.snapshot_curve import main as curve

    cfg = _config(tmp_path, masks={"face_parts": {"share": 1.0}}, export={"snapshot_every": 2})
    out = tmp_path / "parts"
    _train(cfg, out)
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["step-00000002", "step-00000004"]
    assert IN2.from_pretrained(out / "snapshots" / snaps[0]).config == IN2.from_pretrained(out / "export").config

    photo = Image.open(ROOT / "examples" / "astronaut.png").convert("RGB").crop((120, 10, 330, 220))
    for person in ("Ann_A", "Bob_B"):
        (tmp_path / "faces" / person).mkdir(parents=True)
        photo.save(tmp_path / "faces" / person / f"{person}_0001.png")
    points = curve([str(out), "--start", str(out / "export"), "--data", str(tmp_path / "faces"), "--limit", "2",
                    "--masks", str(tmp_path / "masks"), "-o", str(tmp_path / "curve.png")])
    assert [p["step"] for p in points] == [0, 2, 4]
    assert points[1]["minutes"] > 0 and all(0 <= p["both_eyes_found"] <= 1 for p in points)
    assert (tmp_path / "curve.png").is_file()
    assert json.loads((tmp_path / "curve.json").read_text()) == points


def test_overrides_may_come_after_the_options():
    """`train.py --config C key=value --output-dir D key=value` reads every override."""
    from trainer.train import parse_args

    args = parse_args(["--config", "c.yaml", "train.lr=1e-4", "--output-dir", "out", "train.max_steps=3"])
    assert args.overrides == ["train.lr=1e-4", "train.max_steps=3"] and args.output_dir == "out"
