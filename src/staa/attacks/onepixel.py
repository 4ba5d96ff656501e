"""One-pixel attack (Su, Vargas & Sakurai, 2019) adapted to waveforms: k-sample attack.

Each individual of a differential evolution (DE) encodes k genes (position p in [0, L),
relative change e in [-eps, eps]) applied multiplicatively, x[p] <- x[p] * (1 + e), so the
change is bounded by eps * |x[p]| and silent samples stay silent (an additive change there
would be an audible click). Fitness is the victim's softmax probability of y (minimised).

DE follows scipy.optimize.differential_evolution as called by the reference one-pixel code
(strategy best1bin, recombination 1, mutation dithered in [0.5, 1), Latin-hypercube
initialisation, trials out of the unit box redrawn uniformly, a trial replaces its parent when
its fitness is <= the parent's), vectorised in torch with *deferred* updating: a whole
generation of trials is built from the previous generation and scored in batched forward
passes (scipy's ``updating='deferred'``), instead of scipy's one-by-one immediate updates.
``strategy='rand1bin'`` selects DE/rand/1/bin, the variant of Su et al.'s paper.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from staa.attacks.base import Attack, predict, rand
from staa.attacks.settings import OnePixelSettings


class OnePixel(OnePixelSettings, Attack):
    """Untargeted k-sample DE attack; each example is attacked independently.

    Settings: ``k`` (samples changed, 1), ``eps`` (bound on |e|, 1.0), ``maxiter`` (generations
    after the initial one, 20), ``popsize`` (population multiplier as in scipy: popsize * 2k
    individuals; default max(1, 300 // (2k))), ``max_population`` (cap on individuals, 400),
    ``recombination`` (1.0), ``mutation`` (F, or (lo, hi) for per-generation dithering;
    (0.5, 1.0)), ``strategy`` ('best1bin'), ``eval_batch`` (individuals per forward pass, 64).
    Stops at the first individual whose prediction is not y; otherwise returns the fittest.
    """

    # -- attack -----------------------------------------------------------------------------
    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None) -> Tensor:
        out = x.clone()
        for b in range(x.shape[0]):
            out[b] = self._attack_one(model, x[b : b + 1], int(y[b]), generator)[0]
        return out

    def _attack_one(self, model: nn.Module, x0: Tensor, label: int, generator: torch.Generator | None) -> Tensor:
        s = self.settings
        if int(predict(model, x0)) != label:
            return x0
        dev = x0.device
        n_pop, dim = self.population_size, 2 * s["k"]

        pop = _latin_hypercube(n_pop, dim, generator, dev)
        energies, hit = self._evaluate(model, x0, label, pop)
        if hit is not None:
            return self._apply(x0, pop[hit : hit + 1])

        rows = torch.arange(n_pop, device=dev)
        n_partners = 2 if s["strategy"] == "best1bin" else 3
        for _ in range(s["maxiter"]):
            mutation = s["mutation"]
            if isinstance(mutation, tuple):  # dithering: one F per generation, as scipy
                mutation = mutation[0] + (mutation[1] - mutation[0]) * float(rand((1,), generator, dev)[0])
            # distinct partners per individual, excluding the individual itself
            keys = rand((n_pop, n_pop), generator, dev)
            keys[rows, rows] = 2.0
            partners = keys.topk(n_partners, dim=1, largest=False).indices
            if s["strategy"] == "best1bin":
                base = pop[int(energies.argmin())].expand(n_pop, dim)
                diff = pop[partners[:, 0]] - pop[partners[:, 1]]
            else:
                base = pop[partners[:, 0]]
                diff = pop[partners[:, 1]] - pop[partners[:, 2]]
            mutant = base + mutation * diff
            # binomial crossover; one gene (fill point) always comes from the mutant
            cross = rand((n_pop, dim), generator, dev) < s["recombination"]
            fill = (rand((n_pop,), generator, dev) * dim).long().clamp_(max=dim - 1)
            cross[rows, fill] = True
            trial = torch.where(cross, mutant, pop)
            # scipy's _ensure_constraint: out-of-box genes are redrawn uniformly
            redraw = rand((n_pop, dim), generator, dev)
            trial = torch.where((trial < 0) | (trial > 1), redraw, trial)

            trial_energies, hit = self._evaluate(model, x0, label, trial)
            if hit is not None:
                return self._apply(x0, trial[hit : hit + 1])
            better = trial_energies <= energies
            pop = torch.where(better[:, None], trial, pop)
            energies = torch.where(better, trial_energies, energies)
        return self._apply(x0, pop[int(energies.argmin())][None])

    def _evaluate(self, model: nn.Module, x0: Tensor, label: int, genes: Tensor) -> tuple[Tensor, int | None]:
        """Fitness (p(y)) of each individual, in chunks of ``eval_batch``.

        Returns at the first chunk holding a success, with the index of its fittest successful
        individual; the remaining chunks are not evaluated (early stop saves forward passes).
        """
        energies = torch.full((genes.shape[0],), math.inf, device=x0.device)
        step = self.settings["eval_batch"]
        with torch.no_grad():
            for start in range(0, genes.shape[0], step):
                chunk = genes[start : start + step]
                logits = model(self._apply(x0, chunk))
                probs = F.softmax(logits.float(), dim=1)[:, label]
                energies[start : start + chunk.shape[0]] = probs
                success = logits.argmax(dim=1) != label
                if bool(success.any()):
                    masked = torch.where(success, probs, torch.full_like(probs, math.inf))
                    return energies, start + int(masked.argmin())
        return energies, None

    def _apply(self, x0: Tensor, genes: Tensor) -> Tensor:
        """Waveforms (n, L) for genes (n, 2k) in the unit box; x0 is (1, L).

        Genes are (position, change) pairs; position u -> floor(u * L), change u -> eps(2u - 1).
        When two genes of an individual hit the same sample the later gene wins (as with
        sequential assignment), resolved without relying on scatter order, so the result is
        deterministic on every device.
        """
        n, length = genes.shape[0], x0.shape[1]
        pairs = genes.reshape(n, -1, 2)
        pos = (pairs[..., 0] * length).long().clamp_(0, length - 1)
        change = self.settings["eps"] * (2 * pairs[..., 1] - 1)
        pos_sorted, order = pos.sort(dim=1, stable=True)
        change_sorted = change.gather(1, order).to(x0.dtype)
        is_last = torch.ones_like(pos_sorted, dtype=torch.bool)
        is_last[:, :-1] = pos_sorted[:, :-1] != pos_sorted[:, 1:]
        values = x0[0, pos_sorted] * (1 + change_sorted)
        target = torch.where(is_last, pos_sorted, torch.full_like(pos_sorted, length))  # losers -> spare column
        out = torch.cat([x0.expand(n, length), x0.new_zeros(n, 1)], dim=1)
        out.scatter_(1, target, values)
        return out[:, :length].clamp_(-1.0, 1.0)


def _latin_hypercube(n: int, dim: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """scipy's 'latinhypercube' init: each gene covers all n strata of [0, 1) once."""
    samples = (rand((n, dim), generator, device) + torch.arange(n, device=device)[:, None]) / n
    perm = rand((n, dim), generator, device).argsort(dim=0)
    return samples.gather(0, perm)
