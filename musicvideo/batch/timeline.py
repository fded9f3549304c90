"""The editor's timeline: one OpenTimelineIO timeline of the batch, written for Premiere, Resolve, Final Cut and EDL.

The timeline (:func:`build_timeline`) has the clips at their song positions on video track 1, the other takes of
each section on the tracks above (take ``k`` on track ``k``), the song on an audio track, and markers on the
timeline itself (its stack): one on every downbeat ("bar 5") and a named, coloured one at every section start
("B (bar 9)"). :func:`write_timelines` writes it as

- ``NAME.otio``: OpenTimelineIO's own JSON (DaVinci Resolve imports it; so do Hiero, RV, Nuke Studio),
- ``NAME.xml``: FCP 7 XML for Premiere Pro (our writer, :mod:`.premiere`: the adapter falls short, see there),
- ``NAME.fcpxml``: FCP X XML for Final Cut Pro (our writer, :mod:`.fcpx`: the adapter falls short, see there),
- ``NAME.edl``: CMX 3600 through the ``cmx_3600`` adapter, one file per take (an EDL holds one video track);
  the downbeat and section markers become ``* LOC:`` lines of the clip they fall in (the adapter writes clip
  markers only). SMPTE timecode knows 23.976, 24, 25, 29.97, 30, 48, 50, 59.94 and 60 fps; at any other rate no
  EDL is written and :func:`write_timelines` says so.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from ..atomic import atomic_output
from .premiere import SongTrack, TimelineClip, TimelineMarker, write_fcp_xml

#: Section marker colours by the label's order of appearance (OpenTimelineIO names; downbeats have none, which
#: every editor shows in its default marker colour).
SECTION_COLORS = ("RED", "CYAN", "YELLOW", "PURPLE", "ORANGE", "BLUE", "PINK", "GREEN")

#: Frame rates SMPTE timecode (and so an EDL) can express.
EDL_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
             Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60))


@dataclass
class EditTimeline:
    """Everything the editor's timeline shows.

    Attributes
    ----------
    name : str
        Sequence / project name.
    fps : Fraction
        Sequence frame rate (exact).
    width, height : int
        Sequence frame size.
    clips : list of TimelineClip
        Rendered clips; ``track`` is the video track (0 = V1) of each, None to pack them.
    song : SongTrack
        The song for the audio track.
    markers : list of TimelineMarker
        Downbeat and section markers in song time.
    metadata : dict
        Per clip name: what the manifest knows of it (label, take, bars, seeds), kept in the ``.otio``.
    """

    name: str
    fps: Fraction
    width: int
    height: int
    clips: list[TimelineClip]
    song: SongTrack
    markers: list[TimelineMarker] = field(default_factory=list)
    metadata: dict[str, dict] = field(default_factory=dict)


def musical_markers(downbeat_times_s: Sequence[float],
                    sections: Sequence[tuple[str, float, int]]) -> list[TimelineMarker]:
    """Markers for the timeline: ``bar N`` on every downbeat, ``LABEL (bar N)`` at every section start.

    Parameters
    ----------
    downbeat_times_s : sequence of float
        The song's downbeats.
    sections : sequence of (label, start_s, first_bar)
        Section starts; ``first_bar`` 1-based, 0 when the song has no bars.

    Returns
    -------
    list of TimelineMarker
        Section markers coloured by label (:data:`SECTION_COLORS`), downbeats without colour, in time order.
    """
    out = [TimelineMarker(f"bar {i + 1}", float(t), None, "downbeat") for i, t in enumerate(downbeat_times_s)]
    order: list[str] = []
    for label, start_s, bar in sections:
        if label not in order:
            order.append(label)
        name = f"{label} (bar {bar})" if bar > 0 else f"{label} ({start_s:.2f} s)"
        color = SECTION_COLORS[order.index(label) % len(SECTION_COLORS)]
        out.append(TimelineMarker(name, float(start_s), color, f"section {label}"))
    return sorted(out, key=lambda m: (m.time_s, m.comment != "downbeat"))


def _frames(seconds: float, fps: Fraction) -> int:
    return int(round(Fraction(seconds).limit_denominator(10**9) * fps))


def _clip_frames(clip: TimelineClip, fps: Fraction) -> int:
    """A clip's length in sequence frames."""
    return int(round(Fraction(clip.n_frames) / Fraction(clip.fps) * fps))


def media_url(path: str | Path) -> str:
    """``file:///abs/path`` with percent-encoding (what OpenTimelineIO and Resolve read)."""
    return "file://" + urllib.parse.quote(Path(path).resolve().as_posix())


def video_tracks(edit: EditTimeline) -> list[list[tuple[TimelineClip, int, int]]]:
    """The clips of each video track as ``(clip, first frame, end frame)`` in sequence frames, in time order."""
    from .premiere import _assign_tracks

    return _assign_tracks(edit.clips, edit.fps) or [[]]


def build_timeline(edit: EditTimeline) -> Any:
    """The OpenTimelineIO timeline of an edit.

    Parameters
    ----------
    edit : EditTimeline

    Returns
    -------
    opentimelineio.schema.Timeline
        Video tracks ``V1``.. (gaps between clips), the audio track ``Song``, markers on ``timeline.tracks``.
    """
    import opentimelineio as otio
    from opentimelineio.opentime import RationalTime, TimeRange

    rate = float(edit.fps)

    def span(start: int, length: int, at: float = rate) -> Any:
        return TimeRange(RationalTime(start, at), RationalTime(length, at))

    timeline = otio.schema.Timeline(name=edit.name)
    timeline.global_start_time = RationalTime(0, rate)
    for number, track_items in enumerate(video_tracks(edit), start=1):
        track = otio.schema.Track(name=f"V{number}", kind=otio.schema.TrackKind.Video)
        position = 0
        for clip, start, stop in track_items:
            if start > position:
                track.append(otio.schema.Gap(source_range=span(0, start - position)))
            clip_rate = float(clip.fps)
            reference = otio.schema.ExternalReference(target_url=media_url(clip.path),
                                                      available_range=span(0, clip.n_frames, clip_rate))
            item = otio.schema.Clip(name=clip.name, media_reference=reference,
                                    source_range=span(0, clip.n_frames, clip_rate))
            item.metadata["musicvideo"] = dict(edit.metadata.get(clip.name, {}))
            # an EDL reel name has no spaces and at most 8 characters
            item.metadata["cmx_3600"] = {"reel": re.sub(r"[^A-Za-z0-9]", "", clip.name)[:8] or "AX"}
            track.append(item)
            position = stop
        timeline.tracks.append(track)
    song_frames = _frames(edit.song.duration_s, edit.fps)
    song_ref = otio.schema.ExternalReference(target_url=media_url(edit.song.path),
                                             available_range=span(0, song_frames))
    song_ref.metadata["musicvideo"] = {"sample_rate": edit.song.sample_rate, "channels": edit.song.channels}
    audio = otio.schema.Track(name="Song", kind=otio.schema.TrackKind.Audio)
    audio.append(otio.schema.Clip(name=edit.song.path.name, media_reference=song_ref,
                                  source_range=span(0, song_frames)))
    timeline.tracks.append(audio)
    for marker in edit.markers:
        timeline.tracks.markers.append(otio.schema.Marker(
            name=marker.name, marked_range=span(_frames(marker.time_s, edit.fps), 0),
            color=getattr(otio.schema.MarkerColor, marker.color or "GREEN"), comment=marker.comment))
    timeline.metadata["musicvideo"] = {"fps": str(edit.fps), "width": edit.width, "height": edit.height}
    return timeline


def edl_timeline(timeline: Any, track_index: int) -> Any:
    """A copy of the timeline with one video track for the CMX 3600 writer: the timeline's markers move onto the
    clips they fall in (the writer turns clip markers into ``* LOC:`` lines and ignores the timeline's)."""
    import opentimelineio as otio
    from opentimelineio.opentime import TimeRange

    source = timeline.video_tracks()[track_index]
    track = source.deepcopy()
    out = otio.schema.Timeline(name=timeline.name if track_index == 0 else f"{timeline.name} take {track_index + 1}")
    out.global_start_time = timeline.global_start_time
    out.tracks.append(track)
    for marker in timeline.tracks.markers:
        at = marker.marked_range.start_time
        for item in track:
            if not isinstance(item, otio.schema.Clip):
                continue
            placed = item.range_in_parent()
            if placed.start_time <= at < placed.end_time_exclusive():
                local = at - placed.start_time + item.source_range.start_time
                copy = marker.deepcopy()
                copy.marked_range = TimeRange(local.rescaled_to(item.source_range.start_time.rate),
                                              marker.marked_range.duration)
                item.markers.append(copy)
                break
    return out


def write_timelines(edit: EditTimeline, directory: str | Path, stem: str) -> tuple[dict[str, Path], list[str]]:
    """Write the edit as ``STEM.xml``, ``STEM.otio``, ``STEM.fcpxml`` and ``STEM.edl`` (``STEM take N.edl`` for the
    other takes), each atomically.

    Parameters
    ----------
    edit : EditTimeline
        The clips, song and markers.
    directory : str or Path
        Where to write.
    stem : str
        File name without extension.

    Returns
    -------
    (dict, list of str)
        The files written by kind (``xml``, ``otio``, ``fcpxml``, ``edl``, ``edl take 2``, ...), and one-line notes
        (an EDL that cannot be written at this frame rate).
    """
    import opentimelineio as otio

    from .fcpx import write_fcpxml

    directory = Path(directory)
    paths: dict[str, Path] = {}
    notes: list[str] = []
    paths["xml"] = write_fcp_xml(directory / f"{stem}.xml", edit.name, edit.clips, edit.song, fps=edit.fps,
                                 width=edit.width, height=edit.height, markers=edit.markers)
    timeline = build_timeline(edit)
    paths["otio"] = _write_text(directory / f"{stem}.otio", otio.adapters.write_to_string(timeline, "otio_json"))
    paths["fcpxml"] = write_fcpxml(directory / f"{stem}.fcpxml", edit)
    if Fraction(edit.fps) in EDL_RATES:
        for index in range(len(timeline.video_tracks())):
            if not any(isinstance(i, otio.schema.Clip) for i in timeline.video_tracks()[index]):
                continue
            try:
                text = otio.adapters.write_to_string(edl_timeline(timeline, index), "cmx_3600")
            except otio.exceptions.OTIOError as exc:  # the adapter missing (a separate package since OTIO 0.17)
                notes.append(f"no EDL written ({exc}); pip install otio-cmx3600-adapter for one")
                break
            key = "edl" if index == 0 else f"edl take {index + 1}"
            paths[key] = _write_text(directory / f"{stem}{'' if index == 0 else f' take {index + 1}'}.edl", text)
    else:
        notes.append(f"no EDL written: CMX 3600 timecode has no {float(edit.fps):g} fps (use 23.976, 24, 25, "
                     "29.97, 30, 50 or 60 fps for an EDL); the .xml, .otio and .fcpxml carry the same cut")
    return paths, notes


def _write_text(path: Path, text: str) -> Path:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = ["EditTimeline", "SECTION_COLORS", "EDL_RATES", "musical_markers", "media_url", "video_tracks",
           "build_timeline", "edl_timeline", "write_timelines"]
