"""Settings of the baseline attacks, torch-free so that the config check (and `snakemake -n`)
validates every baseline before any job runs, with the same code the attacks use."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from staa.errors import ConfigError

_STRATEGIES = ("best1bin", "rand1bin")
_MIN_POPULATION = 5  # scipy's floor; rand1bin needs 3 distinct partners besides the parent


class Settings:
    """An attack's settings, checked once: unknown names and bad values raise ConfigError.

    Subclasses set ``name`` and ``defaults`` (every accepted setting with its default), override
    ``_validate`` to normalise/check the merged settings, and give ``worst_case_passes(n_classes)``:
    the victim passes one utterance costs at most (no early success) as forward passes without a
    graph (``fwd``, one input each), forward passes that build one (``graph_fwd``) and backward
    passes (``bwd``). Timing extrapolates a cut budget to the full one with these counts.
    """

    name: ClassVar[str] = "attack"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"attack '{self.name}': unknown setting(s) {unknown}; expected one of {sorted(self.defaults)}"
            )
        merged = {**self.defaults, **settings}
        self.settings: dict[str, Any] = self._validate(merged)

    # -- settings ---------------------------------------------------------------------------
    def _validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Check and normalise the merged settings; raise ConfigError on bad values."""
        return settings

    def _err(self, key: str, value: Any, expected: str) -> ConfigError:
        return ConfigError(f"attack '{self.name}': setting {key}={value!r} is invalid; expected {expected}")

    def _positive_float(self, settings: dict[str, Any], key: str) -> float:
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise self._err(key, value, "a finite number > 0")
        return float(value)

    def _positive_int(self, settings: dict[str, Any], key: str) -> int:
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self._err(key, value, "an integer >= 1")
        return int(value)

    def _bool(self, settings: dict[str, Any], key: str) -> bool:
        value = settings[key]
        if not isinstance(value, bool):
            raise self._err(key, value, "true or false")
        return value

    def validate_for_length(self, length: int) -> None:
        """Raise ConfigError if the settings cannot work on signals of ``length`` samples."""
        if length < 1:
            raise ConfigError(f"attack '{self.name}': signal length {length} is invalid; expected >= 1 sample")


class PGDSettings(Settings):
    name = "pgd"
    defaults = {"eps": 0.01, "alpha": None, "steps": 20, "random_start": True}

    def _validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        eps = self._positive_float(settings, "eps")
        alpha = eps / 4 if settings["alpha"] is None else self._positive_float(settings, "alpha")
        return {
            "eps": eps,
            "alpha": alpha,
            "steps": self._positive_int(settings, "steps"),
            "random_start": self._bool(settings, "random_start"),
        }

    def worst_case_passes(self, n_classes: int) -> dict[str, int]:
        return {"fwd": 0, "graph_fwd": self.settings["steps"], "bwd": self.settings["steps"]}


class SparseFoolSettings(Settings):
    name = "sparsefool"
    defaults = {"steps": 20, "lam": 10.0, "overshoot": 0.02, "deepfool_steps": 50, "eps": 0.1}

    def _validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        overshoot = settings["overshoot"]
        if isinstance(overshoot, bool) or not isinstance(overshoot, (int, float)) or not 0 <= overshoot < 1:
            raise self._err("overshoot", overshoot, "a number in [0, 1)")
        return {
            "steps": self._positive_int(settings, "steps"),
            "lam": self._positive_float(settings, "lam"),
            "overshoot": float(overshoot),
            "deepfool_steps": self._positive_int(settings, "deepfool_steps"),
            "eps": self._positive_float(settings, "eps"),
        }

    def worst_case_passes(self, n_classes: int) -> dict[str, int]:
        """Per outer step: `deepfool_steps` DeepFool iterations (a graph forward, C-1 backward passes for
        the class gradients, a prediction), the boundary normal (a graph forward and a backward) and a
        prediction; one prediction first."""
        s = self.settings
        per_step = {
            "fwd": s["deepfool_steps"] + 1,
            "graph_fwd": s["deepfool_steps"] + 1,
            "bwd": s["deepfool_steps"] * (n_classes - 1) + 1,
        }
        return {k: 1 * (k == "fwd") + s["steps"] * v for k, v in per_step.items()}


class OnePixelSettings(Settings):
    name = "onepixel"
    defaults = {
        "k": 1,
        "eps": 1.0,
        "maxiter": 20,
        "popsize": None,
        "max_population": 400,
        "recombination": 1.0,
        "mutation": (0.5, 1.0),
        "strategy": "best1bin",
        "eval_batch": 64,
    }

    def _validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        k = self._positive_int(settings, "k")
        popsize = max(1, 300 // (2 * k)) if settings["popsize"] is None else self._positive_int(settings, "popsize")
        max_population = self._positive_int(settings, "max_population")
        if max_population < _MIN_POPULATION:
            raise self._err("max_population", max_population, f"an integer >= {_MIN_POPULATION}")
        rec = settings["recombination"]
        if isinstance(rec, bool) or not isinstance(rec, (int, float)) or not 0 <= rec <= 1:
            raise self._err("recombination", rec, "a number in [0, 1]")
        mutation = settings["mutation"]
        if isinstance(mutation, (list, tuple)):
            ok = (
                len(mutation) == 2
                and all(isinstance(m, (int, float)) and not isinstance(m, bool) and 0 <= m <= 2 for m in mutation)
                and mutation[0] <= mutation[1]
            )
            if not ok:
                raise self._err("mutation", mutation, "a number in (0, 2] or a pair (lo, hi) with 0 <= lo <= hi <= 2")
            mutation = (float(mutation[0]), float(mutation[1]))
        elif isinstance(mutation, bool) or not isinstance(mutation, (int, float)) or not 0 < mutation <= 2:
            raise self._err("mutation", mutation, "a number in (0, 2] or a pair (lo, hi) with 0 <= lo <= hi <= 2")
        else:
            mutation = float(mutation)
        if settings["strategy"] not in _STRATEGIES:
            raise self._err("strategy", settings["strategy"], f"one of {list(_STRATEGIES)}")
        return {
            "k": k,
            "eps": self._positive_float(settings, "eps"),
            "maxiter": self._positive_int(settings, "maxiter"),
            "popsize": popsize,
            "max_population": max_population,
            "recombination": float(rec),
            "mutation": mutation,
            "strategy": settings["strategy"],
            "eval_batch": self._positive_int(settings, "eval_batch"),
        }

    def worst_case_passes(self, n_classes: int) -> dict[str, int]:
        """A prediction, then the initial population and `maxiter` generations, each individual one
        forward input (scored `eval_batch` at a time)."""
        return {"fwd": 1 + (1 + self.settings["maxiter"]) * self.population_size, "graph_fwd": 0, "bwd": 0}

    @property
    def population_size(self) -> int:
        """Individuals per generation: popsize * 2k, capped by max_population, at least 5."""
        s = self.settings
        return max(_MIN_POPULATION, min(s["popsize"] * 2 * s["k"], s["max_population"]))

    def validate_for_length(self, length: int) -> None:
        super().validate_for_length(length)
        if self.settings["k"] > length:
            raise ConfigError(
                f"attack '{self.name}': setting k={self.settings['k']} is invalid for signals of "
                f"{length} samples; expected k <= {length}"
            )


SETTINGS: dict[str, type[Settings]] = {cls.name: cls for cls in (PGDSettings, SparseFoolSettings, OnePixelSettings)}


def canonical(method: Any) -> str | None:
    """'one-pixel', 'One_Pixel' -> 'onepixel'; None for a non-string."""
    return method.lower().replace("-", "").replace("_", "") if isinstance(method, str) else None


def settings_error(method: Any, settings: dict[str, Any], length: int | None = None) -> str | None:
    """The first problem with a baseline's method and settings (for clips of `length`), or None."""
    key = canonical(method)
    if key not in SETTINGS:
        return f"attack method {method!r} is unknown; expected one of {sorted(SETTINGS)}"
    try:
        checked = SETTINGS[key](**settings)
        if length is not None:
            checked.validate_for_length(length)
    except ConfigError as exc:
        return str(exc)
    return None
