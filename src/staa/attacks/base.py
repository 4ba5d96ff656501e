"""Common interface of the baseline attacks (PGD, SparseFool, one-pixel).

Every attack works on raw waveforms ``x`` of shape (B, L) in [-1, 1] against a victim that maps
(B, L) -> logits (B, C). Attacks are untargeted: they move the prediction away from ``y``.
They never touch the victim's parameters, its train/eval mode or its ``.grad`` fields, because
the same victim object is shared by the rest of the pipeline (evaluation, transfer tests).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

from staa.attacks.settings import Settings


class Attack(Settings):
    """Base class: validates settings once (``Settings``), checks inputs, clamps the output to [-1, 1].

    Subclasses combine a ``*Settings`` class (name, defaults, validation) with ``Attack`` and
    implement ``_attack``.
    """

    # -- running ----------------------------------------------------------------------------
    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Return adversarial waveforms (B, L), detached, on x's device, clamped to [-1, 1]."""
        if x.dim() != 2:
            raise ValueError(f"attack '{self.name}': x must have shape (B, L), got {tuple(x.shape)}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"attack '{self.name}': y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"attack '{self.name}': x must be a float tensor, got {x.dtype}")
        if torch.is_inference_mode_enabled():
            raise RuntimeError(f"attack '{self.name}' cannot run inside torch.inference_mode()")
        self.validate_for_length(x.shape[1])
        x = x.detach().clone()
        y = y.detach().to(device=x.device, dtype=torch.long)
        if x.shape[0] == 0:
            return x
        x_adv = self._attack(model, x, y, generator)
        return x_adv.detach().clamp_(-1.0, 1.0)

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.settings.items()))
        return f"{type(self).__name__}({args})"


# -- helpers shared by the attacks ----------------------------------------------------------
def rand(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype = torch.float32
) -> Tensor:
    """U[0, 1) draws on ``device``; taken from ``generator`` (on its own device) when given.

    Drawing on the generator's device and then moving keeps results reproducible with a CPU
    generator even when the data live on an accelerator.
    """
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def uniform_like(x: Tensor, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    """U[low, high) noise shaped like ``x``.

    Without a generator this is exactly ``torch.empty_like(x).uniform_(low, high)`` - the same
    draw torchattacks makes - so seeding torch's global RNG reproduces its random start.
    """
    if generator is None:
        return torch.empty_like(x).uniform_(low, high)
    noise = torch.empty(x.shape, dtype=x.dtype, device=generator.device)
    return noise.uniform_(low, high, generator=generator).to(x.device)


@contextlib.contextmanager
def grad_context(model: nn.Module, x: Tensor) -> Iterator[None]:
    """Context for input-gradient passes: grad enabled and, for recurrent victims on CUDA,
    cuDNN off.

    cuDNN's RNN backward refuses to run in eval mode; attacks must not flip the victim to train
    mode (that would also switch dropout/batch-norm on), so the native kernels are used instead.
    """
    with torch.enable_grad():
        if x.is_cuda and any(isinstance(m, nn.RNNBase) for m in model.modules()):
            with torch.backends.cudnn.flags(enabled=False):
                yield
        else:
            yield


def predict(model: nn.Module, x: Tensor) -> Tensor:
    """Arg-max class of ``model`` on ``x`` without building a graph."""
    with torch.no_grad():
        return model(x).argmax(dim=1)
