"""Multi-machine correctness of the trainer (trainer/distributed.py), with real 2-process gloo groups."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from tests.trainer.test_trainer_run import ROOT, _config, _env, _train, _train_rows
from trainer.distributed import RunLayoutError, RunShape, match_run_shape

# Each rank gets its own view of the disk (``view{rank}``): what node-local disks look like.
_RANKS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from accelerate import Accelerator
    from trainer.buckets import BucketBatchSampler
    from trainer.checkpoints import decide_resume
    from trainer.distributed import RunLayoutError, check_same_batches, check_shared_folder

    base = Path(sys.argv[1])
    acc = Accelerator(cpu=True)
    rank = acc.process_index
    view = base / f"view{rank}"
    result = {"resume": decide_resume(acc, "latest", view / "checkpoints").name}

    def stopped(check):
        try:
            check()
        except RunLayoutError as exc:
            return str(exc)
        return None

    result["unshared"] = stopped(lambda: check_shared_folder(acc, view / "run"))
    result["shared"] = stopped(lambda: check_shared_folder(acc, base / "run"))
    sizes = [(64, 64)] * 8 + [(64, 96)] * (8 if rank == 0 else 7)  # one rank missed a file
    sampler = BucketBatchSampler(sizes, [(64, 64), (64, 96)], 2, seed=0, num_replicas=2, rank=rank)
    result["batches"] = stopped(lambda: check_same_batches(acc, sampler))
    (base / f"result{rank}.json").write_text(json.dumps(result))
    acc.end_training()
    """
)


@pytest.mark.slow  # training runs under a launcher
def test_ranks_agree_on_resume_and_stop_on_unshared_folders_and_other_batches(tmp_path):
    for rank, steps in ((0, (4,)), (1, (2, 4, 6))):  # rank 1 alone would pick step 6
        for step in steps:
            (tmp_path / f"view{rank}" / "checkpoints" / f"step-{step:08d}").mkdir(parents=True)
    script = tmp_path / "ranks.py"
    script.write_text(_RANKS_SCRIPT)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", "29553", str(script), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(_env(), ACCELERATE_USE_CPU="true"), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"result{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["resume"] for r in results] == ["step-00000004", "step-00000004"]
    for r in results:
        assert r["shared"] is None
        assert "is not shared by every process: rank 1" in r["unshared"]
        assert "put output_dir on a disk every machine mounts" in r["unshared"]
        assert "different batch lists for epoch 0" in r["batches"]
    assert not list((tmp_path / "run").iterdir()) and not list(
        (tmp_path / "view0" / "run").iterdir()
    )  # sentinels removed


def test_run_shape_keeps_position_when_the_effective_batch_is_the_same(caplog):
    state = SimpleNamespace(run_shape={"processes": 2, "batch_size": 2, "grad_accum": 2}, batch_in_epoch=6)
    match_run_shape(state, RunShape(4, 2, 1), resumed=True)  # 6 x 2 = 12 global batches used
    assert state.batch_in_epoch == 3 and state.run_shape == {"processes": 4, "batch_size": 2, "grad_accum": 1}

    state = SimpleNamespace(run_shape={"processes": 2, "batch_size": 2, "grad_accum": 1}, batch_in_epoch=5)
    with pytest.raises(RunLayoutError, match=r"2 process\(es\) x batch_size 2 x grad_accum 1 = 4 .* 3 x 2 x 1 = 6"):
        match_run_shape(state, RunShape(3, 2, 1), resumed=True)
    assert state.batch_in_epoch == 5

    state = SimpleNamespace(run_shape=None, batch_in_epoch=5)  # a checkpoint from before the record existed
    with caplog.at_level(logging.WARNING, logger="in2.trainer"):
        match_run_shape(state, RunShape(1, 2, 1), resumed=True)
    assert "does not record its process count" in caplog.text and state.batch_in_epoch == 5


@pytest.mark.slow  # training runs under a launcher
def test_resume_on_another_process_count(tmp_path):
    cfg = _config(tmp_path)
    two = tmp_path / "two"
    _train(cfg, two, "train.stop_at_step=2", ranks=2)
    one = tmp_path / "one"
    shutil.copytree(two, one)
    _train(cfg, two, "--resume", "latest", ranks=2)  # the reference: 2 processes all the way

    refused = _train(cfg, one, "--resume", "latest", check=False)  # 1 process x grad_accum 1: half the batch
    assert refused.returncode != 0
    assert "Resume with the same product, e.g. train.grad_accum=2 for 1 process(es)" in refused.stderr

    resumed = _train(cfg, one, "--resume", "latest", "train.grad_accum=2")
    assert "resumed a 2-process checkpoint on 1 process(es)" in resumed.stderr
    a, b = _train_rows(two), _train_rows(one)
    for step in (3, 4):  # same schedule and data position
        for key in ("lr", "images_seen", "epoch"):
            assert a[step][key] == pytest.approx(b[step][key]), (step, key)
