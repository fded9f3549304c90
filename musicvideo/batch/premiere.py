"""Final Cut Pro 7 XML (``xmeml`` version 4): a sequence that Premiere Pro imports with File > Import.

The sequence has every rendered clip on a video track at its position in the song (clips that overlap in time go
on further tracks, takes of a section on the track of their take) over the full song on an audio track, so the cut
starts in sync, and sequence markers (downbeats, named and coloured section starts). Times are in frames of the
sequence's rate: ``timebase`` is the rounded frame rate and ``ntsc`` says whether it is really ``timebase * 1000 /
1001`` (29.97 = timebase 30, ntsc TRUE). Files are referenced by absolute ``file://localhost/...`` URLs.

Why our own writer and not OpenTimelineIO's ``fcp_xml`` adapter (otio-fcp-adapter 1.0.0, checked with the same
timeline): it leaves the sequence's ``<format>`` empty (no frame size, so Premiere makes the sequence its default
size, not the clips'), writes ``<media><audio/>`` without the sample rate and channel count of the song, writes
``<rate>`` twice in every clipitem, nests the sequence in a ``<project>`` and drops track-level markers and
marker colours (Premiere keeps a marker's colour in ``<pproColor>``). Everything else the timeline has (clips at
their frames, NTSC rates, the song, sequence markers) is written here from the same numbers.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from ..atomic import atomic_output


@dataclass
class TimelineClip:
    """A finished clip to place on the timeline.

    Attributes
    ----------
    name : str
        Shown in the editor.
    path : Path
        The clip file (absolute).
    start_s : float
        Its position in the song.
    n_frames : int
        Frames in the file.
    fps : Fraction
        Its frame rate.
    width, height : int
        Its frame size.
    has_audio : bool
        Whether the file carries the song's audio (linked as a second, muted-by-default track item is not added:
        the song track carries the sound).
    """

    name: str
    path: Path
    start_s: float
    n_frames: int
    fps: Fraction
    width: int
    height: int
    has_audio: bool = True
    track: int | None = None


@dataclass
class TimelineMarker:
    """A point marker on the sequence.

    Attributes
    ----------
    name : str
        Shown on the marker ("A (bar 1)", "bar 5").
    time_s : float
        Song time; placed on the nearest frame.
    color : str or None
        OpenTimelineIO marker colour name (``"RED"``, ``"CYAN"``, ...); None = the editor's default.
    comment : str
        Longer text (the marker's comment field).
    """

    name: str
    time_s: float
    color: str | None = None
    comment: str = ""


#: Premiere Pro's marker colours as it writes them in ``<pproColor>`` (alpha-blue-green-red integers, the
#: encoding OpenTimelineIO's ``Color.from_agbr_int`` reads), by OpenTimelineIO colour name.
PPRO_COLORS = {"RED": 4281740498, "ORANGE": 4280578025, "YELLOW": 4281049552, "GREEN": 4281828977,
               "CYAN": 4292277273, "BLUE": 4294741314, "PURPLE": 4289825711, "MAGENTA": 4289825711,
               "PINK": 4289825711, "WHITE": 4294967295}


@dataclass
class SongTrack:
    """The full song under the clips."""

    path: Path
    duration_s: float
    sample_rate: int = 48000
    channels: int = 2


def timebase(fps: Fraction) -> tuple[int, bool]:
    """FCP7 ``(timebase, ntsc)`` for an exact frame rate: 30000/1001 -> (30, True), 25 -> (25, False).

    Rates that are neither integers nor NTSC rates are rounded (FCP7 cannot express them).
    """
    fps = Fraction(fps)
    if fps.denominator == 1001 and fps.numerator % 1000 == 0:
        return fps.numerator // 1000, True
    return max(int(round(fps)), 1), False


def file_url(path: str | Path) -> str:
    """``file://localhost/abs/path`` with percent-encoding, the form Premiere writes and reads."""
    absolute = Path(path).resolve().as_posix()
    return "file://localhost" + urllib.parse.quote(absolute if absolute.startswith("/") else "/" + absolute)


def path_from_url(url: str) -> Path:
    """Inverse of :func:`file_url`."""
    parsed = urllib.parse.urlparse(url)
    return Path(urllib.parse.unquote(parsed.path))


def _sub(parent: ET.Element, tag: str, text: object | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = str(text)
    return element


def _rate(parent: ET.Element, fps: Fraction) -> None:
    base, ntsc = timebase(fps)
    rate = _sub(parent, "rate")
    _sub(rate, "timebase", base)
    _sub(rate, "ntsc", "TRUE" if ntsc else "FALSE")


def _frames_at(seconds: float, fps: Fraction) -> int:
    return int(round(Fraction(seconds).limit_denominator(10**9) * fps))


def _assign_tracks(clips: Sequence[TimelineClip], fps: Fraction) -> list[list[tuple[TimelineClip, int, int]]]:
    """Clips with a ``track`` go on it; the others by greedy interval packing: each on the first track where it
    does not overlap another."""
    tracks: list[list[tuple[TimelineClip, int, int]]] = []
    for clip in sorted(clips, key=lambda c: (c.start_s, c.name)):
        start = _frames_at(clip.start_s, fps)
        length = int(round(Fraction(clip.n_frames) / Fraction(clip.fps) * fps))
        if clip.track is not None:
            while len(tracks) <= clip.track:
                tracks.append([])
            tracks[clip.track].append((clip, start, start + length))
            continue
        for track in tracks:
            if not track or track[-1][2] <= start:
                track.append((clip, start, start + length))
                break
        else:
            tracks.append([(clip, start, start + length)])
    return tracks


def build_sequence(name: str, clips: Sequence[TimelineClip], song: SongTrack, *, fps: Fraction, width: int,
                   height: int, markers: Sequence[TimelineMarker] = ()) -> ET.ElementTree:
    """The xmeml document of the sequence.

    Parameters
    ----------
    name : str
        Sequence name.
    clips : sequence of TimelineClip
        The finished clips.
    song : SongTrack
        The song for the audio track.
    fps : Fraction
        Sequence frame rate.
    width, height : int
        Sequence frame size.
    markers : sequence of TimelineMarker
        Sequence markers (Premiere shows them on the time ruler), each on its nearest frame.

    Returns
    -------
    xml.etree.ElementTree.ElementTree
    """
    fps = Fraction(fps)
    song_frames = _frames_at(song.duration_s, fps)
    tracks = _assign_tracks(clips, fps)
    end = max([song_frames] + [item[2] for track in tracks for item in track])

    root = ET.Element("xmeml", version="4")
    seq = _sub(root, "sequence", id="sequence-1")
    _sub(seq, "name", name)
    _sub(seq, "duration", end)
    _rate(seq, fps)
    timecode = _sub(seq, "timecode")
    _rate(timecode, fps)
    _sub(timecode, "string", "00:00:00:00")
    _sub(timecode, "frame", 0)
    _sub(timecode, "displayformat", "NDF")
    media = _sub(seq, "media")

    video = _sub(media, "video")
    fmt = _sub(_sub(video, "format"), "samplecharacteristics")
    _rate(fmt, fps)
    _sub(fmt, "width", width)
    _sub(fmt, "height", height)
    _sub(fmt, "anamorphic", "FALSE")
    _sub(fmt, "pixelaspectratio", "square")
    _sub(fmt, "fielddominance", "none")
    counter = 0
    for track in tracks or [[]]:
        track_el = _sub(video, "track")
        for clip, start, stop in track:
            counter += 1
            item = _sub(track_el, "clipitem", id=f"clipitem-{counter}")
            _sub(item, "name", clip.name)
            _sub(item, "enabled", "TRUE")
            _sub(item, "duration", clip.n_frames)
            _rate(item, clip.fps)
            _sub(item, "start", start)
            _sub(item, "end", stop)
            _sub(item, "in", 0)
            _sub(item, "out", clip.n_frames)
            file_el = _sub(item, "file", id=f"file-{counter}")
            _sub(file_el, "name", clip.path.name)
            _sub(file_el, "pathurl", file_url(clip.path))
            _rate(file_el, clip.fps)
            _sub(file_el, "duration", clip.n_frames)
            file_media = _sub(file_el, "media")
            chars = _sub(_sub(file_media, "video"), "samplecharacteristics")
            _rate(chars, clip.fps)
            _sub(chars, "width", clip.width)
            _sub(chars, "height", clip.height)
            _sub(chars, "anamorphic", "FALSE")
            _sub(chars, "pixelaspectratio", "square")
            _sub(chars, "fielddominance", "none")
            if clip.has_audio:
                audio_chars = _sub(_sub(file_media, "audio"), "samplecharacteristics")
                _sub(audio_chars, "depth", 16)
                _sub(audio_chars, "samplerate", song.sample_rate)
            _sub(item, "compositemode", "normal")
        _sub(track_el, "enabled", "TRUE")
        _sub(track_el, "locked", "FALSE")

    audio = _sub(media, "audio")
    _sub(audio, "numOutputChannels", max(song.channels, 1))
    afmt = _sub(_sub(audio, "format"), "samplecharacteristics")
    _sub(afmt, "depth", 16)
    _sub(afmt, "samplerate", song.sample_rate)
    track_el = _sub(audio, "track")
    item = _sub(track_el, "clipitem", id="clipitem-song")
    _sub(item, "name", song.path.name)
    _sub(item, "enabled", "TRUE")
    _sub(item, "duration", song_frames)
    _rate(item, fps)
    _sub(item, "start", 0)
    _sub(item, "end", song_frames)
    _sub(item, "in", 0)
    _sub(item, "out", song_frames)
    file_el = _sub(item, "file", id="file-song")
    _sub(file_el, "name", song.path.name)
    _sub(file_el, "pathurl", file_url(song.path))
    _rate(file_el, fps)
    _sub(file_el, "duration", song_frames)
    audio_media = _sub(_sub(file_el, "media"), "audio")
    chars = _sub(audio_media, "samplecharacteristics")
    _sub(chars, "depth", 16)
    _sub(chars, "samplerate", song.sample_rate)
    _sub(audio_media, "channelcount", max(song.channels, 1))
    source = _sub(item, "sourcetrack")
    _sub(source, "mediatype", "audio")
    _sub(source, "trackindex", 1)
    _sub(track_el, "enabled", "TRUE")
    _sub(track_el, "locked", "FALSE")
    for marker in markers:
        element = _sub(seq, "marker")
        _sub(element, "comment", marker.comment)
        _sub(element, "name", marker.name)
        _sub(element, "in", _frames_at(marker.time_s, fps))
        _sub(element, "out", -1)  # a point marker, as Premiere writes one
        if marker.color in PPRO_COLORS:
            _sub(element, "pproColor", PPRO_COLORS[marker.color])
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def write_fcp_xml(path: str | Path, name: str, clips: Sequence[TimelineClip], song: SongTrack, *, fps: Fraction,
                  width: int, height: int, markers: Sequence[TimelineMarker] = ()) -> Path:
    """Write the sequence as an FCP 7 XML file (atomically, replacing an older one).

    Parameters
    ----------
    path : str or Path
        The ``.xml`` file.
    name, clips, song, fps, width, height, markers
        See :func:`build_sequence`.

    Returns
    -------
    Path
    """
    tree = build_sequence(name, clips, song, fps=fps, width=width, height=height, markers=markers)
    body = ET.tostring(tree.getroot(), encoding="unicode")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + body + "\n"
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


__all__ = ["TimelineClip", "TimelineMarker", "PPRO_COLORS", "SongTrack", "timebase", "file_url", "path_from_url",
           "build_sequence", "write_fcp_xml"]
