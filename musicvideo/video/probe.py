"""What is inside a video file, found with the bundled ffmpeg alone (there is no ffprobe).

The header (codecs, profile, pixel format, size, sample rate, channels) comes from the stream lines ffmpeg prints
for ``ffmpeg -i FILE``; the exact frame count, frame rate and audio length come from decoding every frame into
ffmpeg's ``framecrc`` muxer, which lists each frame with its timestamp and duration in the stream's time base;
``has_faststart`` reads the top-level MP4/MOV boxes.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MusicVideoError, require_file
from ..ffmpeg import ffmpeg_exe


@dataclass
class VideoInfo:
    """Streams of a media file.

    Attributes
    ----------
    path : Path
    video_codec : str or None
        ffmpeg's codec name (``h264``, ``hevc``, ``prores``, ``dnxhd``); None without a video stream.
    profile : str or None
        As ffmpeg names it (``High``, ``HQ``, ``DNXHR_HQ``).
    pix_fmt : str or None
        ``yuv420p``, ``yuv422p10le``, ...
    color_range, color_space : str or None
        As tagged in the stream (``tv``, ``bt709``); None when untagged.
    width, height : int
    fps : Fraction or None
        Exact frame rate (30000/1001, not 29.97), from the frames' durations.
    n_frames : int
        Frames decoded (exact); with ``decode=False`` the number of video packets instead.
    duration_s : float
        Container duration as ffmpeg reports it.
    video_duration_s : float
        ``n_frames / fps``.
    audio_codec : str or None
        ``aac``, ``pcm_s16le``, ``pcm_s24le``, ...; None without audio.
    sample_rate, channels : int
    audio_duration_s : float
        Samples decoded / sample rate (exact); 0.0 without audio.
    has_faststart : bool
        MP4/MOV: the ``moov`` index precedes the ``mdat`` data, so playback can start while downloading.
    """

    path: Path
    video_codec: str | None = None
    profile: str | None = None
    pix_fmt: str | None = None
    color_range: str | None = None
    color_space: str | None = None
    width: int = 0
    height: int = 0
    fps: Fraction | None = None
    n_frames: int = 0
    duration_s: float = 0.0
    video_duration_s: float = 0.0
    audio_codec: str | None = None
    sample_rate: int = 0
    channels: int = 0
    audio_duration_s: float = 0.0
    has_faststart: bool = False


def _run(args: list[str], path: Path, *, timeout: float | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MusicVideoError(f"ffmpeg took too long to read {path}") from None


@functools.lru_cache(maxsize=None)
def _layout_channels() -> dict[str, int]:
    """Channel count of each named layout (``5.1(side)`` -> 6), from ``ffmpeg -layouts``."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-layouts"], capture_output=True, text=True,
                         timeout=30).stdout
    table: dict[str, int] = {}
    in_standard = False
    for line in out.splitlines():
        if line.startswith("Standard channel layouts"):
            in_standard = True
            continue
        parts = line.split()
        if in_standard and len(parts) == 2 and parts[0] != "NAME":
            table[parts[0]] = parts[1].count("+") + 1
    return table


def _split_top_level(text: str) -> list[str]:
    """Split ffmpeg's ``a (x, y), b, c [d, e]`` stream description on commas outside brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _codec_and_profile(first: str) -> tuple[str, str | None]:
    # "h264 (High) (avc1 / 0x31637661)" -> ("h264", "High"); "(avc1 / 0x...)" is a fourcc, not a profile
    name = first.split()[0]
    for group in re.findall(r"\(([^()]*)\)", first):
        if " / 0x" not in group:
            return name, group
    return name, None


def parse_header(stderr: str, path: Path) -> VideoInfo:
    """Fill a VideoInfo from the stream lines of ``ffmpeg -i`` (first video and first audio stream)."""
    info = VideoInfo(path=path)
    match = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", stderr)
    if match:
        h, m, s = match.groups()
        info.duration_s = int(h) * 3600 + int(m) * 60 + float(s)
    for line in stderr.splitlines():
        stream = re.match(r"\s*Stream #\d+:\d+.*?: (Video|Audio): (.*)$", line)
        if not stream:
            continue
        kind, desc = stream.groups()
        fields = _split_top_level(desc)
        if kind == "Video" and info.video_codec is None:
            if "attached pic" in line:  # cover art in an audio file is not the video
                continue
            info.video_codec, info.profile = _codec_and_profile(fields[0])
            if len(fields) > 1:
                info.pix_fmt = fields[1].split("(")[0].strip()
                # "yuv420p(tv, bt709, progressive)": range, then space[/primaries/transfer], then field order
                tags = re.search(r"\((.*)\)", fields[1])
                for tag in (t.strip() for t in tags.group(1).split(",")) if tags else ():
                    if tag in ("tv", "pc"):
                        info.color_range = tag
                    elif tag.startswith(("bt", "smpte", "fcc", "ycgco")) and info.color_space is None:
                        info.color_space = tag.split("/")[0]
            for field in fields[2:]:
                size = re.match(r"(\d+)x(\d+)", field)
                if size:
                    info.width, info.height = int(size.group(1)), int(size.group(2))
                    break
        elif kind == "Audio" and info.audio_codec is None:
            info.audio_codec = fields[0].split()[0]
            for field in fields[1:]:
                rate = re.match(r"(\d+) Hz", field)
                if rate:
                    info.sample_rate = int(rate.group(1))
                    continue
                count = re.match(r"(\d+) channels", field)
                if count:
                    info.channels = int(count.group(1))
                elif info.channels == 0 and field in _layout_channels():
                    info.channels = _layout_channels()[field]
    return info


def read_header(path: str | Path) -> VideoInfo:
    """Codecs, sizes, rates and container duration without decoding anything (fast).

    Parameters
    ----------
    path : str or Path
        A media file.

    Returns
    -------
    VideoInfo
        With ``n_frames``, ``fps`` and ``audio_duration_s`` left unset.

    Raises
    ------
    MusicVideoError
        If the file is missing or ffmpeg cannot read it.
    """
    p = require_file(path, "media file")
    result = _run(["-i", str(p)], p, timeout=60)
    stderr = result.stderr.decode("utf-8", "replace")
    if "Stream #" not in stderr:
        last = [line for line in stderr.splitlines() if line.strip()]
        raise MusicVideoError(f"ffmpeg cannot read {p}: {last[-1].strip() if last else 'unknown error'}")
    info = parse_header(stderr, p)
    info.has_faststart = _moov_before_mdat(p)
    return info


def _moov_before_mdat(path: Path) -> bool:
    """Walk the top-level ISO-BMFF boxes; True when ``moov`` comes before ``mdat``."""
    try:
        with open(path, "rb") as f:
            size_total = path.stat().st_size
            offset = 0
            while offset + 8 <= size_total:
                f.seek(offset)
                header = f.read(16)
                size = int.from_bytes(header[:4], "big")
                kind = header[4:8]
                if size == 1:  # 64-bit size follows the type
                    size = int.from_bytes(header[8:16], "big")
                elif size == 0:  # box runs to the end of the file
                    size = size_total - offset
                if kind == b"moov":
                    return True
                if kind == b"mdat" or size < 8:
                    return False
                offset += size
    except OSError:
        return False
    return False


def _count_frames(path: Path, info: VideoInfo, *, decode: bool) -> None:
    """Exact frame count, frame rate and audio length from ffmpeg's per-frame ``framecrc`` listing."""
    maps: list[str] = []
    if info.video_codec:
        maps += ["-map", "0:v:0"] + ([] if decode else ["-c:v", "copy"])
    if info.audio_codec:
        maps += ["-map", "0:a:0"]  # audio is always decoded: packet counts say nothing about samples
    if not maps:
        return
    result = _run(["-v", "error", "-i", str(path), *maps, "-f", "framecrc", "-"], path)
    if result.returncode != 0:
        last = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise MusicVideoError(f"ffmpeg cannot decode {path}: {last[-1].strip() if last else 'unknown error'}")
    time_base: dict[int, Fraction] = {}
    kind: dict[int, str] = {}
    durations: dict[int, list[int]] = {}
    for line in result.stdout.decode("ascii", "replace").splitlines():
        if line.startswith("#tb "):
            index, value = line[4:].split(":")
            time_base[int(index)] = Fraction(value.strip())
        elif line.startswith("#media_type "):
            index, value = line[len("#media_type "):].split(":")
            kind[int(index)] = value.strip()
        elif line and not line.startswith("#"):
            fields = [x.strip() for x in line.split(",")]
            durations.setdefault(int(fields[0]), []).append(int(fields[3]))
    for index, media in kind.items():
        values = durations.get(index, [])
        if media == "video":
            info.n_frames = len(values)
            usual = Counter(values).most_common(1)
            if usual and usual[0][0] > 0:
                info.fps = 1 / (time_base[index] * usual[0][0])
                info.video_duration_s = float(info.n_frames / info.fps)
        elif media == "audio":
            info.audio_duration_s = float(sum(values) * time_base[index])


def probe(path: str | Path, *, decode: bool = True) -> VideoInfo:
    """Describe a video file completely: header fields plus exact frame count, frame rate and audio length.

    Parameters
    ----------
    path : str or Path
        A media file.
    decode : bool
        Decode every video frame to count them (exact, the default); False counts packets (fast, the same for
        intact files). Audio is always decoded to measure its length in samples.

    Returns
    -------
    VideoInfo

    Examples
    --------
    >>> info = probe("clip.mp4")                       # doctest: +SKIP
    >>> info.video_codec, info.n_frames, info.fps
    ('h264', 45, Fraction(30000, 1001))
    """
    info = read_header(path)
    _count_frames(info.path, info, decode=decode)
    return info


def read_frames(path: str | Path, *, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Decode all video frames as RGB.

    H.264/HEVC 4:2:0 chroma is taken as sited "left", the standards' default and where musicvideo encodes it.

    Parameters
    ----------
    path : str or Path
        A video file.
    width, height : int, optional
        Scale to this size (both default to the video's own size).

    Returns
    -------
    numpy.ndarray
        uint8 ``[N, H, W, 3]``.
    """
    info = read_header(path)
    if not info.video_codec:
        raise MusicVideoError(f"{info.path} has no video stream")
    w, h = width or info.width, height or info.height
    # full-chroma, accurately rounded conversion so round-trip tests measure the codec, not the converter
    vf = f"scale={w}:{h}:flags=lanczos+accurate_rnd+full_chroma_int"
    if info.video_codec in ("h264", "hevc") and info.pix_fmt == "yuv420p":
        # 4:2:0 chroma sits "left" in H.264/HEVC unless the stream says otherwise (musicvideo writes it there); the
        # converter would assume "center", whatever the stream says, and shift the colours by half a pixel
        vf += ":in_chroma_loc=left"
    result = _run(["-v", "error", "-i", str(info.path), "-map", "0:v:0", "-vf", vf, "-f", "rawvideo",
                   "-pix_fmt", "rgb24", "-"], info.path)
    if result.returncode != 0:
        last = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise MusicVideoError(f"ffmpeg cannot decode {info.path}: {last[-1].strip() if last else 'unknown'}")
    frame_bytes = w * h * 3
    return np.frombuffer(result.stdout, dtype=np.uint8).reshape(len(result.stdout) // frame_bytes, h, w, 3)
