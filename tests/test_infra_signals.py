"""Every way a run can end leaves nothing behind (#18): SIGTERM and SIGHUP unwind as Ctrl-C does (exit 128 + the
signal, the output folder exactly as it was, no ffmpeg or worker process left), and a temporary that a killed run
(kill -9) could not remove is removed by the next write of the same output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from musicvideo.atomic import OutputTemporary, atomic_output, remove_stale_temporaries
from musicvideo.cli import main

from _batch_helpers import batch_folder, tiny_checkpoint
from _render_helpers import leftovers
from _video_helpers import sigint_default

TESTS = Path(__file__).resolve().parent


# ---------------------------------------------------------------- processes


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command name) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], name)
    return table


def descendants(pid: int) -> dict[int, str]:
    """The processes below ``pid`` (children, grandchildren, ...): pid -> command name."""
    table = _process_table()
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _, name) in table.items():
            if ppid == parent and child not in found:
                found[child] = name
                frontier.append(child)
    return found


def still_running(pids) -> list[int]:
    """Those of ``pids`` that still run (a zombie has ended: it only waits to be reaped)."""
    table = _process_table()
    return [pid for pid in pids if pid in table and table[pid][1] != "Z"]


def _wait_for(condition, what: str, proc: subprocess.Popen, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.stderr.read()[-800:]!r}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


@pytest.fixture(scope="module")
def long_song(tmp_path_factory):
    """A 40 s song (8 kHz) with its analysis cached, and a tiny checkpoint; the children share the cache."""
    from musicvideo.audio import analyze
    from musicvideo.audio.synth import loud_quiet_song, write_wav

    root = tmp_path_factory.mktemp("signals")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICVIDEO_CACHE_DIR", str(cache))
        song = write_wav(root / "long.wav", loud_quiet_song(40.0, sample_rate=8000), 8000)
        analyze(song, fps=30)
    checkpoint = tiny_checkpoint(root / "tiny.safetensors")
    return {"song": song, "checkpoint": checkpoint, "cache": cache}


def _start(argv: list[str], cwd: Path, cache: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", MUSICVIDEO_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    # a session of its own, like a job started from a terminal: SIGHUP goes to its whole process group
    return subprocess.Popen([sys.executable, "-m", "musicvideo", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd, preexec_fn=sigint_default,
                            start_new_session=True, text=True)


def _ffmpeg_below(pid: int) -> dict[int, str]:
    return {p: name for p, name in descendants(pid).items() if name.startswith("ffmpeg")}


def _worker_encoders(batch_pid: int) -> list[tuple[int, int]]:
    """(ffmpeg pid, worker pid) of the video encoders the batch's workers run (ffmpeg reading frames from a pipe;
    not the short-lived probes, nor the batch's own decoder of the song)."""
    table = _process_table()
    found = []
    for p in _ffmpeg_below(batch_pid):
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pipe:0" in cmdline and p in table and table[p][0] != batch_pid:
            found.append((p, table[p][0]))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_mid_render_leaves_the_folder_as_it_was_and_no_ffmpeg(long_song, tmp_path, signum):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("already here")
    before = _listing(out_dir)
    child = _start(["render", str(long_song["song"]), "-c", str(long_song["checkpoint"]), "-o",
                    str(out_dir / "long.mp4"), "--size", "64", "--batch-size", "2"], tmp_path, long_song["cache"])
    try:
        # ffmpeg runs and the temporary exists: the render is under way
        children = _wait_for(lambda: leftovers(out_dir) and _ffmpeg_below(child.pid), "ffmpeg started", child)
        everything = descendants(child.pid)
        if signum == signal.SIGHUP:
            os.killpg(child.pid, signum)  # a closed terminal hangs up the whole foreground job
        else:
            os.kill(child.pid, signum)  # `kill PID`, `timeout`, a scheduler
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 128 + signum, err[-800:]
    assert f"terminated by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert _listing(out_dir) == before
    assert children and still_running(everything) == []


@pytest.mark.slow
def test_sigterm_mid_preview_video_leaves_nothing(long_song, tmp_path):
    child = _start(["preview", str(long_song["song"]), "--video", str(tmp_path / "curves.mp4")], tmp_path,
                   long_song["cache"])
    try:
        _wait_for(lambda: _ffmpeg_below(child.pid), "ffmpeg started", child)
        everything = descendants(child.pid)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 128 + signal.SIGTERM, err[-800:]
    assert list(tmp_path.iterdir()) == []  # the song lives in the fixture's folder: this one started empty
    assert still_running(everything) == []


@pytest.mark.slow
def test_sigterm_mid_batch_stops_the_workers_and_their_ffmpeg(tmp_path):
    plan = batch_folder(tmp_path, textwrap.dedent("""
        song = "song.wav"
        checkpoint = "tiny.safetensors"
        [defaults]
        fps = 30
        size = 64
        codec = "h264"
        [[clips]]
        name = "one"
        duration = 3.5
        seeds = [1, 2]
        [[clips]]
        name = "two"
        duration = 3.5
        seeds = [3, 4]
    """))
    out = tmp_path / "out"
    child = _start(["batch", str(plan), "-o", str(out), "--workers", "1", "--device", "cpu"], tmp_path,
                   tmp_path / "cache")
    try:
        _wait_for(lambda: _worker_encoders(child.pid), "a worker's ffmpeg started", child, timeout_s=180)
        everything = descendants(child.pid)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=90)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 128 + signal.SIGTERM, err[-800:]
    assert "Traceback" not in err, err[-1500:]
    assert still_running(everything) == []
    assert leftovers(out) == [] and not list(out.glob("*.mp4"))


# ---------------------------------------------------------------- every command's wiring, in-process


@pytest.mark.parametrize("command, module, function", [
    (["analyze", "song.wav", "-o", "OUT/features.csv"], "musicvideo.audio", "analyze_to_file"),
    (["select", "-o", "OUT/seeds.json"], "musicvideo.select", "select_to_files"),
    (["batch", "plan.toml", "-o", "OUT"], "musicvideo.batch", "run_batch"),
    (["preview", "song.wav", "--video", "OUT/p.mp4"], "musicvideo.preview", "preview"),
    (["render", "song.wav", "-o", "OUT/v.mp4"], "musicvideo.render", "render"),
], ids=["analyze", "select", "batch", "preview", "render"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_each_command_turns_the_signal_into_cleanup_and_128_plus_signal(tmp_path, monkeypatch, capsys, command,
                                                                        module, function, signum):
    import importlib

    out = tmp_path / "OUT"
    out.mkdir()

    def signalled_mid_write(*args, **kwargs):
        with atomic_output(out / "half-written.bin") as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises here
        raise AssertionError("the signal did not interrupt the run")

    monkeypatch.setattr(importlib.import_module(module), function, signalled_mid_write)
    previous = signal.getsignal(signum)
    rc = main([arg.replace("OUT", str(out)) for arg in command])
    assert rc == 128 + signum
    assert capsys.readouterr().err.strip() == f"musicvideo: terminated by {signal.Signals(signum).name}"
    assert list(out.iterdir()) == []
    assert signal.getsignal(signum) is previous  # the CLI's handler is gone again


# ---------------------------------------------------------------- stale temporaries

HOLDER = """
import sys, time
from pathlib import Path
from musicvideo.atomic import OutputTemporary
temporary = OutputTemporary(Path(sys.argv[1]))
temporary.path.write_bytes(b"in progress")
print(temporary.path, flush=True)
time.sleep(120)
"""


def test_a_temporary_left_by_a_killed_run_is_removed_by_the_next_write_but_a_live_ones_is_kept(tmp_path):
    target = tmp_path / "curves.csv"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(holder.stdout.readline().strip())
        assert live.exists() and live.name.startswith(".curves.tmp-") and live.suffix == ".csv"
        with atomic_output(target) as tmp:  # another run writes the same output meanwhile
            tmp.write_text("t\n")
        assert live.exists() and live.read_bytes() == b"in progress"  # locked by a live run: kept
        holder.send_signal(signal.SIGKILL)  # kill -9: no cleanup at all
        holder.wait()
        assert live.exists()
        with atomic_output(target, overwrite=True) as tmp:
            tmp.write_text("t\n0\n")
        assert not live.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv"]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_stale_video_temporary_and_parts_folder_are_removed_by_the_next_render(tmp_path):
    """Names of an older version (no lock ever held) and a segmented render's parts folder count too."""
    import numpy as np

    from musicvideo.video import VideoWriter

    target = tmp_path / "clip.mp4"
    (tmp_path / ".clip.tmp-0badf00d.mp4").write_bytes(b"half a video")
    parts = tmp_path / ".clip.tmp-12345678.parts"
    parts.mkdir()
    (parts / "part00000.mp4").write_bytes(b"x")
    (tmp_path / ".other.tmp-0badf00d.mp4").write_bytes(b"another output's: not touched")
    remove_stale_temporaries(target, ".parts")
    with VideoWriter(target, width=32, height=32, fps=10) as writer:
        writer.write(np.zeros((3, 32, 32, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-0badf00d.mp4", "clip.mp4"]


def test_output_temporary_is_locked_until_released(tmp_path):
    target = tmp_path / "a.npz"
    first = OutputTemporary(target)
    try:
        assert remove_stale_temporaries(target) == [] and first.path.exists()
    finally:
        first.discard()
    assert not first.path.exists() and list(tmp_path.iterdir()) == []


def test_killed_render_rerun_removes_its_temporary_and_batch_treats_the_clip_as_missing(tmp_path):
    from musicvideo.batch import run_batch

    plan = batch_folder(tmp_path, """
        song = "song.wav"
        checkpoint = "tiny.safetensors"
        [defaults]
        fps = 8
        size = 32
        [[clips]]
        name = "intro"
        duration = 1.0
        seeds = [1]
    """)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".intro.tmp-deadbeef.mov"
    stale.write_bytes(b"what a killed worker left")
    result = run_batch(plan, out, workers=1, progress=False)
    assert result.rendered == ["intro"] and result.ok
    assert leftovers(out) == [] and (out / "intro.mov").is_file()
    doc = json.loads((out / "manifest.json").read_text())
    assert [c["status"] for c in doc["clips"]] == ["ok"]


@pytest.mark.slow
def test_sigterm_to_one_worker_only_retries_its_clip(tmp_path):
    plan = batch_folder(tmp_path, textwrap.dedent("""
        song = "song.wav"
        checkpoint = "tiny.safetensors"
        [defaults]
        fps = 30
        size = 64
        codec = "h264"
        [[clips]]
        name = "one"
        duration = 3.5
        seeds = [1, 2]
    """))
    out = tmp_path / "out"
    child = _start(["batch", str(plan), "-o", str(out), "--workers", "1", "--device", "cpu"], tmp_path,
                   tmp_path / "cache")
    try:
        (_, worker), = _wait_for(lambda: _worker_encoders(child.pid), "a worker's ffmpeg started", child,
                                 timeout_s=180)
        os.kill(worker, signal.SIGTERM)  # someone stops the worker's pid, not the batch
        _, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 0, err[-1500:]
    clips = json.loads((out / "manifest.json").read_text())["clips"]
    assert [(c["status"], c["attempts"]) for c in clips] == [("ok", 2)]
    assert leftovers(out) == []


def test_without_o_tmpfile_the_temporary_is_locked_under_a_tilde_name_first(tmp_path, monkeypatch):
    import musicvideo.atomic as atomic

    monkeypatch.setattr(atomic, "_create_locked_file", lambda path: None)  # as on macOS or a file system without it
    target = tmp_path / "a.csv"
    with atomic_output(target) as tmp:
        tmp.write_text("x\n")
        assert remove_stale_temporaries(target) == [] and tmp.exists()  # locked: kept
    young = tmp_path / ".a.tmp-11111111.csv~"  # a run killed while it created its temporary, just now
    old = tmp_path / ".a.tmp-22222222.csv~"  # ... and one long ago
    young.write_bytes(b"")
    old.write_bytes(b"")
    os.utime(old, (time.time() - 60, time.time() - 60))
    assert remove_stale_temporaries(target) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [young.name, "a.csv"]
