"""Tests for the valid-conv Wave-U-Net backbone and the STAA-Net generator head."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch

from staa.errors import ConfigError
from staa.generator import GeneratorOutput, STAANet, WaveUNet
from staa.generator.staa_net import reflect_indices

torch.set_num_threads(1)

SMALL = [4, 8]  # tiny channel lists keep the suite fast; GroupNorm with group_size 4
CONFIGS = [
    dict(channels=[8, 16, 32], kernel_size=5, stride=4),
    dict(channels=[8, 16, 32], kernel_size=5, stride=4, resample="fixed"),
    dict(channels=[4, 4, 4], kernel_size=3, stride=3, conv_depth=2, group_size=4),
    dict(channels=[4, 8], kernel_size=1, stride=2, group_size=4, resample="fixed"),
    dict(channels=[4], kernel_size=5, group_size=4),
]


def _positive_weights(net: torch.nn.Module) -> None:
    """Make every learned weight/bias positive so all ReLUs are active on positive input: the
    gradient support then equals the full receptive field (no dead units, no cancellation)."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs() * 0.1 + 0.01)


# ---------------------------------------------------------------- WaveUNet lengths
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("target", [1, 37, 400, 1601])
def test_input_length_for_is_minimal_and_sufficient(cfg: dict, target: int) -> None:
    net = WaveUNet(**cfg)
    n = net.input_length_for(target)
    assert net.output_length_for(n) >= target
    # Brute force: no shorter input is both valid and long enough.
    for shorter in range(1, n):
        assert not net.is_valid_input_length(shorter) or net.output_length_for(shorter) < target


@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_output_length_matches_arithmetic(cfg: dict) -> None:
    net = WaveUNet(**cfg, n_decoders=2)
    lengths = {net.input_length_for(t) for t in (1, 150, 333)}
    for n in sorted(lengths):
        outs = net(torch.randn(2, 1, n))
        assert len(outs) == 2
        for z in outs:
            assert z.shape == (2, 1, net.output_length_for(n))


def test_invalid_input_length_raises() -> None:
    net = WaveUNet([8, 16, 32])
    n = net.input_length_for(100)
    assert not net.is_valid_input_length(n + 1)
    with pytest.raises(ConfigError, match="input_length"):
        net.output_length_for(n + 1)
    with pytest.raises(ConfigError, match="input_length"):
        net(torch.randn(1, 1, n + 1))


@pytest.mark.parametrize("norm", ["group", "batch", "none"])
@pytest.mark.parametrize("resample", ["learned", "fixed"])
def test_norms_and_resamplers_forward_backward(norm: str, resample: str) -> None:
    net = WaveUNet([8, 16], kernel_size=3, stride=2, norm=norm, resample=resample, n_decoders=2)
    x = torch.randn(2, 1, net.input_length_for(64))
    loss = sum(z.square().mean() for z in net(x))
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if resample == "fixed":  # the fixed filters are buffers, not parameters
        assert not any("down.filt" in n for n, _ in net.named_parameters())


def _centre_deviation(grad_row: torch.Tensor, centre: int) -> int:
    """lo + hi - 2*centre of the gradient support: 0 when the support is symmetric about centre."""
    support = torch.nonzero(grad_row).flatten()
    return int(support.min()) + int(support.max()) - 2 * centre


@pytest.mark.parametrize("resample", ["learned", "fixed"])
@pytest.mark.parametrize(
    "arch", [dict(channels=[4, 4, 4], kernel_size=3, stride=2), dict(channels=[4, 4, 4], kernel_size=5, stride=4)]
)
def test_receptive_field_is_centred(resample: str, arch: dict) -> None:
    """Output j must depend on inputs centred on j + (Lin - Lout) // 2: that offset is what
    STAA-Net uses to align its perturbation with x. The low-resolution paths make the support's
    extent depend on the phase of j modulo the total stride, so the deviation is zero on average
    over each full period (an offset error of one sample would shift every period by 2*period)."""
    net = WaveUNet(**arch, norm="none", resample=resample, n_decoders=1)
    _positive_weights(net)
    n = net.input_length_for(40)
    o = net.output_length_for(n)
    assert (n - o) % 2 == 0
    off = (n - o) // 2
    period = arch["stride"] ** (len(arch["channels"]) - 1)
    x = (torch.rand(1, 1, n) + 0.5).requires_grad_(True)
    z = net(x)[0]
    devs = []
    for j in range(o):
        (g,) = torch.autograd.grad(z[0, 0, j], x, retain_graph=True)
        devs.append(_centre_deviation(g[0, 0], j + off))
    assert max(abs(d) for d in devs) <= 2 * period  # no systematic drift with j
    for start in range(0, o - period + 1):
        assert sum(devs[start : start + period]) == 0, (start, devs)


def test_waveunet_config_errors() -> None:
    with pytest.raises(ConfigError, match="channels"):
        WaveUNet([])
    with pytest.raises(ConfigError, match="channels"):
        WaveUNet(8)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"channels\[1\]=0"):
        WaveUNet([8, 0])
    with pytest.raises(ConfigError, match="kernel_size=0"):
        WaveUNet([8], kernel_size=0)
    with pytest.raises(ConfigError, match="kernel_size=4"):
        WaveUNet([8], kernel_size=4)
    with pytest.raises(ConfigError, match="stride=1"):
        WaveUNet([8], stride=1)
    with pytest.raises(ConfigError, match="norm='layer'"):
        WaveUNet([8], norm="layer")
    with pytest.raises(ConfigError, match="resample='sinc'"):
        WaveUNet([8], resample="sinc")
    with pytest.raises(ConfigError, match="channels=20"):
        WaveUNet([20], group_size=3)  # 6 groups do not divide 20 channels


# ---------------------------------------------------------------- reflection padding
@pytest.mark.parametrize("length,left,right", [(10, 3, 4), (5, 12, 17), (2, 5, 0), (1, 3, 2), (7, 0, 0)])
def test_reflect_indices_match_numpy(length: int, left: int, right: int) -> None:
    sig = np.arange(length) * 10
    expected = np.pad(sig, (left, right), mode="reflect") if length > 1 else np.pad(sig, (left, right), mode="edge")
    assert np.array_equal(sig[reflect_indices(length, left, right).numpy()], expected)


# ---------------------------------------------------------------- STAANet
def _net(length: int, **kw) -> STAANet:
    kw.setdefault("channels", SMALL)
    kw.setdefault("group_size", 4)
    kw.setdefault("kernel_size", 5)
    kw.setdefault("stride", 4)
    return STAANet(length, **kw)


@pytest.mark.parametrize(
    "length,kw",
    [
        (1601, {}),
        (4000, dict(resample="fixed", norm="batch")),
        (1601, dict(frame_length=16, norm="none")),
        (9, dict(channels=[4, 4, 4])),  # padding far longer than the clip: repeated reflection
        (1, {}),
    ],
)
def test_staanet_shapes_and_bounds(length: int, kw: dict) -> None:
    net = _net(length, **kw)
    eps = 0.05
    for training in (True, False):
        net.train(training)
        out = net(torch.randn(3, length), eps)
        assert isinstance(out, GeneratorOutput)
        for name in ("x_adv", "delta", "v", "m_soft", "m_hard", "m"):
            assert getattr(out, name).shape == (3, length), name
        assert out.v.abs().max() <= eps
        assert ((out.m_soft >= 0) & (out.m_soft <= 1)).all()
        assert not out.m_hard.requires_grad
        assert set(out.m_hard.unique().tolist()) <= {0.0, 1.0}
    if length == 9:
        assert max(net.pad_left, net.pad_right) > length


def test_eval_alignment_delta_exactly_where_mask_is_on() -> None:
    torch.manual_seed(1)
    net = _net(1601).eval()
    with torch.no_grad():  # bias the location decoder so both mask values occur
        net.backbone.decoders[0].output_conv.bias.fill_(0.0)
    x = torch.randn(2, 1601)
    out = net(x, 0.1)
    assert torch.equal(out.m, out.m_hard)
    assert 0 < out.m_hard.mean() < 1
    changed = (out.x_adv - x) != 0
    expected = (out.m_hard == 1) & (out.v != 0)
    assert torch.equal(changed, expected)
    assert torch.equal(out.x_adv, x + out.v * out.m_hard)


def test_perturbation_sample_j_is_driven_by_x_around_j() -> None:
    """The magnitude at sample j must depend on x centred on j (not shifted by the left pad)."""
    net = STAANet(101, [4, 4, 4], kernel_size=3, stride=2, norm="none", factorised=False).eval()
    _positive_weights(net)
    x = (torch.rand(1, 101) + 0.5).requires_grad_(True)
    v = net(x, 1.0).v
    devs = []
    for j in range(36, 64):  # 7 periods of the total stride 4, away from the reflected edges
        (g,) = torch.autograd.grad(v[0, j], x, retain_graph=True)
        support = torch.nonzero(g[0]).flatten()
        assert int(support.min()) > 0 and int(support.max()) < 100
        devs.append(_centre_deviation(g[0], j))
    assert sum(devs) == 0, devs


@pytest.mark.parametrize("training", [True, False])
def test_frame_mask_constant_within_frames(training: bool) -> None:
    length, f = 100, 7  # 15 frames, the last one partial (2 samples)
    torch.manual_seed(0)
    per_sample = _net(length, frame_length=1).train(training)
    framed = _net(length, frame_length=f).train(training)
    framed.load_state_dict(per_sample.state_dict())
    x = torch.randn(2, length)
    out = framed(x, 0.1)
    for name in ("m_soft", "m_hard", "m"):
        t = getattr(out, name)
        for start in range(0, length, f):
            frame = t[:, start : start + f]
            assert torch.equal(frame, frame[:, :1].expand_as(frame)), (name, start)
    # Pooled value is the mean of the per-sample soft mask over the frame's real samples.
    soft = per_sample(x, 0.1).m_soft
    for start in (0, 49, 98):
        s0 = start - start % f
        assert torch.allclose(out.m_soft[:, start], soft[:, s0 : s0 + f].mean(1), atol=1e-6)


def test_training_mask_gradient_flows_only_through_soft_part() -> None:
    torch.manual_seed(3)
    net = _net(400).train()
    out = net(torch.randn(2, 400), 0.1)
    assert out.m.requires_grad
    (g,) = torch.autograd.grad(out.m.sum(), out.m_soft)
    soft_kept = g == 1
    assert torch.all((g == 0) | soft_kept)
    assert torch.equal(out.m[soft_kept], out.m_soft[soft_kept])
    assert torch.equal(out.m[~soft_kept], out.m_hard[~soft_kept])
    assert 0.4 < soft_kept.float().mean() < 0.6
    # Forcing every element to the hard branch leaves no gradient path through the mask at all.
    orig_rand = torch.rand
    try:
        torch.rand = lambda *a, **k: torch.ones(*a, **k)  # type: ignore[assignment]
        all_hard = net(torch.randn(2, 400), 0.1)
    finally:
        torch.rand = orig_rand  # type: ignore[assignment]
    assert torch.equal(all_hard.m, all_hard.m_hard)
    (g_hard,) = torch.autograd.grad(all_hard.m.sum(), all_hard.m_soft, allow_unused=True)
    assert g_hard is None or torch.count_nonzero(g_hard) == 0
    # In eval mode the mask carries no gradient either.
    assert not net.eval()(torch.randn(2, 400), 0.1).m.requires_grad


def test_not_factorised_delta_is_v() -> None:
    net = _net(500, factorised=False)
    assert len(net.backbone.decoders) == 1
    assert net.count_parameters() < _net(500).count_parameters()
    for training in (True, False):
        x = torch.randn(2, 500)
        out = net.train(training)(x, 0.02)
        assert torch.equal(out.delta, out.v)
        assert torch.equal(out.x_adv, x + out.v)
        for t in (out.m_soft, out.m_hard, out.m):
            assert torch.equal(t, torch.ones(2, 500))


def test_deterministic_under_seed() -> None:
    def run() -> GeneratorOutput:
        torch.manual_seed(123)
        net = _net(300).train()
        return net(torch.randn(2, 300), 0.1)

    a, b = run(), run()
    for name in ("x_adv", "m", "v"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_count_parameters() -> None:
    net = _net(200)
    assert net.count_parameters() == sum(p.numel() for p in net.parameters())
    assert _net(200, resample="fixed").count_parameters() < net.count_parameters()


def test_staanet_config_errors() -> None:
    net = _net(100)
    for eps in (0, -0.1, 0.0):
        with pytest.raises(ConfigError, match="eps"):
            net(torch.randn(1, 100), eps)
    with pytest.raises(ConfigError, match="frame_length=101"):
        _net(100, frame_length=101)
    with pytest.raises(ConfigError, match="frame_length=0"):
        _net(100, frame_length=0)
    with pytest.raises(ConfigError, match="norm='layer'"):
        _net(100, norm="layer")
    with pytest.raises(ConfigError, match="length=0"):
        _net(0)
    with pytest.raises(ConfigError, match="length=100"):
        net(torch.randn(1, 99), 0.1)


# ---- the mask that is trained is the mask that is tested (ours) ----------------------------------

HEAD_ARCH = {"channels": [4, 8], "kernel_size": 5, "stride": 4, "group_size": 4}


def test_topk_budget_is_exact_per_utterance_in_training_and_at_test():
    """budget 'topk': every utterance gets exactly round(rho * frames) frames, in training (hard
    forward pass, straight-through gradient) as at test; the soft map still receives a gradient."""
    from staa.generator.staa_net import STAANet

    torch.manual_seed(0)
    gen = STAANet(1000, mask_training="ste", budget="topk", density=0.1, frame_length=10, **HEAD_ARCH)
    x = torch.randn(3, 1000) * 0.1
    gen.train()
    out = gen(x, 0.03)
    assert torch.equal(out.m.detach(), out.m_hard)  # the training forward pass applies the test mask
    assert (out.m_hard.sum(1) == 100).all()  # 10 of 100 frames of 10 samples
    out.delta.pow(2).sum().backward()
    loc_head = gen.backbone.decoders[0].output_conv.weight
    assert loc_head.grad is not None and loc_head.grad.abs().sum() > 0  # gradient reaches the location head
    gen.eval()
    with torch.no_grad():
        test = gen(x, 0.03)
    assert (test.m.sum(1) == 100).all() and torch.equal(test.m, test.m_hard)


def test_reference_mask_mixes_soft_and_hard_in_training_only():
    from staa.generator.staa_net import STAANet

    torch.manual_seed(0)
    gen = STAANet(1000, mask_training="reference", loc_bias_init=0.2, **HEAD_ARCH).train()
    out = gen(torch.randn(2, 1000) * 0.1, 0.03)
    soft_kept = (out.m != out.m_hard).float().mean()
    assert 0.2 < soft_kept < 0.8  # about half the elements keep their soft value


def test_relative_bound_scales_with_the_utterance_level():
    """eps_mode 'relative': |delta| <= eps * RMS(x) / ref_level, so a 10x louder utterance gets a
    10x larger bound; 'absolute' keeps |delta| <= eps whatever the level."""
    from staa.generator.staa_net import STAANet

    torch.manual_seed(0)
    x = torch.randn(1, 1000) * 0.01
    x2 = torch.cat([x, 10 * x])
    rel = STAANet(1000, mask_training="ste", eps_mode="relative", ref_level=0.05, **HEAD_ARCH).eval()
    with torch.no_grad():
        out = rel(x2, 0.03)
    level = x2.pow(2).mean(1).sqrt()
    bound = 0.03 * level / 0.05
    assert (out.v.abs().max(1).values <= bound + 1e-7).all()
    assert out.v[1].abs().max() > 5 * out.v[0].abs().max()
    ab = STAANet(1000, mask_training="ste", **HEAD_ARCH).eval()
    with torch.no_grad():
        assert ab(x2, 0.03).v.abs().max() <= 0.03


def test_universal_perturbation_is_the_same_for_every_utterance():
    from staa.generator import build_generator

    gen = build_generator({}, 800, True, 8, universal=True, mask_training="ste", budget="topk", density=0.25).eval()
    with torch.no_grad():
        out = gen(torch.randn(4, 800) * 0.1, 0.03)
    assert torch.equal(out.delta[0], out.delta[3]) and (out.m.sum(1) == 200).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mask_training": "reference", "budget": "topk", "density": 0.1}, "budget 'topk' needs mask_training 'ste'"),
        ({"mask_training": "ste", "budget": "topk", "density": None}, "needs a density in (0, 1]"),
        ({"mask_training": "ste", "eps_mode": "relative"}, "needs ref_level > 0"),
        ({"mask_training": "hard"}, "mask_training='hard'"),
    ],
)
def test_bad_head_settings_are_named(kwargs, message):
    from staa.errors import ConfigError
    from staa.generator.staa_net import STAANet

    with pytest.raises(ConfigError, match=re.escape(message)):
        STAANet(1000, **kwargs, **HEAD_ARCH)


def test_dependence_measures():
    """delta_cosine is 1 for one shared perturbation and about 0 for independent ones; the mask
    overlap of independent random masks of density rho is about rho."""
    import numpy as np

    from staa.metrics import dependence

    rng = np.random.default_rng(0)
    shared = np.tile(rng.normal(size=4000), (20, 1))
    assert dependence(shared, shared != 0)["delta_cosine"] == pytest.approx(1.0)
    masks = rng.random((50, 4000)) < 0.1
    dep = dependence(rng.normal(size=(50, 4000)) * masks, masks)
    assert abs(dep["delta_cosine"]) < 0.05 and dep["mask_overlap"] == pytest.approx(0.1, abs=0.02)
    assert dependence(np.zeros((3, 10)), np.zeros((3, 10), bool))["delta_cosine"] is None


def test_notebook_recipe_trains_a_generator_against_an_in_memory_model():
    """docs/design.md §4's recipe: settings from a dict, a generator for the clips, train_staa against
    any nn.Module, no file anywhere; the exact top-k budget holds on what it returns."""
    import numpy as np

    from staa.generator.training import generator_for, train_staa
    from staa.settings import GeneratorSettings

    class Tiny(torch.nn.Module):  # any (B, L) -> (B, C) model
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 4, 9, stride=4)
            self.out = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.out(self.conv(x[:, None]).relu().mean(-1))

    rng = np.random.default_rng(0)
    x_train, x_dev = (0.1 * rng.standard_normal((n, 640)).astype(np.float32) for n in (16, 8))
    settings = GeneratorSettings.from_params(
        {
            "train": {
                "epochs": 2,
                "batch_size": 8,
                "lr": 1e-3,
                "mask_training": "ste",
                "budget": "topk",
                "sparsity_target": 0.1,
                "frame_length": 16,
                "select": "best_dev",
            },
            "variant_cfg": {"losses": {"mag": 0.1}},
        }
    )
    torch.manual_seed(0)
    gen = generator_for(settings, {"channels": [4, 8], "group_size": 4}, x_train)
    result = train_staa(gen, Tiny().eval(), x_train, None, x_dev, None, settings, log=open(os.devnull, "w"))
    assert len(result.rows) == 2 and not result.collapsed
    with torch.no_grad():
        out = result.generator.eval()(torch.from_numpy(x_dev), 0.03)
    assert (out.m.sum(1) == 64).all()  # 4 of 40 frames of 16 samples, every utterance
