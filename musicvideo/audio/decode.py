"""Any audio file -> :class:`AudioClip` (float32 samples, the file's own rate and channels).

pydub is the decoder, with the ffmpeg binary from the ``imageio-ffmpeg`` wheel. pydub would call ``ffprobe`` to
learn the codec of a non-wav file, and there is no ffprobe here, so ffmpeg first converts whatever it is given to
a 32-bit PCM wav on a pipe and pydub reads that wav (no probing needed). The same path handles mp3, wav of any
sample format (8/16/24/32-bit int, float), flac, ogg/oga, opus, m4a/aac, mono to multichannel, 8 kHz to 192 kHz.
"""

from __future__ import annotations

import functools
import re
import struct
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioError, require_file
from ..ffmpeg import ffmpeg_exe

with warnings.catch_warnings():  # pydub warns at import when no ffmpeg is on PATH; we hand it ours below
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # pydub imports audioop (deprecated in 3.11+)
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


def _run_to_pipe(cmd: list[str]) -> tuple[bytes, int, bytes]:
    """Run ffmpeg and read its whole stdout in large reads (``subprocess.run`` polls in 32 KiB steps: ~2x slower
    for the ~100 MB of a 5-minute song); stderr goes to a temporary file so it cannot block the pipe."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20)
        try:
            data = proc.stdout.read()
            proc.stdout.close()
            returncode = proc.wait()
        except BaseException:  # Ctrl-C: do not leave ffmpeg running
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        return data, returncode, err.read()


def _segment_from_piped_wav(wav: bytes, p: Path) -> AudioSegment:
    """Wrap ffmpeg's piped wav in an AudioSegment without copying the samples more than once.

    A piped wav has placeholder sizes in its header, so the chunks are walked here and everything after the
    ``data`` chunk header is the samples.
    """
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise AudioError(f"cannot decode {p.name}: ffmpeg produced no audio (is it an audio file?)")
    pos, fmt = 12, None
    while pos + 8 <= len(wav):
        chunk, size = wav[pos:pos + 4], struct.unpack_from("<I", wav, pos + 4)[0]
        if chunk == b"fmt ":
            channels, rate = struct.unpack_from("<HI", wav, pos + 10)
            bits = struct.unpack_from("<H", wav, pos + 22)[0]
            fmt = (channels, rate, bits // 8)
        elif chunk == b"data":
            break
        pos += 8 + size + (size & 1)
    else:
        raise AudioError(f"song has no audio samples: {p} (the file is empty or truncated)")
    if fmt is None or fmt[2] not in (2, 4):
        raise AudioError(f"cannot decode {p.name}: unexpected wav from ffmpeg (report this as a bug)")
    channels, rate, width = fmt
    data = wav[pos + 8:]
    data = data[:len(data) - len(data) % (channels * width)]
    return AudioSegment(data=data, sample_width=width, frame_rate=rate, channels=channels)


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
    # Lossy codecs carry no more than 16 bits of resolution (and halve the bytes piped); others keep 32.
    pcm = "pcm_s16le" if p.suffix.lower() in LOSSY_SUFFIXES else "pcm_s32le"
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-i", str(p), "-map", "0:a:0", "-vn",
           "-map_metadata", "-1", "-fflags", "+bitexact", "-c:a", pcm, "-f", "wav", "pipe:1"]
    wav, returncode, stderr = _run_to_pipe(cmd)
    if returncode != 0:
        raise AudioError(f"cannot decode {p.name} as audio: {_ffmpeg_error(stderr)} "
                         f"(is it an mp3/wav/flac/ogg/opus/m4a file?)")
    segment = _segment_from_piped_wav(wav, p)
    if segment.frame_count() < 1:
        raise AudioError(f"song has no audio samples: {p} (the file is empty or truncated)")
    return segment


def segment_to_array(segment: AudioSegment) -> np.ndarray:
    """pydub samples as float32 ``[channels, n]`` in ``[-1, 1]``."""
    dtype = {1: np.int8, 2: np.int16, 4: np.int32}[segment.sample_width]  # pydub keeps 8-bit signed
    ints = np.frombuffer(segment.raw_data, dtype=dtype).reshape(-1, segment.channels).T
    scale = np.float32(1.0 / (2 ** (8 * segment.sample_width - 1)))
    return np.ascontiguousarray(ints, dtype=np.float32) * scale


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


@functools.lru_cache(maxsize=64)
def _duration_of(path: str, size: int, mtime_ns: int) -> float:
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
    data, returncode, stderr = _run_to_pipe(cmd)
    name = Path(path).name
    if returncode != 0:
        raise AudioError(f"cannot decode {name} as audio: {_ffmpeg_error(stderr)} "
                         f"(is it an mp3/wav/flac/ogg/opus/m4a file?)")
    rate = _SAMPLE_RATE.search(stderr) or _SAMPLE_RATE.search(_stream_info(path))
    if not data or rate is None:
        raise AudioError(f"song has no audio samples: {path} (the file is empty or truncated)")
    return (len(data) // 2) / int(rate.group(1))


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
