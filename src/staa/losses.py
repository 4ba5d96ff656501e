"""STAA-Net training objective: C&W margin + magnitude, quantisation and sparsity penalties.

The C&W margin stops pushing once the attack succeeds by ``kappa`` (it is clamped at -kappa),
so the remaining penalties can shrink the perturbation instead of over-shooting the decision.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch
from torch import Tensor

from staa.errors import ConfigError

WEIGHT_KEYS = ("mag", "qua", "spa")
REDUCTIONS = ("sum", "mean")


def _check_kappa(kappa: float) -> float:
    if isinstance(kappa, bool) or not isinstance(kappa, (int, float)) or not math.isfinite(kappa) or kappa < 0:
        raise ConfigError(f"kappa={kappa!r}: expected a finite number >= 0")
    return float(kappa)


def cw_margin(logits: Tensor, y: Tensor, kappa: float = 0.0, target: Optional[Tensor] = None) -> Tensor:
    """Carlini-Wagner margin per example, shape (B,).

    Untargeted (target None): max(Z_y - max_{j != y} Z_j, -kappa), with y the threat model's CLEAN
    prediction (so the attack is measured against what the model said, not the ground truth).
    Targeted: max(max_{j != t} Z_j - Z_t, -kappa).
    """
    kappa = _check_kappa(kappa)
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits shape {tuple(logits.shape)}: expected (batch, classes>=2)")
    ref = y if target is None else target
    if ref.shape != (logits.shape[0],):
        raise ValueError(f"labels shape {tuple(ref.shape)}: expected ({logits.shape[0]},)")
    ref = ref.long()
    own = logits.gather(1, ref[:, None]).squeeze(1)
    others = logits.masked_fill(torch.nn.functional.one_hot(ref, logits.shape[1]).bool(), float("-inf"))
    best_other = others.max(dim=1).values
    margin = own - best_other if target is None else best_other - own
    return margin.clamp(min=-kappa)


def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    out = {k: 0.0 for k in WEIGHT_KEYS}
    for key, value in weights.items():
        if key not in WEIGHT_KEYS:
            raise ConfigError(f"loss weight key {key!r} is unknown: expected keys among {list(WEIGHT_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"loss weight {key}={value!r}: expected a finite number >= 0")
        out[key] = float(value)
    return out


def staa_losses(
    logits_adv: Tensor,
    y: Tensor,
    v: Tensor,
    m_soft: Tensor,
    m: Tensor,
    weights: Mapping[str, float],
    *,
    reduction: str,
    kappa: float = 0.0,
    target: Optional[Tensor] = None,
    sparsity_target: Optional[float] = None,
    sparsity_scope: str = "example",
    bound: Tensor | float | None = None,
) -> dict[str, Tensor]:
    """Return {'adv', 'mag', 'qua', 'spa', 'total'} (scalar tensors).

    `reduction` has no default here: the pipeline's is the schema's (generator.train.reduction).

    sparsity_target (ours, optional; needs reduction='mean'): a density budget rho in (0, 1]. The
    sparsity term then penalises only the density above it: per example (sparsity_scope='example'),
    mean_i max(0, ||m_i||_1/L - rho), or on the batch mean ('batch', like the reference's batch-wide
    L1), max(0, mean_i ||m_i||_1/L - rho).
    A fixed weight on the plain L1 term has a fragile operating point (the mask either stops pruning
    or collapses); the hinge stops pruning at the budget and leaves the adversarial term to choose
    the best positions within it. `spa` is still reported as the plain mean density.

    adv = reduce(cw_margin); mag = ||v||_2; qua = ||m_hard - m_soft||_2 with m_hard = 1[m_soft>=0.5]
    (detached); spa = ||m||_1; total = adv + w_mag*mag + w_qua*qua + w_spa*spa.

    bound (ours, with reduction='mean'): the per-sample magnitude bound (a number, or (B, 1) for a
    level-relative bound). The magnitude term is then the RMS of the applied perturbation over the
    masked samples as a share of the bound, mean_i sqrt(sum_j (v_ij m_ij)^2 / sum_j m_ij) / bound_i,
    in [0, 1]: its weight means the same at any eps, density or level, and it acts only where the
    perturbation is applied, leaving the unmasked magnitudes free for the mask to move onto.

    reduction='sum' is the reference: adv summed over the batch, norms over the whole flattened batch,
    so the balance of terms depends on batch size and clip length. reduction='mean' divides those
    dependencies out (adv batch mean; per-example RMS of v and of m_hard - m_soft; per-example mask
    density ||m_i||_1 / L; all averaged over examples) so weights transfer across clip lengths.
    """
    w = _check_weights(weights)
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction={reduction!r}: expected one of {list(REDUCTIONS)}")
    if not (v.shape == m_soft.shape == m.shape) or v.dim() != 2:
        raise ValueError(
            f"v, m_soft, m shapes {tuple(v.shape)}, {tuple(m_soft.shape)}, {tuple(m.shape)}: "
            f"expected identical (batch, length)"
        )
    margin = cw_margin(logits_adv, y, kappa=kappa, target=target)
    m_hard = (m_soft >= 0.5).to(m_soft.dtype).detach()
    gap = m_hard - m_soft
    if reduction == "sum":
        adv = margin.sum()
        mag = torch.linalg.vector_norm(v.flatten(), 2)
        qua = torch.linalg.vector_norm(gap.flatten(), 2)
        spa = m.abs().sum()
    else:
        length = v.shape[1]
        adv = margin.mean()
        if bound is None:
            mag = (torch.linalg.vector_norm(v, 2, dim=1) / math.sqrt(length)).mean()
        else:
            applied = (v * m).pow(2).sum(dim=1)
            # + tiny: an utterance with an empty mask has no applied perturbation, and sqrt'(0) is inf
            share = (applied / m.detach().abs().sum(dim=1).clamp_min(1.0) + 1e-12).sqrt()
            b = bound if isinstance(bound, Tensor) else torch.tensor(float(bound), device=v.device)
            mag = (share / b.reshape(-1)).mean() if b.dim() else (share / b).mean()
        qua = (torch.linalg.vector_norm(gap, 2, dim=1) / math.sqrt(length)).mean()
        density = m.abs().sum(dim=1) / length
        spa = density.mean()
    spa_term = spa
    if sparsity_target is not None:
        if reduction != "mean":
            raise ConfigError("sparsity_target needs reduction='mean' (a density budget is a fraction of L)")
        if not 0.0 < float(sparsity_target) <= 1.0:
            raise ConfigError(f"sparsity_target={sparsity_target!r}: expected a density in (0, 1]")
        if sparsity_scope == "batch":
            spa_term = torch.relu(density.mean() - float(sparsity_target))
        elif sparsity_scope == "example":
            spa_term = torch.relu(density - float(sparsity_target)).mean()
        else:
            raise ConfigError(f"sparsity_scope={sparsity_scope!r}: expected 'example' or 'batch'")
    total = adv + w["mag"] * mag + w["qua"] * qua + w["spa"] * spa_term
    return {"adv": adv, "mag": mag, "qua": qua, "spa": spa, "total": total}
