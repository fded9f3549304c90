"""``musicvideo dataset``: folders of images in, one training zip out (:func:`make_dataset`).

The zip has NVlabs' layout (``stylegan2-ada-pytorch`` / ``stylegan3`` ``dataset_tool.py``), so their trainers read
ours and :class:`~musicvideo.train.dataset.ImageZipDataset` reads theirs: square RGB uint8 images of one
power-of-two size, stored as PNGs without compression (``compress_level=0``) in an uncompressed zip
(``ZIP_STORED``), named ``00000/img00000000.png`` (the first five of the eight index digits are the folder), in
index order, plus ``dataset.json``::

    {"labels": [["00000/img00000000.png", 0], ...]}     # or {"labels": null} without labels

An integer label is a class index. We add ``"class_names"`` (the folder of each class index, from
``--labels folders``); NVlabs' code ignores keys it does not know. Entries carry a fixed time stamp, so the same
images make the same bytes, whatever the number of workers.

Beside ``data.zip`` go ``data_sheet.png`` (thumbnails of a fixed, evenly spread sample) and, when files were
dropped, ``data_dropped.txt`` (each dropped file and why). What happens to each image is described in
:mod:`musicvideo.train.dataset_images`.

This module does not import torch, so the command starts quickly.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import io
import itertools
import json
import math
import os
import signal
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..atomic import OutputTemporary, check_output_path
from ..errors import MusicVideoError
from .dataset_images import BACKGROUNDS, THUMB_SIDE, PreparedImage, RejectedImage, contact_sheet, prepare_image

#: File extensions read as images (lower case; matched case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: The labels file inside a dataset zip or folder.
LABELS_NAME = "dataset.json"
#: Images on the contact sheet (at most), and its thumbnails' side in pixels (at most).
SHEET_IMAGES = 64
SHEET_THUMB = 128
#: Near duplicates (``dedupe="near"``): perceptual hashes at most this many bits apart (of 64) ...
NEAR_HASH_BITS = 6
#: ... and mean colours at most this far apart (Euclidean, 0..255 per channel).
NEAR_MEAN_RGB = 12.0
#: ... and colour thumbnails alike: mean absolute difference at most this, no pixel further apart than the next
#: (0..255). Measured on Debian's openclipart-png (6,900 drawings): hash and mean colour alone paired a ladybird
#: with a button and a street skyline with a wireless access point; real re-saves and re-scales differ by < 2 / < 50.
NEAR_THUMB_MEAN = 2.0
NEAR_THUMB_MAX = 64
#: How many dropped names the one-line summary shows (the rest are in ``*_dropped.txt``).
SUMMARY_NAMES = 3
#: The zip entries' time stamp (the earliest a zip can hold), for byte-identical output.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class DatasetError(MusicVideoError):
    """A dataset that cannot be made or read (no images, all corrupt, a bad size, mixed image sizes)."""


def archive_name(index: int) -> str:
    """The name of image ``index`` inside a dataset zip: ``00012/img00012345.png``, as NVlabs' tool writes it."""
    digits = f"{index:08d}"
    return f"{digits[:5]}/img{digits}.png"


@dataclass(frozen=True)
class SourceImage:
    """One image file found in the sources.

    Attributes
    ----------
    path : Path
    shown : str
        The name reports use: relative to the source folder it was found in, with that folder's name in front.
    class_name : str or None
        Its first-level sub-folder in that source folder (None for a file directly in it, or given as a file).
    """

    path: Path
    shown: str
    class_name: str | None


@dataclass(frozen=True)
class DroppedImage:
    """A source file left out of the dataset.

    Attributes
    ----------
    shown : str
        The file, as :class:`SourceImage` names it.
    kind : {"unreadable", "duplicate", "near-duplicate"}
    reason : str
        One line: the decoder's complaint, or which kept image it repeats.
    """

    shown: str
    kind: str
    reason: str


@dataclass
class DatasetReport:
    """What :func:`make_dataset` made.

    Attributes
    ----------
    output : Path
        The dataset zip.
    sheet : Path
        The contact sheet PNG.
    dropped_list : Path or None
        The list of dropped files with reasons (None when nothing was dropped).
    found : int
        Image files found in the sources.
    count : int
        Images in the dataset.
    size : int
        Their width and height.
    class_names : list of str or None
        The class of each label index (None without labels).
    dropped : list of DroppedImage
        In source order.
    upscaled : int
        Images smaller than the dataset's size, scaled up (they look soft).
    elapsed_s : float
    """

    output: Path
    sheet: Path
    dropped_list: Path | None
    found: int
    count: int
    size: int
    class_names: list[str] | None
    dropped: list[DroppedImage] = field(default_factory=list)
    upscaled: int = 0
    elapsed_s: float = 0.0

    def dropped_counts(self) -> dict[str, int]:
        """How many files were dropped for each kind of reason."""
        return dict(collections.Counter(d.kind for d in self.dropped))

    def summary(self) -> str:
        """A few lines for the terminal: what was written, what was dropped (with the first names), the sheet."""
        k = len(self.class_names or [])
        classes = f", {k} {'class' if k == 1 else 'classes'} ({', '.join(self.class_names)})" if k else ""
        lines = [f"{self.output}: {self.count} images {self.size}x{self.size}{classes} from {self.found} files "
                 f"in {self.elapsed_s:.1f} s"]
        if self.dropped:
            parts = []
            for kind, n in self.dropped_counts().items():
                names = [d.shown for d in self.dropped if d.kind == kind][:SUMMARY_NAMES]
                more = ", ..." if n > len(names) else ""
                parts.append(f"{n} {kind} ({', '.join(names)}{more})")
            lines.append(f"dropped {len(self.dropped)}: {'; '.join(parts)}; all listed in {self.dropped_list}")
        if self.upscaled:
            lines.append(f"note: {self.upscaled} images were smaller than {self.size} px and were scaled up "
                         "(they look soft; a smaller --size keeps them sharp)")
        lines.append(f"{self.sheet}")
        return "\n".join(lines)


# ---------------------------------------------------------------- checks and sources


def check_size(size: int) -> int:
    """``size`` if it is a power of two of at least 4, else a :class:`DatasetError` saying why it must be."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 4 or size & (size - 1):
        nearest = 2 ** max(2, round(math.log2(size))) if isinstance(size, (int, float)) and size > 0 else 256
        raise DatasetError(f"--size {size} is not a power of two of at least 4: StyleGAN doubles the resolution "
                           f"from 4x4 block by block (use --size {nearest})")
    return int(size)


def sidecar_paths(output: Path) -> tuple[Path, Path]:
    """The contact sheet and the dropped list beside a dataset zip: ``data_sheet.png``, ``data_dropped.txt``."""
    return output.with_name(f"{output.stem}_sheet.png"), output.with_name(f"{output.stem}_dropped.txt")


def find_images(sources: Sequence[str | Path], *, exclude: Iterable[str | Path] = ()) -> list[SourceImage]:
    """The image files in ``sources``, in a fixed order.

    A folder is searched recursively (hidden files and folders, whose names start with ``.``, are skipped, as
    are symbolic links to folders); its images come in sorted order of their paths inside it. A file is taken as
    given, whatever its extension. Sources come in the order given; a file reached twice is taken once.

    Parameters
    ----------
    sources : sequence of str or Path
    exclude : iterable of str or Path
        Files to leave out: the tool's own outputs (a contact sheet made in the folder it reads from must not
        become a training image when the command is run again).

    Returns
    -------
    list of SourceImage

    Raises
    ------
    DatasetError
        A source does not exist.
    """
    found: list[SourceImage] = []
    seen: set[Path] = {Path(p).expanduser().resolve() for p in exclude}
    for source in sources:
        root = Path(source).expanduser()
        if root.is_file():
            candidates = [(root, root.name, None)]
        elif root.is_dir():
            candidates = []
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                        continue
                    relative = Path(folder, name).relative_to(root)
                    candidates.append((Path(folder, name), relative.as_posix(),
                                       relative.parts[0] if len(relative.parts) > 1 else None))
            candidates.sort(key=lambda c: c[1])
        else:
            raise DatasetError(f"image source not found: {root} (give folders or image files)")
        for path, relative, class_name in candidates:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            shown = relative if root.is_file() else f"{root.name or root}/{relative}"
            found.append(SourceImage(path=path, shown=shown, class_name=class_name))
    return found


# ---------------------------------------------------------------- making


def make_dataset(sources: Sequence[str | Path], output: str | Path, *, size: int = 256, pad: bool = False,
                 background: str = "white", labels: str | None = None, dedupe: str = "exact",
                 overwrite: bool = False, workers: int | None = None, progress: bool = True) -> DatasetReport:
    """Make a training dataset zip (NVlabs' layout) from folders and files of images.

    Each image is oriented by its EXIF tag, made 8-bit RGB (transparency on ``background``), cropped to its centre
    square (or padded, ``pad``) and resized with Lanczos to ``size``; unreadable files and duplicates are dropped
    and reported. The zip, its contact sheet and the dropped list appear together when all is done, or not at all.

    Parameters
    ----------
    sources : sequence of str or Path
        Folders (searched recursively for .jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff) and image files.
    output : str or Path
        The ``.zip`` to write.
    size : int
        Width and height of every image: a power of two, at least 4.
    pad : bool
        Keep whole images, padded to a square with ``background``, instead of cropping their centres.
    background : {"white", "black"}
        What shows through transparency and fills the padding.
    labels : {None, "folders"}
        ``"folders"``: each source folder's first-level sub-folders are the classes (sorted names -> 0..K-1).
    dedupe : {"exact", "near"}
        Drop images whose pixels (after resizing) repeat an earlier one's; ``"near"`` also drops those that look
        the same (perceptual hash within :data:`NEAR_HASH_BITS` bits and mean colour within
        :data:`NEAR_MEAN_RGB`). The first in source order is kept.
    overwrite : bool
        Replace an existing zip (and its sheet and dropped list).
    workers : int, optional
        Processes that decode and resize (default: the CPU cores, at most 8). The output is the same for any
        number.
    progress : bool
        Show a progress bar (on a terminal).

    Returns
    -------
    DatasetReport

    Raises
    ------
    DatasetError
        A bad size, label mode or dedupe mode; an output that is not a ``.zip``; no images in the sources; no
        readable image; an image outside a class folder with ``labels="folders"``.
    OutputError
        An output exists without ``overwrite``, or its folder cannot be written.

    Examples
    --------
    >>> report = make_dataset(["covers/"], "covers.zip", size=256)      # doctest: +SKIP
    >>> print(report.summary())                                         # doctest: +SKIP
    """
    started = time.perf_counter()
    size = check_size(size)
    if background not in BACKGROUNDS:
        raise DatasetError(f"unknown background {background!r} (use one of: {', '.join(BACKGROUNDS)})")
    if labels not in (None, "folders"):
        raise DatasetError(f"unknown label source {labels!r} (use --labels folders, or leave it out)")
    if dedupe not in ("exact", "near"):
        raise DatasetError(f"unknown duplicate mode {dedupe!r} (use exact or near)")
    output = Path(output).expanduser()
    if output.suffix.lower() != ".zip":
        raise DatasetError(f"output {output} must be a .zip, the format training reads (for example "
                           f"{output.with_suffix('.zip').name})")
    sheet_path, dropped_path = sidecar_paths(output)
    for target in (output, sheet_path, dropped_path):
        check_output_path(target, overwrite=overwrite)
    if not sources:
        raise DatasetError("no image sources given (name folders or image files)")
    found = find_images(sources, exclude=(output, sheet_path, dropped_path))
    if not found:
        raise DatasetError(f"no images in {', '.join(map(str, sources))} (looked recursively for "
                           f"{' '.join(IMAGE_EXTENSIONS)})")
    if labels == "folders":
        _check_class_folders(found)

    prepare = functools.partial(prepare_image, size=size, pad=pad, background=background)
    with _outputs_together([output, sheet_path, dropped_path]) as (zip_tmp, sheet_tmp, dropped_tmp):
        kept, dropped, upscaled, class_names = _write_zip(zip_tmp, found, prepare, labels=labels == "folders",
                                                          size=size, pad=pad, near=dedupe == "near",
                                                          workers=workers, progress=progress)
        _write_sheet(zip_tmp, sheet_tmp, kept, size)
        if dropped:
            dropped_tmp.write_text("".join(f"{d.kind}\t{d.shown}\t{d.reason}\n" for d in dropped))
        else:
            dropped_tmp.unlink()  # no list; an old one beside the zip goes (it described another run)
    return DatasetReport(output=output, sheet=sheet_path, dropped_list=dropped_path if dropped else None,
                         found=len(found), count=kept, size=size,
                         class_names=class_names,
                         dropped=dropped, upscaled=upscaled, elapsed_s=time.perf_counter() - started)


def _check_class_folders(found: list[SourceImage]) -> None:
    outside = [s.shown for s in found if s.class_name is None]
    if outside:
        raise DatasetError(f"--labels folders needs every image in a class sub-folder, but {len(outside)} are not "
                           f"(first: {outside[0]}); move them into one, or leave out --labels")


def _write_zip(path: Path, found: list[SourceImage], prepare: Callable, *, labels: bool, size: int, pad: bool,
               near: bool, workers: int | None, progress: bool
               ) -> tuple[int, list[DroppedImage], int, list[str] | None]:
    """Prepare every image and store the kept ones; returns (kept, dropped, upscaled, class names)."""
    from tqdm import tqdm

    digests: dict[str, str] = {}  # pixel hash -> the kept image it came from
    hashes = np.zeros(len(found), dtype=np.uint64)
    means = np.zeros((len(found), 3), dtype=np.float64)
    thumbs = np.zeros((len(found), 3 * THUMB_SIDE**2), dtype=np.uint8)
    kept_shown: list[str] = []
    dropped: list[DroppedImage] = []
    kept_classes: list[str | None] = []
    upscaled = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive, \
            tqdm(total=len(found), unit="img", desc="dataset", disable=None if progress else True) as bar:
        for source, result in zip(found, _ordered_map(prepare, [str(s.path) for s in found], workers)):
            bar.update(1)
            if isinstance(result, RejectedImage):
                dropped.append(DroppedImage(source.shown, "unreadable", result.reason))
                continue
            assert isinstance(result, PreparedImage)
            if result.digest in digests:
                dropped.append(DroppedImage(source.shown, "duplicate", f"same pixels as {digests[result.digest]}"))
                continue
            n = len(kept_shown)
            if near and n:
                match = _near_match(result, hashes[:n], means[:n], thumbs[:n])
                if match is not None:
                    dropped.append(DroppedImage(source.shown, "near-duplicate", f"looks like {kept_shown[match]}"))
                    continue
            digests[result.digest] = source.shown
            hashes[n], means[n] = result.phash, result.mean_rgb
            thumbs[n] = np.frombuffer(result.thumb, dtype=np.uint8)
            kept_shown.append(source.shown)
            short = max(result.source_size) if pad else min(result.source_size)
            upscaled += short < size
            name = archive_name(n)
            archive.writestr(_zip_entry(name), result.png)
            kept_classes.append(source.class_name)
        if not kept_shown:
            first = dropped[0]
            raise DatasetError(f"none of the {len(found)} images could be read (first: {first.shown}: "
                               f"{first.reason}); check that they are image files")
        # classes counted from the kept images: one whose every image was dropped gets no index (NVlabs' reader
        # takes the label dimension from the largest index)
        class_names = sorted(set(kept_classes)) if labels else None
        meta = {"labels": None}
        if class_names is not None:
            index = {name: i for i, name in enumerate(class_names)}
            meta = {"labels": [[archive_name(i), index[c]] for i, c in enumerate(kept_classes)],
                    "class_names": class_names}
        archive.writestr(_zip_entry(LABELS_NAME), json.dumps(meta))
    return len(kept_shown), dropped, upscaled, class_names


def _near_match(image: PreparedImage, hashes: np.ndarray, means: np.ndarray, thumbs: np.ndarray) -> int | None:
    """The first kept image within the near-duplicate thresholds of ``image`` (hash, mean colour, thumbnail), or
    None."""
    candidates = np.flatnonzero(_popcount(np.bitwise_xor(hashes, np.uint64(image.phash))) <= NEAR_HASH_BITS)
    if not candidates.size:  # the usual case: the colour test only runs on the few that look alike
        return None
    colour = np.linalg.norm(means[candidates] - np.asarray(image.mean_rgb), axis=1)
    hits = candidates[colour <= NEAR_MEAN_RGB]
    if not hits.size:
        return None
    diff = np.abs(thumbs[hits].astype(np.int16) - np.frombuffer(image.thumb, dtype=np.uint8).astype(np.int16))
    alike = hits[(diff.mean(axis=1) <= NEAR_THUMB_MEAN) & (diff.max(axis=1) <= NEAR_THUMB_MAX)]
    return int(alike[0]) if alike.size else None


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(values)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[values.view(np.uint8).reshape(-1, 8)].sum(axis=1)


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_sheet(zip_path: Path, sheet_path: Path, count: int, size: int) -> None:
    """A contact sheet of up to :data:`SHEET_IMAGES` images spread evenly over the dataset, read back from it."""
    from PIL import Image

    picks = sorted(set(np.linspace(0, count - 1, min(count, SHEET_IMAGES)).round().astype(int).tolist()))
    with zipfile.ZipFile(zip_path) as archive:
        images = [Image.open(io.BytesIO(archive.read(archive_name(i)))).convert("RGB") for i in picks]
    columns = math.ceil(math.sqrt(len(images)))
    contact_sheet(images, columns=columns, thumb=min(size, SHEET_THUMB)).save(sheet_path, format="png")


@contextlib.contextmanager
def _outputs_together(targets: list[Path]) -> Iterator[list[Path]]:
    """Temporaries beside ``targets`` (see :mod:`musicvideo.atomic`), all renamed into place when the block
    succeeds, all deleted when it fails (Ctrl-C and SIGTERM included). A temporary the block deleted means "no such
    output": an existing target of that name is removed (it would describe another run)."""
    temporaries: list[OutputTemporary] = []
    try:
        for target in targets:
            temporaries.append(OutputTemporary(target))
        yield [t.path for t in temporaries]
        for temporary, target in zip(temporaries, targets):
            if temporary.path.exists():
                temporary.commit(target)
            else:
                temporary.release()
                target.unlink(missing_ok=True)
    except BaseException:
        for temporary in temporaries:
            temporary.discard()
        raise


# ---------------------------------------------------------------- workers


def default_workers() -> int:
    """The CPU cores this process may use, at most 8 (more rarely helps: the zip is written by one process)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool, the workers need not print tracebacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ordered_map(fn: Callable, items: Iterable, workers: int | None) -> Iterator:
    """``map(fn, items)`` on a process pool, results in input order, at most a few per worker in flight (memory
    stays flat for any number of images). Serial for one worker or a handful of items."""
    items = list(items)
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers == 1 or len(items) < 4 * workers:
        yield from map(fn, items)
        return
    pool = concurrent.futures.ProcessPoolExecutor(workers, initializer=_ignore_interrupts)
    try:
        pending = collections.deque()
        queue = iter(items)
        for item in itertools.islice(queue, 4 * workers):
            pending.append(pool.submit(fn, item))
        while pending:
            result = pending.popleft().result()
            for item in itertools.islice(queue, 1):
                pending.append(pool.submit(fn, item))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
