"""musicvideo.video: frames in, a finished video file with the song's audio out.

- :class:`VideoWriter`, :class:`AudioSource` (encoder.py): the ffmpeg pipe, audio mux, atomic rename.
- :class:`VideoConfig` and the codec presets (codecs.py): H.264/HEVC MP4, ProRes/DNxHR MOV, NVENC when present.
- :func:`concat_segments` (encoder.py): join frame-range segments without re-encoding.
- :class:`SegmentedVideoWriter` (segmented.py): the VideoWriter interface, encoded by several ffmpeg processes at
  once (for a GPU that renders faster than one CPU encoder takes frames).
- :func:`probe`, :func:`read_frames` (probe.py): what a file holds, using the bundled ffmpeg only.
"""

from .codecs import VideoConfig, codec_for_extension, default_extension, nvenc_available
from .encoder import AudioSource, VideoWriter, concat_segments
from .probe import VideoInfo, probe, read_frames
from .segmented import SegmentedVideoWriter

__all__ = ["AudioSource", "SegmentedVideoWriter", "VideoConfig", "VideoInfo", "VideoWriter", "codec_for_extension",
           "concat_segments", "default_extension", "nvenc_available", "probe", "read_frames"]
