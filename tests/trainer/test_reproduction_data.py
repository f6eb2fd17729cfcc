"""The documented reproduction commands on a machine without the face photos, and with them under ~."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def test_a_data_root_under_the_home_folder_is_found(tmp_path, monkeypatch):
    """`data.root=~/data/lfw` reaches the trainer with its ~ (the shell expands none there)."""
    from trainer.data import list_images

    monkeypatch.setenv("HOME", str(tmp_path))
    Image.new("RGB", (8, 8)).save(tmp_path / "face.png")
    assert list_images(Path("~")) == [tmp_path / "face.png"]


def test_an_evaluation_without_the_faces_says_where_to_get_them_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "trainer/eval/compare_fills.py", "--data", str(tmp_path / "lfw"), "--protocol", "parts",
         "--limit", "2", "--fills", "telea"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "docs/results.md#the-test-faces-where-to-get-them" in done.stderr


def test_the_crop_benchmark_names_a_missing_photo_in_one_line(tmp_path, capsys):
    from in2.bench.crop import main

    assert main([str(tmp_path / "Aaron_Tippin_0001.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such photo" in err and "docs/results.md" in err
