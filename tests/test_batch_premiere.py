"""FCP 7 XML: well-formed xmeml with frame-accurate positions, NTSC rates, file URLs and the song track."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from musicvideo.batch.premiere import (SongTrack, TimelineClip, build_sequence, file_url, path_from_url, timebase,
                                       write_fcp_xml)


def test_timebase_and_ntsc():
    assert timebase(Fraction(30000, 1001)) == (30, True)
    assert timebase(Fraction(24000, 1001)) == (24, True)
    assert timebase(Fraction(25)) == (25, False)
    assert timebase(Fraction(60)) == (60, False)


def test_file_urls_round_trip_with_spaces_and_unicode(tmp_path):
    path = tmp_path / "my clips" / "été #1.mov"
    url = file_url(path)
    assert url.startswith("file://localhost/") and " " not in url and "#" not in url
    assert path_from_url(url) == path.resolve()


def test_sequence_places_clips_at_song_positions_on_tracks(tmp_path):
    fps = Fraction(30000, 1001)
    clips = [TimelineClip("a", tmp_path / "a.mov", 0.0, 60, fps, 64, 36),
             TimelineClip("b", tmp_path / "b.mov", 1.0, 30, fps, 64, 36),       # overlaps a: second track
             TimelineClip("c", tmp_path / "c.mov", 2.5, 30, fps, 64, 36)]       # after a: first track
    song = SongTrack(tmp_path / "song.wav", 4.0, 44100, 2)
    path = write_fcp_xml(tmp_path / "seq.xml", "cut", clips, song, fps=fps, width=64, height=36)
    root = ET.parse(path).getroot()
    assert root.tag == "xmeml" and root.get("version") == "4"
    seq = root.find("sequence")
    assert seq.findtext("rate/timebase") == "30" and seq.findtext("rate/ntsc") == "TRUE"
    assert seq.findtext("media/video/format/samplecharacteristics/width") == "64"
    tracks = seq.findall("media/video/track")
    assert [[i.findtext("name") for i in t.findall("clipitem")] for t in tracks] == [["a", "c"], ["b"]]
    items = {i.findtext("name"): i for i in seq.iter("clipitem")}
    assert (items["b"].findtext("start"), items["b"].findtext("end")) == ("30", "60")   # 1.0 s at 29.97 = frame 30
    assert (items["c"].findtext("start"), items["c"].findtext("end")) == ("75", "105")
    assert items["a"].findtext("out") == "60" and items["a"].findtext("in") == "0"
    assert path_from_url(items["c"].findtext("file/pathurl")) == (tmp_path / "c.mov").resolve()
    audio = seq.find("media/audio/track/clipitem")
    assert audio.findtext("end") == str(round(4.0 * 30000 / 1001))
    assert audio.findtext("file/media/audio/samplecharacteristics/samplerate") == "44100"
    assert path_from_url(audio.findtext("file/pathurl")) == (tmp_path / "song.wav").resolve()
    assert int(seq.findtext("duration")) >= int(audio.findtext("end"))
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_empty_sequence_still_has_the_song():
    tree = build_sequence("empty", [], SongTrack(Path("/x/song.wav"), 2.0), fps=Fraction(25), width=32, height=32)
    assert tree.getroot().find("sequence/media/audio/track/clipitem/end").text == "50"
    assert len(tree.getroot().findall("sequence/media/video/track")) == 1
