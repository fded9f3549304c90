"""Where the ffmpeg binary comes from.

By default the binary bundled in the ``imageio-ffmpeg`` wheel (it has libx264, prores_ks, dnxhd, aac, and
h264_nvenc): nothing from the system. A user who wants another build points ``MUSICVIDEO_FFMPEG`` at it.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from .errors import MusicVideoError

ENV_VAR = "MUSICVIDEO_FFMPEG"


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg executable to use.

    Returns
    -------
    str
        ``$MUSICVIDEO_FFMPEG`` when set (a path or a name on PATH), else imageio-ffmpeg's bundled binary.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if not found:
            raise MusicVideoError(f"{ENV_VAR}={override} is not an executable (unset it to use the bundled ffmpeg)")
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a hard dependency
        raise MusicVideoError("imageio-ffmpeg is not installed (pip install imageio-ffmpeg)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()
