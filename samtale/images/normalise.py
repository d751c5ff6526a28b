"""Validate and normalise an uploaded image with Pillow (CPU work: call it in a worker thread).

Rules (issue 14; seed 001 "File Type Validation", "Size Limits"):

* The type is read from the bytes' signature, never from the name or the declared MIME type:
  JPEG (``FF D8 FF``), PNG (``89 50 4E 47 0D 0A 1A 0A``), GIF (``GIF87a``/``GIF89a``) and WebP
  (``RIFF….WEBP``) are accepted; anything else (SVG, HEIC, text, a script renamed ``.jpg``) is
  :class:`~samtale.images.errors.UnsupportedImageError` (415). Pillow then opens the bytes with
  that one decoder only.
* More pixels than ``max_pixels`` (read from the header, before any pixel is decoded) is a
  decompression bomb: :class:`~samtale.images.errors.InvalidImageError` (422). The default limit
  (``Settings.image_max_pixels``, 50 MP) is below Pillow's own ``MAX_IMAGE_PIXELS`` (89 MP), so
  Pillow's warning never fires first.
* A file that cannot be decoded to its end (truncated, corrupt) is ``InvalidImageError`` (422).

Normalisation, in this order: the first frame of an animated GIF or WebP (reported in
``frames``); the EXIF orientation applied (``ImageOps.exif_transpose``); an embedded ICC profile
(a phone's Display P3, a CMYK print profile) applied to convert to sRGB (LittleCMS, ``ImageCms``)
before the profile is dropped; palette, CMYK, 16-bit,
float and bilevel images converted to 8-bit RGB or L (RGBA when a real alpha channel remains);
downscaled so the longest side is at most ``max_side_px`` (Lanczos); re-encoded with no metadata
at all (EXIF with GPS positions and camera serials, XMP, IPTC, ICC profiles and PNG text chunks
are dropped: the new file is written from pixels only). Opaque images become JPEG, images with
transparency PNG. A large JPEG is decoded at a reduced scale when that still leaves at least
``max_side_px`` (libjpeg's DCT scaling, ``Image.draft``), which is most of the speed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from samtale.images.errors import InvalidImageError, UnsupportedImageError

ImageFormat = Literal["jpeg", "png", "gif", "webp"]

PILLOW_FORMATS: dict[ImageFormat, str] = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}
"""The one Pillow decoder each accepted format is opened with."""

EXIF_ORIENTATION = 0x0112
"""The EXIF tag of the orientation (1 = upright … 8)."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What :func:`normalise_image` allows and produces.

    Attributes:
        max_pixels: width × height above which the image is refused as a decompression bomb.
        max_side_px: the longest side of the normalised image, pixels (the vision model's limit).
        jpeg_quality: the JPEG quality of the re-encoded image (1-95).
    """

    max_pixels: int = 50_000_000
    max_side_px: int = 1568
    jpeg_quality: int = 85


@dataclass(frozen=True, slots=True)
class NormalisedImage:
    """An image after :func:`normalise_image`.

    Attributes:
        data: the re-encoded bytes (no metadata), what is stored and sent to the model.
        mime: ``image/jpeg`` or ``image/png``.
        width, height: pixels of ``data``.
        source_format: the format the upload's bytes had.
        source_width, source_height: pixels of the upload (before orientation and downscaling).
        source_bytes: the upload's length in bytes.
        frames: frames of the upload (more than 1: an animated GIF/WebP, of which only the first is kept).
        orientation: the EXIF orientation that was applied (1 = none).
        downscaled: the longest side was reduced to ``ImageLimits.max_side_px``.
    """

    data: bytes
    mime: str
    width: int
    height: int
    source_format: ImageFormat
    source_width: int
    source_height: int
    source_bytes: int
    frames: int = 1
    orientation: int = 1
    downscaled: bool = False

    @property
    def animated(self) -> bool:
        """True when the upload had more than one frame (the first one is described)."""
        return self.frames > 1


def sniff_format(data: bytes) -> ImageFormat:
    """The accepted format the bytes' signature names.

    Raises:
        UnsupportedImageError: the signature is none of JPEG, PNG, GIF, WebP.
    """
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    detected = _what_it_is(data)
    message = "only JPEG, PNG, GIF and WebP images are accepted"
    if detected != "unknown":
        message += f"; this file is {detected.upper() if detected in ('svg', 'heic', 'avif') else detected}"
    raise UnsupportedImageError(message, details={"detected": detected, "accepted": list(PILLOW_FORMATS)})


def _what_it_is(data: bytes) -> str:
    """A short name for bytes that are not an accepted image (for the 415 message only)."""
    head = data[:512].lstrip().lower()
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypmsf1"):
        return "heic"
    if data[4:12] == b"ftypavif":
        return "avif"
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in data[:4096].lower()):
        return "svg"
    if data[:4] == b"%PDF":
        return "pdf"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"#!") or head.startswith(b"<script") or head.startswith(b"<html"):
        return "script"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    return "text"


def normalise_image(data: bytes, *, limits: ImageLimits) -> NormalisedImage:
    """Validate ``data`` and return it normalised (module docstring). Blocking CPU work.

    Raises:
        UnsupportedImageError: not JPEG, PNG, GIF or WebP by its bytes (415).
        InvalidImageError: more than ``limits.max_pixels`` pixels, truncated or corrupt (422).
    """
    source_format = sniff_format(data)
    try:
        image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[source_format]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check at open: over twice its MAX_IMAGE_PIXELS it raises; over it, it warns
        # (an exception only where warnings are errors). Either way: far over our limit.
        raise _too_many_pixels(None, limits.max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _damaged(source_format) from exc
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise _damaged(source_format)
        if width * height > limits.max_pixels:
            raise _too_many_pixels((width, height), limits.max_pixels)
        frames = int(getattr(image, "n_frames", 1))
        if source_format == "jpeg":
            _draft(image, limits.max_side_px)
        try:
            image.load()  # the first frame
            orientation = int(image.getexif().get(EXIF_ORIENTATION, 1))
            icc = image.info.get("icc_profile")
            upright = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise _damaged(source_format) from exc
    downscaled = max(upright.size) > limits.max_side_px
    converted = upright
    if isinstance(icc, bytes) and icc and converted.mode in ("RGB", "CMYK"):
        if downscaled:  # the colour transform on the smaller image
            converted.thumbnail((limits.max_side_px, limits.max_side_px), Image.Resampling.LANCZOS)
        converted = _to_srgb(converted, icc)
    converted = _eight_bit(converted)
    if max(converted.size) > limits.max_side_px:
        converted.thumbnail((limits.max_side_px, limits.max_side_px), Image.Resampling.LANCZOS)
    encoded, mime = _encode(converted, quality=limits.jpeg_quality)
    return NormalisedImage(
        data=encoded,
        mime=mime,
        width=converted.width,
        height=converted.height,
        source_format=source_format,
        source_width=width,
        source_height=height,
        source_bytes=len(data),
        frames=frames,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        downscaled=downscaled,
    )


def _too_many_pixels(size: tuple[int, int] | None, limit: int) -> InvalidImageError:
    shown = f"{size[0]}×{size[1]} pixels" if size is not None else "more pixels than Pillow opens"
    return InvalidImageError(
        f"the image has {shown}; at most {limit:,} pixels are accepted (a decompression bomb?)",
        details={"reason": "too_many_pixels", "limit": limit},
    )


def _damaged(source_format: ImageFormat) -> InvalidImageError:
    return InvalidImageError(
        f"the {source_format.upper()} image is truncated or damaged and cannot be read",
        details={"reason": "damaged", "format": source_format},
    )


def _draft(image: Image.Image, max_side_px: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result keeps ``max_side_px``."""
    width, height = image.size
    ratio = max_side_px / max(width, height)
    if ratio < 1:
        image.draft(image.mode, (math.ceil(width * ratio), math.ceil(height * ratio)))


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """``image`` (RGB or CMYK) converted from its embedded ICC profile to sRGB RGB, so that its colours
    survive dropping the profile (a phone's Display P3, a print shop's CMYK); unchanged when the
    profile cannot be read (the naive conversion follows)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _eight_bit(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, L or RGBA (RGBA only when some pixel is not fully opaque)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif mode == "F":
        image = image.convert("L")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("LA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode not in ("RGB", "L", "RGBA"):  # CMYK, YCbCr, LAB, HSV
        image = image.convert("RGB")
    if image.mode == "RGBA":
        low, _high = image.getchannel("A").getextrema()
        if isinstance(low, (int, float)) and low >= 255:
            image = image.convert("RGB")
    return image


def _encode(image: Image.Image, *, quality: int) -> tuple[bytes, str]:
    """Pixels only: a fresh image of the same mode and data, saved without any metadata."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    if clean.mode == "RGBA":
        clean.save(out, format="PNG", compress_level=6)
        return out.getvalue(), "image/png"
    clean.save(out, format="JPEG", quality=quality)
    return out.getvalue(), "image/jpeg"
