"""The command line itself: help, version, and user errors as one line without a traceback."""

import subprocess
import sys

import pytest

from musicvideo.cli import main


def test_help_lists_the_three_uses(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("render", "preview", "batch", "analyze", "inspect", "convert", "select"):
        assert command in out


def test_python_dash_m_runs():
    done = subprocess.run([sys.executable, "-m", "musicvideo", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "musicvideo" in done.stdout


def test_user_error_is_one_line_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "musicvideo", "analyze", str(tmp_path / "missing.mp3"),
                           "-o", str(tmp_path / "x.npz")], capture_output=True, text=True)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and "missing.mp3" in lines[0]
    assert not (tmp_path / "x.npz").exists()
