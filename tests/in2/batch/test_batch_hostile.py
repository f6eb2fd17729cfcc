"""Batch runs given hostile or careless setups: shared log folders, nested folders, two runs at
once, outputs changed behind the run's back, pipes posing as images, odd list files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2.batch.lock import OutputLock
from in2.batch.plan import LOG_FOLDER
from in2.cli import main
from in2.mask_prep import MaskPrep

ROOT = Path(__file__).resolve().parents[3]


def _image(path: Path, seed: int, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def _mask(path: Path, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    hole = np.zeros((size, size), np.uint8)
    hole[4:10, 4:12] = 255
    Image.fromarray(hole).save(path)


def _run(images: Path, masks: Path, out: Path, weights: Path, *extra: str) -> int:
    return main(["batch", str(images), str(masks), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                 "-q", *extra])


def _photos(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    _image(images / "a.png", 0)
    _image(images / "s" / "b.png", 1)
    _mask(tmp_path / "m.png")
    return images, tmp_path / "m.png"


def test_jobs_sharing_a_log_folder_never_take_each_others_files(tmp_path, tiny_weights, capsys):
    images, mask = _photos(tmp_path)
    logs = tmp_path / "logs"
    assert _run(images, mask, tmp_path / "outA", tiny_weights, "--log-dir", str(logs)) == 0
    unrelated = tmp_path / "outB" / "a.png"
    unrelated.parent.mkdir()
    unrelated.write_bytes(b"a file of the user's, same name as an output of the other job")
    assert _run(images, mask, tmp_path / "outB", tiny_weights, "--log-dir", str(logs)) == 1
    assert unrelated.read_bytes().startswith(b"a file of the user's")
    assert "no batch run into this folder wrote it" in capsys.readouterr().err
    assert (tmp_path / "outB" / "s" / "b.png").is_file()  # the rest of job B is done


def test_an_output_folder_that_holds_the_inputs_is_refused(tmp_path, tiny_weights, capsys):
    project = tmp_path / "P"
    _image(project / "imgs" / "x.png", 0)
    _image(project / "imgs" / "imgs" / "x.png", 1)  # its output would be P/imgs/x.png, an input
    _mask(tmp_path / "m.png")
    before = {p: p.read_bytes() for p in project.rglob("*.png")}
    assert _run(project / "imgs", tmp_path / "m.png", project, tiny_weights, "--overwrite") == 2
    assert "holds the image folder" in capsys.readouterr().err
    masks = project / "masks"
    _mask(masks / "x.png")
    assert _run(tmp_path / "P" / "imgs", masks, project, tiny_weights, "--overwrite") == 2
    assert "holds the image folder" in capsys.readouterr().err
    other = tmp_path / "other"
    _image(other / "x.png", 2)
    assert _run(other, masks, project, tiny_weights, "--overwrite") == 2  # OUT above MASKS
    assert "holds the mask folder" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in project.rglob("*.png") if "masks" not in p.parts} == before
    assert not (project / LOG_FOLDER).exists()


def test_a_listed_input_inside_out_is_never_an_output(tmp_path, tiny_weights, capsys):
    images = tmp_path / "images"
    _image(images / "a.png", 0)
    _image(images / "filled" / "a.png", 1)  # an input listed on purpose; also where a.png's output goes
    _mask(tmp_path / "m.png")
    listing = tmp_path / "list.txt"
    listing.write_text("a.png\nfilled/a.png\n")
    kept = (images / "filled" / "a.png").read_bytes()
    code = _run(images, tmp_path / "m.png", images / "filled", tiny_weights, "--list", str(listing), "--overwrite")
    assert code == 2 and "which is the input image filled/a.png" in capsys.readouterr().err
    assert (images / "filled" / "a.png").read_bytes() == kept


def test_the_same_folder_as_images_and_masks_is_refused(tmp_path, tiny_weights, capsys):
    images, _ = _photos(tmp_path)
    assert _run(images, images, tmp_path / "out", tiny_weights) == 2
    assert "every photo would be its own mask" in capsys.readouterr().err


def test_a_second_run_into_a_locked_output_folder_is_refused(tmp_path, tiny_weights, capsys):
    images, mask = _photos(tmp_path)
    out = tmp_path / "out"
    first = OutputLock(str(out), out / LOG_FOLDER)
    first.acquire()  # a run that is still going
    try:
        assert _run(images, mask, out, tiny_weights) == 2
        assert "another in2 batch run is writing into" in capsys.readouterr().err
        assert sorted(p.name for p in out.rglob("*")) == [LOG_FOLDER, "lock"]  # nothing of the refused run
    finally:
        first.release()
    assert _run(images, mask, out, tiny_weights) == 0  # the lock goes with the run that held it
    assert _run(images, mask, out, tiny_weights) == 0


def test_two_processes_at_once_into_one_folder_one_is_refused(tmp_path, tiny_weights):
    images, mask = _photos(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    runs = [
        subprocess.Popen([sys.executable, "-m", "in2", "batch", str(images), str(mask), "-o", str(tmp_path / "out"),
                          "--weights", str(tiny_weights), "--device", "cpu", "-q", "--grow", grow],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for grow in ("0", "3")
    ]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in results)
    # Either one was refused while the other ran, or the second started after the first had
    # finished and stopped on the different --grow; never two successes.
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another in2 batch run is writing into" in refused or "made with other options" in refused


def test_a_log_folder_holding_other_files_is_refused(tmp_path, tiny_weights, capsys):
    images, mask = _photos(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "summary.json").write_text('{"mine": true}')
    (logs / "plan.jsonl").write_text("my own notes\n")
    assert _run(images, mask, tmp_path / "out", tiny_weights, "--log-dir", str(logs)) == 2
    assert "already holds files that no in2 batch run wrote" in capsys.readouterr().err
    assert (logs / "summary.json").read_text() == '{"mine": true}'
    assert (logs / "plan.jsonl").read_text() == "my own notes\n"
    fresh = tmp_path / "fresh-logs"
    assert _run(images, mask, tmp_path / "out", tiny_weights, "--log-dir", str(fresh)) == 0
    assert _run(images, mask, tmp_path / "out", tiny_weights, "--log-dir", str(fresh)) == 0  # its own folder again


def test_an_output_changed_behind_the_runs_back_is_done_again_even_at_the_same_size(tmp_path, tiny_weights, capsys):
    images, mask = _photos(tmp_path)
    out = tmp_path / "out"
    assert _run(images, mask, out, tiny_weights) == 0
    good = (out / "a.png").read_bytes()
    (out / "a.png").write_bytes(bytes(len(good)))  # same size, other content
    assert _run(images, mask, out, tiny_weights) == 0
    assert (out / "a.png").read_bytes() == good
    rows = [json.loads(line) for line in (out / LOG_FOLDER / "rank-0.jsonl").open()]
    assert all(len(r["sha256"]) == 64 and r["out"] == os.path.realpath(out) for r in rows if r["status"] == "writing")


def test_a_damaged_log_line_does_not_stop_the_rerun(tmp_path, tiny_weights):
    images, mask = _photos(tmp_path)
    out = tmp_path / "out"
    assert _run(images, mask, out, tiny_weights) == 0
    with (out / LOG_FOLDER / "rank-0.jsonl").open("a") as log:
        log.write(json.dumps({"status": "writing", "written": "a.png", "bytes": "many", "options": []}) + "\n")
        log.write('{"status": "writing", "written": "s/b.png", "bytes": 12, "options": null}\n')
    assert _run(images, mask, out, tiny_weights) == 0


def test_a_pipe_named_like_an_image_never_blocks_the_run(tmp_path, tiny_weights):
    images, mask = _photos(tmp_path)
    os.mkfifo(images / "b.png")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "in2", "batch", str(images), str(mask), "-o", str(tmp_path / "out"),
                           "--weights", str(tiny_weights), "--device", "cpu", "-q"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == ["a.png", "b.png"]  # a.png and s/b.png
    os.mkfifo(tmp_path / "list.txt")
    listed = subprocess.run([sys.executable, "-m", "in2", "batch", str(images), str(mask), "-o", str(tmp_path / "o2"),
                             "--weights", str(tiny_weights), "--device", "cpu", "-q",
                             "--list", str(tmp_path / "list.txt")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 2 and "is not a file" in listed.stderr
    one = subprocess.run([sys.executable, "-m", "in2", "inpaint", str(images / "b.png"), str(mask), "-o",
                          str(tmp_path / "o.png"), "--weights", str(tiny_weights), "--device", "cpu"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert one.returncode == 2 and "not a regular file" in one.stderr and "Traceback" not in one.stderr


def test_a_list_file_with_a_byte_order_mark_names_its_first_file(tmp_path, tiny_weights, capsys):
    images, mask = _photos(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_bytes("a.png\r\ns/b.png\r\n".encode("utf-8-sig"))
    assert _run(images, mask, tmp_path / "out", tiny_weights, "--list", str(listing)) == 0
    assert (tmp_path / "out" / "a.png").is_file() and (tmp_path / "out" / "s" / "b.png").is_file()


@pytest.mark.parametrize("first,again", [("0", "0.0"), ("4", "4.00"), ("2%", "2.0%")])
def test_a_rerun_with_the_same_grow_spelled_otherwise_resumes(tmp_path, tiny_weights, first, again):
    images, mask = _photos(tmp_path)
    assert _run(images, mask, tmp_path / "out", tiny_weights, "--grow", first) == 0
    assert _run(images, mask, tmp_path / "out", tiny_weights, "--grow", again) == 0


def test_grow_accepts_a_decimal():
    assert MaskPrep(grow=Decimal(4)).grow_pixels(64, 64) == 4


def test_the_thread_count_that_decides_the_last_bit_is_recorded(tmp_path, tiny_weights):
    import torch

    images, mask = _photos(tmp_path)
    out = tmp_path / "out"
    assert _run(images, mask, out, tiny_weights) == 0
    summary = json.loads((out / LOG_FOLDER / "summary.json").read_text())
    assert summary["threads"] == [torch.get_num_threads()]
    assert summary["per_process"][0]["threads"] == torch.get_num_threads()
    rows = [json.loads(line) for line in (out / LOG_FOLDER / "rank-0.jsonl").open()]
    assert {r["threads"] for r in rows if r["status"] == "writing"} == {torch.get_num_threads()}
