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
    losses = [F.l1_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats)]
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
