"""Errors of image handling, under :class:`samtale.errors.SamtaleError`.

Tree::

    InputError
    ├── InvalidImageError          truncated, corrupt, or more pixels than the limit   (422)
    ├── PayloadTooLargeError
    │   └── ImageTooLargeError     more bytes than the chatbot's image limit           (413)
    └── UnsupportedMediaError
        └── UnsupportedImageError  not JPEG, PNG, GIF or WebP by its bytes             (415)
    PermissionDeniedError
    └── ImagesDisabledError        the chatbot has ``image_enabled: false``            (403)
"""

from __future__ import annotations

from samtale.errors import InputError, PayloadTooLargeError, PermissionDeniedError, UnsupportedMediaError


class InvalidImageError(InputError):
    """The bytes claim an accepted format but cannot be decoded (truncated, corrupt) or hold more
    pixels than ``Settings.image_max_pixels`` (a decompression bomb); ``details["reason"]`` says which."""

    code = "invalid_image"


class ImageTooLargeError(PayloadTooLargeError):
    """The image (or the request carrying it) is over the limit; ``details`` has ``limit_bytes``."""

    code = "image_too_large"


class UnsupportedImageError(UnsupportedMediaError):
    """The bytes are not a JPEG, PNG, GIF or WebP image (the name and declared type are ignored);
    ``details["detected"]`` names what they look like when known (``svg``, ``heic``, ``text``…)."""

    code = "unsupported_image_type"


class ImagesDisabledError(PermissionDeniedError):
    """The chatbot does not take images (``image_enabled: false`` in its config)."""

    code = "images_disabled"
