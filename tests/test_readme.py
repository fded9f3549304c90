"""The README's commands check (#18): its Python snippet runs as written, twice in a row (the second run replaces the
first one's video instead of failing with "output already exists")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_snippet() -> str:
    """The README's Python example (the block after "The same from Python")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index("The same from Python"):]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match, "no Python block after 'The same from Python' in README.md"
    return match.group(1)


def test_readme_snippet_names_only_files_the_demo_install_makes():
    code = python_snippet()
    for path in re.findall(r'"([\w./-]+\.(?:wav|mp3|toml|pkl|pt|safetensors))"', code):
        assert path in ("examples/demo_song.wav", "examples/config.toml"), path
    assert "overwrite=True" in code


@pytest.mark.slow
def test_readme_python_snippet_runs_twice_in_a_row(tmp_path):
    from musicvideo.audio.synth import demo_song, write_wav

    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "config.toml", tmp_path / "examples" / "config.toml")
    # the demo song as examples/make_demo_song.py makes it, only shorter (the snippet renders 2 s of it)
    write_wav(tmp_path / "examples" / "demo_song.wav", demo_song(4.0, 22050, 0), 22050)
    code = python_snippet()
    once = "exec(compile(code, 'README.md', 'exec'), {})\n"
    runner = f"code = {code!r}\n" + once + once  # twice in a row, in one process (start-up paid once)
    env = dict(os.environ, MUSICVIDEO_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", runner], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("demo-2s.mp4 60 frames") == 2, done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "demo-2s.mp4", "examples"]
