"""Batch inpainting (``in2.batch``): planning, sharding, atomic writes, and real multi-process runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2 import storage
from in2.batch import BatchJob, run_batch
from in2.batch.log import Made, checksum
from in2.batch.plan import LOG_FOLDER, Task, make_plan, shard
from in2.cli import main

ROOT = Path(__file__).resolve().parents[3]
SIZES = [(40, 56), (64, 48), (80, 80)]  # (H, W)


def _image(path: Path, height: int, width: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def _mask(path: Path, height: int, width: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    hole = np.zeros((height, width), np.uint8)
    hole[height // 4 : height // 2, width // 4 : 3 * width // 4] = 255
    Image.fromarray(hole).save(path)


def _collection(root: Path, count: int = 16, sizes=SIZES) -> tuple[Path, Path]:
    """``count`` images of 3 sizes in two subfolders (some JPEG), their masks, plus one corrupt
    image and one whose mask has the wrong size."""
    images, masks = root / "images", root / "masks"
    for i in range(count):
        height, width = sizes[i % len(sizes)]
        folder, ext = f"set{i % 2}", ".jpg" if i % 4 == 0 else ".png"
        _image(images / folder / f"img{i:02d}{ext}", height, width, seed=i)
        _mask(masks / folder / f"img{i:02d}.png", height, width)
    (images / "set0" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    _mask(masks / "set0" / "corrupt.png", 40, 56)
    _image(images / "set1" / "mismatch.png", 40, 56, seed=99)
    _mask(masks / "set1" / "mismatch.png", 41, 56)
    return images, masks


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and LOG_FOLDER not in p.parts and storage.TEMP_MARK not in p.name
    }


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", ACCELERATE_USE_CPU="true")


def _launch(
    images: Path, masks: Path, out: Path, weights: Path, processes: int, *extra: str, launcher: str = "accelerate"
) -> subprocess.CompletedProcess:
    """``in2 batch`` for one process; a real gloo group of ``accelerate launch`` (or ``torchrun``)
    running ``-m in2.batch`` otherwise."""
    if processes == 1:
        cmd = [sys.executable, "-m", "in2", "batch"]
    elif launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "in2.batch"]
    else:  # `--cpu --num_processes N` would silently start one process: --multi_gpu with ACCELERATE_USE_CPU
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", "29541", "-m", "in2.batch"]
    cmd += [str(images), str(masks), "-o", str(out), "--weights", str(weights), "--device", "cpu", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)


def _made(path: Path, options: dict | None = None) -> Made:
    """The log record of a run that wrote ``path`` as it is now."""
    data = path.read_bytes()
    return Made(len(data), options or {}, checksum(data))


def _summary(out: Path) -> dict:
    return json.loads((out / LOG_FOLDER / "summary.json").read_text())


# ------------------------------------------------------------------ planning and sharding


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_every_planned_image_lands_on_exactly_one_process(processes):
    tasks = [Task(f"n{i}", f"i{i}", f"m{i}", f"o{i}") for i in range(37)]
    shards = [shard(tasks, rank, processes, seed=5) for rank in range(processes)]
    names = [t.name for s in shards for t in s]
    assert sorted(names) == sorted(t.name for t in tasks) and len(names) == len(set(names))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shards == [shard(tasks, rank, processes, seed=5) for rank in range(processes)]  # same on every process


def test_plan_mirrors_paths_skips_done_and_ignores_temporary_files(tmp_path):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    for name in ("a.jpg", "deep/er/b.png", "deep/c.webp"):
        _image(images / name, 8, 8, seed=0)
        _mask(masks / (name.rsplit(".", 1)[0] + ".png"), 8, 8)
    (images / "deep" / f".c.webp{storage.TEMP_MARK}1234").write_bytes(b"half a file")
    _image(out / "deep" / "er" / "b.png", 8, 8, seed=1)  # finished by an earlier run
    (out / f".a.jpg{storage.TEMP_MARK}99").write_bytes(b"killed mid-write")  # not finished

    made = {"deep/er/b.png": _made(out / "deep" / "er" / "b.png")}
    plan = make_plan(str(images), str(masks), str(out), history=made)
    assert {t.name: Path(t.output).relative_to(out).as_posix() for t in plan.tasks} == {
        "a.jpg": "a.jpg", "deep/c.webp": "deep/c.webp",
    }
    assert plan.done == ["deep/er/b.png"]
    assert all(Path(t.mask).parent.relative_to(masks) == Path(t.name).parent for t in plan.tasks)

    plan = make_plan(str(images), str(masks), str(out), ext="tif")
    assert sorted(Path(t.output).name for t in plan.tasks) == ["a.tif", "b.tif", "c.tif"]


def test_a_list_file_names_the_images(tmp_path):
    images = tmp_path / "images"
    for name in ("a.png", "s/b.png", "s/c.png", "mask.png"):
        _image(images / name, 8, 8, seed=0)
    listing = tmp_path / "list.txt"
    listing.write_text("# chosen few\ns/b.png\n\na.png\ns/b.png\n")
    plan = make_plan(str(images), str(images / "mask.png"), str(tmp_path / "out"), list_file=str(listing))
    assert [t.name for t in plan.tasks] == ["s/b.png", "a.png"] and "1 duplicate line(s)" in plan.notes[0]
    everything = make_plan(str(images), str(images / "mask.png"), str(tmp_path / "out"))
    assert [t.name for t in everything.tasks] == ["a.png", "s/b.png", "s/c.png"]  # the mask is not an image to fill


def test_two_inputs_that_would_write_one_output_both_fail(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    for name in ("x/a.jpg", "x/a.png", "x/b.png"):
        _image(images / name, 8, 8, seed=0)
    _mask(masks / "all.png", 8, 8)
    plan = make_plan(str(images), str(masks / "all.png"), str(tmp_path / "out"), ext=".png")
    assert [t.name for t in plan.tasks] == ["x/b.png"]
    assert sorted(n for n, _ in plan.failed) == ["x/a.jpg", "x/a.png"]
    assert all("x/a.jpg, x/a.png would all write x/a.png" in why for _, why in plan.failed)
    kept = make_plan(str(images), str(masks / "all.png"), str(tmp_path / "out"))  # own formats: no clash
    assert sorted(Path(t.output).name for t in kept.tasks) == ["a.jpg", "a.png", "b.png"] and not kept.failed


def test_output_inside_the_images_is_not_read_back_as_input(tmp_path):
    images = tmp_path / "images"
    _image(images / "a.png", 8, 8, seed=0)
    _image(images / "filled" / "a.png", 8, 8, seed=1)  # results of an earlier run
    _mask(tmp_path / "m.png", 8, 8)
    made = {"a.png": _made(images / "filled" / "a.png")}
    plan = make_plan(str(images), str(tmp_path / "m.png"), str(images / "filled"), history=made)
    assert [t.name for t in plan.tasks] == [] and plan.done == ["a.png"]


# ------------------------------------------------------------------ never outside, never over what the run did not make


def _run(images: Path, masks: Path, out: Path, weights: Path, *extra: str) -> int:
    return main(
        ["batch", str(images), str(masks), "-o", str(out), "--weights", str(weights), "--device", "cpu", "-q", *extra]
    )


def test_a_list_line_that_leaves_the_image_folder_is_refused_before_anything_is_read_or_written(
    tmp_path, tiny_weights, capsys
):
    day1, day2 = tmp_path / "day1", tmp_path / "day2"
    _image(day1 / "a.png", 8, 8, seed=0)
    _image(day2 / "b.png", 8, 8, seed=1)
    _mask(tmp_path / "m.png", 8, 8)
    out = tmp_path / "out" / "deep"
    bystander = tmp_path / "out" / "day1" / "a.png"  # where ../day1/a.png would mirror to
    bystander.parent.mkdir(parents=True)
    bystander.write_bytes(b"someone else's file")
    for line in ("../day1/a.png", "/etc/hostname", "sub/../../day1/a.png"):
        listing = tmp_path / "list.txt"
        listing.write_text(f"b.png\n{line}\n")
        assert _run(day2, tmp_path / "m.png", out, tiny_weights, "--list", str(listing)) == 2
        err = capsys.readouterr().err
        assert f"line 2 of the list file {listing}" in err and "not inside the image folder" in err
        assert "Traceback" not in err
    assert bystander.read_bytes() == b"someone else's file" and not out.exists()


def test_a_listed_image_that_is_missing_is_reported_as_missing(tmp_path):
    images = tmp_path / "images"
    _image(images / "a.png", 8, 8, seed=0)
    _mask(tmp_path / "m.png", 8, 8)
    (tmp_path / "list.txt").write_text("a.png\ngone.png\nnotes.txt\n")
    plan = make_plan(str(images), str(tmp_path / "m.png"), str(tmp_path / "out"), list_file=str(tmp_path / "list.txt"))
    assert [t.name for t in plan.tasks] == ["a.png"] and not plan.skipped
    reasons = dict(plan.failed)
    assert "gone.png is listed in" in reasons["gone.png"] and "is not a file in" in reasons["gone.png"]
    assert "not an image file name" in reasons["notes.txt"]


@pytest.mark.parametrize("extra, expected", [
    (("--group", "0"), "--group must be a whole number of images from 1 to 1024, got 0"),
    (("--group", "-2"), "--group must be a whole number of images from 1 to 1024, got -2"),
    (("--ext", ".exe"), "--ext '.exe' is not an image format"),
    (("--ext", ""), "--ext '' is not an image format"),
    (("--timeout", "0"), "--timeout must be more than 0"),
    (("--grow", "1e9"), "grow must be pixels from -1024 to 1024"),
    (("--context-min", "0"), "context"),
])
def test_bad_batch_arguments_are_refused_before_any_work(tmp_path, tiny_weights, capsys, extra, expected):
    images = tmp_path / "images"
    _image(images / "a.png", 8, 8, seed=0)
    _mask(tmp_path / "m.png", 8, 8)
    assert _run(images, tmp_path / "m.png", tmp_path / "out", tiny_weights, *extra) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_reruns_keep_their_own_outputs_redo_broken_ones_and_never_replace_other_files(tmp_path, tiny_weights, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    for name in ("a", "b", "c", "d"):
        _image(images / f"{name}.png", 8, 8, seed=ord(name))
        _mask(masks / f"{name}.png", 8, 8)
    out = tmp_path / "out"
    (out / "d.png").parent.mkdir(parents=True)
    (out / "d.png").write_bytes(b"an unrelated file the user keeps here")
    assert _run(images, masks, out, tiny_weights) == 1  # d.png is not ours: failed, left alone
    assert "d.png already exists and no batch run into this folder wrote it" in capsys.readouterr().err
    assert (out / "d.png").read_bytes() == b"an unrelated file the user keeps here"
    first = _outputs(out)

    (out / "a.png").write_bytes(b"")  # emptied by a full disk, say
    (out / "b.png").write_bytes(first["b.png"][:20])  # truncated by a copy tool
    assert _run(images, masks, out, tiny_weights) == 1
    summary = _summary(out)
    assert (summary["done"], summary["already_done"], summary["failed"]) == (2, 1, 1)
    assert _outputs(out) == first
    rows = [json.loads(line) for line in (out / LOG_FOLDER / "rank-0.jsonl").open()]
    assert sum(row["status"] == "done" for row in rows) == 5  # both runs' lines are kept

    assert _run(images, masks, out, tiny_weights, "--overwrite") == 0
    assert (out / "d.png").read_bytes() != b"an unrelated file the user keeps here"


def test_a_rerun_with_other_options_names_the_difference_and_the_ways_out(tmp_path, tiny_weights, capsys):
    images = tmp_path / "images"
    _image(images / "a.png", 16, 16, seed=0)
    _mask(tmp_path / "m.png", 16, 16)
    out = tmp_path / "out"
    assert _run(images, tmp_path / "m.png", out, tiny_weights) == 0
    before = _outputs(out)
    capsys.readouterr()
    assert _run(images, tmp_path / "m.png", out, tiny_weights, "--grow", "20", "--mode", "resize") == 2
    err = capsys.readouterr().err
    assert "already holds 1 output(s) made with other options" in err
    assert "--grow 0 (now 20)" in err and "--mode native (now resize)" in err and "--overwrite" in err
    assert _outputs(out) == before
    assert _run(images, tmp_path / "m.png", out, tiny_weights, "--grow", "20", "--mode", "resize", "--overwrite") == 0
    assert _outputs(out) != before and _summary(out)["options"]["grow"] == "20"


# ------------------------------------------------------------------ never over an input


def test_inpaint_refuses_to_write_over_its_image_or_mask(tmp_path, tiny_weights, capsys):
    image, mask = tmp_path / "a.png", tmp_path / "m.png"
    _image(image, 12, 12, seed=0)
    _mask(mask, 12, 12)
    before = image.read_bytes(), mask.read_bytes()
    for target, what in ((image, "image"), (mask, "mask")):
        assert main(["inpaint", str(image), str(mask), "-o", str(target), "--weights", str(tiny_weights), "-q"]) == 2
        err = capsys.readouterr().err
        assert f"the output {target} is the {what} {target}" in err and "Traceback" not in err
    assert (image.read_bytes(), mask.read_bytes()) == before


def test_batch_refuses_the_image_folder_as_output(tmp_path, tiny_weights, capsys):
    images = tmp_path / "images"
    _image(images / "a.png", 8, 8, seed=0)
    _mask(tmp_path / "masks" / "a.png", 8, 8)
    before = (images / "a.png").read_bytes()
    for out in (images, tmp_path / "masks"):
        assert (
            main(["batch", str(images), str(tmp_path / "masks"), "-o", str(out), "--weights", str(tiny_weights), "-q"])
            == 2
        )
        assert f"the output folder {out} is the" in capsys.readouterr().err
    assert (images / "a.png").read_bytes() == before


def test_fsspec_urls_work_like_folders(tmp_path, tiny_weights):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    images, masks = _collection(tmp_path, count=3)
    for path in sorted(images.rglob("*.*")) + sorted(masks.rglob("*.*")):
        fs.pipe_file(f"/in2test/{path.relative_to(tmp_path).as_posix()}", path.read_bytes())
    job = BatchJob("memory://in2test/images", "memory://in2test/masks", "memory://in2test/out",
                   weights=str(tiny_weights), device="cpu", log_dir=str(tmp_path / "logs"), quiet=True)
    assert run_batch(job) == 1  # the corrupt and the mismatched file
    written = sorted(p for p in fs.find("/in2test/out"))
    assert written == ["/in2test/out/set0/img00.jpg", "/in2test/out/set0/img02.png", "/in2test/out/set1/img01.png"]
    assert json.loads((tmp_path / "logs" / "summary.json").read_text())["done"] == 3
    fs.rm("/in2test", recursive=True)


# ------------------------------------------------------------------ real runs


@pytest.mark.slow
def test_two_processes_match_one_byte_for_byte_and_a_rerun_does_nothing(tmp_path, tiny_weights):
    images, masks = _collection(tmp_path)
    one = _launch(images, masks, tmp_path / "one", tiny_weights, 1)
    two = _launch(images, masks, tmp_path / "two", tiny_weights, 2)
    assert one.returncode == 1, one.stderr
    assert two.returncode == 1, two.stderr[-3000:]
    expected = _outputs(tmp_path / "one")
    assert len(expected) == 16 and _outputs(tmp_path / "two") == expected

    summary = _summary(tmp_path / "two")
    assert (summary["processes"], summary["done"], summary["failed"]) == (2, 16, 2)
    assert [p["done"] for p in summary["per_process"]] == [8, 8]
    logged = [
        json.loads(line) for rank in (0, 1) for line in (tmp_path / "two" / LOG_FOLDER / f"rank-{rank}.jsonl").open()
    ]
    failed = {row["name"]: row["reason"] for row in logged if row["status"] == "failed"}
    assert set(failed) == {"set0/corrupt.png", "set1/mismatch.png"}
    assert "corrupt.png" in failed["set0/corrupt.png"] and "PNG, JPEG" in failed["set0/corrupt.png"]
    assert "mask is 56x41 but the image is 56x40" in failed["set1/mismatch.png"]
    assert sorted(row["name"] for row in logged if row["status"] == "done") == sorted(expected)

    again = _launch(images, masks, tmp_path / "two", tiny_weights, 2)
    assert again.returncode == 1  # the two bad files are tried again and fail again
    summary = _summary(tmp_path / "two")
    assert (summary["done"], summary["already_done"], summary["failed"]) == (0, 16, 2)
    assert _outputs(tmp_path / "two") == expected

    torchrun = _launch(images, masks, tmp_path / "torchrun", tiny_weights, 2, launcher="torchrun")
    assert torchrun.returncode == 1, torchrun.stderr[-3000:]
    assert _outputs(tmp_path / "torchrun") == expected and _summary(tmp_path / "torchrun")["processes"] == 2


@pytest.mark.slow
def test_a_run_killed_mid_way_and_rerun_completes_without_truncated_files(tmp_path, tiny_weights):
    images, masks = _collection(tmp_path, count=24, sizes=[(160, 192), (192, 160)])
    reference = tmp_path / "reference"
    assert _launch(images, masks, reference, tiny_weights, 1, "--ext", ".png").returncode == 1
    expected = _outputs(reference)

    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "in2",
        "batch",
        str(images),
        str(masks),
        "-o",
        str(out),
        "--weights",
        str(tiny_weights),
        "--device",
        "cpu",
        "--ext",
        ".png",
        "--group",
        "1",
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.rglob("img*.png"))) < 3:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _outputs(out)
    assert 3 <= len(first) < len(expected), "the kill should land mid-way"
    assert all(expected[name] == data for name, data in first.items())  # no truncated or partial file

    rerun = _launch(images, masks, out, tiny_weights, 1, "--ext", ".png")
    assert rerun.returncode == 1
    summary = _summary(out)
    assert summary["already_done"] == len(first) and summary["done"] == len(expected) - len(first)
    assert _outputs(out) == expected


def test_a_write_interrupted_before_its_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "out.png"
    storage.write_atomic(str(target), b"complete old result")

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        storage.write_atomic(str(target), b"new result that never lands")
    assert target.read_bytes() == b"complete old result"
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]


# ------------------------------------------------------------------ storage failures: one line, exit 2


def _full_disk_for_images(real_fsync):
    """``os.fsync`` that fails as a full disk does, for image files only (the plan and logs fit)."""

    def fsync(fd: int) -> None:
        if ".png" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    return fsync


def test_a_full_disk_stops_the_batch_with_one_line_and_no_partial_file(tmp_path, tiny_weights, monkeypatch, capsys):
    images = tmp_path / "images"
    for name in ("a", "b"):
        _image(images / f"{name}.png", 8, 8, seed=0)
    _mask(tmp_path / "m.png", 8, 8)
    out = tmp_path / "out"
    monkeypatch.setattr(os, "fsync", _full_disk_for_images(os.fsync))
    assert _run(images, tmp_path / "m.png", out, tiny_weights) == 2
    err = capsys.readouterr().err
    assert f"in2: error: cannot write {out}" in err and "the disk is full" in err and "Traceback" not in err
    assert "rerun to finish" in err
    assert _outputs(out) == {} and not [p for p in out.rglob("*") if storage.TEMP_MARK in p.name]


def test_an_unwritable_output_or_log_folder_is_one_line(tmp_path, tiny_weights, capsys):
    images = tmp_path / "images"
    _image(images / "a.png", 8, 8, seed=0)
    _mask(tmp_path / "m.png", 8, 8)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert _run(images, tmp_path / "m.png", tmp_path / "out", tiny_weights, "--log-dir", str(blocker)) == 2
    err = capsys.readouterr().err
    assert f"cannot create the folder {blocker}" in err and "a file is in the way" in err and "Traceback" not in err
    assert blocker.read_text() == "not a folder"
    assert _run(images, tmp_path / "m.png", blocker / "out", tiny_weights) == 2
    err = capsys.readouterr().err
    assert "in2: error:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_read_only_output_folder_is_one_line(tmp_path, tiny_weights, monkeypatch, capsys):
    images = tmp_path / "images"
    _image(images / "a.png", 8, 8, seed=0)
    _mask(tmp_path / "m.png", 8, 8)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "makedirs", read_only)  # what a read-only OUT does to any user, root included
    assert _run(images, tmp_path / "m.png", tmp_path / "out", tiny_weights) == 2
    err = capsys.readouterr().err
    assert "permission denied: choose a folder you can write to" in err and "Traceback" not in err


def test_batch_keeps_16_bit_gray_faithful_in_8_bit_formats_and_warns_once_about_lossy_ones(
    tmp_path, tiny_weights, capsys
):
    images = tmp_path / "images"
    images.mkdir()
    values = (np.arange(8 * 8).reshape(8, 8) * 997 % 65536).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    Image.open(tmp_path / "deep.png").save(images / "deep.tif")
    for i in range(3):
        _image(images / f"p{i}.jpg", 8, 8, seed=i)
    _mask(tmp_path / "m.png", 8, 8)
    hole = np.asarray(Image.open(tmp_path / "m.png")) >= 128
    out = tmp_path / "out"
    assert main(["batch", str(images), str(tmp_path / "m.png"), "-o", str(out), "--weights", str(tiny_weights),
                 "--device", "cpu", "--ext", ".gif"]) == 0
    err = capsys.readouterr().err
    assert err.count("GIF stores 8 bits per channel") == 1 and err.count("GIF holds 256 colours") == 1
    written = np.asarray(Image.open(out / "deep.gif").convert("L"))
    assert np.array_equal(written[~hole], np.rint(values / 257).astype(np.uint8)[~hole])
    assert main(["batch", str(images), str(tmp_path / "m.png"), "-o", str(tmp_path / "own"), "--weights",
                 str(tiny_weights), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert err.count("in2: warning: JPEG is lossy") == 1  # the one warning format of the command line
    assert main(["batch", str(images), str(tmp_path / "m.png"), "-o", str(tmp_path / "quiet"), "--weights",
                 str(tiny_weights), "--device", "cpu", "-q"]) == 0
    assert capsys.readouterr().err == ""  # -q: errors only


class _Terminal:
    """A stderr that says it is a terminal and keeps what is written to it."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("command", ["inpaint", "batch"])
def test_a_folder_run_on_a_terminal_shows_a_bar_counting_every_image(tmp_path, tiny_weights, monkeypatch, command):
    from tqdm import tqdm

    images = tmp_path / "images"
    for i in range(5):
        _image(images / f"p{i}.png", 8, 8, seed=i)
    _mask(tmp_path / "m.png", 8, 8)
    steps: list[float] = []
    update = tqdm.update
    monkeypatch.setattr(tqdm, "update", lambda bar, n=1: (steps.append(n), update(bar, n))[1])
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main([command, str(images), str(tmp_path / "m.png"), "-o", str(tmp_path / "out"), "--weights",
                 str(tiny_weights), "--device", "cpu"]) == 0
    assert "inpainting: 100%" in terminal.text and "5/5 [" in terminal.text
    assert steps == [1] * 5  # one step per image, not one per group of 16


def test_the_bar_draws_on_a_terminal_that_reports_no_width(tmp_path, tiny_weights):
    """A fresh pseudo-terminal has 0 columns (as some launchers open them): the count still shows."""
    images = tmp_path / "images"
    for i in range(3):
        _image(images / f"p{i}.png", 8, 8, seed=i)
    _mask(tmp_path / "m.png", 8, 8)
    leader, follower = os.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "in2", "batch", str(images), str(tmp_path / "m.png"), "-o",
                               str(tmp_path / "out"), "--weights", str(tiny_weights), "--device", "cpu"],
                              cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=follower, timeout=300)
        os.close(follower)
        text = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: everything is read
                break
            if not chunk:
                break
            text += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert "inpainting: 100%" in text.decode(errors="replace") and "3/3 [" in text.decode(errors="replace")


def test_a_folder_run_into_a_log_shows_no_bar(tmp_path, tiny_weights, capsys):
    images = tmp_path / "images"
    _image(images / "p.png", 8, 8, seed=0)
    _mask(tmp_path / "m.png", 8, 8)
    assert main(["batch", str(images), str(tmp_path / "m.png"), "-o", str(tmp_path / "out"), "--weights",
                 str(tiny_weights), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "wrote 1 image(s)" in err and "inpainting" not in err and "\r" not in err
