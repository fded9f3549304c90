"""Any audio file -> :class:`AudioClip` (float32 samples, the file's own rate and channels).

pydub is the decoder, with the ffmpeg binary from the ``imageio-ffmpeg`` wheel. pydub would call ``ffprobe`` to
learn the codec of a non-wav file, and there is no ffprobe here, so ffmpeg first converts whatever it is given to
a 32-bit PCM wav on a pipe and pydub reads that wav (no probing needed). The same path handles mp3, wav of any
sample format (8/16/24/32-bit int, float), flac, ogg/oga, opus, m4a/aac, mono to multichannel, 8 kHz to 192 kHz.

:class:`PcmStream` reads the same ffmpeg output block by block, for the analysis, which never needs the whole
song in memory; its samples are exactly :func:`decode_audio`'s.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import AudioError, require_file
from ..ffmpeg import ffmpeg_exe

with warnings.catch_warnings():  # pydub warns at import when no ffmpeg is on PATH; we hand it ours below
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # pydub imports audioop (deprecated in 3.11+)
    # pydub's regexes have invalid escapes: Python 3.12+ warns when it compiles them (installs without .pyc)
    warnings.simplefilter("ignore", SyntaxWarning)
    from pydub import AudioSegment


LOSSY_SUFFIXES = (".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".mp2")


@dataclass
class AudioClip:
    """Decoded audio.

    Attributes
    ----------
    samples : numpy.ndarray
        float32 ``[channels, n]`` in ``[-1, 1]``.
    sample_rate : int
        Samples per second per channel.
    path : Path
        The file it came from.
    """

    samples: np.ndarray
    sample_rate: int
    path: Path

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[1] / self.sample_rate

    @property
    def channels(self) -> int:
        """Number of channels."""
        return self.samples.shape[0]


def _use_bundled_ffmpeg() -> None:
    AudioSegment.converter = ffmpeg_exe()
    AudioSegment.ffmpeg = ffmpeg_exe()


def _ffmpeg_error(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg failed"


def _run_to_pipe(cmd: list[str], *, count_only: bool = False) -> tuple[bytes | int, int, bytes]:
    """Run ffmpeg and read its whole stdout in large reads (``subprocess.run`` polls in 32 KiB steps: ~2x slower
    for the ~100 MB of a 5-minute song); stderr goes to a temporary file so it cannot block the pipe.

    Returns ``(stdout, returncode, stderr)``; with ``count_only`` the first item is the number of bytes ffmpeg
    wrote, read and dropped 1 MiB at a time (no song-length buffer)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20)
        try:
            if count_only:
                chunk = bytearray(1 << 20)
                data = 0
                while size := proc.stdout.readinto(chunk):
                    data += size
            else:
                data = proc.stdout.read()
            proc.stdout.close()
            returncode = proc.wait()
        except BaseException:  # Ctrl-C: do not leave ffmpeg running
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        return data, returncode, err.read()


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    """``n`` bytes from ``read`` (fewer only at the end of the stream)."""
    parts, size = [], 0
    while size < n:
        chunk = read(n - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _read_wav_header(read: Callable[[int], bytes], p: Path) -> tuple[int, int, int]:
    """``(channels, sample_rate, bytes_per_sample)`` of ffmpeg's piped wav, leaving ``read`` at the first sample.

    A piped wav has placeholder sizes in its header, so the chunks are walked here and everything after the
    ``data`` chunk header is the samples.
    """
    head = _read_exact(read, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError(f"cannot decode {p.name}: ffmpeg produced no audio (is it an audio file?)")
    fmt = None
    while True:
        chunk = _read_exact(read, 8)
        if len(chunk) < 8:
            raise AudioError(f"song has no audio samples: {p} (the file is empty or truncated)")
        name, size = chunk[:4], struct.unpack_from("<I", chunk, 4)[0]
        if name == b"data":
            break
        body = _read_exact(read, size + (size & 1))
        if name == b"fmt " and len(body) >= 16:
            channels, rate = struct.unpack_from("<HI", body, 2)
            fmt = (channels, rate, struct.unpack_from("<H", body, 14)[0] // 8)
    if fmt is None or fmt[2] not in (2, 4) or fmt[0] < 1 or fmt[1] < 1:
        raise AudioError(f"cannot decode {p.name}: unexpected wav from ffmpeg (report this as a bug)")
    return fmt


def _segment_from_piped_wav(wav: bytes, p: Path) -> AudioSegment:
    """Wrap ffmpeg's piped wav in an AudioSegment without copying the samples more than once."""
    stream = io.BytesIO(wav)
    channels, rate, width = _read_wav_header(stream.read, p)
    data = wav[stream.tell():]
    data = data[:len(data) - len(data) % (channels * width)]
    return AudioSegment(data=data, sample_width=width, frame_rate=rate, channels=channels)


def _decode_command(p: Path) -> list[str]:
    """ffmpeg decoding the first audio stream to a wav on stdout (16-bit for lossy formats, else 32-bit)."""
    # Lossy codecs carry no more than 16 bits of resolution (and halve the bytes piped); others keep 32.
    pcm = "pcm_s16le" if p.suffix.lower() in LOSSY_SUFFIXES else "pcm_s32le"
    return [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-i", str(p), "-map", "0:a:0", "-vn",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-c:a", pcm, "-f", "wav", "pipe:1"]


def _decode_error(p: Path, stderr: bytes) -> AudioError:
    return AudioError(f"cannot decode {p.name} as audio: {_ffmpeg_error(stderr)} "
                      f"(is it an mp3/wav/flac/ogg/opus/m4a file?)")


def _pcm_to_float(data: bytes | memoryview, channels: int, width: int) -> np.ndarray:
    """Interleaved little-endian PCM -> float32 ``[channels, n]`` in ``[-1, 1]`` (pydub's sample scale)."""
    dtype = {1: np.int8, 2: np.int16, 4: np.int32}[width]  # pydub keeps 8-bit signed
    ints = np.frombuffer(data, dtype=dtype).reshape(-1, channels).T
    scale = np.float32(1.0 / (2 ** (8 * width - 1)))
    return np.ascontiguousarray(ints, dtype=np.float32) * scale


class PcmStream:
    """A song decoded by the bundled ffmpeg and read block by block, so memory does not grow with its length.

    The samples are exactly those of :func:`decode_audio` (the same ffmpeg command and sample scale), handed
    out as float32 ``[channels, m]`` blocks. Use as a context manager; ffmpeg's exit status is checked when the
    last block has been read.

    Parameters
    ----------
    path : str or Path
        The song.

    Attributes
    ----------
    sample_rate, channels : int
        The file's own.
    frames_read : int
        Samples per channel handed out so far.

    Raises
    ------
    AudioError
        Missing, empty, non-audio or corrupt file; no samples at all.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = require_file(path, "song", AudioError)
        if self.path.stat().st_size == 0:
            raise AudioError(f"song is an empty file: {self.path} (give a real audio file)")
        self._err = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(_decode_command(self.path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=self._err, bufsize=1 << 20)
        self.frames_read = 0
        try:
            self.channels, self.sample_rate, self._width = _read_wav_header(self._proc.stdout.read, self.path)
        except AudioError:
            try:
                self._finish()  # ffmpeg's own message, when it failed, says more than "no audio"
            finally:
                self.close()
            raise

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Consecutive float32 ``[channels, m]`` blocks of ``frames`` samples (the last one may be shorter).

        Raises
        ------
        AudioError
            When ffmpeg fails or the file holds no samples (after the last block).
        """
        frame_bytes = self.channels * self._width
        buffer = bytearray(frames * frame_bytes)
        view = memoryview(buffer)
        while True:
            size = self._proc.stdout.readinto(view)
            while size and size < len(buffer):  # a pipe read returns what is there: fill the block
                more = self._proc.stdout.readinto(view[size:])
                if not more:
                    break
                size += more
            size -= size % frame_bytes  # a torn last sample (truncated stream) is dropped, as decode_audio does
            if size:
                block = _pcm_to_float(view[:size], self.channels, self._width)
                self.frames_read += block.shape[1]
                yield block
            if size < len(buffer):
                break
        self._finish()
        if self.frames_read < 1:
            raise AudioError(f"song has no audio samples: {self.path} (the file is empty or truncated)")

    def _finish(self) -> None:
        self._proc.stdout.close()
        if self._proc.wait() != 0:
            self._err.seek(0)
            raise _decode_error(self.path, self._err.read())

    def close(self) -> None:
        """Stop ffmpeg if it still runs (Ctrl-C, an error) and release the pipe."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout and not self._proc.stdout.closed:
            self._proc.stdout.close()
        self._err.close()

    def __enter__(self) -> PcmStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_segment(path: str | Path) -> AudioSegment:
    """Decode a file into a pydub ``AudioSegment`` (16-bit for lossy formats, else 32-bit) without ffprobe.

    Parameters
    ----------
    path : str or Path
        The song.

    Returns
    -------
    pydub.AudioSegment
        The whole first audio stream.

    Raises
    ------
    AudioError
        When the file is missing, empty, not audio, or has no samples.
    """
    p = require_file(path, "song", AudioError)
    if p.stat().st_size == 0:
        raise AudioError(f"song is an empty file: {p} (give a real audio file)")
    _use_bundled_ffmpeg()
    wav, returncode, stderr = _run_to_pipe(_decode_command(p))
    if returncode != 0:
        raise _decode_error(p, stderr)
    segment = _segment_from_piped_wav(wav, p)
    if segment.frame_count() < 1:
        raise AudioError(f"song has no audio samples: {p} (the file is empty or truncated)")
    return segment


def segment_to_array(segment: AudioSegment) -> np.ndarray:
    """pydub samples as float32 ``[channels, n]`` in ``[-1, 1]``."""
    return _pcm_to_float(segment.raw_data, segment.channels, segment.sample_width)


def decode_audio(path: str | Path) -> AudioClip:
    """Decode a song into float32 samples at its own sample rate and channel count.

    Parameters
    ----------
    path : str or Path
        mp3, wav (8/16/24/32-bit int or float), flac, ogg/oga, opus, m4a/aac, ...

    Returns
    -------
    AudioClip
        ``samples`` float32 ``[channels, n]`` in ``[-1, 1]``, ``sample_rate``, ``path``.

    Raises
    ------
    AudioError
        One-line message for a missing file, a directory, an empty, corrupt or non-audio file.

    Examples
    --------
    >>> clip = decode_audio("song.mp3")          # doctest: +SKIP
    >>> clip.samples.shape, clip.sample_rate     # doctest: +SKIP
    ((2, 13230000), 44100)
    """
    segment = decode_segment(path)
    return AudioClip(samples=segment_to_array(segment), sample_rate=int(segment.frame_rate), path=Path(path))


LOSSLESS_CONTAINERS = ("WAV", "WAVEX", "RF64", "W64", "FLAC", "AIFF")  # soundfile's header length is exact for these
# Only these suffixes are handed to soundfile: libsndfile's mp3 reader (mpg123) prints its own warnings straight to
# stderr on a broken .mp3, which would break the one-line error a user gets.
LOSSLESS_SUFFIXES = (".wav", ".wave", ".bwf", ".rf64", ".w64", ".flac", ".aif", ".aiff", ".aifc")


@functools.lru_cache(maxsize=64)
def _duration_of(path: str, size: int, mtime_ns: int) -> float:
    if path.lower().endswith(LOSSLESS_SUFFIXES):
        try:
            import soundfile

            info = soundfile.info(path)
            if info.format in LOSSLESS_CONTAINERS and info.frames > 0 and info.samplerate > 0:
                return info.frames / info.samplerate
        except Exception:  # noqa: BLE001 - soundfile does not know every format; ffmpeg decides below
            pass
    # Lossy formats: only decoding gives the exact length (mp3 headers are estimates, and the decoder drops the
    # encoder delay), so count the samples of a mono 16-bit decode; no pydub round trip, a fraction of a decode.
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-i", path, "-map", "0:a:0", "-vn", "-ac", "1",
           "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"]
    size, returncode, stderr = _run_to_pipe(cmd, count_only=True)
    if returncode != 0:
        raise _decode_error(Path(path), stderr)
    rate = _SAMPLE_RATE.search(stderr) or _SAMPLE_RATE.search(_stream_info(path))
    if not size or rate is None:
        raise AudioError(f"song has no audio samples: {path} (the file is empty or truncated)")
    return (size // 2) / int(rate.group(1))


_SAMPLE_RATE = re.compile(rb"Audio: [^\n]*?, (\d+) Hz")


def _stream_info(path: str) -> bytes:
    """ffmpeg's description of the input (stderr of ``ffmpeg -i``)."""
    return subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", path], capture_output=True,
                          check=False).stderr


def audio_duration_s(path: str | Path) -> float:
    """Length of a song in seconds, exactly as :func:`decode_audio` will see it (for preflight checks).

    A song already in the analysis cache answers from there; wav/flac/aiff are read from their headers (instant);
    lossy formats are decoded to count their samples (about a third of a full decode; remembered per file, size
    and modification time).

    Parameters
    ----------
    path : str or Path
        The song.

    Returns
    -------
    float
        Duration in seconds (samples / sample rate).

    Raises
    ------
    AudioError
        When the file is missing, empty or not audio.
    """
    p = require_file(path, "song", AudioError)
    stat = p.stat()
    if stat.st_size == 0:
        raise AudioError(f"song is an empty file: {p} (give a real audio file)")
    from .cache import cached_duration_s  # a song analysed before knows its length

    known = cached_duration_s(p)
    if known is not None:
        return known
    return _duration_of(str(p), stat.st_size, stat.st_mtime_ns)
