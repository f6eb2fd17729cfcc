"""The training objective (paper Eqs. 5-9, CoordFill scheme), one small function per term.

All terms see the composited output ``I_hat = M*Y + (1-M)*I``, which is what users get.
R1 is applied to the discriminator (``gamma/2 * E||grad_x D(x)||^2`` on real images): the
paper lists it in the generator loss, but it only regularises D's gradients on real data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def g_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``E[softplus(-D(x_hat))] = -E[log sigmoid(D(x_hat))]`` (Eq. 5)."""
    return F.softplus(-fake_logits).mean()


def d_adversarial(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss ``-E[log D(x)] - E[log(1 - D(x_hat))]`` in logits (Eq. 6)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def feature_matching(fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. 8: mean over layers of L1(D_i(x_hat), D_i(x)), real activations detached."""
    losses = [F.l1_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats, strict=True)]
    return torch.stack(losses).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """``E_b ||grad_x D(x_b)||^2`` for ``real`` that required grad before D's forward.

    ``D(x_b)`` is the image's score: the mean of its patch logits, as in the adversarial loss.
    Summing the patch logits instead (LaMa's code) makes the penalty grow with the number of
    patches, i.e. with image area; at gamma 10 and 512^2 that pins every logit of the
    spectral-norm D at 0 and D never learns. ``create_graph=True`` keeps the penalty
    differentiable w.r.t. D's weights.
    """
    score = real_logits.reshape(real_logits.shape[0], -1).mean(1)
    (grad,) = torch.autograd.grad(score.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def hole_fraction(mask: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The share of each discriminator patch's footprint that lies in the hole, [B,1,h,w] like logits."""
    return F.adaptive_avg_pool2d(mask.float(), logits.shape[-2:])


def d_adversarial_masked(real_logits: torch.Tensor, fake_logits: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Eq. 6 where only the patches of the composite that cover the hole count as fake.

    The known pixels of a composite are real pixels, so calling those patches fake asks D for
    the impossible and leaves its loss at 2 ln 2; with per-patch targets D learns to find the
    fill (a segmentation task it can solve) and its gradient tells G where the fill shows.
    ``hole`` is ``hole_fraction`` of the mask: the soft target of each fake patch.
    """
    fake = F.softplus(fake_logits) * hole + F.softplus(-fake_logits) * (1 - hole)
    return F.softplus(-real_logits).mean() + fake.mean()


def g_adversarial_masked(fake_logits: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Eq. 5 over the patches that cover the hole (weighted by how much of each they hold)."""
    return (F.softplus(-fake_logits) * hole).sum() / hole.sum().clamp_min(1e-6)
