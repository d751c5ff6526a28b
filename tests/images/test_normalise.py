"""What happens to a shopper's photo before anything keeps it: its type is read from its bytes, a
bomb or a damaged file is refused, and what is kept is upright, 8-bit, at most 1,568 px on its
longest side and carries no metadata (no GPS position, no camera serial, no owner's name)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from samtale.api.errors import status_for
from samtale.images.errors import InvalidImageError, UnsupportedImageError
from samtale.images.normalise import ImageLimits, normalise_image, sniff_format
from tests.images.photos import (
    GPS_IFD,
    animated_gif,
    bomb_png,
    encoded,
    jpeg_with_gps,
    photo,
)

LIMITS = ImageLimits()


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_phone_photo_with_gps_is_kept_upright_and_without_any_metadata() -> None:
    upload = jpeg_with_gps(photo("chelsea.png"), orientation=6)  # 451×300, "rotate 90° clockwise"
    assert reopen(upload).getexif().get_ifd(GPS_IFD), "the test photo must carry GPS"
    kept = normalise_image(upload, limits=LIMITS)
    assert kept.mime == "image/jpeg" and kept.orientation == 6
    assert (kept.width, kept.height) == (300, 451)  # turned upright
    image = reopen(kept.data)
    assert image.size == (300, 451)
    assert len(image.getexif()) == 0
    assert not image.getexif().get_ifd(GPS_IFD)
    assert not {"exif", "icc_profile", "xmp", "photoshop", "comment"} & set(image.info)
    for secret in (b"SN-123456789", b"Jane Shopper", b"SamtaleCam", b"Exif"):
        assert secret not in kept.data


def test_png_text_chunks_are_dropped_and_a_large_photo_is_downscaled() -> None:
    with Image.open(photo("coffee.png")) as source:
        big = source.convert("RGB").resize((3200, 2133))
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("Author", "Jane Shopper")
    kept = normalise_image(encoded(big, "PNG", pnginfo=info), limits=LIMITS)
    assert kept.downscaled and max(kept.width, kept.height) == 1568
    assert (kept.source_width, kept.source_height) == (3200, 2133)
    assert b"Jane Shopper" not in kept.data and kept.mime == "image/jpeg"


def test_cmyk_palette_16_bit_and_transparent_images_become_8_bit_rgb_l_or_rgba() -> None:
    cmyk = normalise_image(encoded(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"), limits=LIMITS)
    assert reopen(cmyk.data).mode == "RGB"
    deep = Image.new("I;16", (40, 30))
    deep.putpixel((0, 0), 65535)
    grey = normalise_image(encoded(deep, "PNG"), limits=LIMITS)
    assert reopen(grey.data).mode == "L" and reopen(grey.data).getpixel((0, 0)) == 255
    palette = normalise_image(encoded(Image.new("P", (40, 30), 3), "PNG"), limits=LIMITS)
    assert reopen(palette.data).mode == "RGB"
    clear = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    kept = normalise_image(encoded(clear, "WEBP", lossless=True), limits=LIMITS)
    assert kept.mime == "image/png" and reopen(kept.data).mode == "RGBA" and kept.source_format == "webp"


def test_an_animated_gif_is_kept_as_its_first_frame() -> None:
    kept = normalise_image(animated_gif(3), limits=LIMITS)
    assert kept.animated and kept.frames == 3 and kept.source_format == "gif"
    red, green, blue = reopen(kept.data).convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert red > 200 and green < 50 and blue < 50


def test_a_decompression_bomb_is_refused_from_its_header_with_422() -> None:
    bomb = bomb_png()
    assert len(bomb) < 100_000
    with pytest.raises(InvalidImageError) as refused:
        normalise_image(bomb, limits=LIMITS)
    assert refused.value.details["reason"] == "too_many_pixels" and status_for(refused.value) == 422


def test_a_truncated_or_corrupt_image_is_refused_with_422() -> None:
    whole = jpeg_with_gps(photo("coffee.png"))
    for damaged in (whole[: len(whole) // 2], whole[:200], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100):
        with pytest.raises(InvalidImageError) as refused:
            normalise_image(damaged, limits=LIMITS)
        assert refused.value.details["reason"] == "damaged" and status_for(refused.value) == 422


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "svg"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
        (b"#!/bin/sh\nrm -rf /\n", "script"),
        (b"just some text, named photo.jpg", "text"),
        (b"BM" + b"\x00" * 60, "bmp"),
    ],
)
def test_anything_but_jpeg_png_gif_webp_is_refused_with_415_whatever_its_name(data: bytes, detected: str) -> None:
    with pytest.raises(UnsupportedImageError) as refused:
        sniff_format(data)
    assert refused.value.details["detected"] == detected and status_for(refused.value) == 415


def test_an_image_just_over_the_pixel_limit_is_refused_before_it_is_decoded() -> None:
    tall = encoded(Image.new("L", (100, 10_001)), "PNG")
    with pytest.raises(InvalidImageError) as refused:
        normalise_image(tall, limits=ImageLimits(max_pixels=1_000_000))
    assert refused.value.details["reason"] == "too_many_pixels"


def test_an_embedded_colour_profile_is_applied_to_srgb_then_dropped() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = encoded(Image.new("RGB", (40, 30), (200, 40, 40)), "JPEG", icc_profile=srgb, quality=95)
    kept = normalise_image(tagged, limits=LIMITS)
    image = reopen(kept.data)
    assert "icc_profile" not in image.info
    red, green, blue = image.getpixel((5, 5))  # type: ignore[misc]
    assert abs(red - 200) < 12 and abs(green - 40) < 12 and abs(blue - 40) < 12
    broken = encoded(Image.new("RGB", (40, 30), (200, 40, 40)), "JPEG", icc_profile=b"not a profile")
    assert "icc_profile" not in reopen(normalise_image(broken, limits=LIMITS).data).info
