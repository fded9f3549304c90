"""The batch manifest: what each clip is, how it was made, and whether its file is complete and intact.

Written as ``manifest.json`` (the source of truth, read back on a re-run) and ``manifest.csv`` (for people and
spreadsheets), both atomically, after every clip that finishes, so a killed batch leaves a manifest that describes
exactly the clips that are complete.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_output
from ..config import RenderConfig

MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"

CSV_COLUMNS = ["file", "name", "start_s", "duration_s", "label", "take", "first_bar", "last_bar", "fps", "width",
               "height", "codec", "seeds", "frames", "sha256", "status", "error", "attempts", "elapsed_s", "settings"]


@dataclass
class ClipRecord:
    """One clip in the manifest.

    Attributes
    ----------
    name, file : str
        Clip name and its file name inside the output directory.
    start_s, duration_s : float
        Its segment of the song.
    fps : str
        Exact frame rate as a fraction string (``"30000/1001"``).
    width, height : int
        Frame size (0 until rendered).
    codec : str
        Video codec setting.
    seeds : list of int
        Keyframe seeds used.
    frames : int
        Frames in the file (probed).
    sha256 : str
        Checksum of the file.
    status : str
        ``ok``, ``failed`` or ``pending``.
    error : str
        Why it failed (empty when ok).
    attempts : int
        Render attempts in the last run.
    elapsed_s : float
        Wall time of the render.
    settings : dict
        The full RenderConfig used (JSON-compatible), compared on re-runs.
    inputs : dict
        SHA-256 of the song and of the checkpoint it was rendered from, compared on re-runs.
    label : str
        Section label of a section clip ("A", "B", ...; empty for a clip listed by hand).
    take : int
        Which alternative look of its section (1-based).
    first_bar, last_bar : int
        Bars of the song the clip spans, 1-based as an editor counts (0 when unknown or not a section clip).
    """

    name: str
    file: str
    start_s: float
    duration_s: float
    fps: str
    codec: str
    seeds: list[int] = field(default_factory=list)
    width: int = 0
    height: int = 0
    frames: int = 0
    sha256: str = ""
    status: str = "pending"
    error: str = ""
    attempts: int = 0
    elapsed_s: float = 0.0
    settings: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    label: str = ""
    take: int = 1
    first_bar: int = 0
    last_bar: int = 0


@dataclass
class Manifest:
    """All clip records of one output directory, keyed by file name, and the timeline files written beside them."""

    plan: str = ""
    song: str = ""
    checkpoint: str | None = None
    clips: dict[str, ClipRecord] = field(default_factory=dict)
    timelines: list[str] = field(default_factory=list)


def settings_dict(config: RenderConfig) -> dict[str, Any]:
    """A RenderConfig as plain JSON data (what the manifest stores and compares)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: str | Path) -> Manifest:
    """Read ``manifest.json`` from an output directory; an absent or unreadable one gives an empty Manifest."""
    path = Path(directory) / MANIFEST_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {f.name for f in dataclasses.fields(ClipRecord)}
        clips = {c["file"]: ClipRecord(**{k: v for k, v in c.items() if k in names}) for c in data.get("clips", [])}
        return Manifest(plan=data.get("plan", ""), song=data.get("song", ""), checkpoint=data.get("checkpoint"),
                        clips=clips, timelines=[str(t) for t in data.get("timelines", [])])
    except (OSError, ValueError, TypeError, KeyError):
        return Manifest()  # a damaged manifest only means the clips are re-checked and re-rendered


def _csv_text(manifest: Manifest) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in manifest.clips.values():
        row = dataclasses.asdict(record)
        row["seeds"] = " ".join(map(str, record.seeds))
        row["settings"] = json.dumps(record.settings, sort_keys=True)
        writer.writerow({k: row[k] for k in CSV_COLUMNS})
    return out.getvalue()


def write_manifest(manifest: Manifest, directory: str | Path) -> tuple[Path, Path]:
    """Write ``manifest.json`` and ``manifest.csv`` atomically; returns their paths."""
    directory = Path(directory)
    doc = {"plan": manifest.plan, "song": manifest.song, "checkpoint": manifest.checkpoint,
           "timelines": list(manifest.timelines), "clips": [dataclasses.asdict(r) for r in manifest.clips.values()]}
    json_path, csv_path = directory / MANIFEST_JSON, directory / MANIFEST_CSV
    with atomic_output(json_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    with atomic_output(csv_path, overwrite=True) as tmp:
        tmp.write_text(_csv_text(manifest), encoding="utf-8")
    return json_path, csv_path
