"""Train an IN2 generator (or the conv baseline) with Accelerate on one or many devices.

    accelerate launch trainer/train.py --config trainer/configs/demo.yaml [key.sub=value ...]
                                       [--resume latest] [--push-to-hub USER/REPO]

One iteration (paper Sec. 4.3, CoordFill scheme), inside one ``accelerator.accumulate(G, D)``
block so both networks step together under gradient accumulation:
1. ``Y = G(I, M)``; ``I_hat = paste_into_hole(I, Y, M)`` (what users get; all losses see it).
2. D step: non-saturating logistic loss on real ``I`` vs ``I_hat.detach()``, plus (lazy) R1
   on real images, computed in fp32.
3. G step with D frozen and unwrapped (no pointless all-reduce): adversarial + perceptual
   (VGG-19) + feature matching (+ optional L1). With the adversarial and feature-matching
   weights both 0 (a reconstruction-only run) step 2 is skipped altogether.
The EMA of G is what gets validated and exported.

The loop reads top to bottom (config -> models -> step -> validation -> loop); the parts it
assembles (data, buckets, losses, discriminator, EMA, checkpoints, export, distributed checks)
each live in their own module next to it, and evaluation lives in ``trainer/eval/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import set_seed
from PIL import Image

from in2.bench.scores import as_uint8, score
from in2.compositing import paste_into_hole
from trainer import losses as L
from trainer.buckets import BucketBatchSampler, make_buckets
from trainer.checkpoints import TrainState, decide_resume, save_checkpoint
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
from trainer.masks import MaskParams
from trainer.perceptual import build_perceptual_loss

log = logging.getLogger("in2.trainer")


# ----------------------------------------------------------------------------- building blocks

def build_generator(model_cfg: dict) -> torch.nn.Module:
    """The generator named by the ``model`` config section (both classes live in ``in2``)."""
    kind = model_cfg.get("type", "in2")
    overrides = dict(model_cfg.get("overrides") or {})
    if kind == "in2":
        from in2 import IN2, IN2Config

        preset = model_cfg.get("preset", "default")
        if preset == "default":
            config = IN2Config(**overrides)
        elif preset in ("small", "tiny"):
            config = getattr(IN2Config, preset)(**overrides)
        else:
            raise ValueError(f"unknown model.preset {preset!r}; use default, small or tiny")
        model = IN2(config)
        if model_cfg.get("init_from"):
            init_from_export(model, str(model_cfg["init_from"]))
        return model
    if kind == "ffc_baseline":
        from in2.nn.baseline import FFCBaseline

        return FFCBaseline(overrides)
    raise ValueError(f"unknown model.type {kind!r}; use in2 or ffc_baseline")


def init_from_export(model: torch.nn.Module, source: str) -> None:
    """Start from exported weights of the same architecture (a warm start, not a resume).

    When the source was trained for the other hole input (``hole_prefill``), the output head's
    meaning changes, so it is reset to the new model's start (the pre-fill itself)."""
    import dataclasses

    from in2 import IN2

    src = IN2.from_pretrained(source, local_files_only=True)
    ignore = {"hole_prefill", "prefill_steps", "train_resolution", "min_size", "factorized_decoder"}
    theirs, ours = dataclasses.asdict(src.config), dataclasses.asdict(model.config)
    differ = sorted(k for k in ours if k not in ignore and ours[k] != theirs.get(k))
    if differ:
        raise ValueError(f"model.init_from {source}: another architecture ({', '.join(differ)} differ)")
    model.load_state_dict(src.state_dict())
    if src.config.hole_prefill != model.config.hole_prefill:
        head = model.decoder.to_rgb
        if model.config.hole_prefill == "smooth":
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)
        else:
            head.reset_parameters()


def build_perceptual(loss_cfg: dict) -> torch.nn.Module | None:
    """Perceptual loss per config; fails at start-up (not hours in) when weights are missing."""
    if float(loss_cfg["perceptual"]) <= 0:
        return None
    return build_perceptual_loss(loss_cfg.get("perceptual_backbone", "vgg19"), loss_cfg.get("perceptual_weights"),
                                 bool(loss_cfg.get("perceptual_download")))


def lr_factor(step: int, warmup_steps: int, total_steps: int, lr: float, lr_start: float, lr_min: float) -> float:
    """Linear warm-up lr_start -> lr, then cosine decay to lr_min; returned as a factor of ``lr``."""
    if warmup_steps > 0 and step < warmup_steps:
        value = lr_start + (lr - lr_start) * step / warmup_steps
    else:
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, (step - warmup_steps) / span)
        value = lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * t))
    return value / lr


# ----------------------------------------------------------------------------- the step

class GANStep:
    """One training iteration of G and D; separated from the loop so tests can drive it."""

    def __init__(self, accelerator: Accelerator, G: torch.nn.Module, D: torch.nn.Module, opt_g, opt_d,
                 perceptual: torch.nn.Module | None, loss_cfg: dict, max_grad_norm: float | None = None,
                 hole_only: bool = False) -> None:
        self.acc, self.G, self.D, self.opt_g, self.opt_d = accelerator, G, D, opt_g, opt_d
        self.perceptual = perceptual
        self.w = loss_cfg
        self.max_grad_norm = max_grad_norm
        self.hole_only = hole_only  # decode only the hole: every loss reads the composite
        self.micro = 0

    def _r1(self, real: torch.Tensor) -> torch.Tensor:
        """R1 in fp32 (fp16 gradients of gradients overflow), through the unwrapped D."""
        d = self.acc.unwrap_model(self.D)
        real = real.detach().float().requires_grad_(True)
        with torch.autocast(device_type=real.device.type, enabled=False):
            logits, _ = d.run(real)
            return L.r1_penalty(logits, real)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        acc, w = self.acc, self.w
        out: dict[str, float] = {}
        adversarial = (float(w["adversarial"]) > 0 or float(w["feature_matching"]) > 0) and (
            self.micro >= int(w.get("adv_start_step") or 0) * int(self.acc.gradient_accumulation_steps))
        masked_d = bool(w.get("masked_discriminator"))
        with acc.accumulate(self.G, self.D):
            pred = self.G(image, mask, region=mask) if self.hole_only else self.G(image, mask)
            comp = paste_into_hole(image, pred, mask)

            # -- discriminator
            if adversarial:
                self.D.requires_grad_(True)
                logits, _ = self.D(torch.cat([image, comp.detach()]))
                real_logits, fake_logits = logits.float().chunk(2)
                # the hole's share of each patch, computed once: D's logits have one shape per batch
                hole = L.hole_fraction(mask, fake_logits) if masked_d else None
                if hole is not None:
                    loss_d = L.d_adversarial_masked(real_logits, fake_logits, hole)
                else:
                    loss_d = L.d_adversarial(real_logits, fake_logits)
                out["d_adv"] = loss_d.item()
                out["d_real_logit"] = real_logits.mean().item()
                out["d_fake_logit"] = fake_logits.mean().item()
                r1_every = max(1, int(w.get("r1_every", 1)))
                if float(w["r1"]) > 0 and self.micro % r1_every == 0:
                    r1 = self._r1(image)
                    loss_d = loss_d + float(w["r1"]) / 2 * r1 * r1_every
                    out["r1"] = r1.item()
                acc.backward(loss_d)
                if self.max_grad_norm and acc.sync_gradients:
                    acc.clip_grad_norm_(self.D.parameters(), self.max_grad_norm)
                self.opt_d.step()
                self.opt_d.zero_grad(set_to_none=True)

            # -- generator, D frozen and unwrapped
            d = acc.unwrap_model(self.D)
            d.requires_grad_(False)
            loss_g = comp.new_zeros((), dtype=torch.float32)
            if adversarial:
                fake_logits, fake_feats = d(comp)
                if hole is not None:
                    g_adv = L.g_adversarial_masked(fake_logits.float(), hole)
                else:
                    g_adv = L.g_adversarial(fake_logits.float())
                loss_g = loss_g + float(w["adversarial"]) * g_adv
                out["g_adv"] = g_adv.item()
            if adversarial and float(w["feature_matching"]) > 0:
                with torch.no_grad():
                    _, real_feats = d(image)
                fm = L.feature_matching(fake_feats, real_feats)
                loss_g = loss_g + float(w["feature_matching"]) * fm
                out["fm"] = fm.item()
            if self.perceptual is not None:
                per = self.perceptual(comp.float(), image.float())
                loss_g = loss_g + float(w["perceptual"]) * per
                out["per"] = per.item()
            if float(w.get("l1", 0)) > 0:
                l1 = (comp.float() - image.float()).abs().mean()
                loss_g = loss_g + float(w["l1"]) * l1
                out["l1"] = l1.item()
            acc.backward(loss_g)
            if self.max_grad_norm and acc.sync_gradients:
                acc.clip_grad_norm_(self.G.parameters(), self.max_grad_norm)
            self.opt_g.step()
            self.opt_g.zero_grad(set_to_none=True)
            d.requires_grad_(True)
            out["g_total"] = loss_g.item()
        self.micro += 1
        return out


# ----------------------------------------------------------------------------- validation

def _row(tiles: list[np.ndarray], height: int) -> np.ndarray:
    scaled = []
    for t in tiles:
        h, w = t.shape[:2]
        im = Image.fromarray(t).resize((max(1, round(w * height / h)), height), Image.BICUBIC)
        scaled.append(np.asarray(im))
    return np.concatenate(scaled, axis=1)


@torch.no_grad()
def validate(model: torch.nn.Module, vset: ValidationSet, device: torch.device, out_png: Path | None,
             grid_rows: int = 8) -> dict[str, float]:
    """PSNR/SSIM/masked PSNR of the composited, uint8-rounded output; optional PNG grid.

    Grid rows: input with the hole greyed, mask, output (composited), target.
    """
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {"psnr": 0.0, "ssim": 0.0, "masked_psnr": 0.0}
    rows = []
    for i, (img, mask) in enumerate(vset.items):
        x, m = img[None].to(device), mask[None].to(device)
        comp = paste_into_hole(x, model(x, m).float(), m)
        for name, value in score(comp, x, m).items():
            totals[name] += value.item()
        if out_png is not None and i < grid_rows:
            masked_in = x * (1 - m) + 0.5 * m
            rows.append(_row([as_uint8(t) for t in (masked_in, m.expand(-1, 3, -1, -1), comp, x)], 128))
    model.train(was_training)
    if rows:
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        out_png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(out_png)
    n = max(1, len(vset.items))
    return {f"val_{name}": total / n for name, total in totals.items()}


# ----------------------------------------------------------------------------- main loop

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train IN2 (or the FFC baseline) with Accelerate.")
    p.add_argument("--config", required=True, help="YAML file, e.g. trainer/configs/smoke.yaml")
    p.add_argument("--resume", default=None, help="'latest' or a checkpoint folder")
    p.add_argument("--output-dir", default=None, help="overrides output_dir")
    p.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="upload the export when done")
    p.add_argument("overrides", nargs="*", help="config overrides key.sub=value")
    return p.parse_intermixed_args(argv)  # overrides may come before, between or after the options


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    if args.output_dir:
        cfg["output_dir"] = args.output_dir
    out_dir = Path(cfg["output_dir"])
    tcfg, dcfg, lcfg = cfg["train"], cfg["data"], cfg["loss"]

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
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    if cfg["log"].get("tensorboard") and not use_tb and accelerator.is_main_process:
        log.warning("log.tensorboard is on but tensorboard is not installed; logging to JSONL only")
    check_shared_folder(accelerator, out_dir)  # checkpoints and --resume need one folder for all ranks
    seed = int(cfg["seed"])
    set_seed(seed)  # identical initial weights on every rank

    # -- data
    mask_cfg = dict(cfg["masks"])
    face_parts = FacePartParams.from_dict(mask_cfg.pop("face_parts", None))
    mask_params = MaskParams.from_dict(mask_cfg)
    ats = cfg["ats"]
    buckets = make_buckets(int(ats["base_size"]), ats["ratios"], int(ats["multiple_of"]), bool(ats["enabled"]))
    train_src = main_decides(accelerator, lambda: build_source(dcfg, "train"))  # one scan of the image headers
    dataset = InpaintDataset(train_src, seed=seed, mask_params=mask_params, hflip=bool(dcfg["hflip"]),
                             face_parts=face_parts, zoom=ZoomParams(**dcfg["zoom"]))
    sampler = BucketBatchSampler(train_src.sizes, buckets, int(dcfg["batch_size"]), seed=seed,
                                 num_replicas=accelerator.num_processes, rank=accelerator.process_index,
                                 min_keep=float(ats["min_keep"]))
    batch_hash = check_same_batches(accelerator, sampler)
    workers = int(dcfg["num_workers"])
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
                                         pin_memory=accelerator.device.type == "cuda",
                                         persistent_workers=False, prefetch_factor=4 if workers else None)

    # -- models and optimisers
    if "train_resolution" not in cfg["model"]["overrides"]:
        # The pipeline's "resize" mode scales inputs to this pixel side: the size trained on.
        cfg["model"]["overrides"]["train_resolution"] = int(ats["base_size"])
    G = build_generator(cfg["model"])
    D = PatchDiscriminator(**lcfg.get("discriminator", {}))
    perceptual = build_perceptual(lcfg)
    if perceptual is not None:
        perceptual.to(accelerator.device)
    betas = tuple(tcfg["betas"])
    lr, d_lr = float(tcfg["lr"]), float(tcfg["d_lr"] or tcfg["lr"])
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, weight_decay=float(tcfg["weight_decay"]))
    opt_d = torch.optim.Adam(D.parameters(), lr=d_lr, betas=betas, weight_decay=float(tcfg["weight_decay"]))

    micro_per_epoch = len(sampler)
    steps_per_epoch = max(1, micro_per_epoch // int(tcfg["grad_accum"]))
    total_steps = int(tcfg["max_steps"] or round(float(tcfg["epochs"]) * steps_per_epoch))
    warmup_steps = int(round(float(tcfg["warmup_epochs"]) * steps_per_epoch))
    warmup_steps = min(warmup_steps, max(0, total_steps - 1))

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps, total_steps, lr, float(tcfg["lr_start"]), float(tcfg["lr_min"]))

    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, factor)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, factor)
    G, D, opt_g, opt_d = accelerator.prepare(G, D, opt_g, opt_d)
    ema = EMA(accelerator.unwrap_model(G), decay=float(tcfg["ema_decay"])).to(accelerator.device)
    state = TrainState()
    for obj in (sched_g, sched_d, ema, state):
        accelerator.register_for_checkpointing(obj)

    ckpt_root = out_dir / "checkpoints"
    resume = decide_resume(accelerator, args.resume, ckpt_root)
    if resume is not None:
        accelerator.load_state(str(resume))
    match_run_shape(state, RunShape(accelerator.num_processes, int(dcfg["batch_size"]), int(tcfg["grad_accum"])),
                    resumed=resume is not None)
    if resume is not None:
        log.info("resumed from %s at step %d (epoch %d, batch %d)", resume, state.step, state.epoch,
                 state.batch_in_epoch)
    elif args.resume == "latest":
        log.info("no checkpoint under %s yet; starting from scratch", ckpt_root)
    set_seed(seed + 7919 * state.step, device_specific=True)  # per-rank noise, new after a resume

    hole_only = bool(tcfg.get("decode_hole_only")) and cfg["model"].get("type", "in2") == "in2"
    step_fn = GANStep(accelerator, G, D, opt_g, opt_d, perceptual, lcfg, tcfg.get("max_grad_norm"), hole_only)
    step_fn.micro = state.step * int(tcfg["grad_accum"])

    vset = None
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        vcfg = cfg["validation"]
        vset = ValidationSet(build_source(dcfg, "val"), int(vcfg["count"]), buckets, int(vcfg["seed"]), mask_params,
                             [Path(p) for p in vcfg.get("extra_images") or []])
    if use_tb:
        accelerator.init_trackers("in2", config={"config": json.dumps(cfg)})
    log_path = out_dir / "log.jsonl"
    if accelerator.is_main_process:
        log.info("generator %.2fM params, %d buckets %s, %d images, %d steps/epoch, %d steps total, %d process(es), "
                 "epoch-0 batches %s", sum(p.numel() for p in G.parameters()) / 1e6, len(buckets), buckets,
                 len(train_src), steps_per_epoch, total_steps, accelerator.num_processes, batch_hash)

    bar = None
    if accelerator.is_main_process and cfg["log"].get("progress_bar", True):
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=state.step, desc="train", dynamic_ncols=True)

    def log_row(row: dict[str, Any]) -> None:
        if accelerator.is_main_process:
            with open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if use_tb:
                accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=row["step"])

    every_log, every_val = int(cfg["log"]["every"]), int(cfg["validation"]["every"])
    every_ckpt, keep = int(cfg["checkpoint"]["every"]), int(cfg["checkpoint"]["keep"])
    every_snapshot = int(cfg["export"].get("snapshot_every") or 0)
    accum: dict[str, list[float]] = {}
    t_last, imgs_last = time.time(), 0
    run_start = time.time()
    deadline = run_start + 60 * float(tcfg["max_minutes"]) if tcfg.get("max_minutes") else None
    G.train()
    D.train()
    done = state.step >= total_steps
    while not done:
        sampler.set_epoch(state.epoch, state.batch_in_epoch)  # reaches the sampler on every rank
        for batch in loader:
            t0 = time.time()
            image = batch["image"].to(accelerator.device, non_blocking=True)
            mask = batch["mask"].to(accelerator.device, non_blocking=True)
            losses = step_fn(image, mask)
            state.batch_in_epoch += 1
            n_img = image.shape[0] * accelerator.num_processes
            state.images_seen += n_img
            imgs_last += n_img
            for k, v in losses.items():
                accum.setdefault(k, []).append(v)
            state.train_seconds += time.time() - t0
            if not accelerator.sync_gradients:
                continue
            sched_g.step()
            sched_d.step()
            ema.update(accelerator.unwrap_model(G))
            state.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(g=f"{losses.get('g_total', 0):.3f}", d=f"{losses.get('d_adv', 0):.3f}")
            if state.step % every_log == 0 or state.step == total_steps:
                now = time.time()
                row = {"step": state.step, "epoch": state.epoch, "minutes": state.train_seconds / 60,
                       "wall_minutes": (now - run_start) / 60,
                       "lr": sched_g.get_last_lr()[0],
                       "images_per_s": imgs_last / max(now - t_last, 1e-9), "images_seen": state.images_seen,
                       "shape": list(image.shape[-2:]), **{k: float(np.mean(v)) for k, v in accum.items()}}
                log_row(row)
                accum.clear()
                t_last, imgs_last = now, 0
            if every_val > 0 and state.step % every_val == 0 and accelerator.is_main_process:
                metrics = validate(ema.model, vset, accelerator.device,
                                   out_dir / "val" / f"step-{state.step:08d}.png", int(cfg["validation"]["grid_rows"]))
                log_row({"step": state.step, "minutes": state.train_seconds / 60,
                         "wall_minutes": (time.time() - run_start) / 60, **metrics})
                log.info("step %d validation: %s", state.step, {k: round(v, 3) for k, v in metrics.items()})
            if every_ckpt > 0 and state.step % every_ckpt == 0:
                save_checkpoint(accelerator, ckpt_root, state.step, keep)
            if every_snapshot > 0 and state.step % every_snapshot == 0 and accelerator.is_main_process:
                # the EMA as a loadable export, kept: what curves of any metric against time read
                export_generator(ema.model, out_dir / "snapshots" / f"step-{state.step:08d}", cfg["export"]["dtype"])
            out_of_time = deadline is not None and time.time() > deadline
            if accelerator.num_processes > 1 and deadline is not None:  # all ranks must stop together
                flag = torch.tensor([float(out_of_time)], device=accelerator.device)
                out_of_time = bool(accelerator.reduce(flag, reduction="max").item())
            stop_here = tcfg.get("stop_at_step") is not None and state.step >= int(tcfg["stop_at_step"])
            if state.step >= total_steps or out_of_time or stop_here:
                done = True
                break
        if not done:
            state.epoch += 1
            state.batch_in_epoch = 0
    if bar is not None:
        bar.close()

    save_checkpoint(accelerator, ckpt_root, state.step, keep)
    result: dict[str, Any] = {"step": state.step, "output_dir": str(out_dir)}
    release_others(accelerator)  # no collective below: the export and push hold no other rank
    if accelerator.is_main_process:
        metrics = validate(ema.model, vset, accelerator.device, out_dir / "val" / "final.png",
                           int(cfg["validation"]["grid_rows"]))
        log_row({"step": state.step, "minutes": state.train_seconds / 60, **metrics})
        export_dir = Path(cfg["export"]["dir"] or out_dir / "export")
        export_generator(ema.model, export_dir, cfg["export"]["dtype"])
        data_desc = (
            f"{len(train_src)} procedural synthetic faces ({dcfg['synthetic']['size']}px, trainer.synthetic_faces)"
            if dcfg["source"] == "synthetic"
            else f"{len(train_src)} images from {dcfg['root']}"
        )
        write_model_card(export_dir, card_info(cfg, state, accelerator, data_desc, buckets, mask_params, perceptual,
                                               metrics, len(vset), len(train_src)))
        log.info("exported EMA generator to %s (%s); validation %s", export_dir, cfg["export"]["dtype"], metrics)
        result.update(metrics, export_dir=str(export_dir))
        if args.push_to_hub:
            log.info("pushed to %s", push_to_hub(export_dir, args.push_to_hub))
    accelerator.end_training()  # closes trackers and the process group
    return result


if __name__ == "__main__":
    main()
