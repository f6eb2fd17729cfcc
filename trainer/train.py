"""Train an IN2 generator (or the conv baseline) with Accelerate on one or many devices.

    accelerate launch trainer/train.py --config trainer/configs/demo.yaml [key.sub=value ...]
                                       [--resume latest] [--push-to-hub USER/REPO]

``main`` reads top to bottom as ``setup`` (config -> accelerator -> data -> models ->
resume), ``train_loop`` (one ``GANStep`` per batch, then logging, validation, checkpoints and
the stop conditions per optimiser step) and ``finish`` (last checkpoint, validation of the
EMA, export, model card). The parts it assembles each live in their own module next to it:
the step (``gan_step``: D step and G loss), data, buckets, losses, models, discriminator, EMA,
validation, checkpoints, export and the distributed checks; evaluation lives in ``trainer/eval/``.
The EMA of G is what gets validated and exported.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import set_seed

# Run as a file (``accelerate launch trainer/train.py``): the checkout's root holds ``trainer``,
# which is not an installed package.
if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.buckets import BucketBatchSampler, make_buckets
from trainer.checkpoints import TrainState, check_output_folder, decide_resume, load_state, save_checkpoint
from trainer.config import load_config
from trainer.data import InpaintDataset, ValidationSet, ZoomParams, build_source, collate
from trainer.discriminator import PatchDiscriminator
from trainer.distributed import (
    RunShape,
    check_same_batches,
    check_shared_folder,
    main_decides,
    match_run_shape,
    release_others,
)
from trainer.ema import EMA
from trainer.export import card_info, export_generator, push_to_hub, write_model_card
from trainer.face_parts import FacePartParams
from trainer.gan_step import GANStep
from trainer.guesses import GuessParams, ViewParams
from trainer.masks import MaskParams
from trainer.models import build_generator, build_perceptual
from trainer.validation import validate
from trainer.views import SimilarityParams

log = logging.getLogger("in2.trainer")


def lr_factor(step: int, warmup_steps: int, total_steps: int, lr: float, lr_start: float, lr_min: float) -> float:
    """Linear warm-up lr_start -> lr, then cosine decay to lr_min; returned as a factor of ``lr``."""
    if warmup_steps > 0 and step < warmup_steps:
        value = lr_start + (lr - lr_start) * step / warmup_steps
    else:
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, (step - warmup_steps) / span)
        value = lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * t))
    return value / lr


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train IN2 (or the FFC baseline) with Accelerate.")
    p.add_argument("--config", required=True, help="YAML file, e.g. trainer/configs/smoke.yaml")
    p.add_argument("--resume", default=None, help="'latest' or a checkpoint folder")
    p.add_argument("--output-dir", default=None, help="overrides output_dir")
    p.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="upload the export when done")
    p.add_argument("overrides", nargs="*", help="config overrides key.sub=value")
    return p.parse_intermixed_args(argv)  # overrides may come before, between or after the options


@dataclass
class Run:
    """Everything the loop and the finish touch, built once by ``setup``."""

    cfg: dict
    out_dir: Path
    accelerator: Accelerator
    use_tb: bool
    train_src: Any
    buckets: list
    mask_params: MaskParams
    sampler: BucketBatchSampler
    loader: torch.utils.data.DataLoader
    G: torch.nn.Module
    D: torch.nn.Module
    perceptual: torch.nn.Module | None
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    ema: EMA
    state: TrainState
    step_fn: GANStep
    total_steps: int
    parts: dict = field(default_factory=dict)  # what a checkpoint holds (trainer/checkpoints.py)
    vset: ValidationSet | None = None
    run_start: float = field(default_factory=time.time)

    @property
    def ckpt_root(self) -> Path:
        return self.out_dir / "checkpoints"

    @property
    def log_path(self) -> Path:
        return self.out_dir / "log.jsonl"

    def log_row(self, row: dict[str, Any]) -> None:
        """One JSONL line (and TensorBoard scalars) from the main process."""
        if self.accelerator.is_main_process:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if self.use_tb:
                scalars = {k: v for k, v in row.items() if isinstance(v, (int, float))}
                self.accelerator.log(scalars, step=row["step"])


def make_accelerator(cfg: dict, out_dir: Path) -> tuple[Accelerator, bool]:
    """The Accelerator and whether TensorBoard logging is on (asked for and installed)."""
    tcfg = cfg["train"]
    use_tb = bool(cfg["log"].get("tensorboard"))
    if use_tb:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            use_tb = False
    accelerator = Accelerator(
        gradient_accumulation_steps=int(tcfg["grad_accum"]),
        mixed_precision=tcfg.get("mixed_precision"),
        log_with="tensorboard" if use_tb else None,
        project_dir=str(out_dir),
    )
    logging.basicConfig(
        level=logging.INFO if accelerator.is_main_process else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if cfg["log"].get("tensorboard") and not use_tb and accelerator.is_main_process:
        log.warning("log.tensorboard is on but tensorboard is not installed; logging to JSONL only")
    return accelerator, use_tb


def build_data(
    cfg: dict, accelerator: Accelerator, seed: int
) -> tuple[Any, list, MaskParams, BucketBatchSampler, torch.utils.data.DataLoader]:
    """Training source, aspect-ratio buckets, mask parameters, the sampler and its loader."""
    dcfg, ats = cfg["data"], cfg["ats"]
    mask_cfg = dict(cfg["masks"])
    face_parts = FacePartParams.from_dict(mask_cfg.pop("face_parts", None))
    mask_params = MaskParams.from_dict(mask_cfg)
    buckets = make_buckets(int(ats["base_size"]), ats["ratios"], int(ats["multiple_of"]), bool(ats["enabled"]))
    train_src = main_decides(accelerator, lambda: build_source(dcfg, "train"))  # one scan of the image headers
    dataset = InpaintDataset(
        train_src,
        seed=seed,
        mask_params=mask_params,
        hflip=bool(dcfg["hflip"]),
        face_parts=face_parts,
        zoom=ZoomParams(**dcfg["zoom"]),
        similarity=SimilarityParams(**dcfg["similarity"]),
    )
    sampler = BucketBatchSampler(
        train_src.sizes,
        buckets,
        int(dcfg["batch_size"]),
        seed=seed,
        num_replicas=accelerator.num_processes,
        rank=accelerator.process_index,
        min_keep=float(ats["min_keep"]),
    )
    workers = int(dcfg["num_workers"])
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=accelerator.device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    return train_src, buckets, mask_params, sampler, loader


def schedule_steps(tcfg: dict, micro_per_epoch: int) -> tuple[int, int, int]:
    """Optimiser steps per epoch, in total, and of warm-up, from the config and the sampler's length."""
    steps_per_epoch = max(1, micro_per_epoch // int(tcfg["grad_accum"]))
    total_steps = int(tcfg["max_steps"] or round(float(tcfg["epochs"]) * steps_per_epoch))
    warmup_steps = int(round(float(tcfg["warmup_epochs"]) * steps_per_epoch))
    return steps_per_epoch, total_steps, min(warmup_steps, max(0, total_steps - 1))


def build_optimisers(
    G: torch.nn.Module, D: torch.nn.Module, tcfg: dict, warmup_steps: int, total_steps: int
) -> tuple[
    torch.optim.Optimizer,
    torch.optim.Optimizer,
    torch.optim.lr_scheduler.LRScheduler,
    torch.optim.lr_scheduler.LRScheduler,
]:
    """Adam for G and D (D at ``d_lr``) and the one warm-up + cosine schedule both follow."""
    betas = tuple(tcfg["betas"])
    lr, d_lr = float(tcfg["lr"]), float(tcfg["d_lr"] or tcfg["lr"])
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, weight_decay=float(tcfg["weight_decay"]))
    opt_d = torch.optim.Adam(D.parameters(), lr=d_lr, betas=betas, weight_decay=float(tcfg["weight_decay"]))

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps, total_steps, lr, float(tcfg["lr_start"]), float(tcfg["lr_min"]))

    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, factor)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, factor)
    return opt_g, opt_d, sched_g, sched_d


def setup(args: argparse.Namespace) -> Run:
    """Config, accelerator, data, models, optimisers and schedules, restored from a checkpoint when resuming."""
    cfg = load_config(args.config, args.overrides)
    if args.output_dir:
        cfg["output_dir"] = args.output_dir
    out_dir = Path(cfg["output_dir"])
    tcfg, dcfg, lcfg = cfg["train"], cfg["data"], cfg["loss"]
    accelerator, use_tb = make_accelerator(cfg, out_dir)
    check_shared_folder(accelerator, out_dir)  # checkpoints and --resume need one folder for all ranks
    seed = int(cfg["seed"])
    set_seed(seed)  # identical initial weights on every rank

    train_src, buckets, mask_params, sampler, loader = build_data(cfg, accelerator, seed)
    batch_hash = check_same_batches(accelerator, sampler)

    if "train_resolution" not in cfg["model"]["overrides"]:
        # The pipeline's "resize" mode scales inputs to this pixel side: the size trained on.
        cfg["model"]["overrides"]["train_resolution"] = int(cfg["ats"]["base_size"])
    G = build_generator(cfg["model"])
    D = PatchDiscriminator(**lcfg.get("discriminator", {}))
    perceptual = build_perceptual(lcfg)
    if perceptual is not None:
        perceptual.to(accelerator.device)
    steps_per_epoch, total_steps, warmup_steps = schedule_steps(tcfg, len(sampler))
    opt_g, opt_d, sched_g, sched_d = build_optimisers(G, D, tcfg, warmup_steps, total_steps)
    G, D, opt_g, opt_d = accelerator.prepare(G, D, opt_g, opt_d)
    ema = EMA(accelerator.unwrap_model(G), decay=float(tcfg["ema_decay"])).to(accelerator.device)
    state = TrainState()
    parts = dict(generator=accelerator.unwrap_model(G), discriminator=accelerator.unwrap_model(D), opt_g=opt_g,
                 opt_d=opt_d, sched_g=sched_g, sched_d=sched_d, ema=ema, state=state)
    resume_from(
        args,
        accelerator,
        parts,
        out_dir,
        Path(cfg["export"]["dir"] or out_dir / "export"),
        RunShape(accelerator.num_processes, int(dcfg["batch_size"]), int(tcfg["grad_accum"])),
    )
    set_seed(seed + 7919 * state.step, device_specific=True)  # per-rank noise, new after a resume

    hole_only = bool(tcfg.get("decode_hole_only")) and cfg["model"].get("type", "in2") == "in2"
    guesses = GuessParams.from_dict(tcfg.get("coarse_guess"))
    views = ViewParams.from_dict(tcfg.get("coarse_view"))
    step_fn = GANStep(accelerator, G, D, opt_g, opt_d, perceptual, lcfg, tcfg.get("max_grad_norm"), hole_only,
                      guesses if guesses.share > 0 else None, views if views.share > 0 else None)
    step_fn.micro = state.step * int(tcfg["grad_accum"])
    run = Run(
        cfg,
        out_dir,
        accelerator,
        use_tb,
        train_src,
        buckets,
        mask_params,
        sampler,
        loader,
        G,
        D,
        perceptual,
        sched_g,
        sched_d,
        ema,
        state,
        step_fn,
        total_steps,
        parts,
    )
    start_outputs(run)
    if accelerator.is_main_process:
        log.info(
            "generator %.2fM params, %d buckets %s, %d images, %d steps/epoch, %d steps total, %d process(es), "
            "epoch-0 batches %s",
            sum(p.numel() for p in G.parameters()) / 1e6,
            len(buckets),
            buckets,
            len(train_src),
            steps_per_epoch,
            total_steps,
            accelerator.num_processes,
            batch_hash,
        )
    return run


def resume_from(
    args: argparse.Namespace, accelerator: Accelerator, parts: dict, out_dir: Path, export_dir: Path, shape: RunShape
) -> None:
    """Restore the checkpoint ``--resume`` picks (if any, no pickle read) and check the run keeps its
    shape; a folder holding another run is refused unless resumed."""
    ckpt_root, state = out_dir / "checkpoints", parts["state"]
    resume = decide_resume(accelerator, args.resume, ckpt_root)
    main_decides(accelerator, lambda: check_output_folder(out_dir, resume, export_dir))
    if resume is not None:
        load_state(accelerator, resume, parts)
    match_run_shape(state, shape, resumed=resume is not None)
    if resume is not None:
        log.info(
            "resumed from %s at step %d (epoch %d, batch %d)", resume, state.step, state.epoch, state.batch_in_epoch
        )
    elif args.resume == "latest":
        log.info("no checkpoint under %s yet; starting from scratch", ckpt_root)


def start_outputs(run: Run) -> None:
    """The output folder, its config.yaml and the validation set (main process), and the trackers."""
    cfg, dcfg = run.cfg, run.cfg["data"]
    if run.accelerator.is_main_process:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        (run.out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        vcfg = cfg["validation"]
        run.vset = ValidationSet(
            build_source(dcfg, "val"),
            int(vcfg["count"]),
            run.buckets,
            int(vcfg["seed"]),
            run.mask_params,
            [Path(p) for p in vcfg.get("extra_images") or []],
        )
    if run.use_tb:
        run.accelerator.init_trackers("in2", config={"config": json.dumps(cfg)})


@dataclass
class _Meter:
    """Loss values and images since the last log row."""

    losses: dict[str, list[float]] = field(default_factory=dict)
    since: float = field(default_factory=time.time)
    images: int = 0


def train_loop(run: Run) -> None:
    """Epochs of batches until the step budget, the wall-clock limit or ``stop_at_step`` is reached."""
    acc, state, tcfg = run.accelerator, run.state, run.cfg["train"]
    bar = None
    if acc.is_main_process and run.cfg["log"].get("progress_bar", True):
        from tqdm.auto import tqdm

        bar = tqdm(total=run.total_steps, initial=state.step, desc="train", dynamic_ncols=True)
    run.run_start = time.time()
    meter = _Meter()
    deadline = run.run_start + 60 * float(tcfg["max_minutes"]) if tcfg.get("max_minutes") else None
    run.G.train()
    run.D.train()
    done = state.step >= run.total_steps
    while not done:
        run.sampler.set_epoch(state.epoch, state.batch_in_epoch)  # reaches the sampler on every rank
        for batch in run.loader:
            t0 = time.time()
            image = batch["image"].to(acc.device, non_blocking=True)
            mask = batch["mask"].to(acc.device, non_blocking=True)
            losses = run.step_fn(image, mask)
            state.batch_in_epoch += 1
            n_img = image.shape[0] * acc.num_processes
            state.images_seen += n_img
            meter.images += n_img
            for k, v in losses.items():
                meter.losses.setdefault(k, []).append(v)
            state.train_seconds += time.time() - t0
            if not acc.sync_gradients:
                continue
            run.sched_g.step()
            run.sched_d.step()
            run.ema.update(acc.unwrap_model(run.G))
            state.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(g=f"{losses.get('g_total', 0):.3f}", d=f"{losses.get('d_adv', 0):.3f}")
            after_step(run, meter, tuple(image.shape[-2:]))
            if should_stop(run, deadline):
                done = True
                break
        if not done:
            state.epoch += 1
            state.batch_in_epoch = 0
    if bar is not None:
        bar.close()


def after_step(run: Run, meter: _Meter, shape: tuple[int, ...]) -> None:
    """What runs every so many optimiser steps: the log row, validation, a checkpoint, a snapshot."""
    cfg, state, acc = run.cfg, run.state, run.accelerator
    every_snapshot = int(cfg["export"].get("snapshot_every") or 0)
    every_val, every_ckpt = int(cfg["validation"]["every"]), int(cfg["checkpoint"]["every"])
    if state.step % int(cfg["log"]["every"]) == 0 or state.step == run.total_steps:
        now = time.time()
        run.log_row(
            {
                "step": state.step,
                "epoch": state.epoch,
                "minutes": state.train_seconds / 60,
                "wall_minutes": (now - run.run_start) / 60,
                "lr": run.sched_g.get_last_lr()[0],
                "images_per_s": meter.images / max(now - meter.since, 1e-9),
                "images_seen": state.images_seen,
                "shape": list(shape),
                **{k: float(np.mean(v)) for k, v in meter.losses.items()},
            }
        )
        meter.losses.clear()
        meter.since, meter.images = now, 0
    if every_val > 0 and state.step % every_val == 0 and acc.is_main_process:
        metrics = validate(
            run.ema.model,
            run.vset,
            acc.device,
            run.out_dir / "val" / f"step-{state.step:08d}.png",
            int(cfg["validation"]["grid_rows"]),
        )
        run.log_row(
            {
                "step": state.step,
                "minutes": state.train_seconds / 60,
                "wall_minutes": (time.time() - run.run_start) / 60,
                **metrics,
            }
        )
        log.info("step %d validation: %s", state.step, {k: round(v, 3) for k, v in metrics.items()})
    if every_ckpt > 0 and state.step % every_ckpt == 0:
        save_checkpoint(acc, run.ckpt_root, state.step, run.parts, int(cfg["checkpoint"]["keep"]))
    if every_snapshot > 0 and state.step % every_snapshot == 0 and acc.is_main_process:
        # the EMA as a loadable export, kept: what curves of any metric against time read
        export_generator(run.ema.model, run.out_dir / "snapshots" / f"step-{state.step:08d}", cfg["export"]["dtype"])


def should_stop(run: Run, deadline: float | None) -> bool:
    """Step budget reached, out of wall-clock time (agreed by all ranks) or at ``stop_at_step``."""
    acc, state, tcfg = run.accelerator, run.state, run.cfg["train"]
    out_of_time = deadline is not None and time.time() > deadline
    if acc.num_processes > 1 and deadline is not None:  # all ranks must stop together
        flag = torch.tensor([float(out_of_time)], device=acc.device)
        out_of_time = bool(acc.reduce(flag, reduction="max").item())
    stop_here = tcfg.get("stop_at_step") is not None and state.step >= int(tcfg["stop_at_step"])
    return state.step >= run.total_steps or out_of_time or stop_here


def finish(run: Run, push_to: str | None = None) -> dict[str, Any]:
    """Last checkpoint; on the main process the EMA's validation, the export and its model card."""
    cfg, state, acc, dcfg = run.cfg, run.state, run.accelerator, run.cfg["data"]
    save_checkpoint(acc, run.ckpt_root, state.step, run.parts, int(cfg["checkpoint"]["keep"]))
    result: dict[str, Any] = {"step": state.step, "output_dir": str(run.out_dir)}
    release_others(acc)  # no collective below: the export and push hold no other rank
    if acc.is_main_process:
        metrics = validate(
            run.ema.model, run.vset, acc.device, run.out_dir / "val" / "final.png", int(cfg["validation"]["grid_rows"])
        )
        run.log_row({"step": state.step, "minutes": state.train_seconds / 60, **metrics})
        export_dir = Path(cfg["export"]["dir"] or run.out_dir / "export")
        export_generator(run.ema.model, export_dir, cfg["export"]["dtype"])
        n_train = len(run.train_src)
        data_desc = (
            f"{n_train} procedural synthetic faces ({dcfg['synthetic']['size']}px, trainer.synthetic_faces)"
            if dcfg["source"] == "synthetic"
            else f"{n_train} images from {dcfg['root']}"
        )
        write_model_card(
            export_dir,
            card_info(
                cfg,
                state,
                acc,
                data_desc,
                run.buckets,
                run.mask_params,
                run.perceptual,
                metrics,
                len(run.vset),
                n_train,
            ),
        )
        log.info("exported EMA generator to %s (%s); validation %s", export_dir, cfg["export"]["dtype"], metrics)
        result.update(metrics, export_dir=str(export_dir))
        if push_to:
            log.info("pushed to %s", push_to_hub(export_dir, push_to))
    acc.end_training()  # closes trackers and the process group
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train per the config and overrides on the command line; returns the final step, folders and metrics."""
    args = parse_args(argv)
    run = setup(args)
    train_loop(run)
    return finish(run, args.push_to_hub)


if __name__ == "__main__":
    from trainer.entry import run_command

    sys.exit(run_command(main, "train"))
