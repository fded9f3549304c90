"""RenderConfig and friends: every knob in one place, loaded from TOML and overridden by CLI flags.

Each stage owns the dataclass of its own knobs, beside its code (``AnalysisConfig`` in ``audio.features``,
``CurveConfig`` in ``audio.curves``, ``WalkConfig`` in ``motion.walk``, ``VideoConfig`` in ``video.codecs``);
this module composes them into :class:`RenderConfig` and reads and checks TOML files. A config file has one table
per stage::

    fps = 30
    size = 512
    [curves]
    release_s = 0.3
    [walk]
    pulse_strength = 0.6

Unknown keys and wrong types are errors that name the key and its line.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .audio.curves import CurveConfig
from .audio.features import AnalysisConfig
from .audio.timing import exact_fps, frame_count  # noqa: F401 - re-exported: one definition of frame timing
from .errors import ConfigError
from .motion.walk import WalkConfig
from .video.codecs import VideoConfig


@dataclass
class RenderConfig:
    """Everything a render needs besides the song and the checkpoint.

    Attributes
    ----------
    fps : float
        Frames per second; fractional rates such as 29.97 (read as 30000/1001) are kept exactly.
    size : int or None
        Square output size in pixels; ``None`` means the generator's own resolution unless width/height are set.
    width, height : int or None
        Output size when it is not square (e.g. 1920x1080 from a square model, see ``video.fit``).
    start_s : float
        Where in the song the clip starts, in seconds.
    duration_s : float or None
        Clip length in seconds; ``None`` means to the end of the song.
    seed : int or None
        Seed of the keyframe latents (the same seed and song give the same video); None derives it from the
        song's content, so every song starts on its own image.
    device : str
        ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    batch_size : int or None
        Frames per generator batch; ``None`` chooses one from the device and resolution.
    """

    fps: float = 30.0
    size: int | None = None
    width: int | None = None
    height: int | None = None
    start_s: float = 0.0
    duration_s: float | None = None
    seed: int | None = None
    device: str = "auto"
    batch_size: int | None = None
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    curves: CurveConfig = field(default_factory=CurveConfig)
    walk: WalkConfig = field(default_factory=WalkConfig)
    video: VideoConfig = field(default_factory=VideoConfig)


# ---------------------------------------------------------------- loading from TOML and dicts


def _line_of(text: str | None, key: str) -> str:
    if not text:
        return ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(key) and stripped[len(key):].lstrip().startswith("="):
            return f" (line {number})"
        if stripped in (f"[{key}]", f"[[{key}]]"):
            return f" (line {number})"
    return ""


def _check_type(value: Any, annotation: Any, where: str, text: str | None, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _check_type(value, option, where, text, key)
            except ConfigError as exc:
                if option is not type(None):  # "must be int", not "must be NoneType", for an optional int
                    errors.append(exc)
        raise errors[0]
    if annotation is type(None):
        if value is None:
            return None
    elif annotation is Any:
        return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is bool or annotation is str:
        if isinstance(value, annotation):
            return value
    elif origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            items = [_check_type(v, item, where, text, key) for v in value]
            return items if origin is list else tuple(items)
    elif origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}{key} must be one of {', '.join(map(repr, args))}, got {value!r}"
                          f"{_line_of(text, key)}")
    elif dataclasses.is_dataclass(annotation):
        if isinstance(value, Mapping):
            return dataclass_from_dict(annotation, value, text=text, where=f"{where}{key}.")
    else:
        return value
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{where}{key} must be {name}, got {type(value).__name__} {value!r}{_line_of(text, key)}")


def dataclass_from_dict(cls: type, data: Mapping[str, Any], *, text: str | None = None, where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys and wrong types.

    Parameters
    ----------
    cls : type
        A dataclass; nested dataclass fields are built from nested tables.
    data : mapping
        Keys and values (e.g. from ``tomllib``).
    text : str, optional
        The TOML source, used to name the line of a bad key.
    where : str
        Prefix naming the table, for messages (``"walk."``).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"unknown key {where}{key}{_line_of(text, key)} (known keys: {known})")
        kwargs[key] = _check_type(value, hints[key], where, text, key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {exc}") from None


STYLES = ("calm", "default", "energetic", "cut")  # the named styles shipped in musicvideo/styles/


def style_text(style: str) -> tuple[str, str]:
    """The TOML text of a named style (``calm``, ``default``, ``energetic``, ``cut``) or of a style file.

    Returns
    -------
    (str, str)
        Where it came from (for messages) and its text.
    """
    from importlib import resources

    name = style.strip()
    if name.lower() in STYLES:
        source = resources.files("musicvideo").joinpath("styles", f"{name.lower()}.toml")
        return f"style {name.lower()}", source.read_text(encoding="utf-8")
    p = Path(name).expanduser()
    if p.suffix.lower() == ".toml" and p.is_file():
        return f"style file {p}", p.read_text(encoding="utf-8", errors="replace")
    raise ConfigError(f"unknown style {style!r} (use {', '.join(STYLES)}, or a .toml file copied from "
                      f"musicvideo/styles/)")


def _read_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None, *,
                style: str | None = None) -> RenderConfig:
    """Read a RenderConfig from a named style, a TOML file and CLI overrides (each wins over the one before).

    Parameters
    ----------
    path : str or Path, optional
        A TOML file whose keys are RenderConfig fields, with one table per stage.
    overrides : mapping, optional
        Top-level fields set on the command line; ``None`` values are ignored (flag not given).
    style : str, optional
        A named style (``calm``, ``default``, ``energetic``, ``cut``: small TOML files in ``musicvideo/styles/``
        to copy and edit) or the path of such a file; the config file and the overrides are applied on top of it.
    """
    data: dict[str, Any] = {}
    text = None
    if style is not None:
        where, style_toml = style_text(style)
        data = _read_toml(style_toml, where)
        dataclass_from_dict(RenderConfig, data, text=style_toml, where="")  # its own errors name its own lines
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (check the path)")
        text = p.read_text(encoding="utf-8", errors="replace")
        for key, value in _read_toml(text, f"config file {p}").items():
            if isinstance(value, Mapping) and isinstance(data.get(key), Mapping):
                data[key] = {**data[key], **value}  # a table in the file updates the style's table
            else:
                data[key] = value
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return dataclass_from_dict(RenderConfig, data, text=text)


def merge_overrides(config: RenderConfig, overrides: Mapping[str, Any]) -> RenderConfig:
    """Return a copy of ``config`` with the non-None ``overrides`` applied (nested dicts update nested tables)."""
    data = dataclasses.asdict(config)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(data.get(key), dict):
            data[key].update({k: v for k, v in value.items() if v is not None})
        else:
            data[key] = value
    return dataclass_from_dict(RenderConfig, data)
