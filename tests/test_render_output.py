"""musicvideo.render: the finished file (codec, frame count, audio), motion that follows the music, determinism,
frame ranges for split renders, and the out-of-memory retry."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from musicvideo.config import RenderConfig, frame_count
from musicvideo.errors import ConfigError, MusicVideoError
from musicvideo.render import auto_batch_size, load_seeds_file, plan_render, render
from musicvideo.video.probe import probe, read_frames

from _render_helpers import leftovers, lossless, loud_sections, tiny_generator, write_loud_quiet_song
from _video_helpers import psnr

FPS = 15
BASE = RenderConfig(fps=FPS, size=64, device="cpu")


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 4 s song, quiet and loud second by second, analysed once (cache in a temp dir)."""
    root = tmp_path_factory.mktemp("render_song")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICVIDEO_CACHE_DIR", str(root / "cache"))
        yield write_loud_quiet_song(root / "loud_quiet.wav", seconds=4.0, section_s=1.0)


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


def test_h264_output_has_exact_frames_and_the_clips_audio(song, G, tmp_path):
    start, duration, fps = 0.5, 1.05, 30  # 31.5 frames -> 32
    config = dataclasses.replace(BASE, fps=fps, start_s=start, duration_s=duration)
    result = render(song, output=tmp_path / "clip.mp4", config=config, generator=G, progress=False)
    info = probe(result.path)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 64, 64)
    assert info.n_frames == result.n_frames == math.ceil(duration * fps) == 32
    assert info.fps == fps and info.has_faststart
    assert info.audio_codec == "aac" and info.sample_rate == 22050 and info.channels == 1
    assert abs(info.audio_duration_s - duration) <= 1 / fps + 0.025  # one frame, plus one AAC frame
    assert result.width == 64 and result.device == "cpu" and result.frames_per_s > 0
    assert leftovers(tmp_path) == []


def test_prores_output_is_prores_with_pcm_audio(song, G, tmp_path):
    config = dataclasses.replace(BASE, duration_s=0.5, video=dataclasses.replace(BASE.video, codec="prores"))
    result = render(song, output=tmp_path / "clip.mov", config=config, generator=G, progress=False)
    info = probe(result.path)
    assert info.video_codec == "prores" and info.audio_codec.startswith("pcm_")
    assert info.n_frames == frame_count(0.5, FPS)


def test_visual_change_follows_loudness(song, G, tmp_path):
    result = render(song, output=tmp_path / "moves.mp4", config=BASE, generator=G, progress=False)
    frames = read_frames(result.path).astype(np.float32)
    change = np.abs(frames[1:] - frames[:-1]).mean(axis=(1, 2, 3))  # frame i -> i+1
    loud = loud_sections(len(frames), FPS)[1:]
    from musicvideo.audio import analyze, reactive_curves

    loudness = reactive_curves(analyze(song, fps=FPS)).loudness[1:]
    assert change[loud].mean() > 1.8 * change[~loud].mean()  # loud sections move visibly faster
    assert np.corrcoef(change, loudness)[0, 1] > 0.4


def test_same_seed_same_frames(song, G, tmp_path):
    config = lossless(BASE, duration_s=1.0, seed=7)
    a = read_frames(render(song, output=tmp_path / "a.mp4", config=config, generator=G, progress=False).path)
    b = read_frames(render(song, output=tmp_path / "b.mp4", config=config, generator=G, progress=False).path)
    other = dataclasses.replace(config, seed=8)
    c = read_frames(render(song, output=tmp_path / "c.mp4", config=other, generator=G, progress=False).path)
    assert a.shape == (15, 64, 64, 3)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1


def test_frame_ranges_equal_the_frames_of_a_full_render(song, G, tmp_path):
    config = lossless(BASE, start_s=0.4, duration_s=1.2, batch_size=4)  # 18 frames
    full = read_frames(render(song, output=tmp_path / "full.mp4", config=config, generator=G, progress=False).path)
    pieces = []
    for a, b in ((0, 4), (4, 12), (12, 18)):  # boundaries on the batch grid: the very same batches
        part = render(song, output=tmp_path / f"part{a}.mp4", config=config, generator=G, progress=False,
                      frame_range=(a, b))
        assert part.n_frames == b - a and part.frame_range == (a, b)
        info = probe(part.path)
        assert info.n_frames == b - a
        assert abs(info.audio_duration_s - (b - a) / FPS) <= 1 / FPS + 0.025
        pieces.append(read_frames(part.path))
    np.testing.assert_array_equal(np.concatenate(pieces), full)
    # off the grid the latents are still exact; the generator's batched float math may differ by a rounding step
    odd = read_frames(render(song, output=tmp_path / "odd.mp4", config=config, generator=G, progress=False,
                             frame_range=(5, 11), audio=False).path)
    assert np.abs(odd.astype(int) - full[5:11]).max() <= 2
    assert probe(tmp_path / "odd.mp4").audio_codec is None


class _OutOfMemoryAbove:
    """Wraps a generator; synthesis of more than ``limit`` frames raises CUDA's out-of-memory error."""

    def __init__(self, generator, limit):
        self.generator, self.limit, self.calls = generator, limit, []

    def __getattr__(self, name):
        return getattr(self.generator, name)

    def to(self, device):
        return self

    def eval(self):
        return self

    def synthesis(self, ws, **kwargs):
        self.calls.append(len(ws))
        if len(ws) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")
        return self.generator.synthesis(ws, **kwargs)


@pytest.fixture
def one_torch_thread():
    """One torch CPU thread: the render generates one batch at a time (see cpu_generator_workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_out_of_memory_halves_the_batch_and_carries_on(song, G, tmp_path, one_torch_thread):
    fake = _OutOfMemoryAbove(G, limit=3)
    config = lossless(BASE, duration_s=0.6, batch_size=16)
    result = render(song, output=tmp_path / "oom.mp4", config=config, generator=fake, progress=False)
    assert result.batch_size == 2 and fake.calls[:4] == [9, 8, 4, 2]  # 16 -> 8 -> 4 -> 2 (9 frames in all)
    assert result.n_frames == probe(result.path).n_frames == 9
    reference = render(song, output=tmp_path / "ref.mp4", config=dataclasses.replace(config, batch_size=2),
                       generator=G, progress=False)
    np.testing.assert_array_equal(read_frames(result.path), read_frames(reference.path))
    with pytest.raises(MusicVideoError, match="batch size 1"):
        render(song, output=tmp_path / "never.mp4", config=config, generator=_OutOfMemoryAbove(G, 0),
               progress=False)
    assert not (tmp_path / "never.mp4").exists() and leftovers(tmp_path) == []


def test_parallel_cpu_batches_equal_one_at_a_time_and_survive_out_of_memory(song, G, tmp_path):
    from musicvideo.audio import analyze, reactive_curves
    from musicvideo.motion import LatentWalk
    from musicvideo.render import FrameBatches

    config = dataclasses.replace(BASE, duration_s=1.0)
    features = analyze(song, fps=config.fps, duration_s=config.duration_s, config=config.analysis)
    walk = LatentWalk(G, reactive_curves(features, config.curves), config.walk, seed=0, device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the parallel path runs each batch single-threaded: compare like with like
    try:
        one = torch.cat(list(FrameBatches(G, walk, start=0, stop=walk.n_frames, batch_size=4)))
    finally:
        torch.set_num_threads(threads)
    torch.set_num_threads(3)
    try:
        many = FrameBatches(G, walk, start=0, stop=walk.n_frames, batch_size=4, workers=3)
        assert torch.equal(torch.cat(list(many)), one) and many.batch_size == 4
        assert torch.get_num_threads() == 3  # restored
        fake = _OutOfMemoryAbove(G, limit=2)
        halved = FrameBatches(fake, walk, start=0, stop=walk.n_frames, batch_size=8, workers=3)
        frames = list(halved)
        assert halved.batch_size == 2 and all(len(f) <= 2 for f in frames)
        assert sum(len(f) for f in frames) == walk.n_frames == 15
        with pytest.raises(MusicVideoError, match="batch size 1"):
            list(FrameBatches(_OutOfMemoryAbove(G, 0), walk, start=0, stop=walk.n_frames, batch_size=4, workers=3))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)


class _RecordsThreads(_OutOfMemoryAbove):
    """Wraps a generator; records the thread of each synthesis call."""

    def __init__(self, generator):
        super().__init__(generator, limit=10**9)
        self.threads = []

    def synthesis(self, ws, **kwargs):
        import threading

        self.threads.append(threading.current_thread())
        return self.generator.synthesis(ws, **kwargs)


def test_cpu_workers_large_maps_run_in_the_calling_thread(monkeypatch):
    from musicvideo import malloc, render as render_module
    from musicvideo.render import CPU_BLOCK_BYTES, cpu_generator_workers

    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    side_by_side = max(1, min(threads, 8))
    assert cpu_generator_workers(cpu, "const") == side_by_side
    assert cpu_generator_workers(cpu, "const", CPU_BLOCK_BYTES) == side_by_side
    assert cpu_generator_workers(cpu, "random", 1) == 1  # torch's global generator: one worker keeps the order
    assert cpu_generator_workers(torch.device("meta"), "const", 1) == 1
    big = cpu_generator_workers(cpu, "const", CPU_BLOCK_BYTES + 1)
    assert big == (1 if malloc.supported() else side_by_side)
    # only glibc's main heap keeps blocks larger than a thread heap; elsewhere nothing is gained
    monkeypatch.setattr(malloc, "supported", lambda: False)
    assert cpu_generator_workers(cpu, "const", CPU_BLOCK_BYTES + 1) == side_by_side
    assert render_module.CPU_BLOCK_BYTES == CPU_BLOCK_BYTES


def test_render_of_a_network_with_large_maps_generates_in_the_calling_thread(song, G, tmp_path, monkeypatch):
    import threading

    from musicvideo import malloc, render as render_module

    monkeypatch.setattr(malloc, "supported", lambda: True)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(2)  # side by side would use two generator threads
    try:
        config = lossless(BASE, duration_s=0.5, batch_size=4)
        small = _RecordsThreads(G)
        reference = render(song, output=tmp_path / "small.mp4", config=config, generator=small, progress=False)
        assert small.threads and all(t is not threading.main_thread() for t in small.threads)
        monkeypatch.setattr(render_module, "CPU_BLOCK_BYTES", 1)  # this tiny network now counts as large
        large = _RecordsThreads(G)
        result = render(song, output=tmp_path / "large.mp4", config=config, generator=large, progress=False)
        assert large.threads and all(t is threading.main_thread() for t in large.threads)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(torch_threads)
    assert probe(result.path).n_frames == reference.n_frames == 8  # two batches
    # the same frames up to the float noise of a different thread count in the convolutions
    assert np.abs(read_frames(result.path).astype(int) - read_frames(reference.path)).max() <= 2


def test_output_size_and_aspect_differ_from_the_generator(song, G, tmp_path):
    config = dataclasses.replace(BASE, size=None, width=96, height=64, duration_s=0.4)
    for fit in ("crop", "pad"):
        cfg = dataclasses.replace(config, video=dataclasses.replace(config.video, fit=fit))
        info = probe(render(song, output=tmp_path / f"{fit}.mp4", config=cfg, generator=G, progress=False).path)
        assert (info.width, info.height) == (96, 64)
    native = render(song, output=tmp_path / "native.mp4", config=dataclasses.replace(config, width=None, height=None),
                    generator=G, progress=False)
    assert (native.width, native.height) == (32, 32)  # no size given: the generator's own


def test_default_output_is_the_songs_name_in_the_current_directory(song, G, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = render(song, config=dataclasses.replace(BASE, duration_s=0.2), generator=G, progress=False)
    assert result.path.resolve() == (tmp_path / "loud_quiet.mp4").resolve() and result.path.exists()
    with pytest.raises(MusicVideoError, match="--overwrite"):
        render(song, config=dataclasses.replace(BASE, duration_s=0.2), generator=G, progress=False)
    again = render(song, config=dataclasses.replace(BASE, duration_s=0.4), generator=G, progress=False,
                   overwrite=True)
    assert probe(again.path).n_frames == 6


def test_seeds_file_sets_the_keyframes(song, tmp_path):
    as_dict = tmp_path / "seeds.json"
    as_dict.write_text(json.dumps({"seeds": [5, 9, 2], "traits": {"color": "yellow"}}))
    as_list = tmp_path / "list.json"
    as_list.write_text("[5, 9, 2]")
    assert load_seeds_file(as_dict) == load_seeds_file(as_list) == [5, 9, 2]
    plan = plan_render(song, output=tmp_path / "x.mp4", config=BASE, seeds_file=as_dict)
    assert plan.config.walk.seeds == [5, 9, 2]
    for bad in ("{\"seeds\": []}", "[1, \"a\"]", "not json", "{\"seeds\": [-3]}"):
        as_list.write_text(bad)
        with pytest.raises(ConfigError):
            load_seeds_file(as_list)


def test_automatic_batch_size_shrinks_with_resolution():
    cpu = torch.device("cpu")
    sizes = [auto_batch_size(cpu, r, r) for r in (32, 256, 512, 1024, 4096)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1 and sizes[0] <= 16


def test_cpu_batch_keeps_each_feature_map_within_a_thread_heap():
    from musicvideo.generator.stylegan2 import GeneratorConfig
    from musicvideo.render import CPU_BLOCK_BYTES, largest_activation_bytes

    class Stub:
        def __init__(self, **kw):
            self.config = GeneratorConfig(z_dim=8, w_dim=8, **kw)

    # the default network's shape: 8 channels at 256 px are its largest map, 2 MB a frame
    default = largest_activation_bytes(Stub(img_resolution=256, channel_base=2048, channel_max=64))
    assert default == 8 * 256 * 256 * 4
    cpu = torch.device("cpu")
    assert auto_batch_size(cpu, 256, 256, image_bytes=default) == auto_batch_size(cpu, 256, 256) == 8
    # 32 channels at 512 px (32 MB a frame): one frame per batch, where the pixel rule alone says 2
    wide = largest_activation_bytes(Stub(img_resolution=512, channel_base=16384, channel_max=512))
    assert wide == 32 * 512 * 512 * 4 > CPU_BLOCK_BYTES
    assert auto_batch_size(cpu, 512, 512) == 2 and auto_batch_size(cpu, 512, 512, image_bytes=wide) == 1
    # non-square (a 256 x 512 image): the last maps are as large as the image
    landscape = Stub(img_resolution=512, channel_base=2048, channel_max=64, init_res=(4, 8))
    assert landscape.config.img_shape == (256, 512)
    assert largest_activation_bytes(landscape) == 8 * 256 * 512 * 4
    assert largest_activation_bytes(object()) is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_automatic_cuda_batch_size_is_a_power_of_two_up_to_the_cap():
    from musicvideo.render import CUDA_MAX_BATCH

    sizes = [auto_batch_size(torch.device("cuda"), r, r) for r in (256, 1024, 8192)]
    assert all(s & (s - 1) == 0 and 1 <= s <= CUDA_MAX_BATCH for s in sizes)
    assert sizes == sorted(sizes, reverse=True)


def test_parallel_encoder_path_gives_the_same_frames(song, G, tmp_path, monkeypatch):
    import musicvideo.render as render_module

    config = lossless(BASE, duration_s=1.0, batch_size=4)
    single = read_frames(render(song, output=tmp_path / "one.mp4", config=config, generator=G,
                                progress=False).path)
    monkeypatch.setattr(render_module, "_parallel_encoding", lambda *args: True)  # what a CUDA box would choose
    result = render(song, output=tmp_path / "many.mp4", config=config, generator=G, progress=False)
    info = probe(result.path)
    assert info.n_frames == 15 and info.audio_codec == "aac"
    np.testing.assert_array_equal(read_frames(result.path), single)
    assert leftovers(tmp_path) == []


def test_device_yuv_path_gives_the_rgb_paths_picture_single_and_parallel(song, G, tmp_path, monkeypatch):
    # what a CUDA render does (to_yuv420 on the device, yuv420p into ffmpeg), run here on the CPU
    import musicvideo.render as render_module

    video = dataclasses.replace(BASE.video, crf=0, preset="ultrafast")  # lossless in yuv420p: compare converters
    config = dataclasses.replace(BASE, duration_s=1.0, batch_size=4, video=video)
    rgb_path = read_frames(render(song, output=tmp_path / "rgb.mp4", config=config, generator=G,
                                  progress=False).path)
    monkeypatch.setattr(render_module, "DEVICE_YUV_TYPES", ("cpu",))
    assert render_module.device_converts_yuv(torch.device("cpu"), config.video, (64, 64), (64, 64))
    assert not render_module.device_converts_yuv(torch.device("cpu"), config.video, (64, 64), (96, 64))
    prores = dataclasses.replace(config.video, codec="prores")
    assert not render_module.device_converts_yuv(torch.device("cpu"), prores, (64, 64), (64, 64))
    one = render(song, output=tmp_path / "yuv.mp4", config=config, generator=G, progress=False)
    info = probe(one.path)
    assert (info.n_frames, info.pix_fmt, info.color_space, info.color_range) == (15, "yuv420p", "bt709", "tv")
    yuv_path = read_frames(one.path)
    # same pixels up to the chroma filter (ffmpeg's lanczos vs [1, 2, 1]); both sited "left"
    assert psnr(yuv_path, rgb_path) > 38
    monkeypatch.setattr(render_module, "_parallel_encoding", lambda *args: True)
    many = render(song, output=tmp_path / "many.mp4", config=config, generator=G, progress=False)
    assert probe(many.path).n_frames == 15 and probe(many.path).audio_codec == "aac"
    np.testing.assert_array_equal(read_frames(many.path), yuv_path)
    assert leftovers(tmp_path) == []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_render_matches_the_cpu_render(song, G, tmp_path):
    # the CUDA path end to end: fp16 blocks, pinned host buffers on a side stream, yuv420p made on the GPU
    import copy

    import musicvideo.render as render_module

    config = dataclasses.replace(BASE, duration_s=1.0, batch_size=4)
    on_cpu = read_frames(render(song, output=tmp_path / "cpu.mp4", config=config, generator=copy.deepcopy(G),
                                progress=False).path)
    cuda = dataclasses.replace(config, device="cuda")
    assert render_module.device_converts_yuv(torch.device("cuda"), cuda.video, (64, 64), (64, 64))
    result = render(song, output=tmp_path / "cuda.mp4", config=cuda, generator=copy.deepcopy(G), progress=False)
    info = probe(result.path)
    assert (info.n_frames, info.pix_fmt, info.color_space, info.audio_codec) == (15, "yuv420p", "bt709", "aac")
    assert psnr(read_frames(result.path), on_cpu) > 30  # fp16 and the chroma filter apart, the same video
    assert leftovers(tmp_path) == []
