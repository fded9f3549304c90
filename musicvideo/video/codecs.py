"""Codec presets: which ffmpeg encoder and options each ``VideoConfig`` means.

Four codecs, each with its container:

=========  ==========================================  =========  ==============
codec      encoder (pixel format)                      container  audio
=========  ==========================================  =========  ==============
h264       libx264 or h264_nvenc (yuv420p)             .mp4       AAC
hevc       libx265 or hevc_nvenc (yuv420p)             .mp4       AAC
prores     prores_ks profile 3 = 422 HQ (yuv422p10le)  .mov       PCM
dnxhr      dnxhd profile dnxhr_hq (yuv422p)            .mov       PCM
=========  ==========================================  =========  ==============

Without a codec (``VideoConfig.codec = None``, the default, and no ``--codec``) the output's extension decides:
``.mp4``/``.m4v``/``.mkv`` H.264, ``.mov`` ProRes (:func:`codec_for_extension`, applied by :func:`for_output`);
a name without one of these extensions is refused ("add .mp4 or .mov"). A codec that is given is kept: H.264/HEVC
may also go into ``.mov`` or ``.mkv``; ProRes and DNxHR only into ``.mov`` (an ``.mp4`` name for them is refused
with the fix in the message). Audio is PCM in ``.mov`` (what editors want) and AAC elsewhere.
NVENC is used for h264/hevc when ``nvenc='auto'`` and a one-off probe encode with the bundled ffmpeg works.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..errors import ConfigError, MusicVideoError, OutputError
from ..ffmpeg import ffmpeg_exe

CODECS = ("h264", "hevc", "prores", "dnxhr")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
FITS = ("crop", "pad", "stretch")

# Container of each codec when the user gives no file name, and the containers each codec may go into.
_DEFAULT_EXTENSION = {"h264": ".mp4", "hevc": ".mp4", "prores": ".mov", "dnxhr": ".mov"}
_ALLOWED_EXTENSIONS = {"h264": (".mp4", ".m4v", ".mov", ".mkv"), "hevc": (".mp4", ".m4v", ".mov", ".mkv"),
                       "prores": (".mov",), "dnxhr": (".mov",)}
# The codec a bare file name asks for (``-o clip.mov`` means an editing codec).
_CODEC_OF_EXTENSION = {".mp4": "h264", ".m4v": "h264", ".mkv": "h264", ".mov": "prores"}

# x264 preset -> NVENC preset (p1 fastest .. p7 best).
_NVENC_PRESET = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p4",
                 "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7", "placebo": "p7"}
DNXHR_MIN_SIZE = (256, 120)  # the dnxhd encoder refuses smaller frames


@dataclass
class VideoConfig:
    """Knobs of the encoder (the ``[video]`` table of a config file).

    Attributes
    ----------
    codec : {'h264', 'hevc', 'prores', 'dnxhr'} or None
        H.264 MP4 plays everywhere; HEVC is smaller; ProRes 422 HQ and DNxHR HQ (.mov) are for editing.
        None (the default): from the output's extension, ``.mp4`` H.264 and ``.mov`` ProRes (:func:`for_output`).
    crf : int
        Constant rate factor of h264/hevc, 0 (visually lossless at yuv420p) .. 51; 18 looks transparent.
        For NVENC it is used as the constant quality ``-cq`` value.
    preset : str
        x264/x265 speed preset, ``ultrafast`` .. ``placebo`` (mapped to NVENC's p1..p7). The default, superfast,
        is what lets the encoder keep up with the generator. On GAN frames (``benchmarks/encoder_settings.py``)
        it needs 55 % of veryfast's CPU and 30 % of medium's; at the same CRF its files are 40 % bigger and
        1 dB PSNR better (it skips the macroblock tree, which spends fewer bits on detail that changes), and at
        the same size (CRF 20) its quality equals veryfast's at CRF 18. Use medium or slower for small archival
        encodes when time does not matter.
    fit : {'crop', 'pad', 'stretch'}
        How frames of another aspect ratio fill the output: scale to cover and crop the overflow, scale to fit
        and pad with ``pad_color`` bars, or stretch.
    pad_color : str
        Colour of the bars for ``fit='pad'`` (an ffmpeg colour name or ``#RRGGBB``).
    nvenc : {'auto', 'on', 'off'}
        Use the NVIDIA hardware encoder for h264/hevc: when available, always (error without it), never.
    lossless : bool
        h264 only: exact RGB (libx264rgb, qp 0). Bit-exact but few players support it; for tests and archives.
    audio_bitrate : str
        AAC bit rate (MP4/MKV).
    pcm_bits : int
        Bits of the PCM audio in .mov, 16 or 24.
    threads : int
        Encoder threads; 0 lets ffmpeg choose (all cores).
    """

    codec: Literal["h264", "hevc", "prores", "dnxhr"] | None = None
    crf: int = 18
    preset: str = "superfast"
    fit: Literal["crop", "pad", "stretch"] = "crop"
    pad_color: str = "black"
    nvenc: Literal["auto", "on", "off"] = "auto"
    lossless: bool = False
    audio_bitrate: str = "320k"
    pcm_bits: int = 24
    threads: int = 0

    def __post_init__(self) -> None:
        if self.codec is not None and self.codec not in CODECS:
            raise ConfigError(f"video.codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if not 0 <= int(self.crf) <= 51:
            raise ConfigError(f"video.crf must be 0..51, got {self.crf} (18 looks transparent, 23 is smaller)")
        if self.preset not in X264_PRESETS:
            raise ConfigError(f"video.preset must be one of {', '.join(X264_PRESETS)}, got {self.preset!r}")
        if self.fit not in FITS:
            raise ConfigError(f"video.fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.nvenc not in ("auto", "on", "off"):
            raise ConfigError(f"video.nvenc must be 'auto', 'on' or 'off', got {self.nvenc!r}")
        if self.pcm_bits not in (16, 24):
            raise ConfigError(f"video.pcm_bits must be 16 or 24, got {self.pcm_bits}")
        if self.lossless and self.codec not in (None, "h264"):
            raise ConfigError(f"video.lossless is only for codec h264, not {self.codec}")
        if self.threads < 0:
            raise ConfigError(f"video.threads must be >= 0 (0 = automatic), got {self.threads}")


# ---------------------------------------------------------------- containers


def default_extension(config: VideoConfig | None = None) -> str:
    """The file extension for a codec: ``.mp4`` for h264/hevc, ``.mov`` for prores/dnxhr.

    Parameters
    ----------
    config : VideoConfig, optional
        Defaults to H.264.

    Returns
    -------
    str
        The extension with its dot.
    """
    return _DEFAULT_EXTENSION[(config or VideoConfig()).codec or "h264"]


def codec_for_extension(path: str | Path) -> str:
    """The codec a file name implies when the user names no codec: h264 for .mp4/.m4v/.mkv, prores for .mov.

    Parameters
    ----------
    path : str or Path
        A file name or a bare extension (``".mov"``).

    Returns
    -------
    str
        One of :data:`CODECS`.

    Raises
    ------
    OutputError
        For an extension no codec writes.
    """
    text = str(path)
    suffix = (text if text.startswith(".") and "/" not in text else Path(text).suffix).lower()
    if not suffix:
        raise OutputError(f"output {path} has no file extension, so no video format (add .mp4 or .mov)")
    if suffix not in _CODEC_OF_EXTENSION:
        raise OutputError(f"cannot write video to a '{suffix}' file: {path} (add .mp4 or .mov)")
    return _CODEC_OF_EXTENSION[suffix]


def for_output(config: VideoConfig, path: str | Path) -> VideoConfig:
    """``config`` with its codec decided: kept when given, else from ``path``'s extension (.mov ProRes, .mp4 H.264).

    A lossless config without a codec is H.264 (the only lossless codec), whatever the extension.

    Raises
    ------
    OutputError
        Without a codec, for a name whose extension no codec writes (one line: "add .mp4 or .mov").
    """
    if config.codec is not None:
        return config
    return replace(config, codec="h264" if config.lossless else codec_for_extension(path))


def check_container(path: str | Path, config: VideoConfig) -> None:
    """Refuse a codec/container mismatch (ProRes into .mp4) with a one-line fix.

    Raises
    ------
    OutputError
        When the file's extension cannot hold ``config.codec``.
    """
    if config.codec is None:
        codec_for_extension(path)  # any extension with a codec of its own will do
        return
    suffix = Path(path).suffix.lower()
    if not suffix:
        codec_for_extension(path)  # "add .mp4 or .mov"
    allowed = _ALLOWED_EXTENSIONS[config.codec]
    if suffix not in allowed:
        fixed = Path(path).with_suffix(allowed[0]).name
        raise OutputError(f"codec {config.codec} cannot be written to a '{suffix or 'no'}' file: {path} "
                          f"(name it {fixed})")


def uses_pcm_audio(path: str | Path) -> bool:
    """Whether audio in this container is PCM (.mov, for editors) rather than AAC."""
    return Path(path).suffix.lower() == ".mov"


def needs_even_size(config: VideoConfig) -> bool:
    """Whether the codec's pixel format subsamples chroma horizontally/vertically (so sizes must be even)."""
    return not config.lossless


# ---------------------------------------------------------------- encoders


@functools.lru_cache(maxsize=None)
def available_encoders() -> frozenset[str]:
    """Names of the encoders the bundled ffmpeg was built with (cached per process)."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True,
                         timeout=30).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # lines look like " V....D libx264   libx264 H.264 ..."; the legend above them has no 6-char flag field
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS" and "=" not in line:
            names.add(parts[1])
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def nvenc_available(codec: str = "h264") -> bool:
    """Whether NVENC works here: a tiny probe encode with the bundled ffmpeg (cached per process).

    Parameters
    ----------
    codec : {'h264', 'hevc'}
        Which NVENC encoder to try.

    Returns
    -------
    bool
        True only if the encoder exists in the binary AND a real GPU session opened; never raises.
    """
    encoder = f"{codec}_nvenc"
    try:
        if encoder not in available_encoders():
            return False
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
               "color=black:s=256x256:r=30:d=0.2", "-c:v", encoder, "-f", "null", "-"]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError, MusicVideoError):
        return False


def _decided(config: VideoConfig) -> VideoConfig:
    # a config whose codec is still open (not yet given an output, see for_output) encodes as the default, H.264
    return config if config.codec is not None else replace(config, codec="h264")


def resolve_encoder(config: VideoConfig) -> str:
    """The ffmpeg encoder name for ``config``, applying the NVENC policy.

    Raises
    ------
    MusicVideoError
        ``nvenc='on'`` without a working NVENC, or an encoder missing from the bundled ffmpeg.
    """
    config = _decided(config)
    if config.codec in ("h264", "hevc") and not config.lossless:
        if config.nvenc == "on":
            if not nvenc_available(config.codec):
                raise MusicVideoError(f"NVENC ({config.codec}_nvenc) is not available on this machine "
                                      "(use nvenc='auto' or 'off' to encode on the CPU)")
            return f"{config.codec}_nvenc"
        if config.nvenc == "auto" and nvenc_available(config.codec):
            return f"{config.codec}_nvenc"
    encoder = {"h264": "libx264rgb" if config.lossless else "libx264", "hevc": "libx265",
               "prores": "prores_ks", "dnxhr": "dnxhd"}[config.codec]
    if encoder not in available_encoders():
        raise MusicVideoError(f"the bundled ffmpeg has no {encoder} encoder for codec {config.codec} "
                              "(choose another --codec, or point MUSICVIDEO_FFMPEG at a build that has it)")
    return encoder


# Where 4:2:0 chroma samples sit: "left" (on the even luma columns, between two rows) is H.264's and HEVC's
# default and what render.to_yuv420 makes on the GPU. The RGB path's conversion puts them there too, and the
# encoder is told (x264 leaves its default untagged; an encoder that tags it says "left"). ffmpeg's own converter
# assumes "center" whatever a stream says, so musicvideo's reader asks for "left" (probe.read_frames).
CHROMA_LOCATION = "left"


def output_pix_fmt(config: VideoConfig) -> str:
    """The pixel format the encoder receives."""
    config = _decided(config)
    if config.lossless:
        return "rgb24"
    return {"h264": "yuv420p", "hevc": "yuv420p", "prores": "yuv422p10le", "dnxhr": "yuv422p"}[config.codec]


def video_args(config: VideoConfig, encoder: str, path: str | Path) -> list[str]:
    """ffmpeg output options for the video stream (codec, quality, pixel format, colour tags, container flags).

    Parameters
    ----------
    config : VideoConfig
        The knobs.
    encoder : str
        From :func:`resolve_encoder`.
    path : str or Path
        The output file (its extension decides the container flags).

    Returns
    -------
    list of str
    """
    config = _decided(config)
    args = ["-c:v", encoder, "-pix_fmt", output_pix_fmt(config)]
    if encoder in ("libx264", "libx265"):
        args += ["-crf", str(config.crf), "-preset", config.preset]
        if encoder == "libx264" and config.crf > 0:  # crf 0 is lossless, which needs High 4:4:4 (x264 picks it)
            args += ["-profile:v", "high"]
        else:
            args += ["-x265-params", "log-level=error"]
    elif encoder == "libx264rgb":
        args += ["-qp", "0", "-preset", config.preset]
    elif encoder.endswith("_nvenc"):
        args += ["-preset", _NVENC_PRESET[config.preset], "-tune", "hq", "-rc", "vbr", "-cq", str(config.crf),
                 "-b:v", "0"]
    elif encoder == "prores_ks":
        args += ["-profile:v", "3", "-vendor", "apl0"]  # 3 = 422 HQ; apl0 so editors treat it as Apple's
    elif encoder == "dnxhd":
        args += ["-profile:v", "dnxhr_hq"]
    if output_pix_fmt(config) == "yuv420p":
        args += ["-chroma_sample_location", CHROMA_LOCATION]
    if config.threads:
        args += ["-threads", str(config.threads)]
    suffix = Path(path).suffix.lower()
    if suffix in (".mp4", ".m4v", ".mov"):
        args += ["-movflags", "+faststart"]
        if config.codec == "hevc" and suffix != ".mov":
            args += ["-tag:v", "hvc1"]  # Apple players need hvc1, not ffmpeg's default hev1
    return args


AAC_SAMPLE_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


def audio_output_rate(sample_rate: int, path: str | Path) -> int:
    """The song's own rate, unless the container's codec cannot hold it (AAC above 96 kHz -> 48 kHz)."""
    if uses_pcm_audio(path) or sample_rate in AAC_SAMPLE_RATES:
        return sample_rate
    return 48000 if sample_rate > 48000 else min(r for r in AAC_SAMPLE_RATES if r >= sample_rate)


def audio_args(config: VideoConfig, path: str | Path) -> list[str]:
    """ffmpeg output options for the audio stream: PCM in .mov, AAC otherwise (rate and channels kept)."""
    if uses_pcm_audio(path):
        return ["-c:a", f"pcm_s{config.pcm_bits}le"]
    # ffmpeg's default "twoloop" coder needs 1.1-2.2x the CPU of "fast" at 320k, for a lower SNR. Noise
    # substitution (PNS) and intensity stereo replace bands and the side channel with parametric stand-ins, tools
    # for low bit rates: at 320k they cost CPU and, on some songs, 10 dB of SNR (benchmarks/encoder_settings.py).
    # M/S stereo stays on: turning it off saves CPU but loses 2-5 dB.
    return ["-c:a", "aac", "-aac_coder", "fast", "-aac_pns", "0", "-aac_is", "0", "-b:a", config.audio_bitrate]
