"""Tests for the C&W margin and the STAA-Net loss terms against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from staa.errors import ConfigError
from staa.losses import cw_margin, staa_losses

# Example 0: clean class 0 still wins by 1. Example 1: clean class 2 already lost by 3 (to class 1).
LOGITS = torch.tensor([[2.0, 1.0, -1.0], [0.5, 3.0, 0.0]])
Y = torch.tensor([0, 2])
TARGET = torch.tensor([1, 1])
# v norms: example 0 sqrt(.09+.16)=0.5, example 1 sqrt(.36+.64)=1.0, whole batch sqrt(1.25).
V = torch.tensor([[0.3, -0.4, 0.0, 0.0], [0.0, 0.0, 0.6, 0.8]])
# m_hard = [[1,0,1,0],[0,1,1,0]] (0.5 rounds up); m_hard - m_soft = [[.1,-.2,.5,-.4],[-.1,.4,0,0]]
# squared sums: 0.46 and 0.17, whole batch 0.63.
M_SOFT = torch.tensor([[0.9, 0.2, 0.5, 0.4], [0.1, 0.6, 1.0, 0.0]])
# ||m_i||_1 = 2.2 and 2.5, whole batch 4.7.
M = torch.tensor([[1.0, 0.2, 1.0, 0.0], [0.0, 1.0, 1.0, 0.5]])
W = {"mag": 2.0, "qua": 0.5, "spa": 0.1}


@pytest.mark.parametrize("kappa,expected", [(0.0, [1.0, 0.0]), (2.0, [1.0, -2.0]), (5.0, [1.0, -3.0])])
def test_cw_untargeted(kappa: float, expected: list[float]) -> None:
    assert torch.allclose(cw_margin(LOGITS, Y, kappa=kappa), torch.tensor(expected))


@pytest.mark.parametrize("kappa,expected", [(0.0, [1.0, 0.0]), (1.0, [1.0, -1.0]), (3.0, [1.0, -2.5])])
def test_cw_targeted(kappa: float, expected: list[float]) -> None:
    # ex0: max_{j!=1} = 2, Z_t = 1 -> 1. ex1: max_{j!=1} = 0.5, Z_t = 3 -> -2.5.
    assert torch.allclose(cw_margin(LOGITS, Y, kappa=kappa, target=TARGET), torch.tensor(expected))


def test_cw_gradient_stops_once_clamped() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    cw_margin(logits, Y).sum().backward()
    assert torch.equal(logits.grad, torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))


def test_cw_rejects_negative_kappa() -> None:
    with pytest.raises(ConfigError, match="kappa=-1"):
        cw_margin(LOGITS, Y, kappa=-1.0)


def test_staa_losses_sum_reduction() -> None:
    out = staa_losses(LOGITS, Y, V, M_SOFT, M, W, reduction="sum")
    expected = {"adv": 1.0 + 0.0, "mag": math.sqrt(1.25), "qua": math.sqrt(0.63), "spa": 4.7}
    expected["total"] = expected["adv"] + 2.0 * expected["mag"] + 0.5 * expected["qua"] + 0.1 * expected["spa"]
    assert set(out) == {"adv", "mag", "qua", "spa", "total"}
    for key, value in expected.items():
        assert out[key].item() == pytest.approx(value, rel=1e-6), key
    assert out["total"].item() == pytest.approx(4.102930, abs=1e-5)


def test_staa_losses_mean_reduction() -> None:
    out = staa_losses(LOGITS, Y, V, M_SOFT, M, W, reduction="mean")
    expected = {
        "adv": (1.0 + 0.0) / 2,
        "mag": (0.5 / 2 + 1.0 / 2) / 2,  # per-example RMS: ||v_i|| / sqrt(4)
        "qua": (math.sqrt(0.46) / 2 + math.sqrt(0.17) / 2) / 2,
        "spa": (2.2 / 4 + 2.5 / 4) / 2,  # mean mask density
    }
    expected["total"] = expected["adv"] + 2.0 * expected["mag"] + 0.5 * expected["qua"] + 0.1 * expected["spa"]
    for key, value in expected.items():
        assert out[key].item() == pytest.approx(value, rel=1e-6), key
    assert out["mag"].item() == pytest.approx(0.375)
    assert out["spa"].item() == pytest.approx(0.5875)


def test_staa_losses_targeted_with_kappa() -> None:
    out = staa_losses(LOGITS, Y, V, M_SOFT, M, {}, kappa=1.0, target=TARGET, reduction="sum")
    assert out["adv"].item() == pytest.approx(1.0 - 1.0)
    assert out["total"].item() == pytest.approx(out["adv"].item())  # missing weights mean 0


def test_mean_reduction_is_length_independent() -> None:
    """Tiling every signal doubles L; the 'mean' terms must not change, the 'sum' ones do."""
    tile = lambda t: torch.cat([t, t], dim=1)  # noqa: E731
    a = staa_losses(LOGITS, Y, V, M_SOFT, M, W, reduction="mean")
    b = staa_losses(LOGITS, Y, tile(V), tile(M_SOFT), tile(M), W, reduction="mean")
    for key in ("mag", "qua", "spa", "total"):
        assert a[key].item() == pytest.approx(b[key].item(), rel=1e-6), key
    s = staa_losses(LOGITS, Y, tile(V), tile(M_SOFT), tile(M), W, reduction="sum")
    assert s["spa"].item() == pytest.approx(9.4)


def test_quantisation_target_is_detached() -> None:
    m_soft = M_SOFT.clone().requires_grad_(True)
    out = staa_losses(LOGITS, Y, V, m_soft, M, {"qua": 1.0}, reduction="sum")
    out["qua"].backward()
    m_hard = (M_SOFT >= 0.5).float()
    # d||h - s|| / ds = (s - h) / ||h - s|| when h is a constant.
    assert torch.allclose(m_soft.grad, (M_SOFT - m_hard) / math.sqrt(0.63), atol=1e-6)


def test_weight_and_reduction_errors() -> None:
    with pytest.raises(ConfigError, match=r"'sparsity'.*\['mag', 'qua', 'spa'\]"):
        staa_losses(LOGITS, Y, V, M_SOFT, M, {"sparsity": 1.0}, reduction="sum")
    with pytest.raises(ConfigError, match="mag=-0.5"):
        staa_losses(LOGITS, Y, V, M_SOFT, M, {"mag": -0.5}, reduction="sum")
    with pytest.raises(ConfigError, match="reduction='median'"):
        staa_losses(LOGITS, Y, V, M_SOFT, M, W, reduction="median")


# Two examples, both with adv margin 2 (clamp-free at kappa 0), no magnitudes: only the budget moves `total`.
HINGE_LOGITS = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
HINGE_Y = torch.tensor([0, 1])
HINGE_V = torch.zeros(2, 4)


def _budget_total(m: torch.Tensor, **kw) -> dict[str, torch.Tensor]:
    return staa_losses(HINGE_LOGITS, HINGE_Y, HINGE_V, m, m, {"spa": 2.0}, reduction="mean", **kw)


def test_sparsity_target_hinge_hand_computed():
    """With a density budget rho, only density above rho is penalised (per example)."""
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])  # densities 0.75 and 0.25
    out = _budget_total(m, sparsity_target=0.5)
    # adv = mean(2, 2) = 2; hinge = mean(max(0, .75-.5), max(0, .25-.5)) = 0.125; total = 2 + 2*0.125
    assert out["spa"].item() == pytest.approx(0.5)  # reported: the plain mean density
    assert out["total"].item() == pytest.approx(2.25)
    with pytest.raises(ConfigError, match="reduction='mean'"):
        staa_losses(HINGE_LOGITS, HINGE_Y, HINGE_V, m, m, {"spa": 1.0}, reduction="sum", sparsity_target=0.5)
    with pytest.raises(ConfigError, match="sparsity_target"):
        _budget_total(m, sparsity_target=1.5)


def test_sparsity_scope_batch_hand_computed():
    """scope 'batch' holds the budget on the batch-mean density (the reference's batch-wide L1)."""
    m = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])  # densities 1.0 and 0.0
    # example: mean(max(0, 1-.5), max(0, 0-.5)) = 0.25; batch: max(0, 0.5-0.5) = 0
    assert _budget_total(m, sparsity_target=0.5)["total"].item() == pytest.approx(2.5)
    assert _budget_total(m, sparsity_target=0.5, sparsity_scope="batch")["total"].item() == pytest.approx(2.0)
    assert _budget_total(m, sparsity_target=0.25, sparsity_scope="batch")["total"].item() == pytest.approx(
        2.0 + 2.0 * 0.25
    )
    with pytest.raises(ConfigError, match="sparsity_scope"):
        _budget_total(m, sparsity_target=0.5, sparsity_scope="utt")


def test_bounded_magnitude_term_has_a_finite_gradient_on_an_empty_mask():
    """The magnitude term as a share of the bound: an utterance whose hard mask is empty (possible
    with a loss-based budget) must not turn the gradient into NaN."""
    v = torch.full((2, 50), 0.01, requires_grad=True)
    m = torch.zeros(2, 50)
    m[1, :10] = 1.0
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], requires_grad=True)
    out = staa_losses(logits, torch.tensor([0, 1]), v, m, m, {"mag": 1.0}, reduction="mean", bound=0.03)
    out["total"].backward()
    assert torch.isfinite(v.grad).all() and out["mag"].item() == pytest.approx((0 + 1 / 3) / 2, rel=1e-4)
