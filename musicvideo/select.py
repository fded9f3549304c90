"""Pick seeds whose images have given traits: dominant colour, brightness, colourfulness, faces, a reference look.

The generator renders one small thumbnail per candidate seed (in batches); each thumbnail is measured in CIELAB,
a perceptual colour space, and kept when every requested trait matches:

- **dominant hue**: the peak of a chroma-weighted circular histogram of the CIELAB hue angle (LCh ``h``, degrees).
  A near-grey image (mean chroma below :data:`GREY_CHROMA`) has no dominant hue and matches no colour.
- **colour names** map to LCh hue ranges (degrees; measured from sRGB primaries and common colours)::

      pink 335-20   red 20-50    orange 50-80   yellow 80-115
      green 115-165 cyan 165-230 blue 230-308   purple 308-335

- **brightness**: mean ``L*`` / 100, so 0 is black and 1 is white.
- **saturation** (colourfulness): the Hasler-Suesstrunk colourfulness metric divided by 110 and clipped to 0..1
  (about 0.3 "moderately", 0.55 "quite", 0.75 "highly" colourful in their scale).
- **faces**: OpenCV's bundled Haar frontal-face cascade (``cv2.data.haarcascades``; nothing is downloaded).
- **like**: similarity of the thumbnail's a*/b* colour histogram to a reference image's (histogram intersection,
  0..1); matches are ranked by it.

Seeds become latents exactly as the render's keyframes do (``musicvideo.motion.keyframes.z_from_seed``), and the
thumbnails use the walk's default truncation, so a seed chosen here shows the same image as its keyframe in
``musicvideo render --seeds seeds.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .atomic import atomic_output, check_output_path
from .errors import ConfigError, MusicVideoError, require_file
from .malloc import keep_freed_memory

#: LCh hue ranges in degrees for colour names; a range whose start is above its end wraps through 0.
COLOR_HUES: dict[str, tuple[float, float]] = {
    "pink": (335.0, 20.0),
    "red": (20.0, 50.0),
    "orange": (50.0, 80.0),
    "yellow": (80.0, 115.0),
    "green": (115.0, 165.0),
    "cyan": (165.0, 230.0),
    "blue": (230.0, 308.0),
    "purple": (308.0, 335.0),
}

#: Mean chroma (C*ab) below which an image counts as grey: no dominant hue.
GREY_CHROMA = 8.0

_HUE_BINS = 36  # 10-degree bins for the dominant-hue histogram
_AB_BINS = 16  # per axis, for the --like colour histogram


@dataclass
class Traits:
    """What a selected image should look like; ``None`` means "any".

    Attributes
    ----------
    color : str, optional
        A colour name from :data:`COLOR_HUES` (``"yellow"``).
    hue : list of two floats, optional
        Dominant-hue range in LCh degrees ``[start, end]``; wraps through 0 when start > end. Overrides ``color``.
    brightness : list of two floats, optional
        Range of mean L*/100 (0 black .. 1 white).
    saturation : list of two floats, optional
        Range of colourfulness (0 grey .. 1 extremely colourful).
    faces : bool, optional
        True keeps only images with a detected face, False rejects them.
    like : str, optional
        Reference image path; matches are ranked by colour similarity to it.
    min_similarity : float
        Candidates less similar than this to ``like`` are rejected (0 keeps all and only ranks).
    """

    color: str | None = None
    hue: list[float] | None = None
    brightness: list[float] | None = None
    saturation: list[float] | None = None
    faces: bool | None = None
    like: str | None = None
    min_similarity: float = 0.0

    def __post_init__(self) -> None:
        if self.color is not None and self.color.lower() not in COLOR_HUES:
            raise ConfigError(f"unknown colour {self.color!r} (use one of {', '.join(COLOR_HUES)} or a hue range)")
        if self.color is not None:
            self.color = self.color.lower()
        for name, bounds in (("hue", (0.0, 360.0)), ("brightness", (0.0, 1.0)), ("saturation", (0.0, 1.0))):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) != 2 or not all(bounds[0] <= float(v) <= bounds[1] for v in value):
                raise ConfigError(f"{name} must be a range of two numbers within {bounds[0]:g}..{bounds[1]:g}, "
                                  f"got {value!r}")
            if name != "hue" and value[0] > value[1]:
                raise ConfigError(f"{name} range {value[0]:g}-{value[1]:g} is empty (write low-high)")
            setattr(self, name, [float(v) for v in value])
        if not 0.0 <= self.min_similarity <= 1.0:
            raise ConfigError(f"min_similarity must be within 0..1, got {self.min_similarity}")

    def hue_range(self) -> tuple[float, float] | None:
        """The requested dominant-hue range in degrees (from ``hue`` or ``color``), or None."""
        if self.hue is not None:
            return (self.hue[0], self.hue[1])
        if self.color is not None:
            return COLOR_HUES[self.color]
        return None

    def describe(self) -> str:
        """A short human-readable summary (``"yellow, no faces"``)."""
        parts = []
        if self.hue is not None:
            parts.append(f"hue {self.hue[0]:g}-{self.hue[1]:g} deg")
        elif self.color:
            parts.append(self.color)
        if self.brightness is not None:
            parts.append(f"brightness {self.brightness[0]:g}-{self.brightness[1]:g}")
        if self.saturation is not None:
            parts.append(f"saturation {self.saturation[0]:g}-{self.saturation[1]:g}")
        if self.faces is not None:
            parts.append("faces" if self.faces else "no faces")
        if self.like:
            parts.append(f"like {Path(self.like).name}")
        return ", ".join(parts) or "any"


@dataclass
class Measurement:
    """What one thumbnail looks like.

    Attributes
    ----------
    seed : int
        The seed it was rendered from.
    hue_deg : float or None
        Dominant LCh hue in degrees; None for a near-grey image.
    color : str or None
        The colour name whose range holds ``hue_deg``.
    brightness : float
        Mean L*/100.
    saturation : float
        Normalised Hasler-Suesstrunk colourfulness, 0..1.
    chroma : float
        Mean CIELAB chroma C*ab.
    faces : int or None
        Number of faces found (None when face detection was not asked for).
    similarity : float or None
        Colour-histogram intersection with the reference image (None without ``like``).
    matched : bool
        Whether every requested trait matched.
    """

    seed: int
    hue_deg: float | None
    color: str | None
    brightness: float
    saturation: float
    chroma: float
    faces: int | None = None
    similarity: float | None = None
    matched: bool = False

    def label(self) -> str:
        """Two short lines for the contact sheet."""
        hue = "grey" if self.hue_deg is None else f"{self.color} {self.hue_deg:.0f}\u00b0"
        extra = ""
        if self.faces is not None:
            extra += f" f{self.faces}"
        if self.similarity is not None:
            extra += f" ~{self.similarity:.2f}"
        return f"seed {self.seed}\n{hue} L{self.brightness:.2f} S{self.saturation:.2f}{extra}"


@dataclass
class Selection:
    """The result of :func:`select_seeds`.

    Attributes
    ----------
    seeds : list of int
        The chosen seeds, best first (by similarity with ``like``, else in seed order).
    measurements : list of Measurement
        One per chosen seed, in the same order.
    thumbnails : list of ndarray
        uint8 RGB ``[H, W, 3]`` thumbnails of the chosen seeds, same order.
    traits : Traits
        What was asked for.
    tried : int
        How many candidate seeds were rendered.
    wanted : int
        How many seeds were asked for.
    """

    seeds: list[int]
    measurements: list[Measurement]
    thumbnails: list[np.ndarray]
    traits: Traits
    tried: int
    wanted: int

    @property
    def complete(self) -> bool:
        """Whether as many seeds matched as were asked for."""
        return len(self.seeds) >= self.wanted


# ---------------------------------------------------------------- measurements


def _lab(image: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 CIELAB (L 0..100, a/b about -128..127), D65 sRGB."""
    import cv2

    rgb = np.ascontiguousarray(image[..., :3], dtype=np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def hue_in_range(hue_deg: float, hue_range: Sequence[float]) -> bool:
    """Whether ``hue_deg`` lies in ``[start, end]`` degrees; a range with start > end wraps through 0."""
    start, end = float(hue_range[0]) % 360.0, float(hue_range[1]) % 360.0
    h = hue_deg % 360.0
    if float(hue_range[1]) - float(hue_range[0]) >= 360.0:
        return True
    return start <= h <= end if start <= end else (h >= start or h <= end)


def color_name(hue_deg: float | None) -> str | None:
    """The name from :data:`COLOR_HUES` whose range holds ``hue_deg`` (None for None)."""
    if hue_deg is None:
        return None
    for name, bounds in COLOR_HUES.items():
        if hue_in_range(hue_deg, bounds):
            return name
    return None  # pragma: no cover - the ranges cover the circle


def dominant_hue(image: np.ndarray) -> float | None:
    """Dominant CIELAB hue of an RGB image in degrees, or None when it is near grey.

    The peak of a chroma-weighted circular hue histogram (lightly smoothed across neighbouring bins), refined to the
    chroma-weighted circular mean of the hues within one bin of the peak.

    Parameters
    ----------
    image : ndarray
        uint8 RGB ``[H, W, 3]``.

    Returns
    -------
    float or None
        Hue angle in ``[0, 360)``.
    """
    lab = _lab(image).reshape(-1, 3)
    a, b = lab[:, 1].astype(np.float64), lab[:, 2].astype(np.float64)
    chroma = np.hypot(a, b)
    if chroma.mean() < GREY_CHROMA:
        return None
    hue = np.degrees(np.arctan2(b, a)) % 360.0
    width = 360.0 / _HUE_BINS
    hist = np.bincount((hue // width).astype(int) % _HUE_BINS, weights=chroma, minlength=_HUE_BINS)
    smooth = hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))
    peak = (int(np.argmax(smooth)) + 0.5) * width
    near = np.abs((hue - peak + 180.0) % 360.0 - 180.0) <= 1.5 * width
    w = chroma[near]
    angle = np.arctan2((w * np.sin(np.radians(hue[near]))).sum(), (w * np.cos(np.radians(hue[near]))).sum())
    return float(np.degrees(angle) % 360.0)


def brightness(image: np.ndarray) -> float:
    """Mean CIELAB lightness L* of an RGB image divided by 100 (0 black .. 1 white)."""
    return float(_lab(image)[..., 0].mean() / 100.0)


def colourfulness(image: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image, divided by 110 and clipped to 0..1.

    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)`` with ``rg = R - G`` and
    ``yb = (R + G) / 2 - B`` on 0..255 values (Hasler & Suesstrunk 2003); 110 is their "extremely colourful".
    """
    rgb = image[..., :3].astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    m = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    return float(min(m / 110.0, 1.0))


def ab_histogram(image: np.ndarray) -> np.ndarray:
    """Normalised, lightly smoothed 2-D histogram of CIELAB a*/b* (``_AB_BINS`` x ``_AB_BINS`` over -128..128)."""
    import cv2

    lab = _lab(image).reshape(-1, 3)
    hist, _, _ = np.histogram2d(lab[:, 1], lab[:, 2], bins=_AB_BINS, range=[[-128, 128], [-128, 128]])
    # spread each count over neighbouring bins so near-identical colours either side of a bin edge still overlap
    hist = cv2.GaussianBlur(hist.astype(np.float32), (7, 7), 1.5, borderType=cv2.BORDER_CONSTANT).astype(np.float64)
    return hist / max(hist.sum(), 1e-12)


def colour_similarity(hist_a: np.ndarray, hist_b: np.ndarray) -> float:
    """Histogram intersection of two normalised colour histograms: 1 for identical colour distributions, 0 disjoint."""
    return float(np.minimum(hist_a, hist_b).sum())


class FaceDetector:
    """OpenCV's bundled Haar frontal-face cascade; nothing is downloaded.

    Raises
    ------
    MusicVideoError
        When the installed OpenCV has no Haar cascades (OpenCV 5 moved them out of the main package).
    """

    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self) -> None:
        import cv2

        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        path = Path(folder or "") / self.CASCADE
        if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
            raise MusicVideoError(
                f"face detection needs OpenCV's bundled Haar cascades, which this OpenCV {cv2.__version__} lacks "
                "(pip install 'opencv-python-headless>=4.8,<5', or drop --faces/--no-faces)")
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():  # pragma: no cover - a damaged install
            raise MusicVideoError(f"cannot load the Haar cascade {path} (reinstall opencv-python-headless)")

    def count(self, image: np.ndarray) -> int:
        """Number of frontal faces in a uint8 RGB image (faces of at least a fifth of the shorter side)."""
        import cv2

        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY))
        side = max(20, min(gray.shape) // 5)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(side, side))
        return int(len(found))


def face_detection_available() -> bool:
    """Whether :class:`FaceDetector` can be built with the installed OpenCV."""
    try:
        FaceDetector()
    except MusicVideoError:
        return False
    return True


def measure(image: np.ndarray, seed: int = -1, *, faces: FaceDetector | None = None,
            reference: np.ndarray | None = None) -> Measurement:
    """Measure one uint8 RGB image (see the module docstring for each measure).

    Parameters
    ----------
    image : ndarray
        uint8 RGB ``[H, W, 3]``.
    seed : int
        Recorded in the result.
    faces : FaceDetector, optional
        Count faces with it (else ``faces`` is None).
    reference : ndarray, optional
        a*/b* histogram of a reference image (:func:`ab_histogram`); fills ``similarity``.
    """
    lab = _lab(image)
    chroma = float(np.hypot(lab[..., 1], lab[..., 2]).mean())
    hue = dominant_hue(image)
    return Measurement(
        seed=int(seed), hue_deg=hue, color=color_name(hue), brightness=float(lab[..., 0].mean() / 100.0),
        saturation=colourfulness(image), chroma=chroma,
        faces=None if faces is None else faces.count(image),
        similarity=None if reference is None else colour_similarity(ab_histogram(image), reference),
    )


def matches(m: Measurement, traits: Traits) -> bool:
    """Whether measurement ``m`` satisfies every trait that is set."""
    hue_range = traits.hue_range()
    if hue_range is not None and (m.hue_deg is None or not hue_in_range(m.hue_deg, hue_range)):
        return False
    if traits.brightness is not None and not traits.brightness[0] <= m.brightness <= traits.brightness[1]:
        return False
    if traits.saturation is not None and not traits.saturation[0] <= m.saturation <= traits.saturation[1]:
        return False
    if traits.faces is not None and m.faces is not None and (m.faces > 0) != traits.faces:
        return False
    if traits.like and m.similarity is not None and m.similarity < traits.min_similarity:
        return False
    return True


# ---------------------------------------------------------------- rendering thumbnails


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The latent of a seed, exactly as the render's keyframes draw it (:func:`musicvideo.motion.keyframes.z_from_seed`)."""
    from .motion.keyframes import z_from_seed

    return z_from_seed(int(seed), z_dim)[0].numpy()


def render_thumbnails(generator: Any, seeds: Sequence[int], *, thumb_size: int = 128, truncation_psi: float = 1.0,
                      device: str = "cpu") -> np.ndarray:
    """Render one uint8 RGB thumbnail per seed with ``generator`` (mapping then synthesis, constant noise).

    Parameters
    ----------
    generator : Generator
        Anything with ``z_dim``, ``c_dim``, ``mapping(z, c, truncation_psi=)`` and ``synthesis(ws, noise_mode=)``.
    seeds : sequence of int
        One image per seed.
    thumb_size : int
        Square thumbnail size in pixels (area-averaged down from the generator's resolution).
    truncation_psi : float
        Truncation of the mapping (1 = none).
    device : str
        Torch device the generator is on.

    Returns
    -------
    ndarray
        uint8 ``[len(seeds), thumb_size, thumb_size, 3]``.
    """
    import torch
    import torch.nn.functional as F

    z = torch.from_numpy(np.stack([seed_to_z(s, generator.z_dim) for s in seeds])).to(device)
    c = None
    if getattr(generator, "c_dim", 0):
        c = torch.zeros(len(seeds), generator.c_dim, device=device)
    with torch.no_grad():
        ws = generator.mapping(z, c, truncation_psi=truncation_psi)
        images = generator.synthesis(ws, noise_mode="const").float()
        if images.shape[-1] != thumb_size or images.shape[-2] != thumb_size:
            images = F.interpolate(images, size=(thumb_size, thumb_size), mode="area" if
                                   images.shape[-1] > thumb_size else "bilinear")
        images = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return images.permute(0, 2, 3, 1).cpu().numpy()


def select_seeds(generator: Any, traits: Traits, *, count: int = 8, candidates: int = 256, first_seed: int = 0,
                 thumb_size: int = 128, device: str = "cpu", batch_size: int = 16,
                 truncation_psi: float | None = None) -> Selection:
    """Try seeds ``first_seed, first_seed + 1, ...`` and keep those whose thumbnails have ``traits``.

    Without ``traits.like`` it stops as soon as ``count`` seeds matched; with it, it measures every candidate and
    keeps the ``count`` most similar matches.

    Parameters
    ----------
    generator : Generator
        The model (see :func:`render_thumbnails`), already on ``device``.
    traits : Traits
        What to keep.
    count : int
        How many seeds to keep.
    candidates : int
        How many seeds to try at most.
    first_seed : int
        The first seed tried.
    thumb_size : int
        Thumbnail size in pixels used for the measurements and the contact sheet.
    device : str
        Torch device of the generator.
    batch_size : int
        Thumbnails rendered per generator call.
    truncation_psi : float, optional
        Truncation used for the thumbnails; default: the walk's (``WalkConfig.truncation_psi``).

    Returns
    -------
    Selection
        Possibly fewer seeds than ``count`` (see ``Selection.complete``).
    """
    _check_numbers(count, candidates, thumb_size)
    if truncation_psi is None:
        from .motion.walk import WalkConfig

        truncation_psi = WalkConfig().truncation_psi
    detector = FaceDetector() if traits.faces is not None else None
    reference = None
    if traits.like:
        reference = ab_histogram(load_image(traits.like))
    kept: list[tuple[Measurement, np.ndarray]] = []
    tried = 0
    with keep_freed_memory(str(device).startswith("cpu")):  # see musicvideo.malloc: no page faults per batch
        for start in range(first_seed, first_seed + candidates, batch_size):
            seeds = list(range(start, min(start + batch_size, first_seed + candidates)))
            thumbs = render_thumbnails(generator, seeds, thumb_size=thumb_size, truncation_psi=truncation_psi,
                                       device=device)
            tried += len(seeds)
            for seed, thumb in zip(seeds, thumbs):
                m = measure(thumb, seed, faces=detector, reference=reference)
                m.matched = matches(m, traits)
                if m.matched:
                    kept.append((m, thumb))
            if reference is None and len(kept) >= count:
                break
    if reference is not None:
        kept.sort(key=lambda item: (-(item[0].similarity or 0.0), item[0].seed))
    kept = kept[:count]
    return Selection(seeds=[m.seed for m, _ in kept], measurements=[m for m, _ in kept],
                     thumbnails=[t for _, t in kept], traits=traits, tried=tried, wanted=count)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (for ``like``); raises ConfigError when it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    p = require_file(path, "reference image", ConfigError)
    try:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"reference image {p} cannot be read as an image ({exc}); give a PNG or JPEG") from None


# ---------------------------------------------------------------- outputs


def selection_json(selection: Selection, checkpoint: str | None) -> dict:
    """The seeds.json document: ``{"seeds": [...], "checkpoint": ..., "traits": ..., "scores": [...]}``."""
    return {
        "seeds": list(selection.seeds),
        "checkpoint": checkpoint,
        "traits": dataclasses.asdict(selection.traits),
        "scores": [dataclasses.asdict(m) for m in selection.measurements],
        "tried": selection.tried,
        "wanted": selection.wanted,
    }


def write_seeds_json(selection: Selection, path: str | Path, *, checkpoint: str | None = None,
                     overwrite: bool = False) -> Path:
    """Write seeds.json atomically; returns its path."""
    text = json.dumps(selection_json(selection, checkpoint), indent=2) + "\n"
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def contact_sheet(selection: Selection, *, columns: int | None = None) -> "Any":
    """A Pillow image: the thumbnails in a grid, each with its seed and measurements written under it."""
    from PIL import Image, ImageDraw, ImageFont

    n = max(len(selection.thumbnails), 1)
    columns = columns or min(n, 8)
    rows = math.ceil(n / columns)
    size = selection.thumbnails[0].shape[0] if selection.thumbnails else 128
    label_h, pad = 30, 6
    cell_w = max(size, 150)
    sheet = Image.new("RGB", (columns * (cell_w + pad) + pad, rows * (size + label_h + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (thumb, m) in enumerate(zip(selection.thumbnails, selection.measurements)):
        x = pad + (i % columns) * (cell_w + pad)
        y = pad + (i // columns) * (size + label_h + pad)
        sheet.paste(Image.fromarray(thumb), (x + (cell_w - size) // 2, y))
        draw.multiline_text((x, y + size + 2), m.label(), fill=(230, 230, 230), font=font, spacing=2)
    return sheet


def write_contact_sheet(selection: Selection, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the labelled contact sheet PNG atomically; returns its path."""
    sheet = contact_sheet(selection)
    with atomic_output(path, overwrite=overwrite) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)


@dataclass
class SelectResult:
    """What :func:`select_to_files` wrote."""

    selection: Selection
    seeds_path: Path
    sheet_path: Path
    warning: str | None = None
    exit_code: int = 0


def _check_numbers(count: int, candidates: int, thumb_size: int, first_seed: int = 0) -> None:
    """Range checks that name the flag the user typed (the same message from the API as from the CLI)."""
    for flag, value in (("--count", count), ("--candidates", candidates)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if not 16 <= thumb_size <= 1024:
        raise ConfigError(f"--thumb-size must be 16..1024 pixels, got {thumb_size}")
    if not 0 <= first_seed < 2**32:
        raise ConfigError(f"--first-seed must be 0..4294967295, got {first_seed}")


def select_to_files(output: str | Path, traits: Traits, *, checkpoint: str | Path | None = None,
                    sheet: str | Path | None = None, count: int = 8, candidates: int = 256, first_seed: int = 0,
                    thumb_size: int = 128, device: str = "auto", truncation_psi: float | None = None,
                    overwrite: bool = False, generator: Any = None) -> SelectResult:
    """Select seeds with ``traits`` from a checkpoint and write seeds.json and a contact sheet.

    Too few matches: the matches found are written, a warning is printed to stderr and the result's
    ``exit_code`` is 1 (the CLI exits with it). No match at all: a MusicVideoError, nothing written.

    Parameters
    ----------
    output : str or Path
        seeds.json to write.
    traits : Traits
        What to keep.
    checkpoint : str or Path, optional
        Generator checkpoint; None = the embedded default.
    sheet : str or Path, optional
        Contact sheet PNG; default: ``output`` with ``.png``.
    count, candidates, first_seed, thumb_size, truncation_psi
        See :func:`select_seeds`.
    device : str
        ``auto``, ``cpu``, ``cuda``, ...
    overwrite : bool
        Replace existing outputs.
    generator : Generator, optional
        Use this model instead of loading ``checkpoint``.
    """
    _check_numbers(count, candidates, thumb_size, first_seed)  # before the model is loaded
    seeds_path = check_output_path(output, overwrite=overwrite)
    sheet_path = check_output_path(sheet if sheet is not None else seeds_path.with_suffix(".png"),
                                   overwrite=overwrite)
    if traits.like:
        load_image(traits.like)  # fail before any rendering
    if traits.faces is not None:
        FaceDetector()
    from .render import resolve_device

    dev = str(resolve_device(device))
    if generator is None:
        from .generator import load_generator

        generator = load_generator(None if checkpoint is None else str(checkpoint), device=dev)
    selection = select_seeds(generator, traits, count=count, candidates=candidates, first_seed=first_seed,
                             thumb_size=thumb_size, device=dev, truncation_psi=truncation_psi)
    if not selection.seeds:
        raise MusicVideoError(f"none of {selection.tried} candidate seeds matched ({traits.describe()}); "
                              "try more --candidates or looser traits")
    write_seeds_json(selection, seeds_path, checkpoint=None if checkpoint is None else str(checkpoint),
                     overwrite=overwrite)
    write_contact_sheet(selection, sheet_path, overwrite=overwrite)
    warning = None
    if not selection.complete:
        warning = (f"only {len(selection.seeds)} of {count} wanted seeds matched ({traits.describe()}) among "
                   f"{selection.tried} candidates; wrote those (try more --candidates or looser traits)")
        print(f"musicvideo: warning: {warning}", file=sys.stderr)
    return SelectResult(selection, seeds_path, sheet_path, warning, 1 if warning else 0)


def parse_range(text: str | None, what: str) -> list[float] | None:
    """Parse ``"0.6-1"`` / ``"0.6,1"`` / ``"0.6:1"`` into ``[0.6, 1.0]`` (None passes through)."""
    if text is None:
        return None
    for sep in (",", ":", "-"):
        left, found, right = text.strip().partition(sep)
        if found and left and right:
            try:
                return [float(left), float(right)]
            except ValueError:
                break
    raise ConfigError(f"{what} must be a range like 0.2-0.8, got {text!r}")


def traits_from_cli(color: str | None = None, brightness: str | None = None, saturation: str | None = None,
                    faces: bool | None = None, like: str | None = None) -> Traits:
    """Build Traits from CLI strings: ``color`` is a name or a hue range in degrees (``"40-70"``)."""
    hue = None
    if color is not None and color.strip().lower() not in COLOR_HUES:
        if not any(ch.isdigit() for ch in color):
            raise ConfigError(f"unknown colour {color!r} (use one of {', '.join(COLOR_HUES)} or a hue range "
                              "such as 40-70)")
        hue, color = parse_range(color, "--color hue range"), None
    return Traits(color=color, hue=hue, brightness=parse_range(brightness, "--brightness"),
                  saturation=parse_range(saturation, "--saturation"), faces=faces, like=like)


__all__ = [
    "COLOR_HUES", "Traits", "Measurement", "Selection", "SelectResult", "FaceDetector", "select_seeds",
    "select_to_files", "render_thumbnails", "measure", "matches", "dominant_hue", "brightness", "colourfulness",
    "ab_histogram", "colour_similarity", "hue_in_range", "color_name", "seed_to_z", "traits_from_cli",
    "write_seeds_json", "write_contact_sheet", "contact_sheet", "face_detection_available", "parse_range",
]
