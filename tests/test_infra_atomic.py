"""Outputs appear complete or not at all."""

import os

import pytest

from musicvideo.atomic import atomic_output, check_output_path
from musicvideo.errors import OutputError


def test_success_renames_into_place(tmp_path):
    target = tmp_path / "out.csv"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".csv" and tmp != target
        tmp.write_text("ok")
        assert not target.exists()
    assert target.read_text() == "ok"
    assert os.listdir(tmp_path) == ["out.csv"]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_nothing(tmp_path, exc):
    target = tmp_path / "out.csv"
    with pytest.raises(exc):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise exc()
    assert os.listdir(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(OutputError, match="--overwrite"):
        check_output_path(target)
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_missing_directory(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "out.mp4")


def test_directory_as_output(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="permissions"):
        check_output_path(locked / "out.mp4")
