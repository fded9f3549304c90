"""One source image to one training image, as the dataset tool does it for each file (in a worker process).

Every image ends as 8-bit RGB, upright, square, of the dataset's size:

- **Orientation**: the EXIF orientation tag is applied first (``PIL.ImageOps.exif_transpose``), as a viewer shows it.
- **Colour space**: an embedded ICC profile other than sRGB (Adobe RGB, P3, press CMYK) is honoured: converted to
  sRGB with Little CMS (:func:`to_srgb`).
- **Modes**: grey, palette, CMYK, YCbCr and Lab are converted by Pillow; 16-bit grey (``I;16``, ``I``) is scaled
  to 8 bits (``v / 257``, rounded), 32-bit float (``F``) from 0..1 (or 0..255 where it goes above 1). Pillow
  reads 16-bit RGB files as 8-bit RGB already.
- **Transparency** (RGBA, LA, a palette or grey image with a transparent colour) is composited on a plain
  background, white by default: clip art, logos and cut-out photos are drawn to sit on white paper, and a
  transparent pixel's colour channels are often black or garbage. ``background="black"`` suits glowing art.
- **Square**: a centre crop of the short side (default), or the whole image centred on the background
  (``pad=True``).
- **Size**: Lanczos resampling, with ``reducing_gap`` (Pillow first reduces by an integer factor with a box filter,
  then resamples the last factor of at most 3 with Lanczos: the same look, several times faster for big photos).
  JPEGs are decoded at a reduced DCT scale where that still leaves at least twice the target size.

Duplicates are found on the result: a hash of its pixels (exact) and a perceptual hash plus mean colour (near).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

#: Background colours for transparency and padding.
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
#: Modes with an alpha channel (premultiplied ones included); others may have a transparent colour in ``info``.
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
#: Thumbnails per side of the perceptual hash (64 bits).
_HASH_SIDE = 8
#: Side of the colour thumbnail that confirms a perceptual-hash match (16 x 16 x 3 bytes per kept image).
THUMB_SIDE = 16


@dataclass(frozen=True)
class PreparedImage:
    """A training image made from one source file.

    Attributes
    ----------
    png : bytes
        The image as an uncompressed PNG (``compress_level=0``, as NVlabs' tool stores them).
    digest : str
        SHA-256 of the pixels: equal for exact duplicates.
    phash : int
        64-bit perceptual hash of the luminance (DCT of a 32x32 thumbnail, low 8x8 frequencies against their median).
    mean_rgb : tuple of float
        Mean colour, 0..255: a near duplicate must also match in colour (a recoloured design is a new image).
    thumb : bytes
        A ``THUMB_SIDE`` square RGB thumbnail (box filter): a near duplicate must also match it pixel by pixel,
        because on clip art and icons (mostly background) different drawings can share a hash and a mean colour.
    source_size : tuple of int
        ``(width, height)`` of the source after orientation, to report images that were scaled up.
    """

    png: bytes
    digest: str
    phash: int
    mean_rgb: tuple[float, float, float]
    source_size: tuple[int, int]
    thumb: bytes = b""


@dataclass(frozen=True)
class RejectedImage:
    """A source file that could not be used, and why (one line)."""

    reason: str


def prepare_image(path: str, *, size: int, pad: bool = False, background: str = "white"
                  ) -> PreparedImage | RejectedImage:
    """Read one image file and make its training image (see the module's notes for each step).

    Never raises for a bad file: an unreadable, truncated or unsupported one comes back as a
    :class:`RejectedImage` with the reason, so one bad file among thousands costs only that file.

    Parameters
    ----------
    path : str
        The source file.
    size : int
        Width and height of the result.
    pad : bool
        Fit the whole image and pad it to a square, instead of cropping the centre.
    background : {"white", "black"}
        What shows through transparent pixels and fills the padding.

    Returns
    -------
    PreparedImage or RejectedImage
    """
    fill = BACKGROUNDS[background]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft(img.mode, (2 * size, 2 * size))  # DCT scaling: both sides stay >= 2 * size
                img.load()  # decode now: a truncated file fails here, not later
                img = ImageOps.exif_transpose(img)
        rgb = to_rgb(img, fill)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return RejectedImage(f"more than {Image.MAX_IMAGE_PIXELS} pixels, too large to decode safely")
    except Image.UnidentifiedImageError:
        return RejectedImage("not an image Pillow can read")
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, KeyError, IndexError) as exc:
        # Pillow's decoders report truncation and corruption with all of these
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RejectedImage(f"cannot decode: {message}")
    source_size = rgb.size
    square = fit_square(rgb, size, pad=pad, fill=fill)
    pixels = np.asarray(square)
    buf = io.BytesIO()
    square.save(buf, format="png", compress_level=0)
    return PreparedImage(png=buf.getvalue(), digest=hashlib.sha256(pixels.tobytes()).hexdigest(),
                         phash=perceptual_hash(square), mean_rgb=tuple(float(m) for m in pixels.mean(axis=(0, 1))),
                         source_size=source_size,
                         thumb=square.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX).tobytes())


def to_rgb(img: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any Pillow image as 8-bit RGB, transparency composited on ``fill``.

    Parameters
    ----------
    img : PIL.Image.Image
    fill : tuple of int
        Background colour for transparent pixels.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``.
    """
    mode = img.mode
    if mode.startswith("I"):  # 16-bit grey (I;16, I;16B, ...) or 32-bit integer read from a 16-bit file
        values = np.asarray(img).astype(np.float64)
        img = Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8))
    elif mode == "F":
        values = np.asarray(img).astype(np.float64)
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
        img = Image.fromarray(np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8))
    img = to_srgb(img)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, fill + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def to_srgb(img: Image.Image) -> Image.Image:
    """Colour-manage an image to sRGB where it says it is in another space; else return it as it is.

    An RGB or CMYK image with an embedded ICC profile that is not sRGB (Adobe RGB, Display P3, a press CMYK) is
    converted with Little CMS (perceptual intent): read as sRGB, its colours would be dull or shifted. A profile
    that cannot be used is ignored. (Pillow converts CIE Lab pixels, mode ``LAB``, to sRGB itself.)

    Parameters
    ----------
    img : PIL.Image.Image

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB`` where converted, else ``img`` itself.
    """
    from PIL import ImageCms

    icc = img.info.get("icc_profile")
    try:
        if icc and img.mode in ("RGB", "CMYK"):
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "srgb" in (ImageCms.getProfileDescription(source) or "").lower():
                return img  # already sRGB: keep the pixels bit for bit
        else:
            return img
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img  # a broken or unsupported profile: the pixels as they are


def fit_square(img: Image.Image, size: int, *, pad: bool = False, fill: tuple[int, int, int] = (255, 255, 255)
               ) -> Image.Image:
    """Crop the centre square of ``img`` (or pad it to a square) and resize it to ``size`` x ``size``.

    The crop box starts at a whole pixel, so an image already at the target size comes out unchanged.

    Parameters
    ----------
    img : PIL.Image.Image
        An RGB image.
    size : int
        The output's width and height.
    pad : bool
        Keep the whole image, scaled to fit, centred on ``fill``.
    fill : tuple of int
        The padding colour.

    Returns
    -------
    PIL.Image.Image
    """
    width, height = img.size
    if pad:
        scale = size / max(width, height)
        fitted = (max(1, round(width * scale)), max(1, round(height * scale)))
        inner = img.resize(fitted, Image.Resampling.LANCZOS, reducing_gap=3.0)
        canvas = Image.new("RGB", (size, size), fill)
        canvas.paste(inner, ((size - fitted[0]) // 2, (size - fitted[1]) // 2))
        return canvas
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return img.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side),
                      reducing_gap=3.0)


def perceptual_hash(img: Image.Image) -> int:
    """A 64-bit perceptual hash (pHash): images that look alike differ in few bits.

    The luminance is reduced to 32x32, transformed with a 2-D DCT, and each of the 8x8 lowest frequencies becomes
    one bit: above the median of those 64 coefficients or not. Small edits, re-compression and re-scaling move few
    coefficients across the median.

    Parameters
    ----------
    img : PIL.Image.Image

    Returns
    -------
    int
        The 64 bits, the lowest frequency first (most significant).
    """
    from scipy.fft import dctn

    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    low = dctn(grey, norm="ortho")[:_HASH_SIDE, :_HASH_SIDE].ravel()
    bits = low > np.median(low)
    return int("".join("1" if b else "0" for b in bits), 2)


def contact_sheet(images: list[Image.Image], *, columns: int, thumb: int) -> Image.Image:
    """Thumbnails in a grid, row by row, on black.

    Parameters
    ----------
    images : list of PIL.Image.Image
        Square RGB images.
    columns : int
        Thumbnails per row.
    thumb : int
        Each thumbnail's side in pixels.

    Returns
    -------
    PIL.Image.Image
        ``columns * thumb`` wide and ``ceil(len(images) / columns) * thumb`` high.
    """
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * thumb, rows * thumb))
    for i, image in enumerate(images):
        small = image if image.size == (thumb, thumb) else image.resize((thumb, thumb), Image.Resampling.LANCZOS,
                                                                         reducing_gap=3.0)
        sheet.paste(small, ((i % columns) * thumb, (i // columns) * thumb))
    return sheet
