"""Images for the image tests: the real photos in ../shared/data/images, and hostile or unusual
ones made with Pillow (GPS EXIF, CMYK, animated GIF, a decompression bomb, truncated, 11 MB)."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image

from tests.conftest import shared_data

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE, MODEL, ARTIST, SERIAL = 0x010F, 0x0110, 0x013B, 0xA431


def photo(name: str) -> Path:
    """A real photo of ../shared/data/images (``chelsea.png``: a cat, ``coffee.png``: a cup)."""
    return shared_data("images", name)


def jpeg_with_gps(source: Path, *, orientation: int = 6) -> bytes:
    """The photo as a JPEG carrying GPS position, camera serial, owner name and an orientation."""
    with Image.open(source) as image:
        rgb = image.convert("RGB")
    exif = Image.Exif()
    exif[MAKE] = "SamtaleCam"
    exif[MODEL] = "X100"
    exif[ARTIST] = "Jane Shopper"
    exif[ORIENTATION] = orientation
    exif.get_ifd(0x8769)[SERIAL] = "SN-123456789"
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (55.0, 40.0, 30.0)
    gps[3] = "E"
    gps[4] = (12.0, 34.0, 56.0)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` saved as ``fmt``."""
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def animated_gif(frames: int = 3) -> bytes:
    """An animated GIF: a red, a green, a blue frame (64×48)."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = [Image.new("RGB", (64, 48), colours[i % 3]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def bomb_png(side: int = 20_000) -> bytes:
    """A tiny PNG that claims ``side``×``side`` pixels (400 MP): a decompression bomb."""
    return encoded(Image.new("1", (side, side)), "PNG")


def noise_jpeg(target_bytes: int, *, seed: int = 7) -> bytes:
    """A JPEG of random noise of at least ``target_bytes`` (incompressible: big files are quick to make)."""
    rng = random.Random(seed)
    side = 1024
    while True:
        pixels = rng.randbytes(side * side * 3)
        data = encoded(Image.frombytes("RGB", (side, side), pixels), "JPEG", quality=95)
        if len(data) >= target_bytes:
            return data
        side = int(side * 1.5)
