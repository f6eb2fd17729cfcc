"""One training iteration of the generator G and the discriminator D (paper Sec. 4.3, CoordFill scheme).

Inside one ``accelerator.accumulate(G, D)`` block, so both networks step together under
gradient accumulation:

1. ``Y = G(I, M)``; ``I_hat = paste_into_hole(I, Y, M)`` (what users get; all losses see it).
2. ``discriminator_loss``: non-saturating logistic loss on real ``I`` vs ``I_hat.detach()``,
   plus (lazy) R1 on real images, computed in fp32; D steps on it.
3. ``generator_loss`` with D frozen and unwrapped (no pointless all-reduce): adversarial +
   perceptual + feature matching (+ optional L1); G steps on it. With the adversarial and
   feature-matching weights both 0 (a reconstruction-only run) step 2 is skipped altogether.

The two losses are separate methods so each reads as one formula, as the loop reads as one step.
"""

from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn

from in2.compositing import paste_into_hole
from in2.nn.prefill import prefill
from trainer import losses as L
from trainer.guesses import GuessParams, ViewParams, coarse_self_guess, coarse_truth_guess, coarse_view

__all__ = ["GANStep"]


class GANStep:
    """One training iteration of G and D; separated from the loop so tests can drive it."""

    def __init__(
        self,
        accelerator: Accelerator,
        G: nn.Module,
        D: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        perceptual: nn.Module | None,
        loss_cfg: dict,
        max_grad_norm: float | None = None,
        hole_only: bool = False,
        guesses: GuessParams | None = None,
        views: ViewParams | None = None,
    ) -> None:
        self.acc, self.G, self.D, self.opt_g, self.opt_d = accelerator, G, D, opt_g, opt_d
        self.perceptual = perceptual
        self.w = loss_cfg
        self.max_grad_norm = max_grad_norm
        self.hole_only = hole_only  # decode only the hole: every loss reads the composite
        self.guesses = guesses  # a share of the batches start from a coarse guess (trainer.guesses)
        if guesses is not None and guesses.source == "self":
            config = getattr(accelerator.unwrap_model(G), "config", None)
            if not getattr(config, "coarse_reach", 0) or getattr(config, "hole_prefill", None) != "smooth":
                raise ValueError("train.coarse_guess.source 'self' needs an in2 model with coarse_reach > 0 and "
                                 "hole_prefill 'smooth' (model.overrides)")
        self.views = views  # a share of the batches are brought down to a coarse pass's view
        self.micro = 0

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """Step D (when adversarial) then G on one micro-batch; returns the logged loss values."""
        out: dict[str, float] = {}
        adversarial = self._adversarial_now()
        with self.acc.accumulate(self.G, self.D):
            if self.views is not None:
                image, mask = coarse_view(image, mask, self.views)
            guess = self._guess(image, mask)
            extra = {} if guess is None else {"guess": guess}
            pred = self.G(image, mask, decode_only=mask, **extra) if self.hole_only else self.G(image, mask, **extra)
            comp = paste_into_hole(image, pred, mask)
            hole = None
            if adversarial:
                loss_d, hole = self.discriminator_loss(image, comp, mask, out)
                self._apply(loss_d, self.D, self.opt_d)
            d = self.acc.unwrap_model(self.D)
            d.requires_grad_(False)
            loss_g = self.generator_loss(d, image, comp, hole, adversarial, out)
            self._apply(loss_g, self.G, self.opt_g)
            d.requires_grad_(True)
            out["g_total"] = loss_g.item()
        self.micro += 1
        return out

    def _guess(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """The start of this batch's fill (None: the generator's own pre-fill), per ``self.guesses``."""
        if self.guesses is None:
            return None
        if self.guesses.source == "truth":
            return coarse_truth_guess(image, mask, self.guesses)
        generator = self.acc.unwrap_model(self.G)  # no gradient flows here: no gradient sync either
        config = generator.config

        def predict(small: torch.Tensor, small_hole: torch.Tensor, guess: torch.Tensor | None) -> torch.Tensor:
            extra = {} if guess is None else {"guess": guess}
            return generator(small, small_hole, decode_only=small_hole, **extra)

        def prefill_one(blanked: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
            return prefill(blanked.float(), hole.float(), config.hole_prefill, config.prefill_steps)

        return coarse_self_guess(predict, image, mask, float(config.coarse_reach), self.guesses.share, prefill_one)

    def _adversarial_now(self) -> bool:
        """Whether D takes part in this micro-batch (its weights are on and ``adv_start_step`` is reached)."""
        w = self.w
        weighted = float(w["adversarial"]) > 0 or float(w["feature_matching"]) > 0
        start = int(w.get("adv_start_step") or 0) * int(self.acc.gradient_accumulation_steps)
        return weighted and self.micro >= start

    def _apply(self, loss: torch.Tensor, net: nn.Module, opt: torch.optim.Optimizer) -> None:
        """Backward, clip (on the step that syncs), step and clear one network."""
        self.acc.backward(loss)
        if self.max_grad_norm and self.acc.sync_gradients:
            self.acc.clip_grad_norm_(net.parameters(), self.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def discriminator_loss(
        self, image: torch.Tensor, comp: torch.Tensor, mask: torch.Tensor, out: dict[str, float]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's loss on real vs composited images, with its lazy R1 term.

        Returns the loss and, with ``masked_discriminator``, the hole's share of each of D's
        patches (computed once: D's logits have one shape per batch), which G's loss reuses.
        """
        w = self.w
        self.D.requires_grad_(True)
        logits, _ = self.D(torch.cat([image, comp.detach()]))
        real_logits, fake_logits = logits.float().chunk(2)
        hole = L.hole_fraction(mask, fake_logits) if w.get("masked_discriminator") else None
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
        return loss_d, hole

    def _r1(self, real: torch.Tensor) -> torch.Tensor:
        """R1 in fp32 (fp16 gradients of gradients overflow), through the unwrapped D."""
        d = self.acc.unwrap_model(self.D)
        real = real.detach().float().requires_grad_(True)
        with torch.autocast(device_type=real.device.type, enabled=False):
            logits, _ = d.run(real)
            return L.r1_penalty(logits, real)

    def generator_loss(
        self,
        d: nn.Module,
        image: torch.Tensor,
        comp: torch.Tensor,
        hole: torch.Tensor | None,
        adversarial: bool,
        out: dict[str, float],
    ) -> torch.Tensor:
        """G's weighted loss on the composite; ``d`` is the frozen, unwrapped discriminator."""
        w = self.w
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
        return loss_g
