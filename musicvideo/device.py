"""Which torch device a run uses: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked to exist here.

One function for every entry point (``render``, ``load_generator``, ``select``, ``batch``), so the Python API
refuses a missing device with the same one-line message as the command line instead of torch's assertion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError, MusicVideoError

if TYPE_CHECKING:  # torch is imported on first use
    import torch


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The torch device for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises
    ------
    MusicVideoError
        When the device asked for does not exist here (one line, with the fix).
    """
    import torch

    name = str(name or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not mps_ok:
            raise MusicVideoError("--device mps asked for but Apple's Metal (MPS) is not available here "
                                  "(use --device cpu or auto)")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU or driver found"
            raise MusicVideoError(f"--device {name} asked for but CUDA is not available ({build}); "
                                  "use --device cpu or auto")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"bad device {name!r} (use cuda or cuda:N)") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise MusicVideoError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA device(s) "
                                  f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
        return device
    raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)")


__all__ = ["resolve_device"]
