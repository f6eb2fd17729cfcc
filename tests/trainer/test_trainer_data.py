"""Trainer data path: synthetic faces, brush masks, ATS buckets under DDP, folders, crops."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from trainer.buckets import BucketBatchSampler, make_buckets, margin_keep
from trainer.data import FolderSource, InpaintDataset, SyntheticSource, crop_resize, list_images, margin_crop_box
from trainer.masks import MaskParams, brush_mask, load_eval_set, make_eval_set, training_mask
from trainer.synthetic_faces import render_face, write_faces

# ------------------------------------------------------------------ synthetic faces

def test_synthetic_faces_deterministic_any_size(tmp_path):
    a = render_face(7, 48, 80)
    assert a.shape == (48, 80, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_face(7, 48, 80))
    assert not np.array_equal(a, render_face(8, 48, 80))
    assert render_face(1, 1, 1).shape == (1, 1, 3)
    paths = write_faces(tmp_path / "faces", 3, 32, 32, seed=5)
    assert [p.name for p in paths] == ["face_00000.png", "face_00001.png", "face_00002.png"]
    assert np.array_equal(np.asarray(Image.open(paths[1])), render_face(6, 32, 32))


# ------------------------------------------------------------------ masks

@pytest.mark.parametrize("hw", [(64, 64), (256, 256), (591, 443), (128, 224)])
def test_mask_area_in_band(hw):
    p = MaskParams()
    for i in range(6):
        m = training_mask(3, 1, i, *hw, p)
        assert m.shape == hw and m.dtype == bool
        assert p.min_area <= m.mean() <= p.max_area


def test_mask_areas_spread_over_the_whole_band():
    # Each fifth of the 20-30% band holds a fair share of masks, and the median sits mid-band
    # (growing masks only to the band's floor put ~half of them in 20-22% and 3% in 28-30%).
    areas = np.array([training_mask(7, 0, i, 64, 64).mean() for i in range(400)])
    counts, _ = np.histogram(areas, bins=np.linspace(0.2, 0.3, 6))
    assert counts.sum() == 400 and counts.min() >= 0.14 * 400, counts
    assert 0.24 <= np.median(areas) <= 0.26


def test_mask_seed_reproducible_and_distinct():
    a = training_mask(0, 2, 5, 96, 96)
    assert np.array_equal(a, training_mask(0, 2, 5, 96, 96))
    assert np.array_equal(a, brush_mask(np.random.default_rng([0, 2, 5]), 96, 96))
    assert not np.array_equal(a, training_mask(0, 3, 5, 96, 96))
    assert not np.array_equal(a, training_mask(0, 2, 6, 96, 96))
    assert not np.array_equal(a, training_mask(1, 2, 5, 96, 96))


def test_mask_custom_band_and_impossible_band():
    p = MaskParams(min_area=0.4, max_area=0.5)
    assert 0.4 <= training_mask(0, 0, 0, 64, 64, p).mean() <= 0.5
    with pytest.raises(RuntimeError, match="area band"):
        brush_mask(np.random.default_rng(0), 64, 64, MaskParams(min_area=0.2, max_area=0.2001, max_tries=3))
    with pytest.raises(ValueError):
        MaskParams(min_area=0.5, max_area=0.3)


def test_mask_strokes_scale_with_size():
    # Same band at every size, and thick strokes stay thick: the number of connected
    # hole pixels along a row does not collapse to 1-pixel lines at large sizes.
    def mean_run(m):
        runs = []
        for row in m[:: max(1, m.shape[0] // 32)]:
            d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
            runs += list(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))
        return np.mean(runs)
    small = np.mean([mean_run(training_mask(0, 0, i, 128, 128)) for i in range(4)])
    large = np.mean([mean_run(training_mask(0, 0, i, 512, 512)) for i in range(4)])
    assert 2.5 < large / small < 6  # ~4x (sqrt(H*W)/512 scaling)


def test_eval_mask_set_manifest(tmp_path):
    manifest = make_eval_set(tmp_path / "m", [(40, 56), (32, 32)], count=3, seed=9)
    data = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert data == json.loads(json.dumps(manifest))
    assert data["seed"] == 9 and data["params"]["min_area"] == 0.2
    entry = data["settings"]["56x40"]["masks"][1]  # named width x height
    assert len(entry["sha256"]) == 64 and 0.2 <= entry["area"] <= 0.3
    masks = load_eval_set(tmp_path / "m", 40, 56)
    assert len(masks) == 3 and masks[0].shape == (40, 56)
    # A tampered file is detected.
    (tmp_path / "m" / entry["file"]).write_bytes(Image.new("L", (56, 40)).tobytes()[:10])
    with pytest.raises(ValueError, match="sha256"):
        load_eval_set(tmp_path / "m", 40, 56)
    # A set written by the older generator (areas crowded at the band's floor) is refused.
    data["format"] = "in2-eval-masks/1"
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="make-eval-set"):
        load_eval_set(tmp_path / "m", 32, 32)


def test_make_eval_set_cli(tmp_path):
    from trainer.masks import main

    main(["make-eval-set", "--out", str(tmp_path / "cli"), "--settings", "40x24", "--count", "2"])  # W x H
    masks = load_eval_set(tmp_path / "cli", 24, 40)
    assert len(masks) == 2 and masks[0].shape == (24, 40)


def test_eval_set_named_height_first_still_loads(tmp_path):
    """Sets written when setting names were height first are found by their size."""
    make_eval_set(tmp_path / "m", [(40, 56)], count=1, seed=3)
    path = tmp_path / "m" / "manifest.json"
    data = json.loads(path.read_text())
    data["settings"] = {"40x56": data["settings"]["56x40"]}
    path.write_text(json.dumps(data))
    assert load_eval_set(tmp_path / "m", 40, 56)[0].shape == (40, 56)


# ------------------------------------------------------------------ buckets

def test_buckets_near_base_area_and_ablation_switch():
    buckets = make_buckets(512)
    assert (512, 512) in buckets and len(buckets) == 7
    for h, w in buckets:
        assert abs(h * w / 512**2 - 1) < 0.03
    assert make_buckets(512, enabled=False) == [(512, 512)]


def test_margin_crop_matches_paper_16_9():
    # 16:9 (H:W) from a 1024^2 CelebA-HQ image trims 224 px per side.
    assert margin_crop_box((1024, 1024), (1024, 576), 0.5) == (224, 0, 800, 1024)
    assert margin_crop_box((1024, 1024), (768, 1024), 0.5) == (0, 128, 1024, 896)
    assert margin_keep((1024, 1024), (683, 384)) == pytest.approx(384 / 683)


def _sampler(n_imgs, ranks, rank, **kw):
    sizes = [(100, 100)] * n_imgs
    return BucketBatchSampler(sizes, make_buckets(64), batch_size=3, seed=11, num_replicas=ranks, rank=rank, **kw)


def test_bucket_sampler_two_ranks_whole_batches_same_global_order():
    one = _sampler(200, 1, 0)
    two = [_sampler(200, 2, r) for r in range(2)]
    for epoch in (0, 1):
        one.set_epoch(epoch)
        for s in two:
            s.set_epoch(epoch)
        b1 = list(one)
        r0, r1 = list(two[0]), list(two[1])
        assert len(r0) == len(r1) == len(two[0])  # every rank the same number of steps
        for batch in r0 + r1:
            assert len(batch) == 3  # full batches only
            assert len({(h, w) for _, h, w, _ in batch}) == 1  # one shape per batch
            assert all(e == epoch for *_, e in batch)
        interleaved = [b for pair in zip(r0, r1, strict=True) for b in pair]
        assert interleaved == b1[: len(interleaved)]  # same data order for any rank count
        seen = [i for b in interleaved for i, *_ in b]
        assert len(seen) == len(set(seen))  # no sample twice in an epoch
    one.set_epoch(0)
    e0 = list(one)
    one.set_epoch(1)
    assert list(one) != e0  # new order each epoch
    one.set_epoch(0)
    assert list(one) == e0  # ...and reproducible


def test_bucket_sampler_resume_position_and_shapes():
    s = _sampler(120, 2, 1)
    s.set_epoch(3)
    full = list(s)
    s.set_epoch(3, start=4)
    assert list(s) == full[4:]
    shapes = {(b[0][1], b[0][2]) for b in full}
    assert len(shapes) > 3  # ATS: several aspect ratios in an epoch
    off = BucketBatchSampler([(100, 100)] * 30, make_buckets(32, enabled=False), 3)
    assert {(b[0][1], b[0][2]) for b in off} == {(32, 32)}


def test_bucket_sampler_respects_margin_only_crops():
    # A landscape photo is never forced into a portrait bucket it would lose >45% of.
    buckets = make_buckets(64)
    s = BucketBatchSampler([(60, 120)] * 30, buckets, 2, min_keep=0.55)
    for batch in s:
        h, w = batch[0][1], batch[0][2]
        assert margin_keep((60, 120), (h, w)) >= 0.55
    with pytest.raises(ValueError, match="no full batch"):
        BucketBatchSampler([(64, 64)] * 2, buckets, 3)


# ------------------------------------------------------------------ folders and samples

def test_folder_source_skips_unreadable_and_list_file(tmp_path, caplog):
    root = tmp_path / "celeba"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(render_face(i, 40, 40)).save(root / "sub" / f"{i}.jpg")
    (root / "broken.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING, logger="in2.trainer"):
        src = FolderSource(root)
    assert len(src) == 3 and "broken.png" in caplog.text
    listing = tmp_path / "train.txt"
    listing.write_text("# CelebA-HQ style split\n2.jpg\nsub/0.jpg 0\nmissing.jpg\n")
    assert [p.name for p in list_images(root, listing)] == ["2.jpg", "0.jpg"]


def test_dataset_sample_is_deterministic_and_survives_a_corrupt_file(tmp_path, caplog):
    root = tmp_path / "d"
    root.mkdir()
    for i in range(3):
        Image.fromarray(render_face(i, 50, 70)).save(root / f"{i}.png")
    src = FolderSource(root)
    (root / "1.png").write_bytes(b"\x89PNG truncated")  # breaks after listing
    ds = InpaintDataset(src, seed=4)
    a = ds[(0, 32, 24, 2)]
    assert a["image"].shape == (3, 32, 24) and a["mask"].shape == (1, 32, 24)
    assert torch.equal(a["image"], ds[(0, 32, 24, 2)]["image"])
    assert torch.equal(a["mask"][0].bool(), torch.from_numpy(training_mask(4, 2, 0, 32, 24)))
    with caplog.at_level(logging.WARNING, logger="in2.trainer"):
        b = ds[(1, 32, 24, 0)]
    assert b["image"].shape == (3, 32, 24) and "1.png" in caplog.text


def test_crop_resize_only_trims_margins():
    img = Image.fromarray(np.tile(np.arange(100, dtype=np.uint8)[None, :, None], (50, 1, 3)))
    out = np.asarray(crop_resize(img, 50, 50, offset=0.0))  # left-most square: columns 0..49
    assert out.shape == (50, 50, 3) and out[0, 0, 0] == 0 and out[0, -1, 0] == 49
    out = np.asarray(crop_resize(img, 50, 50, offset=1.0))
    assert out[0, 0, 0] == 50 and out[0, -1, 0] == 99


def test_synthetic_source_sizes():
    s = SyntheticSource(5, 48, seed=3)
    assert len(s) == 5 and s.sizes[0] == (48, 48)
    assert np.array_equal(np.asarray(s.get(2)), render_face(5, 48, 48))
