"""Section cuts, section plans and the editor's timelines (FCP 7 XML, .otio, FCP X XML, EDL) without rendering.

The cut is checked on the frame grid at 29.97 fps (exact: no clip is a frame long or short), the plan's
``clips = "sections"`` with looks and takes against a known song structure, and each timeline file is read back
(ElementTree, OpenTimelineIO's own reader and adapters, the EDL line by line).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

import musicvideo.batch.sections as sections_module
from musicvideo.audio.timing import frame_count
from musicvideo.batch import auto_batch, load_plan, run_batch
from musicvideo.batch.fcpx import rational_time
from musicvideo.batch.premiere import PPRO_COLORS, SongTrack, TimelineClip, path_from_url
from musicvideo.batch.sections import cut_sections
from musicvideo.batch.timeline import EditTimeline, musical_markers, write_timelines
from musicvideo.errors import ConfigError, OutputError

from _batch_helpers import tiny_checkpoint, write_plan, write_song

NTSC = Fraction(30000, 1001)
# A-B-A-B, 8 bars of 2 s each per section, the first downbeat 50 ms in (as the synthesized verse_chorus song)
DOWNBEATS = 0.05 + 2.0 * np.arange(32)
STARTS = np.array([0.0, 16.05, 32.05, 48.05])
LABELS = ["A", "B", "A", "B"]
DURATION = 64.2


def _abab(fps=NTSC, **kw):
    args = dict(duration_s=DURATION, fps=fps, downbeat_times_s=DOWNBEATS, section_starts_s=STARTS,
                section_labels=LABELS, beat_confidence=0.9)
    args.update(kw)
    return cut_sections(**args)


# ---------------------------------------------------------------- the cut


def test_sections_tile_the_song_on_the_frame_grid():
    cut = _abab()
    assert [c.label for c in cut.cuts] == LABELS and cut.note == ""
    total = frame_count(DURATION, NTSC)
    for c, start in zip(cut.cuts, STARTS):
        assert c.start_frame == round(start * 30000 / 1001)                      # the frame nearest the boundary
        assert frame_count(c.duration_s, NTSC) == c.n_frames                      # no float drift in the clip length
        assert Fraction(c.start_s).limit_denominator(10**6) == Fraction(c.start_frame) / NTSC
    assert [c.stop_frame for c in cut.cuts[:-1]] == [c.start_frame for c in cut.cuts[1:]]   # no gap, no overlap
    assert cut.cuts[-1].stop_frame == total and sum(c.n_frames for c in cut.cuts) == total
    assert [(c.first_bar, c.last_bar) for c in cut.cuts] == [(1, 8), (9, 16), (17, 24), (25, 32)]
    assert cut.cuts[1].bars_text == "bars 9-16"


def test_one_section_or_no_beat_gives_one_clip_with_the_reason():
    one = _abab(section_starts_s=[0.0], section_labels=["A"])
    assert len(one.cuts) == 1 and "one section" in one.note and one.cuts[0].n_frames == frame_count(DURATION, NTSC)
    beatless = _abab(beat_confidence=0.05)
    assert len(beatless.cuts) == 1 and "no beat" in beatless.note and len(beatless.downbeat_times_s) == 0
    assert beatless.cuts[0].first_bar == 0 and "\n" not in beatless.note


def test_a_section_shorter_than_two_frames_joins_the_one_before():
    cut = _abab(fps=24, section_starts_s=[0.0, 16.05, 16.06, 48.05], section_labels=["A", "B", "C", "B"])
    assert [c.label for c in cut.cuts] == ["A", "B", "B"]
    assert cut.cuts[1].stop_frame == cut.cuts[2].start_frame == round(48.05 * 24)


# ---------------------------------------------------------------- plans with clips = "sections"


@pytest.fixture
def section_folder(tmp_path, monkeypatch):
    """A folder with a song, a tiny checkpoint, and the analysis replaced by the known A-B-A-B structure."""
    write_song(tmp_path / "song.wav")
    tiny_checkpoint(tmp_path / "tiny.safetensors")

    def known(song, *, fps, analysis=None, min_beat_confidence=0.3):
        return _abab(fps=fps, min_beat_confidence=min_beat_confidence)

    monkeypatch.setattr(sections_module, "analyse_sections", known)
    return tmp_path


SECTIONS_PLAN = """
    song = "song.wav"
    checkpoint = "tiny.safetensors"
    clips = "sections"
    takes = 2

    [defaults]
    fps = 24
    size = 32

    [looks.A]
    seeds = [[1, 2, 3], [4, 5, 6]]
"""


def test_sections_plan_shares_looks_per_label_and_varies_them_per_take(section_folder):
    plan = load_plan(write_plan(section_folder, SECTIONS_PLAN), song_duration=DURATION)
    by_name = {c.name: c for c in plan.clips}
    assert sorted(by_name) == sorted(["01 A", "02 B", "03 A", "04 B", "01 A take 2", "02 B take 2", "03 A take 2",
                                      "04 B take 2"])
    assert by_name["01 A"].seeds == by_name["03 A"].seeds == [1, 2, 3]             # from [looks.A], take 1
    assert by_name["03 A take 2"].seeds == [4, 5, 6]
    assert by_name["02 B"].seeds == by_name["04 B"].seeds                          # derived, shared by the label
    assert by_name["02 B"].seeds != by_name["02 B take 2"].seeds != by_name["01 A"].seeds
    assert len(by_name["02 B"].seeds) == plan.defaults.walk.n_keyframes
    clip = by_name["02 B"]
    assert (clip.label, clip.take, clip.first_bar, clip.last_bar, clip.line) == ("B", 1, 9, 16, 3)
    assert clip.label_slot == (1, 2)                                               # B is the song's second label
    assert clip.n_frames == round(32.05 * 24) - round(16.05 * 24) and clip.filename == "02 B.mov"
    assert clip.config.walk.section_change == "cut"  # the editor cuts: no morph into a look the clip does not show
    assert plan.takes == 2 and plan.sections.cuts[2].label == "A"
    # the derived looks are stable (the same plan gives the same seeds)
    again = load_plan(plan.path, song_duration=DURATION)
    assert [c.seeds for c in again.clips] == [c.seeds for c in plan.clips]


def test_sections_plan_mixed_with_listed_clips_names_the_lines(section_folder):
    path = write_plan(section_folder, SECTIONS_PLAN + '\n    [[clips]]\n    name = "intro"\n')
    with pytest.raises(ConfigError) as info:
        load_plan(path, song_duration=DURATION)
    message = str(info.value)
    assert "line 13 lists a clip" in message and "line 3 says" in message and "[[clips]]" in message
    assert "\n" not in message


def test_takes_with_listed_clips_and_too_many_seed_lists_are_refused(section_folder):
    listed = write_plan(section_folder, 'song = "song.wav"\ntakes = 2\n[[clips]]\nname = "a"\n', name="listed.toml")
    with pytest.raises(ConfigError, match=r"takes \(line 2\).*clips = \"sections\""):
        load_plan(listed, song_duration=DURATION)
    many = write_plan(section_folder, SECTIONS_PLAN.replace("takes = 2", "takes = 1"), name="many.toml")
    with pytest.raises(ConfigError, match=r"looks\.A\.seeds \(line 11\) has 2 lists but takes = 1"):
        load_plan(many, song_duration=DURATION)


def test_output_folder_of_another_song_is_refused_unless_overwrite(section_folder):
    out = section_folder / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"song": "/elsewhere/other song.wav", "clips": []}))
    with pytest.raises(OutputError) as info:
        auto_batch(section_folder / "song.wav", out, checkpoint=section_folder / "tiny.safetensors")
    message = str(info.value)
    assert "other song.wav" in message and "--overwrite" in message and "\n" not in message
    assert not (out / "plan.toml").exists()                                         # nothing written
    plan = write_plan(section_folder, SECTIONS_PLAN)
    with pytest.raises(OutputError, match="other song.wav"):
        run_batch(plan, out, progress=False)


# ---------------------------------------------------------------- the timelines


def _edit(tmp_path, fps=NTSC, takes=2):
    cut = _abab(fps=fps)
    clips, metadata = [], {}
    for take in range(1, takes + 1):
        for c in cut.cuts:
            name = f"{c.index + 1:02d} {c.label}" + (f" take {take}" if take > 1 else "")
            clips.append(TimelineClip(name, tmp_path / f"{name}.mov", c.start_s, c.n_frames, Fraction(fps), 64, 36,
                                      track=take - 1))
            metadata[name] = {"label": c.label, "take": take, "first_bar": c.first_bar, "last_bar": c.last_bar}
    markers = musical_markers(cut.downbeat_times_s, [(c.label, c.start_s, c.first_bar) for c in cut.cuts])
    return cut, EditTimeline(name="abab cut", fps=Fraction(fps), width=64, height=36, clips=clips,
                             song=SongTrack(tmp_path / "song.wav", DURATION, 44100, 2), markers=markers,
                             metadata=metadata)


def test_fcp7_xml_has_takes_on_tracks_and_a_marker_per_downbeat_and_section(tmp_path):
    cut, edit = _edit(tmp_path)
    paths, notes = write_timelines(edit, tmp_path, "abab")
    assert notes == [] and set(paths) == {"xml", "otio", "fcpxml", "edl", "edl take 2"}
    seq = ET.parse(paths["xml"]).getroot().find("sequence")
    assert seq.findtext("rate/timebase") == "30" and seq.findtext("rate/ntsc") == "TRUE"
    tracks = seq.findall("media/video/track")
    assert [[i.findtext("name") for i in t.findall("clipitem")] for t in tracks] == [
        ["01 A", "02 B", "03 A", "04 B"], ["01 A take 2", "02 B take 2", "03 A take 2", "04 B take 2"]]
    starts = [int(i.findtext("start")) for i in tracks[0].findall("clipitem")]
    assert starts == [c.start_frame for c in cut.cuts]
    markers = seq.findall("marker")
    downbeats = [m for m in markers if m.findtext("comment") == "downbeat"]
    assert [int(m.findtext("in")) for m in downbeats] == [round(t * 30000 / 1001) for t in DOWNBEATS]
    assert all(m.findtext("out") == "-1" and m.find("pproColor") is None for m in downbeats)
    named = [(m.findtext("name"), int(m.findtext("in")), int(m.findtext("pproColor"))) for m in markers
             if m.findtext("comment").startswith("section")]
    assert named == [("A (bar 1)", 0, PPRO_COLORS["RED"]), ("B (bar 9)", cut.cuts[1].start_frame, PPRO_COLORS["CYAN"]),
                     ("A (bar 17)", cut.cuts[2].start_frame, PPRO_COLORS["RED"]),
                     ("B (bar 25)", cut.cuts[3].start_frame, PPRO_COLORS["CYAN"])]
    # OpenTimelineIO's FCP 7 reader sees the same cut: clips at their frames, the song, every marker
    back = otio.adapters.read_from_file(str(paths["xml"]), adapter_name="fcp_xml")
    back = back if isinstance(back, otio.schema.Timeline) else back.find_children(
        descended_from_type=otio.schema.Timeline)[0]
    v1 = [c for c in back.video_tracks()[0] if isinstance(c, otio.schema.Clip)]
    assert [c.range_in_parent().start_time.value for c in v1] == starts
    assert len(back.tracks.markers) == len(DOWNBEATS) + 4 and len(back.audio_tracks()) == 1


def test_otio_file_reads_back_with_every_clip_marker_and_the_song(tmp_path):
    cut, edit = _edit(tmp_path)
    paths, _ = write_timelines(edit, tmp_path, "abab")
    timeline = otio.adapters.read_from_file(str(paths["otio"]))
    assert [t.name for t in timeline.tracks] == ["V1", "V2", "Song"]
    v1 = [c for c in timeline.video_tracks()[0] if isinstance(c, otio.schema.Clip)]
    assert [c.name for c in v1] == ["01 A", "02 B", "03 A", "04 B"]
    assert [c.range_in_parent().start_time.value for c in v1] == [c.start_frame for c in cut.cuts]
    assert [c.duration().value for c in v1] == [c.n_frames for c in cut.cuts]
    assert path_from_url(v1[1].media_reference.target_url) == (tmp_path / "02 B.mov").resolve()
    assert v1[1].metadata["musicvideo"]["first_bar"] == 9 and v1[1].metadata["musicvideo"]["label"] == "B"
    song = timeline.audio_tracks()[0][0]
    assert song.duration().value == round(DURATION * 30000 / 1001)
    assert song.duration().rate == pytest.approx(29.97, 1e-3)
    markers = timeline.tracks.markers
    assert len(markers) == len(DOWNBEATS) + 4
    assert sorted(m.marked_range.start_time.value for m in markers if m.comment == "downbeat") == \
        [round(t * 30000 / 1001) for t in DOWNBEATS]
    sections = [(m.name, m.color) for m in markers if m.comment.startswith("section")]
    assert sections == [("A (bar 1)", "RED"), ("B (bar 9)", "CYAN"), ("A (bar 17)", "RED"), ("B (bar 25)", "CYAN")]


def test_fcpxml_places_clips_on_lanes_in_whole_ntsc_frames(tmp_path):
    cut, edit = _edit(tmp_path)
    paths, _ = write_timelines(edit, tmp_path, "abab")
    root = ET.parse(paths["fcpxml"]).getroot()
    assert root.get("version") == "1.9"
    fmt = root.find("resources/format")
    assert (fmt.get("frameDuration"), fmt.get("width"), fmt.get("height")) == ("1001/30000s", "64", "36")
    song = root.find("library/event/project/sequence/spine/asset-clip")
    connected = song.findall("asset-clip")
    lanes = {c.get("name"): (c.get("lane"), c.get("offset"), c.get("duration")) for c in connected}
    second = cut.cuts[1]
    assert lanes["02 B"] == ("1", f"{second.start_frame * 1001}/30000s", f"{second.n_frames * 1001}/30000s")
    assert lanes["02 B take 2"][0] == "2"
    assert rational_time(0, NTSC) == "0s" and rational_time(3, Fraction(24)) == "3/24s"
    assert len(song.findall("marker")) == len(DOWNBEATS)
    assert [m.get("value") for m in song.findall("chapter-marker")] == ["A (bar 1)", "B (bar 9)", "A (bar 17)",
                                                                          "B (bar 25)"]
    srcs = [a.find("media-rep").get("src") for a in root.findall("resources/asset")]
    assert path_from_url(srcs[0]) == (tmp_path / "song.wav").resolve() and "%20" in srcs[1]


def _edl_events(text):
    """(reel, source in, source out, record in, record out) of each event line of an EDL."""
    pattern = re.compile(r"^\d{3}\s+(\S+)\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)\s*$")
    return [m.groups() for m in map(pattern.match, text.splitlines()) if m]


def test_edl_has_one_event_per_clip_with_matching_timecodes_and_marker_locators(tmp_path):
    cut, edit = _edit(tmp_path, fps=Fraction(25))
    paths, notes = write_timelines(edit, tmp_path, "abab")
    text = paths["edl"].read_text()
    events = _edl_events(text)

    def tc(frames):
        return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, 25), 25)

    assert events == [(f"0{i + 1}{c.label}", tc(0), tc(c.n_frames), tc(c.start_frame), tc(c.stop_frame))
                      for i, c in enumerate(cut.cuts)]
    assert text.count("* LOC:") == len(DOWNBEATS) + 4 and "B (BAR 9)" in text
    take2 = _edl_events(paths["edl take 2"].read_text())
    assert [e[3] for e in take2] == [e[3] for e in events]


def test_no_edl_at_a_rate_timecode_cannot_express(tmp_path):
    _, edit = _edit(tmp_path, fps=Fraction(10), takes=1)
    paths, notes = write_timelines(edit, tmp_path, "abab")
    assert "edl" not in paths and len(notes) == 1 and "10 fps" in notes[0]
    assert set(paths) == {"xml", "otio", "fcpxml"}


def test_auto_plan_that_cannot_run_leaves_no_folder_behind(section_folder):
    out = section_folder / "new"
    with pytest.raises(ConfigError, match="size"):
        auto_batch(section_folder / "song.wav", out, checkpoint=section_folder / "tiny.safetensors", fps=29.97,
                   size=15, progress=False)
    assert not out.exists()
    from musicvideo.batch.auto import auto_plan_text

    text = auto_plan_text(section_folder / "song.wav", out, takes=2, fps=29.97)
    assert "fps = 29.97\n" in text and 'clips = "sections"' in text and "takes = 2" in text
    assert "[looks.A]  # sections 01, 03" in text and "#   02 B     starts   16.049 s  bars 9-16" in text


def test_a_look_picked_by_traits_is_shared_by_the_label_and_differs_per_take(section_folder, monkeypatch):
    import musicvideo.select as select_module
    from musicvideo.batch import runner

    from _batch_helpers import ColourSource

    body = SECTIONS_PLAN + "\n    [looks.B]\n    select = { brightness = [0.0, 1.0], count = 2, candidates = 4 }\n"
    plan = load_plan(write_plan(section_folder, body), song_duration=DURATION)
    by_name = {c.name: c for c in plan.clips}
    assert by_name["02 B"].seeds is None and by_name["02 B"].select.first_seed == 0
    assert by_name["04 B take 2"].select.first_seed == 4                           # another pool for take 2
    calls = []
    real = select_module.select_seeds
    monkeypatch.setattr(select_module, "select_seeds", lambda *a, **k: calls.append(k) or real(*a, **k))
    cache = {"generator": ColourSource(), "device": "cpu"}
    seeds = {name: runner._seeds_for(by_name[name], plan, section_folder, "cpu", cache, {"checkpoint": "x"}, False)
             for name in ("02 B", "04 B", "02 B take 2", "04 B take 2")}
    assert seeds["02 B"] == seeds["04 B"] == [0, 1] and seeds["02 B take 2"] == seeds["04 B take 2"] == [4, 5]
    assert len(calls) == 2                                                          # once per look, not per clip
    assert (section_folder / "04 B.seeds.json").is_file()


def test_a_section_clip_opens_on_its_looks_first_seed():
    from musicvideo.batch.sections import opening_first
    from musicvideo.motion.walk import label_seeds

    for n_labels in (1, 2, 3, 5):
        for label in range(n_labels):
            for seeds in ([7], [1, 2, 3], list(range(10, 18))):
                walk_seeds = opening_first(seeds, label, n_labels)
                assert label_seeds(0, label, len(seeds), walk_seeds, n_labels) == seeds   # what the walk shows
    assert _abab().n_labels == 2 and [c.label_index for c in _abab().cuts] == [0, 1, 0, 1]
