"""Training images for the loop: :class:`ImageZipDataset`, a torch ``Dataset`` over a dataset zip or folder.

It reads the zips ``musicvideo dataset`` makes (:mod:`musicvideo.train.dataset_tool`, which describes the layout)
and those NVlabs' ``dataset_tool.py`` makes, which share it, and folders of same-size images as NVlabs' trainers
do. In ``dataset.json`` an integer label is a class index (the loop sees it one-hot); NVlabs also allows a list of
floats per image, read as the label vector itself.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.utils.data

from .dataset_tool import IMAGE_EXTENSIONS, LABELS_NAME, DatasetError, archive_name, make_dataset

__all__ = ["ImageZipDataset", "DatasetError", "archive_name", "make_dataset"]


class ImageZipDataset(torch.utils.data.Dataset):
    """The training images of a dataset zip (ours or NVlabs'), or of a folder of same-size images, as tensors.

    A ``torch.utils.data.Dataset``: item ``i`` is ``(image, label)``, ``image`` a uint8 tensor ``[C, H, W]`` and
    ``label`` a float32 vector ``[c_dim]`` (one-hot for a class index; empty when there are no labels). Images are
    read in sorted name order, which for our zips and NVlabs' is index order. Safe to use from ``DataLoader``
    worker processes (each opens the zip itself).

    Parameters
    ----------
    path : str or Path
        A ``.zip`` made by ``musicvideo dataset`` or NVlabs' ``dataset_tool.py``, or a folder of images (searched
        recursively) with an optional ``dataset.json``.
    xflip : bool
        Double the dataset with mirrored copies: items ``len/2 ..`` are items ``0 ..`` flipped left to right.
    use_labels : bool
        Read the labels in ``dataset.json``; when false (or there are none) ``c_dim`` is 0.

    Attributes
    ----------
    path : Path
    names : list of str
        The images' names inside the zip or folder, in item order (without the x-flipped repeat).
    resolution : int
        Height and width of every image.
    num_channels : int
        Channels of every image (3 for ours; 1 for a grey NVlabs set).
    c_dim : int
        Length of the label vector (0 without labels).
    class_names : list of str or None
        The class of each label index where ``dataset.json`` records it (``musicvideo dataset --labels folders``).

    Raises
    ------
    DatasetError
        The path is missing or neither a zip nor a folder, holds no images, the images are not square, or a
        labels file does not cover every image.

    Examples
    --------
    >>> data = ImageZipDataset("data.zip", xflip=True)        # doctest: +SKIP
    >>> image, label = data[0]; image.shape, image.dtype       # doctest: +SKIP
    (torch.Size([3, 256, 256]), torch.uint8)
    """

    def __init__(self, path: str | Path, *, xflip: bool = False, use_labels: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.xflip = bool(xflip)
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1
        if self.path.is_dir():
            self._is_zip = False
            members = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())
        elif self.path.is_file() and self.path.suffix.lower() == ".zip":
            self._is_zip = True
            try:
                members = sorted(self._archive().namelist())
            except (zipfile.BadZipFile, OSError) as exc:
                raise DatasetError(f"cannot read dataset {self.path}: {exc} (make it again with musicvideo "
                                   "dataset)") from None
        elif not self.path.exists():
            raise DatasetError(f"dataset not found: {self.path} (make one with: musicvideo dataset IMAGES... "
                               "-o data.zip)")
        else:
            raise DatasetError(f"dataset {self.path} is neither a .zip nor a folder (make one with: musicvideo "
                               "dataset IMAGES... -o data.zip)")
        self.names = [m for m in members if os.path.splitext(m)[1].lower() in IMAGE_EXTENSIONS]
        if not self.names:
            raise DatasetError(f"dataset {self.path} holds no images (make one with: musicvideo dataset IMAGES... "
                               "-o data.zip)")
        first = self._load_array(0)
        self._shape = first.shape
        channels, height, width = first.shape
        if height != width:
            raise DatasetError(f"dataset {self.path} has {width}x{height} images; training needs square ones "
                               "(make it with musicvideo dataset, which crops or pads them)")
        self.resolution = int(height)
        self.num_channels = int(channels)
        self._labels, self.class_names = (self._read_labels(members) if use_labels else (None, None))
        if self._labels is None:
            self.c_dim = 0
        elif self._labels.ndim == 1:  # class indices
            self.c_dim = int(self._labels.max()) + 1
        else:
            self.c_dim = int(self._labels.shape[1])

    # -- the Dataset protocol

    def __len__(self) -> int:
        return len(self.names) * (2 if self.xflip else 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.names)
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        index %= len(self)
        raw, flip = index % n, index >= n
        image = self._load_array(raw)
        if image.shape != self._shape:
            raise DatasetError(f"{self.names[raw]} in {self.path} is {image.shape[2]}x{image.shape[1]} with "
                               f"{image.shape[0]} channels, the first image {self._shape[2]}x{self._shape[1]} with "
                               f"{self._shape[0]}; a dataset's images must all match (make it with musicvideo dataset)")
        if flip:
            image = image[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(self.label(raw))

    def label(self, index: int) -> np.ndarray:
        """The float32 label vector ``[c_dim]`` of image ``index`` (an index into :attr:`names`)."""
        if self._labels is None:
            return np.zeros(0, dtype=np.float32)
        value = self._labels[index]
        if self._labels.ndim == 1:
            onehot = np.zeros(self.c_dim, dtype=np.float32)
            onehot[value] = 1.0
            return onehot
        return value.astype(np.float32, copy=True)

    # -- files

    def _archive(self) -> zipfile.ZipFile:
        # one handle per process: a handle inherited over fork shares its file offset with the parent's
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._zip_pid = os.getpid()
        return self._zip

    def _read_bytes(self, name: str) -> bytes:
        if self._is_zip:
            return self._archive().read(name)
        return (self.path / name).read_bytes()

    def _load_array(self, index: int) -> np.ndarray:
        from PIL import Image

        name = self.names[index]
        try:
            with Image.open(io.BytesIO(self._read_bytes(name))) as img:
                array = np.array(img)  # a writable copy: torch.from_numpy shares it
        except (OSError, SyntaxError, ValueError) as exc:
            raise DatasetError(f"cannot decode {name} in {self.path}: {exc} (make the dataset again with "
                               "musicvideo dataset)") from None
        if array.dtype != np.uint8:
            raise DatasetError(f"{name} in {self.path} has {array.dtype} pixels; training reads 8-bit images "
                               "(make the dataset with musicvideo dataset, which converts them)")
        if array.ndim == 2:
            array = array[:, :, None]
        return array.transpose(2, 0, 1)

    def _read_labels(self, members: list[str]) -> tuple[np.ndarray | None, list[str] | None]:
        if LABELS_NAME not in members:
            return None, None
        try:
            meta = json.loads(self._read_bytes(LABELS_NAME))
        except (ValueError, OSError) as exc:
            raise DatasetError(f"{LABELS_NAME} in {self.path} is not valid JSON: {exc} (fix or remove it)") from None
        entries = meta.get("labels") if isinstance(meta, dict) else None
        if entries is None:
            return None, None
        by_name = {str(name).replace("\\", "/"): value for name, value in entries}
        missing = [n for n in self.names if n not in by_name]
        if missing:
            raise DatasetError(f"{LABELS_NAME} in {self.path} has no label for {len(missing)} images (first "
                               f"{missing[0]}); label every image or set \"labels\": null")
        labels = np.array([by_name[n] for n in self.names])
        if labels.ndim == 1:
            labels = labels.astype(np.int64)
            if labels.min() < 0:
                raise DatasetError(f"{LABELS_NAME} in {self.path} has a negative class index (classes count from 0)")
        else:
            labels = labels.reshape(len(self.names), -1).astype(np.float32)
        names = meta.get("class_names")
        return labels, [str(n) for n in names] if isinstance(names, list) else None

    def close(self) -> None:
        """Close the zip (it reopens on the next read)."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __getstate__(self) -> dict:
        # picklable for DataLoader workers started with spawn: they open the zip themselves
        return dict(self.__dict__, _zip=None, _zip_pid=-1)

    def __repr__(self) -> str:
        return (f"ImageZipDataset({str(self.path)!r}: {len(self.names)} images {self.resolution}x{self.resolution}"
                f"x{self.num_channels}, c_dim={self.c_dim}{', xflip' if self.xflip else ''})")

