"""Runtime setup shared by every CLI command: threads, device, determinism."""

from __future__ import annotations

import numbers
import os

import torch


def setup_runtime(threads: int, gpus: int = 0, deterministic: bool = True) -> torch.device:
    """Pin torch's thread count (from the rule's `threads:`) and choose the device.

    CUDA is used only when the job was granted a GPU (`resources: gpu`) and one is visible;
    everything else runs on the CPU, deterministically. A thread count below 1 or a negative GPU
    count is refused (ConfigError), not clamped.
    """
    from staa.errors import ConfigError

    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ConfigError(f"threads={threads!r}: expected a positive integer")
    if isinstance(gpus, bool) or not isinstance(gpus, numbers.Integral) or gpus < 0:
        raise ConfigError(f"gpus={gpus!r}: expected an integer >= 0")
    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if deterministic:
        # = torch.use_deterministic_algorithms(True, warn_only=True), minus its import of
        # torch._inductor (about 1.5 s per job on a laptop CPU; we never compile)
        torch.set_deterministic_debug_mode("warn")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if gpus > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return "cpu"


def grad_context(device: torch.device):
    """cuDNN cannot backpropagate through an LSTM in eval mode: disable it on CUDA for attack
    gradients through a frozen threat model (docs/design.md §4). A no-op on the CPU."""
    import contextlib

    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()
