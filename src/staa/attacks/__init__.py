"""Baseline attacks STAA-Net is compared with: PGD (L-inf), SparseFool (L0) and one-pixel (k samples).

Use ``make_attack(method, **settings)`` so config files can name an attack by string; every
attack is called as ``attack(model, x, y, generator=None) -> x_adv`` (see ``base.Attack``).
The attack classes (and torch) are imported on first use, so that ``staa.attacks.settings``
stays importable without torch for the config check.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from staa.attacks.settings import SETTINGS, canonical
from staa.errors import ConfigError

if TYPE_CHECKING:
    from staa.attacks.base import Attack
    from staa.attacks.onepixel import OnePixel
    from staa.attacks.pgd import PGD
    from staa.attacks.sparsefool import SparseFool

_CLASSES = {"Attack": "base", "PGD": "pgd", "SparseFool": "sparsefool", "OnePixel": "onepixel"}


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return getattr(importlib.import_module(f"staa.attacks.{_CLASSES[name]}"), name)
    if name == "ATTACKS":
        return {
            key: __getattr__(cls)
            for key, cls in (("pgd", "PGD"), ("sparsefool", "SparseFool"), ("onepixel", "OnePixel"))
        }
    raise AttributeError(f"module 'staa.attacks' has no attribute {name!r}")


def make_attack(method: str, **settings: Any) -> "Attack":
    """Build an attack by name (case-insensitive; '-' and '_' ignored, so 'one-pixel' works).

    Raises ConfigError for an unknown method (listing the known ones) or an unknown or
    invalid setting (naming it).
    """
    key = canonical(method)
    if key not in SETTINGS:
        raise ConfigError(f"attack method {method!r} is unknown; expected one of {sorted(SETTINGS)}")
    return __getattr__("ATTACKS")[key](**settings)


__all__ = ["ATTACKS", "Attack", "OnePixel", "PGD", "SparseFool", "make_attack"]
