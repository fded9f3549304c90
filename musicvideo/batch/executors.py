"""Where render jobs run: local worker processes (one per GPU, or CPU workers) or Ray tasks on a cluster.

Both executors take the same :class:`RenderJob` list and report each :class:`JobOutcome` to a callback as it
finishes, so the caller can update the manifest clip by clip.

Local: one single-process ``ProcessPoolExecutor`` (spawn context) per device lane; a lane takes the next job from a
shared queue. When the batch is interrupted (Ctrl-C, SIGTERM, SIGHUP) no new job starts and every worker is sent
SIGTERM, which its render turns into the same unwinding as Ctrl-C (ffmpeg killed, temporaries deleted); idle workers
ignore it and leave when their pool shuts down. When a worker process dies mid-job (a crash, the OOM killer,
``os._exit``), only that lane's pool breaks, so the dead job is known exactly: it is retried in a fresh process up
to ``retries`` times while the other lanes carry on. Errors the user can fix (MusicVideoError) are not retried.

Ray (optional, ``pip install musicvideo[ray]``; imported only here): each job is a task with ``num_gpus=1`` when
the cluster has GPUs, and Ray's own ``max_retries`` re-runs tasks whose worker died.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import queue
import socket
import tempfile
import threading
import time
import signal
import traceback
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..config import RenderConfig
from ..errors import MusicVideoError, MusicVideoWarning
from ..signals import Terminated

#: Test hook: ``NAME`` or ``NAME:K`` makes a worker rendering clip NAME exit abruptly (os._exit) on its first K
#: attempts (every attempt without K). Used by the test suite to simulate a worker dying mid-clip.
CRASH_ENV = "MUSICVIDEO_TEST_CRASH"


@dataclass
class RenderJob:
    """One call of :func:`musicvideo.render.render`, picklable for worker processes and Ray.

    Attributes
    ----------
    key : str
        Unique job name: the clip name, or ``name#part`` for one piece of a split clip.
    clip : str
        The clip's name.
    song : str
        The song path.
    checkpoint : str or None
        The checkpoint path, None = the embedded default.
    output : str
        Where the render writes (atomically).
    config : RenderConfig
        Its settings; ``device`` is replaced by the executor's device for the job.
    frame_range : tuple of int, optional
        Clip frames ``[a, b)`` to render (split clips).
    audio : bool
        Mux the song's audio (False for the pieces of a split clip).
    attempt : int
        0 for the first try.
    """

    key: str
    clip: str
    song: str
    checkpoint: str | None
    output: str
    config: RenderConfig
    frame_range: tuple[int, int] | None = None
    audio: bool = True
    attempt: int = 0


@dataclass
class JobOutcome:
    """What became of a job.

    Attributes
    ----------
    key : str
        The job's key.
    ok : bool
        Whether its file was written.
    path : str
        The file written ("" on failure).
    n_frames : int
        Frames written.
    elapsed_s : float
        Wall time of the render.
    error : str
        One line saying what went wrong ("" when ok).
    retryable : bool
        Whether another attempt could succeed (a crash or an unexpected exception, not a user error).
    attempts : int
        How many attempts were made.
    device : str
        Where it ran.
    """

    key: str
    ok: bool
    path: str = ""
    n_frames: int = 0
    elapsed_s: float = 0.0
    error: str = ""
    retryable: bool = False
    attempts: int = 1
    device: str = ""


# ---------------------------------------------------------------- the job itself (runs in a worker)

_GENERATORS: dict[tuple[str | None, str], Any] = {}  # per worker process: load each checkpoint once per device


def _crash_hook(job: RenderJob) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    name, _, times = spec.partition(":")
    if name == job.clip and (not times or job.attempt < int(times)):
        os._exit(70)  # die like a killed worker: no exception, no cleanup


def run_job(job: RenderJob, device: str) -> JobOutcome:
    """Render one job on ``device`` and say how it went (never raises for a failed render).

    Parameters
    ----------
    job : RenderJob
        What to render.
    device : str
        Torch device for this worker (``cpu``, ``cuda:1``, ...).

    Returns
    -------
    JobOutcome
    """
    from ..generator import load_generator
    from ..render import render

    started = time.perf_counter()
    try:
        _crash_hook(job)
        config = dataclasses.replace(job.config, device=device)
        key = (job.checkpoint, device)
        if key not in _GENERATORS:
            _GENERATORS.clear()  # one model per worker at a time: memory stays flat over many checkpoints
            _GENERATORS[key] = load_generator(job.checkpoint, device=device)
        with warnings.catch_warnings():
            # the batch gave its notices (upscaling) once, in its preflight; not once per clip from every worker
            warnings.simplefilter("ignore", MusicVideoWarning)
            result = render(job.song, checkpoint=job.checkpoint, output=job.output, config=config, overwrite=True,
                            progress=False, frame_range=job.frame_range, audio=job.audio,
                            generator=_GENERATORS[key])
        return JobOutcome(job.key, True, str(result.path), int(result.n_frames), time.perf_counter() - started,
                          device=device)
    except MusicVideoError as exc:
        return JobOutcome(job.key, False, error=str(exc), elapsed_s=time.perf_counter() - started, device=device)
    except Exception as exc:  # noqa: BLE001 - reported in the manifest; the batch goes on
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return JobOutcome(job.key, False, error=f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:"
                          f"{where.lineno})", retryable=True, elapsed_s=time.perf_counter() - started,
                          device=device)


# A local worker's state for its signal handler: whether a job is rendering, and whether it was told to stop.
_JOB_RUNNING = False
_STOPPING = False


def _worker_signal(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM/SIGHUP in a local worker: the first one unwinds the running render as Ctrl-C does (ffmpeg
    killed, temporaries deleted); later ones, and any that reach an idle worker, are ignored, so they cannot cut
    that cleanup short and an idle worker leaves when its pool shuts down (no traceback from its queue wait)."""
    global _STOPPING
    if _STOPPING:
        return
    _STOPPING = True
    if _JOB_RUNNING:
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _worker_signal)


def _local_job(job: RenderJob, device: str) -> JobOutcome:
    """:func:`run_job` in a local worker, marked as running for :func:`_worker_signal`."""
    global _JOB_RUNNING
    if _STOPPING:
        raise Terminated(signal.SIGTERM)  # told to stop while idle: start nothing
    _JOB_RUNNING = True
    try:
        return run_job(job, device)
    finally:
        _JOB_RUNNING = False


# ---------------------------------------------------------------- local


def local_devices(device: str = "auto", workers: int | None = None) -> list[str]:
    """The device of each local worker lane.

    ``auto``: one lane per CUDA GPU (``cuda:0``, ``cuda:1``, ...), else CPU lanes (one per two cores).
    ``cpu``: CPU lanes. A specific device (``cuda:1``, ``mps``): every lane on it. ``workers`` overrides the count
    (GPU lanes are then dealt round-robin).
    """
    import torch

    if workers is not None and workers < 1:
        raise MusicVideoError(f"--workers must be at least 1, got {workers}")
    if device == "auto" and torch.cuda.is_available():
        gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        n = workers or len(gpus)
        return [gpus[i % len(gpus)] for i in range(n)]
    if device in ("auto", "cpu"):
        return ["cpu"] * (workers or max(1, (os.cpu_count() or 2) // 2))
    if device == "cuda" and torch.cuda.is_available():
        return local_devices("auto", workers)
    from ..render import resolve_device

    return [str(resolve_device(device))] * (workers or 1)


def run_local(jobs: Sequence[RenderJob], on_done: Callable[[JobOutcome], None], *, devices: Sequence[str],
              retries: int = 2) -> None:
    """Run jobs over local worker processes, one lane per entry of ``devices``.

    Parameters
    ----------
    jobs : sequence of RenderJob
        In the order to start them.
    on_done : callable
        Called (from a lane thread; serialise inside it) with each job's final outcome.
    devices : sequence of str
        One worker lane per entry.
    retries : int
        Extra attempts for a job whose worker died or hit an unexpected error.
    """
    todo: queue.SimpleQueue[RenderJob] = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    stop = threading.Event()
    cpu_lanes = sum(1 for d in devices if d == "cpu")
    threads = max(1, (os.cpu_count() or 1) // max(cpu_lanes, 1))
    context = multiprocessing.get_context("spawn")  # fork is unsafe with torch and threads

    pools: set[concurrent.futures.ProcessPoolExecutor] = set()  # the live ones, to stop on an interrupt
    pools_lock = threading.Lock()

    def new_pool() -> concurrent.futures.ProcessPoolExecutor:
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                                      initargs=(threads,))
        with pools_lock:
            pools.add(pool)
        return pool

    def drop(pool: concurrent.futures.ProcessPoolExecutor, *, wait: bool) -> None:
        with pools_lock:
            pools.discard(pool)
        pool.shutdown(wait=wait, cancel_futures=True)

    def lane(device: str) -> None:
        pool = None
        try:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                outcome = JobOutcome(job.key, False, error="not run")
                for attempt in range(retries + 1):
                    if stop.is_set():
                        return
                    pool = pool or new_pool()
                    try:
                        outcome = pool.submit(_local_job, dataclasses.replace(job, attempt=attempt), device).result()
                    except BrokenProcessPool:
                        drop(pool, wait=False)
                        pool = None
                        outcome = JobOutcome(job.key, False, error=f"the worker process on {device} died while "
                                             "rendering (crashed or killed)", retryable=True, device=device)
                    except KeyboardInterrupt:
                        # a terminal's Ctrl-C reaches the workers and the batch at once: give the batch's own
                        # handler a moment to say so before taking this for one stopped worker
                        if stop.wait(1.0):
                            raise  # the batch itself was interrupted: its workers were told to stop
                        # only this worker got the signal (someone stopped its pid): like a worker that died
                        drop(pool, wait=True)
                        pool = None
                        outcome = JobOutcome(job.key, False, error=f"the worker process on {device} was stopped by "
                                             "a signal while rendering", retryable=True, device=device)
                    outcome.attempts = attempt + 1
                    if outcome.ok or not outcome.retryable:
                        break
                on_done(outcome)
        finally:
            if pool is not None:
                drop(pool, wait=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(devices), thread_name_prefix="lane") as lanes:
        futures = [lanes.submit(lane, d) for d in devices]
        try:
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C, SIGTERM or SIGHUP here: no new jobs or retries, and every worker is told to stop (a terminal's
            # Ctrl-C reached them already, a `kill PID` did not); their renders clean up, then the lanes end
            stop.set()
            _stop_workers(pools, pools_lock)
            raise


def _stop_workers(pools: set, lock: threading.Lock) -> None:
    """Send SIGTERM to the worker processes of ``pools`` (see :func:`_worker_signal`)."""
    processes = []
    with lock:
        for pool in pools:
            # ProcessPoolExecutor keeps its workers in _processes (pid -> Process) and offers no public handle
            processes += list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        with contextlib.suppress(Exception):
            if proc.is_alive():
                proc.terminate()


# ---------------------------------------------------------------- Ray


def _ray_job(job: RenderJob, device: str) -> JobOutcome:
    return run_job(job, device)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when a ``host:port`` Ray address does not accept connections."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise MusicVideoError(f"bad Ray address {address!r} (use HOST:PORT, ray://HOST:PORT, auto or local)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MusicVideoError(f"cannot reach the Ray cluster at {address}: {reason} (start it with `ray start "
                              "--head`, or check the address and firewall)") from None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (Ray's C++ client logs a warning a second while it retries an address)."""
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def connect_ray(address: str) -> bool:
    """Connect to Ray (or start a local instance for ``local``); returns whether this call started the connection.

    Raises
    ------
    MusicVideoError
        Ray is not installed, or the address cannot be reached (one line).
    """
    try:
        import ray
    except ImportError:
        raise MusicVideoError("--ray needs Ray installed: pip install 'musicvideo[ray]'") from None
    if ray.is_initialized():
        return False
    _check_reachable(address)
    try:
        with _quiet_stderr():  # the one-line error below says what went wrong
            _init_ray(ray, address)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MusicVideoError(f"cannot connect to the Ray cluster at {address}: {first} (start one with "
                              "`ray start --head`, or use --ray local)") from None
    return True


def _init_ray(ray: Any, address: str) -> None:
    if address == "local":
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)


def run_ray(jobs: Sequence[RenderJob], on_done: Callable[[JobOutcome], None], *, retries: int = 2) -> None:
    """Run jobs as Ray tasks on the connected cluster (see :func:`connect_ray`).

    Parameters
    ----------
    jobs : sequence of RenderJob
        Outputs must be on a path every node can write (a shared file system).
    on_done : callable
        Called with each job's outcome as it finishes.
    retries : int
        Ray ``max_retries``: re-runs of a task whose worker died.
    """
    import ray

    gpus = float(ray.cluster_resources().get("GPU", 0))
    task = ray.remote(_ray_job).options(num_gpus=1 if gpus >= 1 else 0, num_cpus=1, max_retries=retries)
    device = "cuda" if gpus >= 1 else "cpu"
    pending = {task.remote(job, device): job for job in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            job = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                outcome = JobOutcome(job.key, False, error=f"Ray task failed: {first}", attempts=retries + 1)
            on_done(outcome)


__all__ = ["RenderJob", "JobOutcome", "run_job", "run_local", "run_ray", "connect_ray", "local_devices",
           "CRASH_ENV"]
