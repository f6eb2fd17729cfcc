"""The docs' galleries: every column named in the image, and the README's before/after picture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.eval.gallery import GAP, HEADER, labelled_grid


def test_a_gallery_names_every_column_above_its_tiles():
    red, blue = torch.zeros(3, 20, 30), torch.zeros(3, 20, 50)
    red[0], blue[2] = 1, 1
    grid = np.asarray(labelled_grid([[red, blue], [red, blue]], ["photo", "filled by IN2"]))
    assert grid.shape == (HEADER + 2 * (20 + GAP), 30 + GAP + 50, 3)
    header = grid[:HEADER]
    for left, right in ((0, 30), (30 + GAP, 30 + GAP + 50)):  # dark label pixels over each column
        assert (header[:, left:right].min(axis=2) < 100).any()
    assert (grid[HEADER : HEADER + 20, :30] == [255, 0, 0]).all()  # tiles pasted unchanged
    assert (grid[HEADER + 20 + GAP : HEADER + 40 + GAP, 30 + GAP :] == [0, 0, 255]).all()


def test_a_gallery_refuses_rows_that_do_not_match_the_labels():
    with pytest.raises(ValueError, match="one tile per label"):
        labelled_grid([[torch.zeros(3, 4, 4)]], ["photo", "fill"])


def test_before_after_without_the_face_photos_says_where_to_get_them(tmp_path, capsys):
    from trainer.eval.before_after import main

    assert main(["--data", str(tmp_path / "no-lfw"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lfw-deepfunneled.tgz" in err and "vis-www.cs.umass.edu/lfw" in err
    assert not (tmp_path / "x.png").exists()


def test_before_after_draws_held_out_faces_filled_by_the_bundled_weights(tmp_path):
    pytest.importorskip("cv2")
    from PIL import Image

    from trainer.eval.before_after import COLUMNS, main

    photo = Image.open("examples/astronaut.png").convert("RGB").crop((120, 10, 330, 220))
    for person in ("Ann_A", "Bob_B"):
        (tmp_path / "faces" / person).mkdir(parents=True)
        photo.save(tmp_path / "faces" / person / f"{person}_0001.png")
    (tmp_path / "people.txt").write_text("Ann_A\nBob_B\n")
    out = tmp_path / "docs" / "before_after.png"
    assert main(["--data", str(tmp_path / "faces"), "--list", str(tmp_path / "people.txt"), "--faces", "2",
                 "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (HEADER + 2 * (256 + GAP), len(COLUMNS) * 256 + 2 * GAP, 3)
    before, hidden, after = (grid[HEADER : HEADER + 256, c * (256 + GAP) : c * (256 + GAP) + 256] for c in range(3))
    hole = (hidden == 255).all(axis=2) & ~(before == 255).all(axis=2)
    assert hole.mean() > 0.01  # both eyes hidden under white
    assert np.array_equal(before[~hole], after[~hole])  # outside the hole the photo is untouched
    assert np.abs(after[hole].astype(int) - 255).mean() > 40  # and the hole is filled, not left white


def test_the_workflow_thumbnail_shows_the_example_hidden_and_filled(tmp_path):
    from PIL import Image

    from trainer.eval.before_after import main

    out = tmp_path / "in2_face_inpaint.jpg"
    assert main(["--workflow-thumbnail", str(out)]) == 0
    with Image.open(out) as thumbnail:
        assert thumbnail.format == "JPEG" and thumbnail.height == HEADER + 256 + GAP
        assert thumbnail.width == 2 * round(384 * 256 / 448) + GAP  # the 384x448 astronaut, twice
