"""`musicvideo analyze` end to end: outputs by extension, the cache, and one-line errors on bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import musicvideo.audio as audio_api
from musicvideo.audio import FrameFeatures, analyze
from musicvideo.audio.synth import loud_quiet_song
from musicvideo.cli import main

from _audio_helpers import audio_cache, wav  # noqa: F401 - fixture

SR = 22050


@pytest.fixture
def song(tmp_path):
    return wav(tmp_path / "song.wav", loud_quiet_song(4.0, sample_rate=SR), SR)


def test_analyze_writes_npz_csv_json(song, tmp_path, audio_cache, capsys):
    for ext in ("npz", "csv", "json"):
        out = tmp_path / f"features.{ext}"
        assert main(["analyze", str(song), "--fps", "29.97", "--start", "1", "--duration", "2", "-o", str(out)]) == 0
        assert out.is_file()
    expected = 60  # ceil(2 s * 30000/1001) = ceil(59.94)
    assert FrameFeatures.load(tmp_path / "features.npz").n_frames == expected
    data = json.loads((tmp_path / "features.json").read_text())
    assert data["n_frames"] == expected and len(data["loudness"]) == expected and len(data["chroma"][0]) == 12
    with open(tmp_path / "features.csv") as fh:
        assert fh.readline().startswith("# musicvideo features")
        lines = fh.readlines()
    comments = [line for line in lines if line.startswith("#")]  # the song-level values, before the rows
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert [c.split(":")[0] for c in comments] == ["# beat_times_s", "# downbeat_times_s", "# section_starts_s",
                                                   "# section_labels", "# section_start_bars"]
    assert len(rows) == expected and float(rows[0]["times_s"]) == pytest.approx(1.0)
    assert "chroma_C#" in rows[0] and {"downbeat", "bar_index", "beat_in_bar", "section_label"} <= set(rows[0])
    for key in ("beat_times_s", "downbeat_times_s", "beat_confidence", "section_starts_s", "section_labels"):
        assert key in data
    with np.load(tmp_path / "features.npz") as npz:
        assert {"beat_times_s", "downbeat_times_s", "beat_confidence", "section_starts_s",
                "section_labels"} <= set(npz.files)
    assert not list(tmp_path.glob(".*tmp-*"))  # no temporaries left


def test_existing_output_needs_overwrite(song, tmp_path, audio_cache, capsys):
    out = tmp_path / "f.json"
    out.write_text("keep")
    assert main(["analyze", str(song), "-o", str(out)]) == 2
    assert out.read_text() == "keep"
    assert "--overwrite" in capsys.readouterr().err
    assert main(["analyze", str(song), "-o", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["n_frames"] == 120


def _bad_inputs(tmp_path, song):
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all\n" * 20)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(song.read_bytes()[:40])
    return {
        "missing": ([str(tmp_path / "nope.mp3")], "not found"),
        "directory": ([str(tmp_path)], "directory"),
        "text": ([str(text)], "cannot decode"),
        "empty": ([str(empty)], "empty"),
        "truncated": ([str(truncated)], ""),
        "start past end": ([str(song), "--start", "10"], "past the end"),
        "negative start": ([str(song), "--start", "-1"], "--start"),
        "zero duration": ([str(song), "--duration", "0"], "--duration"),
        "fps zero": ([str(song), "--fps", "0"], "fps"),
        "fps negative": ([str(song), "--fps", "-30"], "fps"),
        "fps text": ([str(song), "--fps", "fast"], "fps"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "text", "empty", "truncated", "start past end",
                                  "negative start", "zero duration", "fps zero", "fps negative", "fps text"])
def test_bad_input_is_one_line_error_and_no_output(case, song, tmp_path, audio_cache, capsys):
    args, message = _bad_inputs(tmp_path, song)[case]
    out = tmp_path / "out" / "features.npz"
    out.parent.mkdir()
    code = main(["analyze", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and err.startswith("musicvideo: error:")
    assert message in err
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []


def test_unknown_output_extension(song, tmp_path, audio_cache, capsys):
    assert main(["analyze", str(song), "-o", str(tmp_path / "f.xlsx")]) == 2
    err = capsys.readouterr().err
    assert ".npz, .csv or .json" in err and len(err.strip().splitlines()) == 1


def test_cache_hit_is_read_back_not_recomputed(song, audio_cache, monkeypatch):
    first = analyze(song, fps=30)
    entries = list(audio_cache.glob("*.npz"))
    assert len(entries) == 1

    def boom(*args, **kwargs):
        raise AssertionError("recomputed despite a cache entry")

    monkeypatch.setattr(audio_api, "analyze_file", boom)
    monkeypatch.setattr(audio_api, "decode_audio", boom)
    second = analyze(song, fps=30)
    np.testing.assert_array_equal(first.loudness, second.loudness)
    np.testing.assert_array_equal(first.beat_times_s, second.beat_times_s)
    # a different analysis config is a different entry, and no cache means no read
    with pytest.raises(AssertionError, match="recomputed"):
        analyze(song, fps=30, config=audio_api.AnalysisConfig(hop_length=256))
    with pytest.raises(AssertionError, match="recomputed"):
        analyze(song, fps=30, cache=False)


def test_cache_is_keyed_on_content_not_name(song, tmp_path, audio_cache, monkeypatch):
    analyze(song, fps=30)
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(song.read_bytes())
    monkeypatch.setattr(audio_api, "analyze_file", lambda *a, **k: (_ for _ in ()).throw(AssertionError("miss")))
    analyze(copy, fps=24)  # same bytes: hit
    changed = tmp_path / "changed.wav"
    changed.write_bytes(song.read_bytes()[:-200])
    with pytest.raises(AssertionError, match="miss"):
        analyze(changed, fps=30)


def test_corrupt_cache_entry_is_recomputed(song, audio_cache):
    first = analyze(song, fps=30)
    (entry,) = audio_cache.glob("*.npz")
    entry.write_bytes(b"garbage")
    second = analyze(song, fps=30)
    np.testing.assert_array_equal(first.onset, second.onset)
    assert np.load(entry)["onset"].shape  # rewritten, readable again


def test_config_file_analysis_table(song, tmp_path, audio_cache, capsys):
    config = tmp_path / "mv.toml"
    config.write_text("[analysis]\nloudness_window_s = 0.2\nhpss = false\n")
    out = tmp_path / "f.npz"
    assert main(["analyze", str(song), "--config", str(config), "-o", str(out)]) == 0
    features = FrameFeatures.load(out)
    assert np.all(features.percussive == 0) and np.all(features.harmonic == 0)  # hpss off
    config.write_text("[analysis]\nhop_lenght = 256\n")
    assert main(["analyze", str(song), "--config", str(config), "-o", str(tmp_path / "g.npz")]) == 2
    err = capsys.readouterr().err
    assert "hop_lenght" in err and "line 2" in err and len(err.strip().splitlines()) == 1
