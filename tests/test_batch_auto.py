"""``musicvideo batch --auto``: a synthesized A-B-A-B song becomes a clip per section with its timelines.

The song is the ground-truth ``verse_chorus`` case (66 s, 120 BPM, four 8-bar sections A-B-A-B, analysed for
real); the clips are rendered through the real batch (worker processes, ProRes) from a 16-px generator at 24 fps
(a rate an EDL's timecode can express). Every file the editor imports is read back and compared with the rendered
files as probed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

from musicvideo.audio.groundtruth import make_case, write_case
from musicvideo.batch import auto_batch, run_batch
from musicvideo.cli import main
from musicvideo.generator import save_native
from musicvideo.video import probe, read_frames

from _batch_helpers import write_song
from _generator_helpers import tiny_generator

pytestmark = pytest.mark.slow
FPS = 24


@pytest.fixture(scope="module")
def abab(tmp_path_factory):
    """The A-B-A-B song rendered with --auto (one take), its truth, and the result."""
    folder = tmp_path_factory.mktemp("abab")
    song = make_case("verse_chorus")
    wav = write_case(song, folder)
    checkpoint = save_native(tiny_generator(3, img_resolution=16), folder / "tiny16.safetensors")
    result = auto_batch(wav, folder / "cut", checkpoint=checkpoint, fps=FPS, workers=2, device="cpu",
                        progress=False)
    return song, result


def _records(result):
    return {r.name: r for r in result.records}


def test_four_clips_start_on_the_section_boundaries_and_tile_the_song(abab):
    song, result = abab
    assert result.ok and result.notes == []
    records = sorted(result.records, key=lambda r: r.start_s)
    assert [r.name for r in records] == ["01 A", "02 B", "03 A", "04 B"]
    starts = [round(r.start_s * FPS) for r in records]
    truth = [t * FPS for t in song.section_starts_s]
    assert np.all(np.abs(np.array(starts) - np.array(truth)) <= 1.0), (starts, truth)
    frames = [probe(result.output_dir / r.file).n_frames for r in records]
    assert frames == [r.frames for r in records]
    assert [a + n for a, n in zip(starts, frames)][:-1] == starts[1:]          # no gap, no overlap
    assert starts[-1] + frames[-1] == int(np.ceil(song.duration_s * FPS - 1e-6))


def test_same_label_clips_share_their_looks_and_the_manifest_has_bars(abab):
    _, result = abab
    data = json.loads(result.manifest_json.read_text())
    clips = {c["name"]: c for c in data["clips"]}
    assert clips["01 A"]["seeds"] == clips["03 A"]["seeds"] and clips["02 B"]["seeds"] == clips["04 B"]["seeds"]
    assert clips["01 A"]["seeds"] != clips["02 B"]["seeds"]
    bars = [(clips[n]["label"], clips[n]["first_bar"], clips[n]["last_bar"]) for n in ("01 A", "02 B", "03 A", "04 B")]
    assert bars == [("A", 1, 8), ("B", 9, 16), ("A", 17, 24), ("B", 25, 32)]
    assert "label" in result.manifest_csv.read_text().splitlines()[0]
    plan = (result.output_dir / "plan.toml").read_text()
    assert 'clips = "sections"' in plan and "[looks.A]" in plan and str(clips["01 A"]["seeds"][0]) in plan


def test_the_second_a_looks_like_the_first(abab):
    _, result = abab
    first = {name: read_frames(result.output_dir / f"{name}.mov")[0].astype(np.float64)
             for name in ("01 A", "02 B", "03 A", "04 B")}

    def gap(a, b):
        return float(np.abs(first[a] - first[b]).mean())

    # each section opens on its label's first keyframe: nearer the other section of its label than any other
    # (the music under them differs, so not identical: the pulse and truncation follow it)
    assert gap("01 A", "03 A") < min(gap("01 A", "02 B"), gap("01 A", "04 B"), gap("03 A", "02 B"), gap("03 A", "04 B"))
    assert gap("02 B", "04 B") < min(gap("02 B", "01 A"), gap("02 B", "03 A"), gap("04 B", "01 A"), gap("04 B", "03 A"))


def test_fcp7_xml_has_a_marker_per_downbeat_and_the_sections(abab):
    song, result = abab
    seq = ET.parse(result.timelines["xml"]).getroot().find("sequence")
    markers = seq.findall("marker")
    downbeats = sorted(int(m.findtext("in")) for m in markers if m.findtext("comment") == "downbeat")
    truth = np.round(np.asarray(song.downbeat_times_s) * FPS)
    assert len(downbeats) == len(truth) and np.all(np.abs(np.array(downbeats) - truth) <= 1)
    sections = [(m.findtext("name"), int(m.findtext("in"))) for m in markers if m.find("pproColor") is not None]
    records = sorted(result.records, key=lambda r: r.start_s)
    assert sections == [(f"{r.label} (bar {r.first_bar})", round(r.start_s * FPS)) for r in records]
    items = seq.findall("media/video/track/clipitem")
    assert [(i.findtext("name"), int(i.findtext("start")), int(i.findtext("out"))) for i in items] == \
        [(r.name, round(r.start_s * FPS), r.frames) for r in records]


def test_otio_and_fcpxml_read_back_with_every_clip_and_marker(abab):
    song, result = abab
    timeline = otio.adapters.read_from_file(str(result.timelines["otio"]))
    clips = [c for c in timeline.video_tracks()[0] if isinstance(c, otio.schema.Clip)]
    assert [c.name for c in clips] == ["01 A", "02 B", "03 A", "04 B"]
    for clip in clips:
        assert otio.url_utils.filepath_from_url(clip.media_reference.target_url) == \
            str(result.output_dir / f"{clip.name}.mov")
    assert len(timeline.tracks.markers) == len(song.downbeat_times_s) + 4
    assert timeline.audio_tracks()[0][0].name == "verse_chorus.wav"
    fcpx = otio.adapters.read_from_file(str(result.timelines["fcpxml"]), adapter_name="fcpx_xml")
    fcpx = fcpx if isinstance(fcpx, otio.schema.Timeline) else fcpx.find_children(
        descended_from_type=otio.schema.Timeline)[0]
    names = sorted(c.name for c in fcpx.find_clips())
    assert names == ["01 A", "02 B", "03 A", "04 B", "verse_chorus.wav"]


def test_edl_timecodes_match_the_rendered_files(abab):
    _, result = abab
    text = result.timelines["edl"].read_text()
    pattern = re.compile(r"^(\d{3})\s+(\S+)\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)\s*$", re.M)
    events = pattern.findall(text)

    def frames(tc):
        return otio.opentime.from_timecode(tc, FPS).to_frames()

    records = sorted(result.records, key=lambda r: r.start_s)
    assert len(events) == len(records)
    for (number, reel, src_in, src_out, rec_in, rec_out), record in zip(events, records):
        n = probe(result.output_dir / record.file).n_frames
        start = round(record.start_s * FPS)
        assert (frames(src_in), frames(src_out), frames(rec_in), frames(rec_out)) == (0, n, start, start + n)
        assert f"* FROM CLIP NAME:  {record.name}" in text
    assert text.count("* LOC:") == len(abab[0].downbeat_times_s) + 4


def test_the_written_plan_runs_again_and_keeps_every_clip(abab):
    _, result = abab
    again = run_batch(result.output_dir / "plan.toml", result.output_dir, progress=False)
    assert again.rendered == [] and sorted(again.skipped) == ["01 A", "02 B", "03 A", "04 B"]
    assert again.timelines.keys() == result.timelines.keys()


def test_a_song_with_one_section_renders_one_clip_and_says_why(tmp_path, capsys):
    song = write_song(tmp_path / "song.wav", seconds=3.0)
    checkpoint = save_native(tiny_generator(3, img_resolution=16), tmp_path / "tiny16.safetensors")
    code = main(["batch", "--auto", str(song), "-o", str(tmp_path / "out"), "-c", str(checkpoint), "--fps", "10",
                 "--workers", "1", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    notes = [line for line in err.splitlines() if "one clip" in line]
    assert len(notes) == 1 and notes[0].startswith("musicvideo: note: song.wav: ")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [c["name"] for c in manifest["clips"]] == ["01 A"] and manifest["clips"][0]["frames"] == 30
    assert probe(tmp_path / "out" / "01 A.mov").fps == Fraction(10)
