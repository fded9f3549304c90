"""musicvideo.batch: render many clips from one song for editing.

- :mod:`.plan`: the clip plan (TOML) -> :class:`BatchPlan`, checked before anything renders.
- :mod:`.runner`: :func:`run_batch`, which renders what is missing and writes the manifest and the XML.
- :mod:`.executors`: local worker processes (one per GPU or CPU workers) and Ray tasks.
- :mod:`.split`: one long clip rendered as frame ranges on several workers and joined losslessly.
- :mod:`.manifest`: manifest.json / manifest.csv (file, segment, seeds, settings, frames, checksum, status).
- :mod:`.premiere`: the FCP 7 XML sequence Premiere Pro imports.
"""

from .plan import BatchPlan, ClipSpec, load_plan
from .runner import BatchResult, run_batch

__all__ = ["BatchPlan", "BatchResult", "ClipSpec", "load_plan", "run_batch"]
