"""SegmentedVideoWriter: the VideoWriter interface, encoded by several ffmpeg processes at once.

When frames come faster than one encoder takes them (a GPU rendering 1024 px frames without NVENC), the stream is
cut into consecutive segments of ``segment_frames`` frames; up to ``workers`` segments encode at the same time,
each in its own ffmpeg with its share of the CPU threads. At :meth:`close` the segments are joined without
re-encoding (:func:`concat_segments`) and the song is muxed once, so the file has the same frames, length and sync
as one encoder's. Every segment starts with a key frame, which costs a little size (as a key frame every
``segment_frames`` frames would).

Memory is bounded: at most ``max_buffered_frames`` frames wait in the queues.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..atomic import OutputTemporary, check_output_path
from ..errors import MusicVideoError, OutputError
from .codecs import VideoConfig, check_container, for_output
from .encoder import (_OPEN_WRITERS, AudioSource, VideoWriter, check_audio_source, check_frames, concat_segments,
                      expected_frames)


# Default encoder processes: one per this many cores, each with that many x264 threads.
CORES_PER_ENCODER = 4

class _FrameBudget:
    """A counting limit on frames held in queues (acquire n at once, release as they are written)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.cond = threading.Condition()

    def acquire(self, n: int) -> None:
        with self.cond:
            # a batch larger than the whole budget is let through alone rather than waited on for ever
            self.cond.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n

    def release(self, n: int) -> None:
        with self.cond:
            self.used -= n
            self.cond.notify_all()


class _Segment:
    """One segment's VideoWriter fed from its own thread."""

    def __init__(self, writer: VideoWriter, budget: _FrameBudget) -> None:
        self.writer = writer
        self.budget = budget
        self.queue: queue.Queue = queue.Queue()
        self.assigned = 0  # frames the producer has queued for this segment
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"segment-{writer.path.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                break
            try:
                if self.error is None:
                    self.writer.write(item, copy=False)
            except BaseException as exc:  # keep draining so the producer never blocks on this segment
                self.error = exc
            finally:
                self.budget.release(len(item))
        if self.error is None:
            try:
                self.writer.close()
            except BaseException as exc:
                self.error = exc
        else:
            self.writer.abort()


class SegmentedVideoWriter:
    """Encode frames with several ffmpeg processes in parallel; same interface as :class:`VideoWriter`.

    Parameters
    ----------
    path, width, height, fps, config, audio, overwrite, input_width, input_height, input_format
        As for :class:`VideoWriter`.
    workers : int, optional
        Segments encoding at once (default: one per 4 CPU cores; on 2 cores one encoder is as fast).
    segment_frames : int
        Frames per segment (each starts with a key frame).
    max_buffered_frames : int, optional
        Frames allowed to wait in the queues (default ``workers * segment_frames``).

    Notes
    -----
    Call :meth:`write` from one thread. The segments live in a hidden folder beside the target and are deleted
    after the join, or on :meth:`abort` (which the context manager calls on an exception or Ctrl-C).
    """

    def __init__(self, path: str | Path, *, width: int, height: int, fps: float | str | Fraction,
                 config: VideoConfig | None = None, audio: AudioSource | None = None, overwrite: bool = False,
                 input_width: int | None = None, input_height: int | None = None, workers: int | None = None,
                 segment_frames: int = 64, max_buffered_frames: int | None = None,
                 input_format: str = "rgb24") -> None:
        self.path = check_output_path(path, overwrite=overwrite)
        self.config = for_output(config or VideoConfig(), self.path)  # no codec given: the extension's
        check_container(self.path, self.config)
        self.overwrite = overwrite
        self.audio = audio
        if audio is not None:
            check_audio_source(audio)
        cores = os.cpu_count() or 1
        self.workers = max(1, workers if workers is not None else cores // CORES_PER_ENCODER)
        if segment_frames < 1:
            raise MusicVideoError(f"segment_frames must be >= 1, got {segment_frames}")
        self.segment_frames = segment_frames
        # each encoder gets its share of the cores (x264 would otherwise start cores * 1.5 threads per process)
        threads = self.config.threads or max(1, cores // self.workers)
        self._segment_config = replace(self.config, threads=threads)
        self._writer_args = dict(width=width, height=height, fps=fps, config=self._segment_config,
                                 input_width=input_width, input_height=input_height, queue_batches=0,
                                 input_format=input_format)
        # a locked hidden folder: a stale one from a killed run is removed by the next write (musicvideo.atomic)
        self._parts = OutputTemporary(self.path, directory=True, suffix=".parts")
        self._parts_dir = self._parts.path
        try:
            # the first segment's writer does the remaining preflight (sizes, codec, NVENC policy)
            self._budget = _FrameBudget(max_buffered_frames or self.workers * segment_frames)
            self._segments: list[_Segment] = []
            self._start_segment()
        except BaseException:
            self._parts.discard()
            raise
        first = self._segments[0].writer
        self.width, self.height, self.fps = first.width, first.height, first.fps
        self.expected_frames = expected_frames(audio, self.fps)
        self.input_format, self.frame_shape = first.input_format, first.frame_shape
        self.frames_written = 0
        self._closed = False
        self._result: Path | None = None
        _OPEN_WRITERS.add(self)

    def _start_segment(self) -> None:
        active = [s for s in self._segments if s.thread.is_alive()]
        if len(active) >= self.workers:
            active[0].thread.join()  # the oldest finishes first: it got its frames first
        self._raise_segment_error()
        index = len(self._segments)
        writer = VideoWriter(self._parts_dir / f"part{index:05d}{self.path.suffix}", **self._writer_args)
        self._segments.append(_Segment(writer, self._budget))

    def _raise_segment_error(self) -> None:
        for segment in self._segments:
            if segment.error is not None:
                raise segment.error

    def write(self, frames: np.ndarray, *, copy: bool = True) -> None:
        """Queue frames (uint8 RGB ``[B, H, W, 3]`` or ``[H, W, 3]``, or I420 planes); see :meth:`VideoWriter.write`."""
        frames = check_frames(frames, self.frame_shape)
        if self._closed:
            raise MusicVideoError(f"SegmentedVideoWriter for {self.path.name} is already closed")
        self._raise_segment_error()
        batch = np.array(frames, copy=True, order="C") if copy else np.ascontiguousarray(frames)
        offset = 0
        while offset < len(batch):
            segment = self._segments[-1]
            room = self.segment_frames - segment.assigned
            if room == 0:
                segment.queue.put(None)
                self._start_segment()
                continue
            part = batch[offset:offset + room]
            self._budget.acquire(len(part))
            segment.assigned += len(part)
            segment.queue.put(part)
            offset += len(part)
        self.frames_written += len(batch)

    def close(self) -> Path:
        """Finish every segment, join them without re-encoding, mux the audio, move the file into place.

        Returns
        -------
        Path
            The finished file (again on a second call).
        """
        if self._closed:
            if self._result is not None:
                return self._result
            raise MusicVideoError(f"SegmentedVideoWriter for {self.path.name} was aborted")
        self._closed = True
        try:
            if self.frames_written == 0:
                raise OutputError(f"no frames were written for {self.path} (nothing to encode)")
            if self.expected_frames is not None and self.frames_written != self.expected_frames:
                raise MusicVideoError(f"{self.frames_written} frames were written for {self.path.name} but its "
                                      f"{self.audio.duration_s:g} s of audio need ceil(duration * fps) = "
                                      f"{self.expected_frames}")
            self._segments[-1].queue.put(None)
            for segment in self._segments:
                segment.thread.join()
            self._raise_segment_error()
            parts = [s.writer.path for s in self._segments if s.writer.frames_written > 0]
            self._result = concat_segments(parts, self.path, audio=self.audio, config=self._segment_config,
                                           overwrite=self.overwrite, fps=self.fps)
            return self._result
        except BaseException:
            self._stop_all()
            raise
        finally:
            _OPEN_WRITERS.discard(self)
            self._parts.discard()

    def abort(self) -> None:
        """Kill every encoder and delete all segments; nothing is left at the target. Safe to call twice."""
        self._closed = True
        _OPEN_WRITERS.discard(self)
        self._stop_all()
        self._parts.discard()

    def _stop_all(self) -> None:
        for segment in self._segments:
            segment.writer.abort()  # a feeder blocked on the pipe wakes up with an error and drains
            segment.queue.put(None)
        for segment in self._segments:
            with contextlib.suppress(RuntimeError):
                segment.thread.join(timeout=30)

    def __enter__(self) -> SegmentedVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
