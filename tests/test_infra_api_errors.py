"""The Python API speaks as clearly as the command line (#18): every user error the CLI catches is, from the API, a
MusicVideoError whose message is one line and the very line the CLI prints; range errors name the flag; the codec
follows the output's extension; a batch whose plan cannot run writes nothing; past-the-end is refused alike in
render, preview and analyze; an output over twice the generator's size gets a one-line notice."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch

from musicvideo.cli import main
from musicvideo.config import RenderConfig
from musicvideo.errors import CheckpointError, MusicVideoError, MusicVideoWarning, OutputError
from musicvideo.video.codecs import VideoConfig

from _batch_helpers import tiny_checkpoint, write_plan, write_song

NO_CUDA = not torch.cuda.is_available()


class _Evil:
    def __reduce__(self):
        return os.system, ("touch /tmp/musicvideo-api-errors-was-run",)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("api_errors")
    song = write_song(root / "song.wav", seconds=3.0)
    checkpoint = tiny_checkpoint(root / "tiny.safetensors")
    garbage = root / "garbage.pkl"
    garbage.write_bytes(b"this is not a checkpoint at all" * 10)
    evil = root / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil(), protocol=2))
    return {"song": song, "checkpoint": checkpoint, "garbage": garbage, "evil": evil, "root": root}


def _api_cases(f: dict, out: Path) -> dict:
    """name -> (CLI argv, a call of the API with the same input)."""
    import musicvideo
    from musicvideo.audio import analyze_to_file
    from musicvideo.preview import preview
    from musicvideo.select import Traits, select_to_files

    song, ck = str(f["song"]), str(f["checkpoint"])
    render = musicvideo.render
    cases = {
        "no extension": (["render", song, "-c", ck, "-o", str(out / "video")],
                         lambda: render(song, checkpoint=ck, output=out / "video")),
        "output is a directory": (["render", song, "-c", ck, "-o", str(out)],
                                  lambda: render(song, checkpoint=ck, output=out)),
        "unknown extension": (["render", song, "-c", ck, "-o", str(out / "v.avi")],
                              lambda: render(song, checkpoint=ck, output=out / "v.avi")),
        "prores into mp4": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--codec", "prores"],
                            lambda: render(song, checkpoint=ck, output=out / "v.mp4",
                                           config=RenderConfig(video=VideoConfig(codec="prores")))),
        "size 0": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--size", "0"],
                   lambda: render(song, checkpoint=ck, output=out / "v.mp4", config=RenderConfig(size=0))),
        "width 8": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--width", "8", "--height", "64"],
                    lambda: render(song, checkpoint=ck, output=out / "v.mp4", config=RenderConfig(width=8, height=64))),
        "odd size": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--size", "65"],
                     lambda: render(song, checkpoint=ck, output=out / "v.mp4", config=RenderConfig(size=65))),
        "fps 500": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--fps", "500"],
                    lambda: render(song, checkpoint=ck, output=out / "v.mp4", config=RenderConfig(fps=500.0))),
        "batch size 0": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--batch-size", "0"],
                         lambda: render(song, checkpoint=ck, output=out / "v.mp4", config=RenderConfig(batch_size=0))),
        "render past the end": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--duration", "50"],
                                lambda: render(song, checkpoint=ck, output=out / "v.mp4",
                                               config=RenderConfig(duration_s=50.0))),
        "render start past the end": (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--start", "4"],
                                      lambda: render(song, checkpoint=ck, output=out / "v.mp4",
                                                     config=RenderConfig(start_s=4.0))),
        "missing checkpoint": (["render", song, "-c", str(out / "nope.pkl"), "-o", str(out / "v.mp4")],
                               lambda: render(song, checkpoint=out / "nope.pkl", output=out / "v.mp4")),
        "preview without outputs": (["preview", song], lambda: preview(song)),
        "preview past the end": (["preview", song, "-o", str(out / "c.png"), "--duration", "50"],
                                 lambda: preview(song, png=out / "c.png", duration_s=50.0)),
        "analyze past the end": (["analyze", song, "-o", str(out / "f.csv"), "--duration", "50"],
                                 lambda: analyze_to_file(song, out / "f.csv", duration_s=50.0)),
        "inspect garbage": (["inspect", str(f["garbage"])], lambda: musicvideo.load_generator(f["garbage"])),
        "select count 0": (["select", "-c", ck, "-o", str(out / "s.json"), "--count", "0"],
                           lambda: select_to_files(out / "s.json", Traits(), checkpoint=ck, count=0)),
        "select thumb size": (["select", "-c", ck, "-o", str(out / "s.json"), "--thumb-size", "8"],
                              lambda: select_to_files(out / "s.json", Traits(), checkpoint=ck, thumb_size=8)),
    }
    if NO_CUDA:
        cases["render on cuda"] = (["render", song, "-c", ck, "-o", str(out / "v.mp4"), "--device", "cuda"],
                                   lambda: render(song, checkpoint=ck, output=out / "v.mp4",
                                                  config=RenderConfig(device="cuda")))
        cases["select on cuda"] = (["select", "-c", ck, "-o", str(out / "s.json"), "--device", "cuda"],
                                   lambda: select_to_files(out / "s.json", Traits(), checkpoint=ck, device="cuda"))
    return cases


def test_each_api_error_is_one_line_and_the_line_the_cli_prints(files, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for name, (argv, call) in _api_cases(files, out).items():
        with pytest.raises(MusicVideoError) as raised:
            call()
        message = str(raised.value)
        assert message and "\n" not in message, (name, message)
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert err == f"musicvideo: error: {message}", (name, err, message)
        assert list(out.iterdir()) == [], name


def test_range_errors_name_the_flag_the_user_typed(files, tmp_path):
    import musicvideo

    song, ck = files["song"], files["checkpoint"]
    expect = [(RenderConfig(size=0), "--size must be 16..8192"), (RenderConfig(width=8, height=64), "--width must be"),
              (RenderConfig(width=64, height=9000), "--height must be"), (RenderConfig(size=33), "--size must be even"),
              (RenderConfig(fps=0.5), "--fps must be"), (RenderConfig(batch_size=0), "--batch-size must be")]
    for config, words in expect:
        with pytest.raises(MusicVideoError, match=words):
            musicvideo.render(song, checkpoint=ck, output=tmp_path / "v.mp4", config=config)


def test_output_without_extension_or_a_directory_says_add_mp4_or_mov(files, tmp_path):
    import musicvideo

    for output in (tmp_path, tmp_path / "video"):
        with pytest.raises(OutputError, match=r"add \.mp4 or \.mov"):
            musicvideo.render(files["song"], checkpoint=files["checkpoint"], output=output)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_load_generator_on_cuda_without_cuda_is_a_one_line_musicvideo_error(files):
    import musicvideo

    with pytest.raises(MusicVideoError, match=r"^--device cuda asked for but CUDA is not available") as raised:
        musicvideo.load_generator(files["checkpoint"], device="cuda")
    assert "\n" not in str(raised.value)
    assert not isinstance(raised.value, AssertionError)


def test_codec_follows_the_extension_without_codec_and_is_kept_with_one(files, tmp_path):
    from musicvideo.render import plan_render

    song, ck = files["song"], files["checkpoint"]
    assert plan_render(song, checkpoint=ck, output=tmp_path / "a.mov").config.video.codec == "prores"
    assert plan_render(song, checkpoint=ck, output=tmp_path / "a.mp4").config.video.codec == "h264"
    given = RenderConfig(video=VideoConfig(codec="h264"))
    assert plan_render(song, checkpoint=ck, output=tmp_path / "a.mov", config=given).config.video.codec == "h264"
    assert plan_render(song, checkpoint=ck).output.suffix == ".mp4"


def test_upscale_notice_names_both_sizes(files, tmp_path, capsys):
    import musicvideo

    with pytest.warns(MusicVideoWarning, match=r"generator makes 32x32 images; the 96x64 output scales them up 3x"):
        musicvideo.render(files["song"], checkpoint=files["checkpoint"], output=tmp_path / "up.mp4", progress=False,
                          config=RenderConfig(width=96, height=64, fps=4.0, duration_s=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MusicVideoWarning)  # 2x is not more than twice: no notice
        musicvideo.render(files["song"], checkpoint=files["checkpoint"], output=tmp_path / "two.mp4", progress=False,
                          config=RenderConfig(size=64, fps=4.0, duration_s=0.5))
    rc = main(["render", str(files["song"]), "-c", str(files["checkpoint"]), "-o", str(tmp_path / "cli.mp4"),
               "--size", "128", "--fps", "4", "--duration", "0.5", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and err == ["musicvideo: note: the generator makes 32x32 images; the 128x128 output scales them "
                               "up 4x, so fine detail will look soft (a higher-resolution network, or a size up to "
                               "64x64, keeps it sharp)"]


@pytest.mark.parametrize("which", ["garbage", "evil"])
def test_batch_with_a_checkpoint_that_cannot_be_loaded_exits_non_zero_and_writes_nothing(files, tmp_path, capsys,
                                                                                        which):
    from musicvideo.batch import run_batch

    marker = Path("/tmp/musicvideo-api-errors-was-run")
    marker.unlink(missing_ok=True)
    plan = write_plan(tmp_path, f"""
        song = "{files['song']}"
        checkpoint = "{files[which]}"
        [defaults]
        fps = 8
        size = 32
        [[clips]]
        name = "a"
        duration = 1.0
        seeds = [1]
    """)
    out = tmp_path / "clips"
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CheckpointError) as raised:
        run_batch(plan, out, workers=1, progress=False)
    assert "\n" not in str(raised.value)
    assert main(["batch", str(plan), "-o", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"musicvideo: error: {raised.value}"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == before
    assert not marker.exists()


def test_batch_preflight_refuses_a_bad_clip_before_anything_is_written(files, tmp_path):
    from musicvideo.batch import run_batch

    plan = write_plan(tmp_path, f"""
        song = "{files['song']}"
        checkpoint = "{files['checkpoint']}"
        [defaults]
        fps = 8
        size = 32
        [[clips]]
        name = "fine"
        duration = 1.0
        seeds = [1]
        [[clips]]
        name = "odd"
        duration = 1.0
        seeds = [1]
        size = 33
        codec = "h264"
    """)
    out = tmp_path / "clips"
    with pytest.raises(MusicVideoError, match=r"clip 'odd' \(line 10\): --size must be even"):
        run_batch(plan, out, workers=1, progress=False)
    assert not out.exists()
