"""Baseline attacks STAA-Net is compared with: PGD (L-inf), SparseFool (L0) and one-pixel (k samples).

Use ``make_attack(method, **settings)`` so config files can name an attack by string; every
attack is called as ``attack(model, x, y, generator=None) -> x_adv`` (see ``base.Attack``).
"""
from __future__ import annotations

from typing import Any

from staa.attacks.base import Attack
from staa.attacks.onepixel import OnePixel
from staa.attacks.pgd import PGD
from staa.attacks.sparsefool import SparseFool
from staa.errors import ConfigError

ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in (PGD, SparseFool, OnePixel)}


def make_attack(method: str, **settings: Any) -> Attack:
    """Build an attack by name (case-insensitive; '-' and '_' ignored, so 'one-pixel' works).

    Raises ConfigError for an unknown method (listing the known ones) or an unknown or
    invalid setting (naming it).
    """
    key = method.lower().replace("-", "").replace("_", "") if isinstance(method, str) else None
    if key not in ATTACKS:
        raise ConfigError(f"attack method {method!r} is unknown; expected one of {sorted(ATTACKS)}")
    return ATTACKS[key](**settings)


__all__ = ["ATTACKS", "Attack", "OnePixel", "PGD", "SparseFool", "make_attack"]
