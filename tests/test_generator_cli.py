"""`musicvideo inspect` and `musicvideo convert` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicvideo.cli import main
from musicvideo.generator import default_checkpoint_path, save_native

from _generator_helpers import tiny_generator


@pytest.fixture
def generator_ckpt(tmp_path) -> Path:
    return save_native(tiny_generator(c_dim=2), tmp_path / "tiny.safetensors")


def test_inspect_table(capsys):
    assert main(["inspect", str(default_checkpoint_path())]) == 0
    out = capsys.readouterr().out
    rows = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert rows["format"] == "native" and rows["resolution"] == "256x256"
    for key in ("z_dim", "w_dim", "c_dim", "num_ws", "parameters", "mapping_layers"):
        assert rows[key].strip().isdigit(), key
    assert json.loads(rows["source"])["format"] == "procedural"


def test_inspect_json(capsys, generator_ckpt):
    assert main(["inspect", str(generator_ckpt), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["resolution"], info["c_dim"], info["num_ws"], info["z_dim"]) == ("32x32", 2, 8, 8)


def test_convert_then_inspect(capsys, tmp_path, generator_ckpt):
    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(generator_ckpt), str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes() == generator_ckpt.read_bytes()
    # exists: refused without --overwrite, file untouched
    before = out.stat().st_mtime_ns
    assert main(["convert", str(generator_ckpt), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    assert main(["convert", str(generator_ckpt), str(out), "--overwrite"]) == 0


@pytest.mark.parametrize("name,content,message", [
    ("missing.pkl", None, "not found"),
    ("empty.pkl", b"", "is empty"),
    ("photo.pkl", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "JPEG"),
    ("notes.pt", b"hello\n", "text file"),
])
@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_bad_inputs_one_line_error_nothing_written(capsys, tmp_path, name, content, message, command):
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.safetensors"
    argv = ["inspect", str(src)] if command == "inspect" else ["convert", str(src), str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and name in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ([name] if content is not None else [])


def test_truncated_pickle_goes_to_the_pickle_loader_and_fails_cleanly(capsys, tmp_path):
    src = tmp_path / "network.pkl"
    src.write_bytes(b"\x80\x04\x95\x10\x00\x00")  # a pickle header cut short
    assert main(["convert", str(src), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "network.pkl" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network.pkl"]


def test_convert_output_must_be_safetensors(capsys, tmp_path, generator_ckpt):
    assert main(["convert", str(generator_ckpt), str(tmp_path / "out.pkl")]) == 2
    assert ".safetensors" in capsys.readouterr().err
    assert not (tmp_path / "out.pkl").exists()


def test_convert_into_missing_directory(capsys, tmp_path, generator_ckpt):
    assert main(["convert", str(generator_ckpt), str(tmp_path / "no" / "out.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
