"""musicvideo.batch: render many clips from one song for editing.

- :mod:`.plan`: the clip plan (TOML) -> :class:`BatchPlan`, checked before anything renders.
- :mod:`.runner`: :func:`run_batch`, which renders what is missing and writes the manifest and the timelines.
- :mod:`.executors`: local worker processes (one per GPU or CPU workers) and Ray tasks.
- :mod:`.split`: one long clip rendered as frame ranges on several workers and joined losslessly.
- :mod:`.manifest`: manifest.json / manifest.csv (file, segment, seeds, settings, frames, checksum, status).
- :mod:`.sections`: ``clips = "sections"``: the song cut at its section starts on the frame grid, looks per label.
- :mod:`.auto`: ``musicvideo batch --auto``: writes ``plan.toml`` for a song and runs it.
- :mod:`.folder`: whose output folder it is (another song is refused without overwrite), clearing it.
- :mod:`.timeline`: one OpenTimelineIO timeline (clips, takes, song, downbeat and section markers) written as
  ``.otio``, FCP 7 XML (:mod:`.premiere`), FCP X XML (:mod:`.fcpx`) and CMX 3600 EDL.
"""

from .plan import BatchPlan, ClipSpec, load_plan
from .auto import auto_batch
from .runner import BatchResult, run_batch

__all__ = ["BatchPlan", "BatchResult", "ClipSpec", "auto_batch", "load_plan", "run_batch"]
