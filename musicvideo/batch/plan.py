"""Clip plans: a TOML file naming a song, a checkpoint and the clips to render from it.

A plan (paths are relative to the plan file)::

    song = "demo.wav"
    checkpoint = "model.safetensors"   # optional: the embedded default
    name = "demo cut"                  # optional: the Premiere sequence name (default: the plan file's name)

    [defaults]                         # any RenderConfig field, for every clip
    fps = 30
    size = 256
    codec = "prores"                   # shortcut for [defaults.video] codec; prores is the default for editing

    [[clips]]
    name = "intro"                     # output file intro.mov
    start = 0.0                        # seconds into the song (default 0)
    duration = 8.0                     # seconds (default: to the end of the song)
    seeds = [1, 7, 42]                 # keyframe seeds ...

    [[clips]]
    name = "chorus"
    start = 8.0
    select = { color = "yellow", faces = false, count = 4 }   # ... or seeds picked by look (musicvideo select)
    walk = { speed = 1.5 }             # any RenderConfig table overrides the defaults for this clip
    split = 4                          # render in 4 frame ranges on several workers, joined losslessly

Or one clip per section of the song (what ``musicvideo batch --auto`` writes as ``plan.toml``)::

    song = "demo.wav"
    clips = "sections"                 # cut where the analysis finds sections, on the frame nearest the downbeat
    takes = 2                          # alternative looks of every section (stacked tracks in the timelines)

    [defaults]
    fps = 30

    [looks.A]                          # every section labelled A looks the same: one seed list per take ...
    seeds = [[1, 7, 42], [5, 6, 9]]
    [looks.B]                          # ... or seeds picked by traits (another pool of candidates per take)
    select = { color = "blue", count = 4 }

A label without a look gets seeds derived from the song, the label and the take. Section clips are named
``01 A``, ``02 B``, ``01 A take 2``; their walk cuts (``section_change = "cut"``) unless ``[defaults.walk]`` says
otherwise, since the editor cuts between them. ``clips = "sections"`` and ``[[clips]]`` tables cannot be mixed.

Every problem (unknown key, wrong type, a segment outside the song, two clips with the same output name) is a
ConfigError naming the key and its line, raised before anything renders.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

from ..config import RenderConfig, dataclass_from_dict, exact_fps, frame_count
from ..errors import ConfigError, require_file
from ..select import Traits

#: Codec and container used for clips when the plan does not say: ProRes 422 HQ in .mov, for editing.
DEFAULT_CODEC = "prores"

_CONTAINERS = {"prores": ".mov", "dnxhr": ".mov", "h264": ".mp4", "hevc": ".mp4"}
_PLAN_KEYS = {"song", "checkpoint", "name", "defaults", "clips", "takes", "looks"}
_LOOK_KEYS = {"seeds", "select"}
_CLIP_KEYS = {"name", "start", "duration", "seeds", "select", "split", "codec"}
_DEFAULTS_EXTRA = {"codec", "split"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]*$")


@dataclass
class SelectSpec(Traits):
    """A clip's ``select`` table: the traits (see :class:`musicvideo.select.Traits`) plus how many seeds to pick."""

    count: int = 4
    candidates: int = 64
    first_seed: int = 0
    thumb_size: int = 64

    def traits(self) -> Traits:
        """The traits alone."""
        return Traits(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Traits)})


@dataclass
class ClipSpec:
    """One clip of a plan, with everything resolved.

    Attributes
    ----------
    name : str
        Output name without extension.
    filename : str
        Output file name inside the output directory (``name`` + ``.mov``/``.mp4`` from the codec).
    config : RenderConfig
        The full render settings (defaults + the clip's overrides, with ``start_s``/``duration_s`` set).
    seeds : list of int or None
        Keyframe seeds given in the plan.
    select : SelectSpec or None
        Traits to pick seeds by, when ``seeds`` is not given.
    split : int
        Frame ranges to render on separate workers and join (1 = one piece).
    line : int
        Line of the clip's ``[[clips]]`` header in the plan (of ``clips = "sections"`` for a section clip).
    label : str
        Section label of a section clip (empty for a listed clip).
    take : int
        Which alternative look of its section (1-based).
    first_bar, last_bar : int
        Bars of the song it spans, 1-based (0 when unknown).
    label_slot : tuple of int
        ``(label index, labels in the song)`` as the walk counts them, so a section clip opens on its look's first
        seed (:func:`musicvideo.batch.sections.opening_first`); ``(0, 1)`` for a listed clip.
    """

    name: str
    filename: str
    config: RenderConfig
    seeds: list[int] | None = None
    select: SelectSpec | None = None
    split: int = 1
    line: int = 0
    label: str = ""
    take: int = 1
    first_bar: int = 0
    last_bar: int = 0
    label_slot: tuple[int, int] = (0, 1)

    @property
    def fps(self) -> Fraction:
        """Exact frame rate."""
        return exact_fps(self.config.fps)

    @property
    def n_frames(self) -> int:
        """Frames of the finished clip: ``ceil(duration * fps)``."""
        return frame_count(self.config.duration_s or 0.0, self.fps)


@dataclass
class BatchPlan:
    """A parsed, checked plan.

    Attributes
    ----------
    path : Path
        The plan file.
    song : Path
        The song (absolute).
    checkpoint : Path or None
        The checkpoint (absolute), None = the embedded default.
    name : str
        Sequence name for the editor.
    song_duration_s : float
        Length of the song.
    clips : list of ClipSpec
        In plan order.
    defaults : RenderConfig
        The shared settings (used for the sequence's frame rate and size).
    takes : int
        Alternative looks per section (``clips = "sections"``).
    sections : SongSections or None
        The song's cut, for a ``clips = "sections"`` plan.
    """

    path: Path
    song: Path
    checkpoint: Path | None
    name: str
    song_duration_s: float
    clips: list[ClipSpec] = field(default_factory=list)
    defaults: RenderConfig = field(default_factory=RenderConfig)
    takes: int = 1
    sections: Any = None


def container_for(codec: str) -> str:
    """File extension for a codec: ``.mov`` for ProRes/DNxHR, ``.mp4`` for H.264/HEVC."""
    try:
        return _CONTAINERS[codec]
    except KeyError:
        raise ConfigError(f"unknown codec {codec!r} (use one of {', '.join(_CONTAINERS)})") from None


def song_duration_s(song: Path) -> float:
    """Length of the song in seconds (via the audio stage)."""
    from ..audio import audio_duration_s

    return float(audio_duration_s(song))


class _PlanText:
    """The plan's text, to name the line of a key inside one table of it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [(i, line.strip()) for i, line in enumerate(self.lines) if line.strip().startswith("[")]

    def clip_header_lines(self) -> list[int]:
        """0-based line numbers of the ``[[clips]]`` headers, in order."""
        return [i for i, h in self.headers if re.match(r"^\[\[\s*clips\s*\]\]", h)]

    def region(self, first: int, last: int) -> str:
        """The text with every line outside ``[first, last)`` blanked (line numbers kept)."""
        return "\n".join(line if first <= i < last else "" for i, line in enumerate(self.lines))

    def table_region(self, table: str) -> str:
        """The text of ``[table]`` and its sub-tables, others blanked; the top level when ``table`` is empty."""
        if not table:
            end = self.headers[0][0] if self.headers else len(self.lines)
            return self.region(0, end)
        start = next((i for i, h in self.headers if re.match(rf"^\[\s*{re.escape(table)}\s*\]", h)), None)
        if start is None:
            return ""
        end = next((i for i, h in self.headers if i > start and not re.match(rf"^\[\s*{re.escape(table)}[\].]", h)),
                   len(self.lines))
        return self.region(start, end)

    def clip_region(self, index: int) -> str:
        """The text of the ``index``-th ``[[clips]]`` entry (with its sub-tables)."""
        starts = self.clip_header_lines()
        if index >= len(starts):
            return ""
        start = starts[index]
        end = next((i for i, h in self.headers if i > start and not re.match(r"^\[\s*clips[\].]", h)),
                   len(self.lines))
        return self.region(start, end)


def line_of(region: str, key: str) -> str:
    """``" (line N)"`` for the first line of ``region`` that assigns ``key`` (or names it in a table header)."""
    pattern = re.compile(rf"^\s*([\w.]+\.)?(\"?{re.escape(key)}\"?\s*=|\[+[^\]]*\b{re.escape(key)}\s*\]+)")
    for number, line in enumerate(region.splitlines(), start=1):
        if pattern.match(line):
            return f" (line {number})"
    inline = re.compile(rf"[{{,]\s*{re.escape(key)}\s*=")
    for number, line in enumerate(region.splitlines(), start=1):
        if inline.search(line):
            return f" (line {number})"
    return ""


def _deep_merge(base: dict, over: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_keys(data: Mapping[str, Any], known: set[str], where: str, region: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown key {where}{key}{line_of(region, key)} in the plan "
                              f"(known keys: {', '.join(sorted(known))})")


def _typed(value: Any, kinds: tuple[type, ...], key: str, where: str, region: str, what: str) -> Any:
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where}{key} must be {what}, got {type(value).__name__} {value!r}{line_of(region, key)}")
    return value


def _build(cls: type, data: Mapping[str, Any], region: str, where: str) -> Any:
    """``dataclass_from_dict`` that adds the line of the offending key when its message has none."""
    try:
        return dataclass_from_dict(cls, data, text=region, where=where)
    except ConfigError as exc:
        message = str(exc)
        if "(line " in message:
            raise
        match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)(?: must| =|:)", message) or re.search(r"colour", message)
        key = "color" if match and match.group(0) == "colour" else (match.group(1) if match else "")
        at = line_of(region, key) if key else ""
        if not at:
            raise
        if key == "color":
            raise ConfigError(f"{where}color{at}: {message}") from None
        raise ConfigError(re.sub(r"( must| =|:)", at + r"\1", message, count=1)) from None


def load_plan(path: str | Path, *, song_duration: float | None = None) -> BatchPlan:
    """Read and check a clip plan.

    Parameters
    ----------
    path : str or Path
        The plan TOML file.
    song_duration : float, optional
        Length of the song in seconds; read from the song when not given.

    Returns
    -------
    BatchPlan

    Raises
    ------
    ConfigError
        Unknown keys, wrong types, a segment outside the song, duplicate output names, missing files: one line
        naming the key and its line.
    """
    plan_path = require_file(path, "plan", ConfigError).resolve()
    text = plan_path.read_text(encoding="utf-8", errors="replace")
    _check_clips_not_mixed(text, plan_path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"plan {plan_path} is not valid TOML: {exc}") from None
    lines = _PlanText(text)
    top = lines.table_region("")
    _check_keys(data, _PLAN_KEYS, "", text)
    if "song" not in data:
        raise ConfigError(f"plan {plan_path} names no song (add song = \"path/to/song.wav\" at the top)")
    base = plan_path.parent
    song_rel = _typed(data["song"], (str,), "song", "", top, "a path string")
    song = require_file(base / song_rel, "song", ConfigError).resolve()
    checkpoint = None
    if data.get("checkpoint") is not None:
        ck = _typed(data["checkpoint"], (str,), "checkpoint", "", top, "a path string")
        checkpoint = require_file(base / ck, "checkpoint", ConfigError).resolve()
    name = _typed(data.get("name", plan_path.stem), (str,), "name", "", top, "a string")

    # defaults: RenderConfig fields plus the codec/split shortcuts; editing-friendly codec unless told otherwise
    defaults_region = lines.table_region("defaults")
    raw_defaults = _typed(data.get("defaults", {}), (dict,), "defaults", "", text, "a table")
    _check_keys(raw_defaults, {f.name for f in dataclasses.fields(RenderConfig)} | _DEFAULTS_EXTRA,
                "defaults.", defaults_region)
    raw_defaults = dict(raw_defaults)
    default_split = _typed(raw_defaults.pop("split", 1), (int,), "split", "defaults.", defaults_region,
                           "an integer")
    shared: dict[str, Any] = {"video": {"codec": DEFAULT_CODEC}}
    if "codec" in raw_defaults:
        shared["video"]["codec"] = _typed(raw_defaults.pop("codec"), (str,), "codec", "defaults.", defaults_region,
                                          "a string")
    shared = _deep_merge(shared, raw_defaults)
    defaults = _build(RenderConfig, shared, defaults_region, "defaults.")

    duration_total = float(song_duration) if song_duration is not None else song_duration_s(song)
    raw_clips = data.get("clips")
    if isinstance(raw_clips, str) or "takes" in data or "looks" in data:
        if raw_clips != "sections":
            key = "clips" if isinstance(raw_clips, str) else ("takes" if "takes" in data else "looks")
            raise ConfigError(f"{key}{line_of(text, key)} in plan {plan_path}: takes and looks go with "
                              "clips = \"sections\" (one clip per section of the song), and clips takes only "
                              "\"sections\" or [[clips]] tables")
        user_walk = data.get("defaults", {}).get("walk", {}) if isinstance(data.get("defaults"), dict) else {}
        plan = BatchPlan(path=plan_path, song=song, checkpoint=checkpoint, name=name,
                         song_duration_s=duration_total, defaults=defaults)
        return _section_plan(plan, data, lines, text, default_split, cut_style_set="section_change" in user_walk)
    if not raw_clips:
        raise ConfigError(f"plan {plan_path} has no clips (add a [[clips]] table with a name)")
    _typed(raw_clips, (list,), "clips", "", text, "an array of tables ([[clips]])")
    headers = lines.clip_header_lines()
    clips: list[ClipSpec] = []
    seen: dict[str, ClipSpec] = {}
    render_keys = {f.name for f in dataclasses.fields(RenderConfig)} - {"start_s", "duration_s"}
    for index, raw in enumerate(raw_clips):
        region = lines.clip_region(index)
        line_no = headers[index] + 1 if index < len(headers) else 0
        where = f"clips[{index}]."
        at = f" (line {line_no})" if line_no else ""
        if not isinstance(raw, dict):
            raise ConfigError(f"clips[{index}] must be a table{at}")
        _check_keys(raw, _CLIP_KEYS | render_keys, where, region)
        if "name" not in raw:
            raise ConfigError(f"clip {index + 1}{at} has no name (add name = \"intro\")")
        clip_name = _typed(raw["name"], (str,), "name", where, region, "a string")
        if not _SAFE_NAME.match(clip_name) or clip_name in (".", ".."):
            raise ConfigError(f"{where}name {clip_name!r}{line_of(region, 'name')} is not a usable file name "
                              "(letters, digits, space, . _ + -)")
        overrides = {k: v for k, v in raw.items() if k in render_keys}
        if "codec" in raw:
            codec = _typed(raw["codec"], (str,), "codec", where, region, "a string")
            overrides = _deep_merge(overrides, {"video": {"codec": codec}})
        start = float(_typed(raw.get("start", defaults.start_s), (int, float), "start", where, region,
                             "a number of seconds"))
        duration = raw.get("duration", None)
        if duration is not None:
            duration = float(_typed(duration, (int, float), "duration", where, region, "a number of seconds"))
        elif defaults.duration_s is not None and "duration" not in raw:
            duration = defaults.duration_s
        config_dict = _deep_merge(dataclasses.asdict(defaults), overrides)
        config = _build(RenderConfig, config_dict, region, where)
        fps = exact_fps(config.fps)
        if start < 0 or start >= duration_total:
            raise ConfigError(f"{where}start = {start:g}{line_of(region, 'start')} is outside the song "
                              f"(0 to {duration_total:.3f} s)")
        if duration is None:
            duration = duration_total - start
        if duration <= 0:
            raise ConfigError(f"{where}duration = {duration:g}{line_of(region, 'duration')} must be positive")
        if start + duration > duration_total + 0.5 / float(fps):
            raise ConfigError(f"clip {clip_name!r}: {start:g} s + {duration:g} s{line_of(region, 'duration')} ends "
                              f"after the song ({duration_total:.3f} s); shorten it or move its start")
        config.start_s, config.duration_s = start, duration
        seeds = None
        if raw.get("seeds") is not None:
            seeds = _typed(raw["seeds"], (list,), "seeds", where, region, "a list of integers")
            if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
                raise ConfigError(f"{where}seeds{line_of(region, 'seeds')} must be a non-empty list of integers")
        select = None
        if raw.get("select") is not None:
            if seeds is not None:
                raise ConfigError(f"clip {clip_name!r}{line_of(region, 'select')} has both seeds and select "
                                  "(keep one)")
            select_raw = _typed(raw["select"], (dict,), "select", where, region, "a table of traits")
            if select_raw.get("like") is not None and isinstance(select_raw["like"], str):
                select_raw = {**select_raw, "like": str((base / select_raw["like"]).resolve())}
            select = _build(SelectSpec, select_raw, region, f"{where}select.")
        split = _typed(raw.get("split", default_split), (int,), "split", where, region, "an integer")
        n_frames = frame_count(duration, fps)
        if split < 1 or split > max(n_frames, 1):
            raise ConfigError(f"{where}split = {split}{line_of(region, 'split')} must be within 1..{n_frames} "
                              "(the clip's frames)")
        filename = clip_name + container_for(config.video.codec)
        key = filename.lower()  # case-insensitive file systems (macOS, Windows) would collide too
        if key in seen:
            other = seen[key]
            raise ConfigError(f"clips {other.name!r} (line {other.line}) and {clip_name!r}{at} have the same output "
                              f"name {filename}; rename one")
        spec = ClipSpec(name=clip_name, filename=filename, config=config, seeds=seeds, select=select, split=split,
                        line=line_no)
        seen[key] = spec
        clips.append(spec)
    return BatchPlan(path=plan_path, song=song, checkpoint=checkpoint, name=name, song_duration_s=duration_total,
                     clips=clips, defaults=defaults)


# ---------------------------------------------------------------- clips = "sections"


def _check_clips_not_mixed(text: str, plan_path: Path) -> None:
    """``clips = "sections"`` and ``[[clips]]`` tables in one plan: one line naming both (TOML itself would
    only say "cannot overwrite a value")."""
    sections = [i for i, line in enumerate(text.splitlines(), 1)
                if re.match(r"^\s*clips\s*=\s*[\"']sections[\"']", line)]
    listed = [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"^\s*\[\[\s*clips\s*\]\]", line)]
    if sections and listed:
        raise ConfigError(f"plan {plan_path} line {listed[0]} lists a clip ([[clips]]) but line {sections[0]} says "
                          "clips = \"sections\"; keep one (delete the [[clips]] tables or the clips = \"sections\" "
                          "line)")


def _look_seeds(raw: Any, takes: int, where: str, region: str) -> list[list[int] | None]:
    """A look's ``seeds``: one list (take 1) or one list per take; None where a take has none."""
    bad = ConfigError(f"{where}seeds{line_of(region, 'seeds')} must be a list of integers (take 1) or a list of "
                      "such lists (one per take)")
    if not isinstance(raw, list) or not raw:
        raise bad
    per_take = raw if all(isinstance(x, list) for x in raw) else [raw]
    for seeds in per_take:
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise bad
    if len(per_take) > takes:
        raise ConfigError(f"{where}seeds{line_of(region, 'seeds')} has {len(per_take)} lists but takes = {takes} "
                          "(raise takes or drop a list)")
    return [list(per_take[t]) if t < len(per_take) else None for t in range(takes)]


def _section_plan(plan: BatchPlan, data: Mapping[str, Any], lines: _PlanText, text: str, default_split: int,
                  *, cut_style_set: bool) -> BatchPlan:
    """The clips of a ``clips = "sections"`` plan: one per section and take, cut on the frame grid."""
    from ..motion.keyframes import song_seed
    from .sections import analyse_sections, clip_name, derived_seeds

    top = lines.table_region("")
    at = line_of(text, "clips")
    line_no = int(at.strip(" ()").split()[-1]) if at else 0
    takes = _typed(data.get("takes", 1), (int,), "takes", "", top, "an integer")
    if not 1 <= takes <= 16:
        raise ConfigError(f"takes = {takes}{line_of(top, 'takes')} must be within 1..16")
    defaults = plan.defaults
    fps = exact_fps(defaults.fps)
    song_cut = analyse_sections(plan.song, fps=fps, analysis=defaults.analysis,
                                min_beat_confidence=defaults.walk.min_beat_confidence)
    looks_raw = _typed(data.get("looks", {}), (dict,), "looks", "", text, "a table of labels ([looks.A])")
    looks: dict[str, tuple[list[list[int] | None], SelectSpec | None]] = {}
    for label, raw in looks_raw.items():
        region = lines.table_region(f"looks.{label}")
        where = f"looks.{label}."
        if not isinstance(raw, dict):
            raise ConfigError(f"looks.{label}{line_of(text, label)} must be a table ([looks.{label}])")
        _check_keys(raw, _LOOK_KEYS, where, region)
        if "seeds" in raw and "select" in raw:
            raise ConfigError(f"[looks.{label}]{line_of(region, 'select')} has both seeds and select (keep one)")
        seeds = _look_seeds(raw["seeds"], takes, where, region) if "seeds" in raw else [None] * takes
        select = None
        if "select" in raw:
            select_raw = _typed(raw["select"], (dict,), "select", where, region, "a table of traits")
            if isinstance(select_raw.get("like"), str):
                select_raw = {**select_raw, "like": str((plan.path.parent / select_raw["like"]).resolve())}
            select = _build(SelectSpec, select_raw, region, f"{where}select.")
        looks[label] = (seeds, select)
    base_seed = defaults.seed if defaults.seed is not None else song_seed(plan.song)
    clips: list[ClipSpec] = []
    for take in range(1, takes + 1):
        for cut in song_cut.cuts:
            config = copy.deepcopy(defaults)
            config.start_s, config.duration_s = cut.start_s, cut.duration_s
            if not cut_style_set:  # the editor cuts between clips: a morph into the next look would be cut off
                config.walk.section_change = "cut"
            given, select = looks.get(cut.label, ([None] * takes, None))
            seeds, pick = given[take - 1], None
            if select is not None:  # another pool of candidates per take: the takes differ, the label's clips agree
                pick = dataclasses.replace(select, first_seed=select.first_seed + (take - 1) * select.candidates)
            elif seeds is None:
                seeds = derived_seeds(base_seed, cut.label_index, take, defaults.walk.n_keyframes)
            name = clip_name(cut, take)
            n_frames = frame_count(cut.duration_s, fps)
            clips.append(ClipSpec(name=name, filename=name + container_for(config.video.codec), config=config,
                                  seeds=seeds, select=pick, split=min(default_split, max(n_frames, 1)),
                                  line=line_no, label=cut.label, take=take, first_bar=cut.first_bar,
                                  last_bar=cut.last_bar, label_slot=(cut.label_index, song_cut.n_labels)))
    return dataclasses.replace(plan, clips=clips, takes=takes, sections=song_cut)

