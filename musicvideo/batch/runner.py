"""``musicvideo batch``: a plan becomes clips, a manifest and the editor's timelines; re-runs finish what is missing.

Order of work: read and check the whole plan, refuse an output folder made for another song (unless overwrite),
then preflight every clip (:func:`preflight`: song, checkpoint, reference images, output folder and names, and
every render setting) before anything is created or written, so a plan that cannot run leaves nothing behind;
check the Ray address; pick seeds for clips that ask for a look (once per look); keep clips that are already
complete (file present, same settings, same frame count and checksum as the manifest); render the rest over the
executor, updating the manifest after every clip; write the timelines of the clips that are complete (FCP 7 XML,
``.otio``, FCP X XML, EDL: :mod:`.timeline`) with the song's downbeat and section markers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..atomic import atomic_output, remove_stale_temporaries
from ..config import RenderConfig
from ..errors import ConfigError, MusicVideoError, MusicVideoWarning, OutputError, upscale_notice
from .executors import JobOutcome, RenderJob, connect_ray, local_devices, run_local, run_ray
from .folder import check_output_song, clear_output, other_song
from .manifest import ClipRecord, Manifest, read_manifest, settings_dict, sha256_file, write_manifest
from .plan import BatchPlan, ClipSpec, load_plan
from .sections import opening_first
from .premiere import SongTrack, TimelineClip
from .split import frame_ranges, join_parts, part_is_complete, part_path, parts_directory, remove_parts
from .timeline import EditTimeline, musical_markers, write_timelines


@dataclass
class BatchResult:
    """What a batch run did.

    Attributes
    ----------
    output_dir : Path
        Where everything is.
    records : list of ClipRecord
        One per clip of the plan, in plan order (as in the manifest).
    rendered, skipped, failed : list of str
        Clip names rendered in this run, kept from an earlier run, and failed.
    manifest_json, manifest_csv, xml : Path
        The manifest files and the FCP 7 XML sequence.
    timelines : dict of str to Path
        Every timeline file by kind: ``xml`` (Premiere), ``otio``, ``fcpxml``, ``edl`` (``edl take 2``, ...).
    notes : list of str
        One-line notes for the user (a song cut as one clip and why, an EDL that could not be written).
    elapsed_s : float
        Wall time.
    """

    output_dir: Path
    records: list[ClipRecord]
    rendered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    manifest_json: Path | None = None
    manifest_csv: Path | None = None
    xml: Path | None = None
    timelines: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every clip is complete."""
        return not self.failed


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _seeds_for(clip: ClipSpec, plan: BatchPlan, output_dir: Path, device: str, cache: dict[str, Any],
               inputs: dict[str, str], progress: bool) -> list[int] | None:
    """Keyframe seeds of a clip: from the plan, or picked by look (cached in ``NAME.seeds.json``)."""
    if clip.select is None:
        return clip.seeds
    from ..select import select_seeds, selection_json, write_contact_sheet

    spec = clip.select
    seeds_path = output_dir / f"{clip.name}.seeds.json"
    wanted = {"traits": dataclasses.asdict(spec), "checkpoint": str(plan.checkpoint) if plan.checkpoint else None,
              "checkpoint_sha256": inputs["checkpoint"]}
    try:
        old = json.loads(seeds_path.read_text(encoding="utf-8"))
        if old.get("selection") == wanted and old.get("seeds"):
            return [int(s) for s in old["seeds"]]
    except (OSError, ValueError, TypeError):
        pass
    picked = cache.setdefault("selections", {})
    key = json.dumps([wanted, clip.config.walk.truncation_psi], sort_keys=True, default=str)
    if key in picked:  # the clips of one section label share a look: selected once per run
        selection = picked[key]
    else:
        if "generator" not in cache:
            from ..generator import load_generator
            from ..render import resolve_device

            cache["device"] = str(resolve_device(device))
            cache["generator"] = load_generator(str(plan.checkpoint) if plan.checkpoint else None,
                                                device=cache["device"])
        _log(progress, f"selecting seeds for {clip.name}: {spec.traits().describe()}")
        selection = picked[key] = select_seeds(cache["generator"], spec.traits(), count=spec.count,
                                               candidates=spec.candidates, first_seed=spec.first_seed,
                                               thumb_size=spec.thumb_size, device=cache["device"],
                                               truncation_psi=clip.config.walk.truncation_psi)
    if not selection.seeds:
        raise MusicVideoError(f"clip {clip.name!r} (line {clip.line}): none of {selection.tried} candidate seeds "
                              f"matched ({spec.traits().describe()}); raise select.candidates or loosen the traits")
    if not selection.complete:
        _log(True, f"musicvideo: warning: clip {clip.name}: only {len(selection.seeds)} of {spec.count} seeds "
                   f"matched ({spec.traits().describe()}); using those")
    doc = selection_json(selection, wanted["checkpoint"])
    doc["selection"] = wanted  # what a re-run compares to reuse these seeds
    with atomic_output(seeds_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    write_contact_sheet(selection, seeds_path.with_suffix(".png"), overwrite=True)
    return selection.seeds


def clip_is_complete(record: ClipRecord | None, path: Path, n_frames: int, settings: dict, inputs: dict) -> bool:
    """Whether a clip from an earlier run can be kept: its manifest record says ok with these settings, inputs (song
    and checkpoint checksums) and frame count, the file's checksum matches the record, and the file probes with
    that many frames."""
    from ..video import probe

    if record is None or record.status != "ok" or record.frames != n_frames:
        return False
    if record.settings != settings or record.inputs != inputs:
        return False
    if not path.is_file():
        return False
    try:
        if sha256_file(path) != record.sha256:
            return False
        return probe(path, decode=False).n_frames == n_frames
    except (OSError, MusicVideoError):
        return False


def _input_checksums(plan: BatchPlan) -> dict[str, str]:
    """SHA-256 of the song and the checkpoint: a clip made from other bytes is not complete for this plan."""
    from ..generator import default_checkpoint_path

    checkpoint = plan.checkpoint if plan.checkpoint is not None else default_checkpoint_path()
    return {"song": sha256_file(plan.song), "checkpoint": sha256_file(checkpoint)}


def _analyse_once(plan: BatchPlan, clips: Any, progress: bool) -> None:
    """Analyse the song once here, filling the analysis cache, so the workers read it instead of each one
    analysing the whole song again (the cache is keyed on the song's bytes and the analysis settings)."""
    from ..audio import analyze_song_cached

    seen: list[Any] = []
    for clip in clips:
        if clip.config.analysis not in seen:
            seen.append(clip.config.analysis)
            _log(progress, f"analysing {plan.song.name}")
            analyze_song_cached(plan.song, clip.config.analysis)


def _split_jobs(job: RenderJob, clip: ClipSpec, out: Path, identity: dict) -> tuple[list[Path], list[RenderJob],
                                                                                   list[JobOutcome]]:
    """The pieces of a split clip: their paths, the jobs still to run, and the pieces an earlier run completed
    (reused only when they were made with the same settings and inputs, recorded in ``pieces.json``)."""
    folder = parts_directory(out, clip.name)
    marker = folder / "pieces.json"
    try:
        if json.loads(marker.read_text(encoding="utf-8")) != identity:
            remove_parts(out, clip.name)
    except (OSError, ValueError):
        remove_parts(out, clip.name)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(marker, overwrite=True) as tmp:
        tmp.write_text(json.dumps(identity), encoding="utf-8")
    pieces, todo, done = [], [], []
    for index, (a, b) in enumerate(frame_ranges(clip.n_frames, clip.split)):
        piece = part_path(out, clip.name, index, Path(job.output).suffix)
        remove_stale_temporaries(piece)
        pieces.append(piece)
        key = f"{clip.name}#{index}"
        if part_is_complete(piece, b - a):
            done.append(JobOutcome(key, True, str(piece), b - a))
        else:
            todo.append(dataclasses.replace(job, key=key, output=str(piece), frame_range=(a, b), audio=False))
    return pieces, todo, done


class _Progress:
    """Collects job outcomes into clip records, joins split clips, and rewrites the manifest (thread-safe)."""

    def __init__(self, plan: BatchPlan, output_dir: Path, manifest: Manifest, specs: dict[str, ClipSpec],
                 parts: dict[str, list[Path]], progress: bool) -> None:
        self.plan, self.output_dir, self.manifest = plan, output_dir, manifest
        self.specs, self.parts, self.progress = specs, parts, progress
        self.lock = threading.Lock()
        self.part_outcomes: dict[str, dict[str, JobOutcome]] = {name: {} for name in parts}
        self.rendered: list[str] = []
        self.failed: list[str] = []
        self.total = len(specs)

    def _finish(self, name: str, outcome: JobOutcome) -> None:
        from ..video import probe

        spec = self.specs[name]
        for suffix in (None, ".parts"):  # from an attempt whose worker died (a killed worker holds no lock)
            remove_stale_temporaries(self.output_dir / spec.filename, suffix)
        record = self.manifest.clips[spec.filename]
        record.attempts = outcome.attempts
        record.elapsed_s = round(outcome.elapsed_s, 3)
        if outcome.ok:
            try:
                path = self.output_dir / spec.filename
                info = probe(path, decode=False)
                record.frames, record.width, record.height = info.n_frames, info.width, info.height
                record.sha256 = sha256_file(path)
                if info.n_frames != spec.n_frames:
                    raise MusicVideoError(f"{spec.filename} has {info.n_frames} frames, expected {spec.n_frames}")
                record.status, record.error = "ok", ""
            except (OSError, MusicVideoError) as exc:
                record.status, record.error = "failed", str(exc)
        else:
            record.status, record.error = "failed", outcome.error
        (self.rendered if record.status == "ok" else self.failed).append(name)
        done = len(self.rendered) + len(self.failed)
        detail = f"{record.elapsed_s:.1f} s" if record.status == "ok" else record.error
        _log(self.progress, f"[{done}/{self.total}] {spec.filename}: {record.status} ({detail})")
        write_manifest(self.manifest, self.output_dir)

    def __call__(self, outcome: JobOutcome) -> None:
        name, _, part = outcome.key.partition("#")
        with self.lock:
            if not part:
                self._finish(name, outcome)
                return
            got = self.part_outcomes[name]
            got[part] = outcome
            if len(got) < len(self.parts[name]):
                return
            failed = [o for o in got.values() if not o.ok]
            total = JobOutcome(name, not failed, attempts=max(o.attempts for o in got.values()),
                               elapsed_s=sum(o.elapsed_s for o in got.values()))
            if failed:
                total.error = f"piece {failed[0].key} failed: {failed[0].error}"
            else:
                try:
                    join_parts(self.parts[name], self.output_dir / self.specs[name].filename, song=self.plan.song,
                               config=self.specs[name].config)
                    remove_parts(self.output_dir, name)
                except MusicVideoError as exc:
                    total.ok, total.error = False, f"joining the pieces failed: {exc}"
            self._finish(name, total)


def _song_track(song: Path, duration_s: float) -> SongTrack:
    from ..video.probe import read_header

    try:
        info = read_header(song)
        return SongTrack(song, duration_s, info.sample_rate or 48000, info.channels or 2)
    except MusicVideoError:
        return SongTrack(song, duration_s)


def _song_sections(plan: BatchPlan) -> Any:
    """The song's sections and downbeats at the plan's frame rate (the plan's own cut for a sections plan); None
    when the song cannot be analysed (the timelines then have no markers)."""
    if plan.sections is not None:
        return plan.sections
    from .sections import analyse_sections

    try:
        return analyse_sections(plan.song, fps=manifest_fps(plan), analysis=plan.defaults.analysis,
                                min_beat_confidence=plan.defaults.walk.min_beat_confidence)
    except MusicVideoError:
        return None


def _write_timelines(plan: BatchPlan, output_dir: Path, manifest: Manifest) -> tuple[dict[str, Path], list[str]]:
    """The timeline files of the clips that are complete: FCP 7 XML, .otio, .fcpxml, EDL."""
    clips, metadata = [], {}
    takes = any(r.take > 1 for r in manifest.clips.values())
    for record in manifest.clips.values():
        if record.status == "ok":
            clips.append(TimelineClip(record.name, output_dir / record.file, record.start_s, record.frames,
                                      Fraction(record.fps), record.width, record.height,
                                      track=record.take - 1 if takes else None))
            metadata[record.name] = {"file": record.file, "label": record.label, "take": record.take,
                                     "first_bar": record.first_bar, "last_bar": record.last_bar,
                                     "seeds": list(record.seeds)}
    fps = Fraction(manifest_fps(plan))
    width = clips[0].width if clips else (plan.defaults.width or plan.defaults.size or 0)
    height = clips[0].height if clips else (plan.defaults.height or plan.defaults.size or 0)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in plan.name) or "sequence"
    song_cut = _song_sections(plan)
    markers = []
    if song_cut is not None:
        markers = musical_markers(song_cut.downbeat_times_s,
                                  [(c.label, c.start_s, c.first_bar) for c in song_cut.cuts])
    edit = EditTimeline(name=plan.name, fps=fps, width=width, height=height, clips=clips,
                        song=_song_track(plan.song, plan.song_duration_s), markers=markers, metadata=metadata)
    return write_timelines(edit, output_dir, safe)


def manifest_fps(plan: BatchPlan) -> Fraction:
    """The sequence frame rate: the plan's default fps (exact)."""
    from ..config import exact_fps

    return exact_fps(plan.defaults.fps)


def _check_output_dir(out: Path) -> None:
    """The output folder exists and is writable, or can be created (its nearest existing parent is writable)."""
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"output {out} is a file, not a directory (give a directory for the clips)")
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write to output directory {out} (check its permissions)")
        return
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create output directory {out}: {parent} is not a writable directory "
                          "(check the path)")


def preflight(plan: BatchPlan, output_dir: str | Path, *, device: str = "auto") -> list[str]:
    """Check everything a batch needs before anything is rendered or written.

    The song (readable audio, each clip inside it), the checkpoint (loaded and checked tensor by tensor, without
    running it), reference images and face detection for clips that select seeds by look, the output folder and
    every clip's output name, and each clip's render settings (fps, size, codec and container, device, encoder).

    Parameters
    ----------
    plan : BatchPlan
        The loaded plan.
    output_dir : str or Path
        Where the clips will go (it need not exist yet).
    device : str
        Where the clips will render (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Returns
    -------
    list of str
        One-line notices (an output more than twice the generator's resolution), each once.

    Raises
    ------
    MusicVideoError
        The first problem found, one line naming the clip (and the plan's line) where it is one clip's.
    """
    from ..generator import default_checkpoint_path, inspect_checkpoint
    from ..render import plan_render, resolve_device
    from ..select import FaceDetector, load_image

    out = Path(output_dir).expanduser()
    _check_output_dir(out)
    resolve_device(device)
    checkpoint = plan.checkpoint if plan.checkpoint is not None else default_checkpoint_path()
    info = inspect_checkpoint(checkpoint)  # a file that cannot be loaded is refused here, not clip by clip
    gen_w, gen_h = (int(v) for v in str(info["resolution"]).split("x"))
    notices: list[str] = []
    for clip in plan.clips:
        where = f"clip {clip.name!r}" + (f" (line {clip.line})" if clip.line else "")
        target = out / clip.filename
        if target.is_dir():
            raise OutputError(f"{where}: its output {target} is a directory (rename the clip or move the folder)")
        try:
            checked = plan_render(plan.song, checkpoint=plan.checkpoint, output=target,
                                  config=dataclasses.replace(clip.config, device=device), overwrite=True,
                                  check_output=False)
            if clip.select is not None:
                if clip.select.like:
                    load_image(clip.select.like)
                if clip.select.faces is not None:
                    FaceDetector()
        except MusicVideoError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        size = (checked.width or gen_w, checked.height or gen_h)
        notice = upscale_notice((gen_w, gen_h), size)
        if notice and notice not in notices:
            notices.append(notice)
    return notices


def run_batch(plan: str | Path | BatchPlan, output_dir: str | Path, *, workers: int | None = None,
              ray: str | None = None, device: str = "auto", retries: int = 2, split: int | None = None,
              progress: bool = True, overwrite: bool = False) -> BatchResult:
    """Render the clips of a plan into ``output_dir`` with a manifest and an FCP 7 XML sequence.

    Parameters
    ----------
    plan : str, Path or BatchPlan
        The plan TOML file (see :mod:`musicvideo.batch.plan`) or a loaded plan.
    output_dir : str or Path
        Created if missing; re-running into the same directory keeps complete clips and renders the rest.
    workers : int, optional
        Local worker processes (default: one per GPU, else one per two CPU cores).
    ray : str, optional
        Run on Ray instead: a cluster address, ``auto`` (the running cluster) or ``local`` (start one here).
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:N``: where local workers render (and seeds are selected).
    retries : int
        Extra attempts for a clip whose worker died.
    split : int, optional
        Render every clip as this many frame ranges on parallel workers, joined losslessly (overrides the plan's
        ``split``; capped at a clip's frame count).
    progress : bool
        One line per finished clip on stderr.
    overwrite : bool
        Replace an output folder made for another song (its clips, timelines and manifest); without it such a
        folder is refused.

    Returns
    -------
    BatchResult
        ``failed`` lists clips that could not be rendered (their manifest records say why).

    Raises
    ------
    MusicVideoError
        A plan that cannot run (see :func:`preflight`), or an output folder of another song without
        ``overwrite``, before anything is created or written in ``output_dir``.
    """
    started = time.perf_counter()
    plan = plan if isinstance(plan, BatchPlan) else load_plan(plan)
    if retries < 0:
        raise ConfigError(f"--retries must be 0 or more, got {retries}")
    if split is not None:
        if split < 1:
            raise ConfigError(f"--split must be at least 1, got {split}")
        plan = dataclasses.replace(plan, clips=[dataclasses.replace(c, split=min(split, max(c.n_frames, 1)))
                                                for c in plan.clips])
    out = Path(output_dir).expanduser()
    replace = check_output_song(out, plan.song, overwrite=overwrite)
    for notice in preflight(plan, out, device=device if ray is None else "auto"):  # before anything is written
        warnings.warn(MusicVideoWarning(notice), stacklevel=2)
    if plan.sections is not None and plan.sections.note:
        warnings.warn(MusicVideoWarning(f"{plan.song.name}: {plan.sections.note}"), stacklevel=2)
    if replace is not None:
        clear_output(out)
    devices = None if ray is not None else local_devices(device, workers)
    started_ray = connect_ray(ray) if ray is not None else False  # an unreachable cluster fails here, before work
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output directory {out}: {exc.strerror} (check the path)") from None
        return _run(plan, out.resolve(), ray=ray, device=device, devices=devices, retries=retries,
                    progress=progress, started=started)
    finally:
        if started_ray:
            import ray as ray_module

            ray_module.shutdown()


def _run(plan: BatchPlan, out: Path, *, ray: str | None, device: str, devices: list[str] | None, retries: int,
         progress: bool, started: float) -> BatchResult:
    old = read_manifest(out)
    manifest = Manifest(plan=str(plan.path), song=str(plan.song),
                        checkpoint=str(plan.checkpoint) if plan.checkpoint else None)
    inputs = _input_checksums(plan)
    cache: dict[str, Any] = {}
    specs: dict[str, ClipSpec] = {}
    jobs: list[RenderJob] = []
    parts: dict[str, list[Path]] = {}
    skipped: list[str] = []
    ready: list[JobOutcome] = []
    for clip in plan.clips:
        seeds = _seeds_for(clip, plan, out, device, cache, inputs, progress)
        config: RenderConfig = clip.config
        if seeds is not None:  # a section clip opens on its look's first seed, whatever its label's place
            config = dataclasses.replace(config, walk=dataclasses.replace(
                config.walk, seeds=opening_first(list(seeds), *clip.label_slot)))
        clip = dataclasses.replace(clip, config=config, seeds=seeds)
        settings = settings_dict(dataclasses.replace(config, device="auto", batch_size=None))
        path = out / clip.filename
        previous = old.clips.get(clip.filename)
        if clip_is_complete(previous, path, clip.n_frames, settings, inputs):
            manifest.clips[clip.filename] = previous
            skipped.append(clip.name)
            continue
        for suffix in (None, ".parts"):  # a killed run's temporaries (locked ones belong to a live run: kept)
            remove_stale_temporaries(path, suffix)
        record = ClipRecord(name=clip.name, file=clip.filename, start_s=config.start_s,
                            duration_s=float(config.duration_s or 0.0), fps=str(clip.fps), codec=config.video.codec,
                            seeds=list(seeds or []), settings=settings, inputs=inputs, label=clip.label,
                            take=clip.take, first_bar=clip.first_bar, last_bar=clip.last_bar)
        manifest.clips[clip.filename] = record
        specs[clip.name] = clip
        job = RenderJob(key=clip.name, clip=clip.name, song=str(plan.song), output=str(path), config=config,
                        checkpoint=str(plan.checkpoint) if plan.checkpoint else None)
        if clip.split > 1:
            pieces, todo, done = _split_jobs(job, clip, out, {"settings": settings, "inputs": inputs})
            parts[clip.name] = pieces
            jobs += todo
            ready += done
        else:
            jobs.append(job)
    cache.clear()  # free the selection model before the workers load theirs
    if jobs:
        _analyse_once(plan, specs.values(), progress)
    json_path, csv_path = write_manifest(manifest, out)
    if skipped:
        _log(progress, f"kept {len(skipped)} complete clip(s): {', '.join(skipped)}")

    tracker = _Progress(plan, out, manifest, specs, parts, progress)
    for outcome in ready:  # pieces that an earlier, interrupted run finished count as done
        tracker(outcome)
    if jobs:
        _log(progress, f"rendering {len(specs)} clip(s) as {len(jobs)} job(s) on "
                       f"{'Ray' if ray is not None else ', '.join(devices or [])}")
        if ray is not None:
            run_ray(jobs, tracker, retries=retries)
        else:
            run_local(jobs, tracker, devices=devices or ["cpu"], retries=retries)
    timelines, notes = _write_timelines(plan, out, manifest)
    manifest.timelines = sorted(p.name for p in timelines.values())
    json_path, csv_path = write_manifest(manifest, out)
    for note in notes:
        _log(progress, f"musicvideo: note: {note}")
    records = list(manifest.clips.values())
    return BatchResult(output_dir=out, records=records, rendered=tracker.rendered, skipped=skipped,
                       failed=[r.name for r in records if r.status != "ok"], manifest_json=json_path,
                       manifest_csv=csv_path, xml=timelines.get("xml"), timelines=timelines, notes=notes,
                       elapsed_s=time.perf_counter() - started)


__all__ = ["BatchResult", "run_batch", "preflight", "clip_is_complete", "manifest_fps", "other_song",
           "check_output_song", "clear_output"]
