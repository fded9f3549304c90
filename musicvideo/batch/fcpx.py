"""Final Cut Pro X XML (``.fcpxml`` 1.9): the batch's timeline as a Final Cut project, with File > Import > XML.

The song is the primary storyline (one audio clip from 0 to its end); the video clips are connected to it at
their song positions, take ``k`` on lane ``k`` (lane 1 just above the storyline); the downbeats are markers and the
section starts chapter markers ("A (bar 1)") on the song clip, whose own time is song time. Times are rational
seconds in whole frames of the format's ``frameDuration`` (``1001/30000s`` at 29.97 fps), so nothing is rounded.

Why our own writer and not OpenTimelineIO's ``fcpx_xml`` adapter (otio-fcpx-xml-adapter 1.0.0): it knows only
eight frame rates from a table keyed by ``int(rate)`` or the float itself, so an exact 29.97 (30000/1001) or
23.976 timeline finds no frame duration and the writer fails (``not enough values to unpack``), and 10, 12 or
15 fps are missing; it computes frame rates as ``int(rate)`` (29.97 becomes 29) when it places connected clips;
it writes no frame size in the format and probes every file with ffprobe for one. Markers on the timeline itself
(our downbeats) it does not write.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import atomic_output

if TYPE_CHECKING:
    from .timeline import EditTimeline

FCPXML_VERSION = "1.9"
_AUDIO_RATES = {32000: "32k", 44100: "44.1k", 48000: "48k", 88200: "88.2k", 96000: "96k", 176400: "176.4k",
                192000: "192k"}


def rational_time(frames: int, fps: Fraction) -> str:
    """``frames`` of ``fps`` as an FCPXML time: ``"0s"``, ``"385/24s"``, ``"1001/30000s"`` (whole frame durations,
    not reduced, as Final Cut writes them)."""
    if frames == 0:
        return "0s"
    duration = 1 / Fraction(fps)
    value = frames * duration.numerator
    return f"{value}s" if duration.denominator == 1 else f"{value}/{duration.denominator}s"


def build_fcpxml(edit: "EditTimeline") -> ET.Element:
    """The ``fcpxml`` element of an edit (see the module docstring for the layout).

    Parameters
    ----------
    edit : EditTimeline

    Returns
    -------
    xml.etree.ElementTree.Element
    """
    from .timeline import _frames, media_url, video_tracks

    fps = Fraction(edit.fps)
    root = ET.Element("fcpxml", version=FCPXML_VERSION)
    resources = ET.SubElement(root, "resources")
    formats: dict[tuple[Fraction, int, int], str] = {}
    counter = [0]

    def new_id() -> str:
        counter[0] += 1
        return f"r{counter[0]}"

    def format_id(rate: Fraction, width: int, height: int) -> str:
        key = (Fraction(rate), int(width), int(height))
        if key not in formats:
            formats[key] = new_id()
            ET.SubElement(resources, "format", id=formats[key], frameDuration=rational_time(1, key[0]),
                          width=str(key[1]), height=str(key[2]))
        return formats[key]

    sequence_format = format_id(fps, edit.width, edit.height)
    audio_rate = _AUDIO_RATES.get(int(edit.song.sample_rate), "48k")
    channels = str(max(edit.song.channels, 1))

    song_frames = _frames(edit.song.duration_s, fps)
    song_id = new_id()
    song_asset = ET.SubElement(resources, "asset", id=song_id, name=edit.song.path.name, start="0s",
                               duration=rational_time(song_frames, fps), hasVideo="0", hasAudio="1",
                               audioSources="1", audioChannels=channels, audioRate=str(edit.song.sample_rate))
    ET.SubElement(song_asset, "media-rep", kind="original-media", src=media_url(edit.song.path))

    assets: dict[str, str] = {}
    for clip in edit.clips:
        rate = Fraction(clip.fps)
        asset_id = new_id()
        assets[clip.name] = asset_id
        asset = ET.SubElement(resources, "asset", id=asset_id, name=clip.name, start="0s",
                              duration=rational_time(clip.n_frames, rate), hasVideo="1",
                              format=format_id(rate, clip.width, clip.height),
                              hasAudio="1" if clip.has_audio else "0")
        if clip.has_audio:
            asset.set("audioSources", "1")
            asset.set("audioChannels", channels)
            asset.set("audioRate", str(edit.song.sample_rate))
        ET.SubElement(asset, "media-rep", kind="original-media", src=media_url(clip.path))

    library = ET.SubElement(root, "library")
    event = ET.SubElement(library, "event", name=edit.name)
    project = ET.SubElement(event, "project", name=edit.name)
    tracks = video_tracks(edit)
    end = max([song_frames] + [stop for track in tracks for _, _, stop in track])
    sequence = ET.SubElement(project, "sequence", format=sequence_format, duration=rational_time(end, fps),
                             tcStart="0s", tcFormat="NDF", audioLayout="stereo" if channels != "1" else "mono",
                             audioRate=audio_rate)
    spine = ET.SubElement(sequence, "spine")
    song_clip = ET.SubElement(spine, "asset-clip", ref=song_id, name=edit.song.path.name, offset="0s",
                              start="0s", duration=rational_time(song_frames, fps), audioRole="music")
    for lane, track in enumerate(tracks, start=1):
        for clip, start, stop in track:
            ET.SubElement(song_clip, "asset-clip", ref=assets[clip.name], lane=str(lane), name=clip.name,
                          offset=rational_time(start, fps), start="0s", duration=rational_time(stop - start, fps))
    if end > song_frames:  # the last clip's final frame outlasts the song's last whole frame: keep it in the project
        ET.SubElement(spine, "gap", name="Gap", offset=rational_time(song_frames, fps),
                      duration=rational_time(end - song_frames, fps), start="0s")
    for marker in edit.markers:  # after the connected clips, as the DTD orders a clip's children
        frame = _frames(marker.time_s, fps)
        tag = "marker" if marker.comment == "downbeat" else "chapter-marker"
        element = ET.SubElement(song_clip, tag, start=rational_time(frame, fps), duration=rational_time(1, fps),
                                value=marker.name)
        if tag == "chapter-marker":
            element.set("posterOffset", "0s")
    ET.indent(root, space="  ")
    return root


def write_fcpxml(path: str | Path, edit: "EditTimeline") -> Path:
    """Write the edit as an ``.fcpxml`` file (atomically, replacing an older one); returns its path."""
    body = ET.tostring(build_fcpxml(edit), encoding="unicode")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + body + "\n"
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


__all__ = ["FCPXML_VERSION", "rational_time", "build_fcpxml", "write_fcpxml"]
