"""The dataset tool (``musicvideo dataset``) and the reader the training loop uses (ImageZipDataset)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from musicvideo.train.dataset import DatasetError, ImageZipDataset, archive_name


def _png_bytes(array: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="png", **save)
    return buf.getvalue()


def _nvlabs_zip(path, images, labels=None, *, folder=False):
    """A dataset laid out as NVlabs' dataset_tool.py writes one (names, stored PNGs, dataset.json)."""
    entries = {archive_name(i): _png_bytes(a, compress_level=0) for i, a in enumerate(images)}
    meta = {"labels": None if labels is None else [[archive_name(i), v] for i, v in enumerate(labels)]}
    if folder:
        for name, data in entries.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
        (path / "dataset.json").write_text(json.dumps(meta))
        return path
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        z.writestr("dataset.json", json.dumps(meta))
    return path


def _random_images(n, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (size, size, channels) if channels > 1 else (size, size)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


# ---------------------------------------------------------------- reader


def test_archive_names_follow_nvlabs():
    assert archive_name(0) == "00000/img00000000.png"
    assert archive_name(12345) == "00012/img00012345.png"
    assert archive_name(1234567) == "01234/img01234567.png"


def test_reader_reads_an_nvlabs_zip_pixel_exact_with_onehot_labels(tmp_path):
    images = _random_images(5)
    data = ImageZipDataset(_nvlabs_zip(tmp_path / "d.zip", images, labels=[0, 2, 1, 2, 0]))
    assert (len(data), data.resolution, data.num_channels, data.c_dim) == (5, 8, 3, 3)
    assert isinstance(data, torch.utils.data.Dataset)
    for i, array in enumerate(images):
        image, label = data[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 8, 8)
        assert torch.equal(image, torch.from_numpy(array).permute(2, 0, 1))
        assert label.dtype == torch.float32 and label.shape == (3,)
    assert data[1][1].tolist() == [0.0, 0.0, 1.0]


def test_reader_without_labels_and_with_xflip(tmp_path):
    images = _random_images(3)
    data = ImageZipDataset(_nvlabs_zip(tmp_path / "d.zip", images), xflip=True)
    assert len(data) == 6 and data.c_dim == 0
    image, label = data[4]
    assert label.shape == (0,) and label.dtype == torch.float32
    assert torch.equal(image, torch.from_numpy(images[1][:, ::-1].copy()).permute(2, 0, 1))
    with pytest.raises(IndexError):
        data[6]


def test_reader_reads_a_folder_grey_images_and_vector_labels(tmp_path):
    images = _random_images(4, channels=1)
    vectors = [[0.5, 1.0], [0.0, 0.25], [1.0, 1.0], [0.0, 0.0]]
    data = ImageZipDataset(_nvlabs_zip(tmp_path, images, labels=vectors, folder=True), use_labels=True)
    assert (len(data), data.num_channels, data.c_dim) == (4, 1, 2)
    image, label = data[1]
    assert torch.equal(image[0], torch.from_numpy(images[1]))
    assert label.tolist() == [0.0, 0.25]
    assert ImageZipDataset(tmp_path, use_labels=False).c_dim == 0


def test_reader_works_in_dataloader_workers(tmp_path):
    images = _random_images(6)
    data = ImageZipDataset(_nvlabs_zip(tmp_path / "d.zip", images, labels=[0, 1, 0, 1, 0, 1]))
    data[0]  # the parent's handle is open before the workers fork
    loader = torch.utils.data.DataLoader(data, batch_size=3, num_workers=2)
    batches = list(loader)
    stacked = torch.cat([b[0] for b in batches])
    assert torch.equal(stacked, torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in images]))
    assert torch.cat([b[1] for b in batches])[:, 1].tolist() == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("case", ["missing", "not_zip", "empty_zip", "not_square", "bad_labels"])
def test_reader_errors_are_one_line(tmp_path, case):
    path = tmp_path / "d.zip"
    if case == "not_zip":
        path = tmp_path / "d.txt"
        path.write_text("x")
    elif case == "empty_zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("dataset.json", "{}")
    elif case == "not_square":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(archive_name(0), _png_bytes(np.zeros((4, 8, 3), np.uint8)))
    elif case == "bad_labels":
        with zipfile.ZipFile(path, "w") as z:
            for i, a in enumerate(_random_images(2)):
                z.writestr(archive_name(i), _png_bytes(a))
            z.writestr("dataset.json", json.dumps({"labels": [[archive_name(0), 1]]}))
    with pytest.raises(DatasetError) as err:
        ImageZipDataset(path)
    assert "\n" not in str(err.value)
