"""L-infinity PGD (Madry et al., 2018) on raw waveforms.

Same update rule as torchattacks.PGD, but in the audio range [-1, 1] instead of the image box
[0, 1]; with u = (x + 1) / 2 it is exactly torchattacks.PGD(eps/2, alpha/2) (see the tests).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import Tensor, nn

from staa.attacks.base import Attack, grad_context, uniform_like
from staa.attacks.settings import PGDSettings


class PGD(PGDSettings, Attack):
    """Untargeted L-inf PGD: ascend the cross-entropy of ``y`` inside the eps-ball and [-1, 1].

    Settings: ``eps`` (L-inf radius, 0.01), ``alpha`` (step; eps/4 when None), ``steps`` (20),
    ``random_start`` (True: start from a U[-eps, eps] point, drawn from ``generator`` if given,
    otherwise from torch's global RNG exactly as torchattacks draws it).
    """

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None) -> Tensor:
        eps, alpha = self.settings["eps"], self.settings["alpha"]
        x_adv = x.clone()
        if self.settings["random_start"]:
            x_adv = (x_adv + uniform_like(x, -eps, eps, generator)).clamp(-1.0, 1.0)
        for _ in range(self.settings["steps"]):
            x_adv.requires_grad_(True)
            with grad_context(model, x_adv):
                # Summed loss: each example's gradient is independent of the batch size; only
                # its sign is used, so this equals torchattacks' mean-reduced loss.
                loss = F.cross_entropy(model(x_adv), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            delta = (x_adv - x).clamp(-eps, eps)
            x_adv = (x + delta).clamp(-1.0, 1.0)
        return x_adv
