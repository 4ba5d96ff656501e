"""SparseFool (Modas, Moosavi-Dezfooli & Frossard, CVPR 2019) on raw waveforms.

Follows the authors' reference algorithm (github.com/LTS4/SparseFool), not torchattacks'
rewrite of it:

* DeepFool (L2) from the current iterate x_i to the decision boundary, giving the total
  step r_tot, the boundary normal w (gradient of f_k - f_y at the boundary point, unit norm)
  and the "lambda-pushed" plane point x_i + lam * r_tot;
* the L1 linear solver, which moves one coordinate at a time - the one with the largest
  |w_j| - to the edge of its box until the linearised classifier changes sign;
* repeat from the new x_i until the overshot point x_0 + (1 + overshoot)(x_i - x_0) is
  classified differently from y, or ``steps`` outer iterations have run.

The per-coordinate box of the solver is [max(-1, x0 - eps), min(1, x0 + eps)]: the reference
code's ``lb, ub = valid_bounds(x0, delta)``, with the image range [0, 255] replaced by the
audio range [-1, 1]. So |x_adv - x| <= eps holds throughout, not by a final clip alone.
"""

from __future__ import annotations


import torch
from torch import Tensor, nn

from staa.attacks.base import Attack, grad_context, predict
from staa.attacks.settings import SparseFoolSettings

_BETA = 1e-3  # reference solver's margin past the plane (``beta = 0.001 * sign_true``)
_MIN_STEP = 1e-4  # reference code's floor on every step (numerical stability)


class SparseFool(SparseFoolSettings, Attack):
    """Untargeted sparse (L0) attack; examples are attacked one at a time.

    Settings: ``steps`` (outer iterations, 20), ``lam`` (how far past the DeepFool boundary the
    plane point is pushed, 10), ``overshoot`` (0.02; used both in DeepFool's fooling check and
    on the final perturbation, as in the reference code), ``deepfool_steps`` (50), ``eps``
    (per-sample bound on |x_adv - x|, 0.1; a value >= 2 leaves only the [-1, 1] range).
    """

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None) -> Tensor:
        out = x.clone()
        for b in range(x.shape[0]):
            out[b] = self._attack_one(model, x[b : b + 1], int(y[b]))[0]
        return out

    def _attack_one(self, model: nn.Module, x0: Tensor, label: int) -> Tensor:
        s = self.settings
        if int(predict(model, x0)) != label:
            return x0  # already away from y: nothing to do
        lb = (x0 - s["eps"]).clamp(min=-1.0)
        ub = (x0 + s["eps"]).clamp(max=1.0)
        x_i, fool = x0, x0
        for _ in range(s["steps"]):
            found = self._deepfool(model, x_i, label)
            if found is None:
                break  # flat logits (zero gradients): no direction to move in
            normal, plane_point = found
            x_i = linear_solver(x_i, normal, plane_point, lb, ub)
            fool = torch.minimum(torch.maximum(x0 + (1 + s["overshoot"]) * (x_i - x0), lb), ub)
            if int(predict(model, fool)) != label:
                break
        return fool

    def _deepfool(self, model: nn.Module, x: Tensor, label: int) -> tuple[Tensor, Tensor] | None:
        """Reference ``deepfool``: return (unit boundary normal, x + lam * r_tot), or None.

        Deviation: if DeepFool never crosses within ``deepfool_steps`` the reference takes the
        gradient of f_y - f_y (zero, then 0/0); we use the closest class of the last step.
        """
        s = self.settings
        r_tot = torch.zeros_like(x)
        pert_x = x.clone()
        k_i, closest = label, label
        for _ in range(s["deepfool_steps"]):
            logits, w = _logits_and_jacobian(model, pert_x, label)
            f = (logits - logits[label]).abs()
            norms = w.flatten(1).norm(dim=1)
            dist = f / norms
            dist[label] = float("inf")
            dist = torch.where(torch.isfinite(dist), dist, torch.full_like(dist, float("inf")))
            closest = int(dist.argmin())
            if not torch.isfinite(dist[closest]):
                return None
            r_i = dist[closest].clamp(min=_MIN_STEP) * w[closest] / norms[closest]
            r_tot = r_tot + r_i
            pert_x = pert_x + r_i
            k_i = int(predict(model, x + (1 + s["overshoot"]) * r_tot))
            if k_i != label:
                break
        if k_i == label:
            k_i = closest
        pert_x.requires_grad_(True)
        with grad_context(model, pert_x):
            logits = model(pert_x)[0]
            (grad,) = torch.autograd.grad(logits[k_i] - logits[label], pert_x)
        norm = grad.norm()
        if not torch.isfinite(norm) or norm == 0:
            return None
        return grad / norm, x + s["lam"] * r_tot


def _logits_and_jacobian(model: nn.Module, x: Tensor, label: int) -> tuple[Tensor, Tensor]:
    """Logits (C,) of a single example and w_k = d(f_k - f_label)/dx, shape (C, *x.shape[1:]).

    One backward per class (retain_graph) rather than vmap, so any victim (RNNs included) works.
    """
    x = x.detach().requires_grad_(True)
    with grad_context(model, x):
        logits = model(x)[0]
        rows = []
        for k in range(logits.shape[0]):
            if k == label:
                rows.append(torch.zeros_like(x[0]))
                continue
            (g,) = torch.autograd.grad(logits[k] - logits[label], x, retain_graph=True)
            rows.append(g[0])
    return logits.detach(), torch.stack(rows)


def linear_solver(x_0: Tensor, normal: Tensor, plane_point: Tensor, lb: Tensor, ub: Tensor) -> Tensor:
    """SparseFool's L1 linear solver (reference ``linear_solver``), vectorised.

    Coordinates are visited in order of decreasing |normal_j|; each is moved by
    max(|f + beta| / |normal_j|, 1e-4) along sign(normal_j) and clipped to [lb_j, ub_j], where
    f = normal . (x - plane_point), until f changes sign. In the usual case (x_0 on the negative
    side of the plane) a coordinate either saturates its box or ends the loop, so the visited
    prefix is found with one cumulative sum instead of one dot product per coordinate - O(L log L)
    rather than O(L^2). Other cases run the reference loop literally. Arithmetic in float64.
    """
    shape, dtype = x_0.shape, x_0.dtype
    x = x_0.reshape(-1).double()
    n = normal.reshape(-1).double()
    lo = lb.reshape(-1).double()
    hi = ub.reshape(-1).double()
    f0 = torch.dot(n, x - plane_point.reshape(-1).double())
    sign_true = float(torch.sign(f0))

    idx = torch.nonzero(n).squeeze(1)
    if idx.numel() == 0:
        return x_0.clone()
    a = n[idx].abs()
    order = torch.argsort(a, descending=True, stable=True)  # = repeated argmax, first on ties
    idx, a = idx[order], a[order]
    direction = torch.sign(n[idx])
    xs = x[idx]
    bound = torch.where(direction > 0, hi[idx], lo[idx])
    x_new = x.clone()

    if sign_true < 0:
        beta = -_BETA
        dist = (bound - xs) * direction  # room left in the moving direction
        f_after = f0 + torch.cumsum(a * dist, 0)  # f after saturating coordinates 0..t
        f_before = torch.cat([f0.reshape(1), f_after[:-1]])
        step = ((f_before + beta).abs() / a).clamp(min=_MIN_STEP)
        inside = step < dist  # the step does not reach the box edge -> f crosses 0 here
        stop = inside | (f_after >= 0)
        t = int(stop.to(torch.int8).argmax()) if bool(stop.any()) else idx.numel() - 1
        x_new[idx[:t]] = bound[:t]
        last = xs[t] + step[t] * direction[t] if bool(inside[t]) else bound[t]
        x_new[idx[t]] = torch.minimum(torch.maximum(last, lo[idx[t]]), hi[idx[t]])
        return x_new.to(dtype).reshape(shape)

    # Rare case: x_0 already on (or exactly at) the far side of the linearised boundary.
    beta = _BETA * sign_true
    f = float(f0)
    xl, nl, lol, hil = x_new.tolist(), n.tolist(), lo.tolist(), hi.tolist()
    for j in idx.tolist():
        pert = max(abs(f + beta) / abs(nl[j]), _MIN_STEP)
        new = min(max(xl[j] + pert * (1.0 if nl[j] > 0 else -1.0), lol[j]), hil[j])
        f += nl[j] * (new - xl[j])
        xl[j] = new
        if (f > 0) - (f < 0) != sign_true:
            break
    return torch.tensor(xl, dtype=torch.float64, device=x.device).to(dtype).reshape(shape)
