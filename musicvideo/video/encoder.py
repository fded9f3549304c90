"""VideoWriter: raw RGB frames in, a finished video file (with the song's audio) out.

Frames are piped to the bundled ffmpeg as ``rawvideo rgb24`` on stdin; nothing touches the disk but the output.
ffmpeg writes to a hidden temporary name beside the target, which is renamed into place only after ffmpeg
finished successfully; on an error, an exception in the ``with`` block, or Ctrl-C, ffmpeg is killed and the
temporary deleted, so the target either is complete or does not exist.

Audio: the song is decoded from its start and cut with ``atrim`` in samples (exact for any format, where an
input-side seek in an MP3 is only as exact as its seek index), then padded with silence, so the audio is exactly
as long as the ``ceil(duration * fps)`` frames of the clip, whatever the song's length (see ``_audio_filter``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from ..atomic import OutputTemporary, atomic_output, check_output_path
from ..errors import AudioError, MusicVideoError, OutputError, require_file
from ..ffmpeg import ffmpeg_exe
from .codecs import (CHROMA_LOCATION, DNXHR_MIN_SIZE, VideoConfig, audio_args, audio_output_rate, check_container,
                     for_output, needs_even_size, output_pix_fmt, resolve_encoder, video_args)
from .probe import probe, read_header

# ffmpeg lines that only say that something else failed; the message names the first line that is not one of them
_GENERIC_ERRORS = ("Task finished", "Terminating thread", "Conversion failed", "Nothing was written",
                   "Error sending frames", "Could not open encoder before EOF", "Error while filtering",
                   "Error closing file", "Error writing trailer", "Last message repeated")


# Writers (this module's and SegmentedVideoWriter) not yet closed or aborted. At interpreter exit they are aborted:
# otherwise ffmpeg would see its stdin close and finish a temporary file, or a parts folder would stay behind.
_OPEN_WRITERS: set = set()


@atexit.register
def _abort_open_writers() -> None:
    for writer in list(_OPEN_WRITERS):
        with contextlib.suppress(Exception):
            writer.abort()


@dataclass
class AudioSource:
    """The song whose audio goes into the video.

    Attributes
    ----------
    path : str or Path
        Any audio (or video) file ffmpeg reads.
    start_s : float
        Where the clip starts in the song, in seconds.
    duration_s : float or None
        How much of the song to use; None means to its end. Either way the muxed audio is cut (or padded with
        silence) to the video's length.
    """

    path: str | Path
    start_s: float = 0.0
    duration_s: float | None = None


# What VideoWriter.write accepts: RGB (converted by ffmpeg), or I420 planes already converted (on the GPU)
INPUT_FORMATS = ("rgb24", "yuv420p")


def check_frames(frames: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray:
    """``frames`` as a uint8 batch ``[B, *frame_shape]`` (one frame gets a batch axis); ValueError otherwise."""
    frames = np.asarray(frames)
    if frames.ndim == len(frame_shape):
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.shape[1:] != tuple(frame_shape):
        raise ValueError(f"frames must be uint8 [B, {', '.join(map(str, frame_shape))}], got {frames.dtype} "
                         f"{list(frames.shape)}")
    return frames


def yuv420p_input_allowed(config: VideoConfig, input_size: tuple[int, int], output_size: tuple[int, int]) -> bool:
    """Whether a writer with ``config`` can take I420 frames of ``input_size`` (``input_format='yuv420p'``): the
    codec encodes yuv420p and the frames go out as they are (same size, even), nothing for ffmpeg to scale."""
    return (output_pix_fmt(config) == "yuv420p" and tuple(input_size) == tuple(output_size)
            and input_size[0] % 2 == 0 and input_size[1] % 2 == 0)


def _exact_fps(fps: float | str | Fraction) -> Fraction:
    # imported here: musicvideo.config imports this package for VideoConfig
    from ..config import exact_fps

    return exact_fps(fps)


def expected_frames(audio: AudioSource | None, fps: Fraction) -> int | None:
    """Frames a clip with this audio must have: ``ceil(duration_s * fps)``, or None when the duration is open."""
    if audio is None or audio.duration_s is None:
        return None
    from ..config import frame_count  # imported here: musicvideo.config imports this package

    return frame_count(audio.duration_s, fps)


def _fps_arg(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def _ffmpeg_error(lines: Iterable[str]) -> str:
    """The most informative ffmpeg error line, without its ``[encoder @ 0x...]`` prefixes."""
    cleaned = []
    for line in lines:
        text = line.strip()
        while text.startswith("[") and "] " in text:
            text = text.split("] ", 1)[1].strip()
        if text:
            cleaned.append(text)
    for text in cleaned:
        if not text.startswith(_GENERIC_ERRORS):
            return text
    return cleaned[-1] if cleaned else "no message"


def check_audio_source(audio: AudioSource) -> tuple[Path, int]:
    """Preflight of the song: readable, has an audio stream, clip start inside it.

    Returns
    -------
    (Path, int)
        The song's path and sample rate.

    Raises
    ------
    AudioError
        With a one-line message naming the problem.
    """
    path = require_file(audio.path, "song", AudioError)
    if audio.start_s < 0:
        raise AudioError(f"audio start must be >= 0 s, got {audio.start_s}")
    if audio.duration_s is not None and audio.duration_s <= 0:
        raise AudioError(f"audio duration must be > 0 s, got {audio.duration_s}")
    try:
        info = read_header(path)
    except MusicVideoError as exc:
        raise AudioError(f"cannot read song {path}: {exc}") from None
    if not info.audio_codec:
        raise AudioError(f"{path} has no audio stream (give an audio file as the song)")
    if info.duration_s and audio.start_s >= info.duration_s:
        raise AudioError(f"start {audio.start_s:.3f} s is past the end of {path.name} ({info.duration_s:.3f} s)")
    if info.sample_rate <= 0:
        raise AudioError(f"cannot tell the sample rate of {path} (convert it to WAV or FLAC)")
    return path, info.sample_rate


def _audio_filter(audio: AudioSource, input_index: int, fps: Fraction, sample_rate: int,
                  output: Path) -> tuple[str, bool]:
    """The ``filter_complex`` chain that cuts the clip's audio out of the song.

    With a known duration the video has ``N = ceil(duration * fps)`` frames, so the audio is cut (or padded with
    silence) to exactly ``N / fps`` seconds, counted in samples from the song's first decoded sample (the
    timeline the analysis used). Without one it runs to the song's end, padded without end, and ``-shortest``
    cuts it where the video ends, in 256-sample packets (6 ms at 44.1 kHz).

    The song keeps its sample rate unless the output's audio codec cannot hold it (``audio_output_rate``).

    Returns
    -------
    (str, bool)
        The chain (output label ``[aout]``) and whether ``-shortest`` is needed.
    """
    start = int(round(audio.start_s * sample_rate))
    head = f"[{input_index}:a:0]"
    rate = audio_output_rate(sample_rate, output)
    resample = f",aresample={rate}" if rate != sample_rate else ""
    n_frames = expected_frames(audio, fps)
    if n_frames is not None:
        samples = int(round(Fraction(n_frames) / fps * rate))
        return (f"{head}atrim=start_sample={start},asetpts=PTS-STARTPTS{resample},"
                f"atrim=end_sample={samples},apad=whole_len={samples}[aout]"), False
    return f"{head}atrim=start_sample={start},asetpts=PTS-STARTPTS{resample},apad,asetnsamples=n=256[aout]", True


def _video_filter(in_w: int, in_h: int, out_w: int, out_h: int, requested: tuple[int, int],
                  config: VideoConfig, input_format: str = "rgb24") -> str:
    """Scale (lanczos, aspect kept), crop or pad to the output size, then convert RGB -> the codec's format.

    The intermediate size is computed here rather than by ffmpeg's ``force_original_aspect_ratio`` so that
    rounding can never leave the scaled frame a pixel short of the crop (or a pixel over the pad). Frames that
    arrive as ``yuv420p`` (converted on the GPU, see :data:`INPUT_FORMATS`) are only tagged.
    """
    if input_format == "yuv420p":
        return "setsar=1,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
    steps: list[str] = []
    if (in_w, in_h) != (out_w, out_h):
        if (in_w, in_h) == requested:
            # only rounded to even: drop the odd row/column rather than resample the whole frame
            steps.append(f"crop={out_w}:{out_h}:0:0")
        elif config.fit == "stretch":
            steps.append(f"scale={out_w}:{out_h}:flags=lanczos")
        elif config.fit == "crop":
            factor = max(Fraction(out_w, in_w), Fraction(out_h, in_h))
            scaled_w, scaled_h = max(out_w, round(in_w * factor)), max(out_h, round(in_h * factor))
            steps.append(f"scale={scaled_w}:{scaled_h}:flags=lanczos")
            steps.append(f"crop={out_w}:{out_h}:{(scaled_w - out_w) // 2}:{(scaled_h - out_h) // 2}")
        else:
            factor = min(Fraction(out_w, in_w), Fraction(out_h, in_h))
            scaled_w, scaled_h = min(out_w, round(in_w * factor)), min(out_h, round(in_h * factor))
            steps.append(f"scale={scaled_w}:{scaled_h}:flags=lanczos")
            steps.append(f"pad={out_w}:{out_h}:{(out_w - scaled_w) // 2}:{(out_h - scaled_h) // 2}"
                         f":color={config.pad_color}")
    steps.append("setsar=1")  # square pixels whatever the scale did to the aspect
    pix_fmt = output_pix_fmt(config)
    if pix_fmt != "rgb24":
        # one explicit conversion with the BT.709 matrix at studio range, and the frames tagged to say so
        # (the colour tags follow the frames, so players need not guess between BT.601 and BT.709); 4:2:0 chroma
        # sited where H.264/HEVC put it by default and render.to_yuv420 puts it ("left", codecs.CHROMA_LOCATION)
        siting = f":out_chroma_loc={CHROMA_LOCATION}" if pix_fmt == "yuv420p" else ""
        steps.append("scale=out_color_matrix=bt709:out_range=tv:flags=lanczos+accurate_rnd+full_chroma_int"
                     + siting)
        steps.append(f"format={pix_fmt}")
        steps.append("setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709")
    else:
        steps.append(f"format={pix_fmt}")
    return ",".join(steps)


class VideoWriter:
    """Encode uint8 RGB frames into a video file through an ffmpeg pipe, with the song's audio.

    Parameters
    ----------
    path : str or Path
        The output file; ``.mp4`` for h264/hevc, ``.mov`` for prores/dnxhr (see ``codecs.check_container``).
    width, height : int
        Output size. Odd sizes are rounded down to even for the yuv formats.
    fps : float, str or Fraction
        Frame rate, kept exact (29.97 -> 30000/1001).
    config : VideoConfig, optional
        Codec and quality knobs.
    audio : AudioSource, optional
        The song to mux in; None writes video only (segment mode, see :func:`concat_segments`). With a
        ``duration_s`` the clip must get exactly ``ceil(duration_s * fps)`` frames (``expected_frames``; the
        audio is cut to that length and :meth:`close` refuses another count); without one the audio is cut
        where the frames end.
    overwrite : bool
        Replace an existing output.
    input_width, input_height : int, optional
        Size of the frames given to :meth:`write` (default: the output size). Another size is scaled with
        lanczos, aspect kept, and cropped or padded per ``config.fit``.
    queue_batches : int
        Batches buffered for the background thread that feeds ffmpeg, so encoding overlaps generation;
        0 writes to ffmpeg directly from :meth:`write`.
    input_format : {'rgb24', 'yuv420p'}
        What :meth:`write` receives: RGB ``[B, H, W, 3]``, or I420 planes ``[B, H * 3 // 2, W]`` (Y, then U and V
        at half size, BT.709 at studio range, as :func:`musicvideo.render.to_yuv420` makes them on the GPU), which
        ffmpeg then encodes without converting. yuv420p input needs an even input size equal to the output size
        and a codec that encodes yuv420p (h264/hevc, not lossless).

    Attributes
    ----------
    frames_written : int
        Frames accepted so far.
    expected_frames : int or None
        Frames the audio clip needs, when its duration is given.
    width, height : int
        The output size after rounding to even.
    fps : Fraction
        The exact frame rate.
    frame_shape : tuple of int
        The shape of one frame given to :meth:`write`.

    Notes
    -----
    :meth:`write` is thread-safe (a lock keeps batches whole), but frames are encoded in the order the calls
    happen, so feed one writer from one thread. Used as a context manager, an exception or Ctrl-C inside the
    block aborts: ffmpeg is killed and nothing is left at the target.

    Examples
    --------
    >>> with VideoWriter("out.mp4", width=256, height=256, fps=30,
    ...                  audio=AudioSource("song.wav", start_s=10, duration_s=5)) as writer:   # doctest: +SKIP
    ...     for batch in batches:            # uint8 [B, 256, 256, 3]
    ...         writer.write(batch)
    """

    def __init__(self, path: str | Path, *, width: int, height: int, fps: float | str | Fraction,
                 config: VideoConfig | None = None, audio: AudioSource | None = None, overwrite: bool = False,
                 input_width: int | None = None, input_height: int | None = None, queue_batches: int = 2,
                 input_format: str = "rgb24") -> None:
        # preflight: everything the user can get wrong is checked before ffmpeg starts
        self.path = check_output_path(path, overwrite=overwrite)
        self.config = for_output(config or VideoConfig(), self.path)  # no codec given: the extension's
        self.overwrite = overwrite
        check_container(self.path, self.config)
        self.fps = _exact_fps(fps)
        for name, value in (("width", width), ("height", height), ("input_width", input_width),
                            ("input_height", input_height)):
            if value is not None and (not isinstance(value, (int, np.integer)) or not 2 <= value <= 16384):
                raise MusicVideoError(f"video {name} must be an integer of 2..16384 pixels, got {value!r}")
        self.input_width = int(input_width or width)
        self.input_height = int(input_height or height)
        self.width, self.height = int(width), int(height)
        if needs_even_size(self.config):
            self.width -= self.width % 2
            self.height -= self.height % 2
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")
        if input_format == "yuv420p" and not yuv420p_input_allowed(
                self.config, (self.input_width, self.input_height), (width, height)):
            raise ValueError(f"yuv420p input needs an even size equal to the output size and a yuv420p codec, got "
                             f"{self.input_width}x{self.input_height} -> {width}x{height}, "
                             f"{output_pix_fmt(self.config)}")
        self.input_format = input_format
        if self.config.codec == "dnxhr" and (self.width < DNXHR_MIN_SIZE[0] or self.height < DNXHR_MIN_SIZE[1]):
            raise MusicVideoError(f"DNxHR needs at least {DNXHR_MIN_SIZE[0]}x{DNXHR_MIN_SIZE[1]} pixels, got "
                                  f"{self.width}x{self.height} (use a larger size or --codec prores)")
        self.audio = audio
        self.expected_frames = expected_frames(audio, self.fps)
        song, rate = check_audio_source(audio) if audio is not None else (None, 0)
        self.encoder = resolve_encoder(self.config)

        self.frames_written = 0
        self.frame_shape: tuple[int, ...] = ((self.input_height * 3 // 2, self.input_width)
                                             if input_format == "yuv420p" else (self.input_height, self.input_width, 3))
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._closed = False
        self._finished = False  # the file is in place
        self._failure: BaseException | None = None
        self._stderr_tail: deque[str] = deque(maxlen=40)

        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", input_format, "-s", f"{self.input_width}x{self.input_height}",
               "-framerate", _fps_arg(self.fps), "-i", "pipe:0"]
        if song is not None:
            cmd += ["-i", str(song)]
        vf = _video_filter(self.input_width, self.input_height, self.width, self.height,
                           (int(width), int(height)), self.config, input_format)
        graph = f"[0:v]{vf}[vout]"
        shortest = False
        if audio is not None:
            chain, shortest = _audio_filter(audio, 1, self.fps, rate, self.path)
            graph += ";" + chain
        cmd += ["-filter_complex", graph, "-map", "[vout]"]
        cmd += video_args(self.config, self.encoder, self.path)
        if audio is not None:
            cmd += ["-map", "[aout]", *audio_args(self.config, self.path)] + (["-shortest"] if shortest else [])
        # created and locked by this process (a stale one of a killed run is removed here, see musicvideo.atomic)
        self._temporary = OutputTemporary(self.path)
        self._tmp = self._temporary.path
        cmd += ["-y", str(self._tmp)]
        self.command = cmd
        try:
            # own process group: Ctrl-C reaches Python only, which then aborts ffmpeg itself (no half-finalised
            # file); the CLI turns SIGTERM/SIGHUP into the same unwinding (musicvideo.signals)
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, process_group=0)
        except BaseException:
            self._temporary.discard()
            raise
        _OPEN_WRITERS.add(self)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, name="ffmpeg-stderr", daemon=True)
        self._stderr_thread.start()
        self._queue: queue.Queue | None = None
        self._feeder: threading.Thread | None = None
        if queue_batches > 0:
            self._queue = queue.Queue(maxsize=queue_batches)
            self._feeder = threading.Thread(target=self._feed, name="ffmpeg-feeder", daemon=True)
            self._feeder.start()

    # ------------------------------------------------------------ threads

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip())

    def _feed(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._failure is None:
                try:
                    self._pipe_write(item)
                except BaseException as exc:  # keep taking items so a blocked write() never deadlocks
                    self._failure = exc

    def _pipe_write(self, frames: np.ndarray) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(memoryview(frames).cast("B"))

    def _ffmpeg_died(self) -> MusicVideoError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)
        self._stderr_thread.join(timeout=5)
        return MusicVideoError(f"ffmpeg failed writing {self.path.name}: {_ffmpeg_error(self._stderr_tail)}")

    # ------------------------------------------------------------ public

    def write(self, frames: np.ndarray, *, copy: bool = True) -> None:
        """Queue frames for encoding.

        Parameters
        ----------
        frames : numpy.ndarray
            uint8 RGB ``[B, H, W, 3]`` or ``[H, W, 3]`` at the input size (I420 ``[B, H * 3 // 2, W]`` or
            ``[H * 3 // 2, W]`` with ``input_format='yuv420p'``).
        copy : bool
            With the background queue, copy the batch first so the caller may reuse its buffer (e.g. pinned
            memory) at once; pass False only for an array nobody writes to afterwards.

        Raises
        ------
        MusicVideoError
            If ffmpeg died (with its error) or the writer is closed.
        """
        frames = check_frames(frames, self.frame_shape)
        with self._write_lock:
            if self._closed:
                raise MusicVideoError(f"VideoWriter for {self.path.name} is already closed")
            if self._failure is not None or self._proc.poll() is not None:
                raise self._ffmpeg_died()
            if self._queue is None:
                try:
                    self._pipe_write(np.ascontiguousarray(frames))
                except (BrokenPipeError, OSError):
                    raise self._ffmpeg_died() from None
            else:
                batch = np.array(frames, copy=True, order="C") if copy else np.ascontiguousarray(frames)
                self._queue.put(batch)
            self.frames_written += len(frames)

    def close(self) -> Path:
        """Finish encoding, wait for ffmpeg and move the file into place.

        Returns
        -------
        Path
            The finished file.

        Raises
        ------
        MusicVideoError
            If ffmpeg failed or no frame was written (nothing is left at the target then).
        """
        with self._state_lock:
            if self._closed:
                if self._finished:
                    return self.path
                raise MusicVideoError(f"VideoWriter for {self.path.name} was aborted")
            self._closed = True
        try:
            if self._queue is not None:
                self._queue.put(None)
                assert self._feeder is not None
                self._feeder.join()
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            rc = self._proc.wait()
            self._stderr_thread.join()
            if self.frames_written == 0:
                raise OutputError(f"no frames were written for {self.path} (nothing to encode)")
            if self.expected_frames is not None and self.frames_written != self.expected_frames:
                # the audio was cut for exactly expected_frames; another count would put it out of sync
                raise MusicVideoError(f"{self.frames_written} frames were written for {self.path.name} but its "
                                      f"{self.audio.duration_s:g} s of audio need ceil(duration * fps) = "
                                      f"{self.expected_frames}")
            if rc != 0 or self._failure is not None or not self._tmp.exists():
                raise self._ffmpeg_died()
            if self.path.exists() and not self.overwrite:
                raise OutputError(f"output already exists: {self.path} (pass --overwrite to replace it)")
            self._temporary.commit(self.path)
            self._finished = True
            _OPEN_WRITERS.discard(self)
            return self.path
        except BaseException:
            self._kill_and_clean()
            raise

    def abort(self) -> None:
        """Stop at once: kill ffmpeg, delete the temporary; nothing is left at the target. Safe to call twice."""
        with self._state_lock:
            self._closed = True
        self._kill_and_clean()  # after a successful close this finds nothing to do (the target is untouched)

    def _kill_and_clean(self) -> None:
        _OPEN_WRITERS.discard(self)
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._queue is not None and self._feeder is not None and self._feeder.is_alive():
            # the feeder errors out on the dead pipe and drains; the sentinel ends it
            with contextlib.suppress(queue.Full):
                while self._feeder.is_alive():
                    try:
                        self._queue.put(None, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            self._feeder.join(timeout=10)
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        self._stderr_thread.join(timeout=5)
        if not self._finished:
            self._temporary.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# ---------------------------------------------------------------- segments


def _concat_list_line(path: Path) -> str:
    # the concat demuxer's quoting: inside '...', a quote is written as '\''
    quoted = str(path.resolve()).replace("'", "'\\''")
    return f"file '{quoted}'\n"


def concat_segments(paths: Iterable[str | Path], output: str | Path, *, audio: AudioSource | None = None,
                    config: VideoConfig | None = None, overwrite: bool = False,
                    fps: float | str | Fraction | None = None) -> Path:
    """Join video-only segments (consecutive frame ranges) into one file without re-encoding, then add the audio.

    The segments must come from :class:`VideoWriter` with ``audio=None`` and identical size, fps and
    ``config``; their video packets are copied (concat demuxer, ``-c:v copy``), and the song is muxed once over
    the whole range, so the result has the frames and sync of a one-worker render.

    Parameters
    ----------
    paths : iterable of str or Path
        The segments in order.
    output : str or Path
        The joined file (same container rules as VideoWriter).
    audio : AudioSource, optional
        The song over the whole range (start of the first segment, total duration).
    config : VideoConfig, optional
        The segments' config (decides the audio codec and container flags).
    overwrite : bool
        Replace an existing output.
    fps : float, str or Fraction, optional
        The segments' frame rate (read from the first segment when not given); sets the audio length.
        With an audio duration, the segments must hold ``ceil(duration_s * fps)`` frames in all.

    Returns
    -------
    Path
        The joined file.

    Raises
    ------
    MusicVideoError
        A missing segment, segments that differ in codec/size/pixel format, or an ffmpeg failure.
    """
    target = check_output_path(output, overwrite=overwrite)
    config = for_output(config or VideoConfig(), target)
    check_container(target, config)
    segments = [require_file(p, "segment") for p in paths]
    if not segments:
        raise MusicVideoError("concat_segments needs at least one segment")
    # packet counts and rates without decoding (a copy pass per segment), to check the pieces fit together
    infos = [probe(seg, decode=False) for seg in segments]
    first = infos[0]
    for seg, info in zip(segments[1:], infos[1:]):
        if (info.video_codec, info.pix_fmt, info.width, info.height, info.fps) != (
                first.video_codec, first.pix_fmt, first.width, first.height, first.fps):
            raise MusicVideoError(f"segment {seg.name} is {info.video_codec} {info.pix_fmt} {info.width}x"
                                  f"{info.height} at {info.fps} fps but {segments[0].name} is {first.video_codec} "
                                  f"{first.pix_fmt} {first.width}x{first.height} at {first.fps} fps "
                                  "(render all segments with the same settings)")
    fps = _exact_fps(fps if fps is not None else first.fps or 0)
    total = sum(info.n_frames for info in infos)
    needed = expected_frames(audio, fps)
    if needed is not None and total != needed:
        raise MusicVideoError(f"the segments hold {total} frames but {audio.duration_s:g} s of audio need "
                              f"ceil(duration * fps) = {needed} (a segment is missing or incomplete)")
    song, rate = check_audio_source(audio) if audio is not None else (None, 0)

    fd, list_name = tempfile.mkstemp(prefix="musicvideo-concat-", suffix=".txt")
    list_path = Path(list_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(_concat_list_line(seg) for seg in segments)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
               "-f", "concat", "-safe", "0", "-i", str(list_path)]
        shortest = False
        if song is not None:
            chain, shortest = _audio_filter(audio, 1, fps, rate, target)
            cmd += ["-i", str(song), "-filter_complex", chain]
        cmd += ["-map", "0:v:0", "-c:v", "copy"]
        suffix = target.suffix.lower()
        if suffix in (".mp4", ".m4v", ".mov"):
            cmd += ["-movflags", "+faststart"]
            if config.codec == "hevc" and suffix != ".mov":
                cmd += ["-tag:v", "hvc1"]
        if song is not None:
            cmd += ["-map", "[aout]", *audio_args(config, target)] + (["-shortest"] if shortest else [])
        with atomic_output(target, overwrite=overwrite) as tmp:
            result = subprocess.run([*cmd, "-y", str(tmp)], stdin=subprocess.DEVNULL, capture_output=True,
                                    process_group=0)
            if result.returncode != 0:
                lines = result.stderr.decode("utf-8", "replace").splitlines()
                raise MusicVideoError(f"ffmpeg failed joining segments into {target.name}: {_ffmpeg_error(lines)}")
    finally:
        with contextlib.suppress(OSError):
            list_path.unlink()
    return target
