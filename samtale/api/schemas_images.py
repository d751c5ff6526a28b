"""Bodies of the image routes (issue 14): ``POST /api/upload-image`` (seed 002) and the inline
``image_data`` of ``POST /api/process-message``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ImageDataIn(BaseModel):
    """The seed's ``image_data``: the image's bytes as base64 or a ``data:`` URL. ``name`` and
    ``mime`` are kept for display only: the type is read from the bytes."""

    name: str = Field(default="image", max_length=255)
    data: str = Field(min_length=1, description="base64, or a data:image/…;base64,… URL")
    mime: str | None = Field(default=None, max_length=127, description="ignored: the bytes decide")


class UploadImageRequest(BaseModel):
    """``POST /api/upload-image`` as JSON (seed 002); as ``multipart/form-data`` the same fields
    are ``chatbot_id``, ``file`` (the image), ``session_id`` and ``session_token``."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "chatbot_id": "vinhuset",
                "image_data": {"name": "label.jpg", "data": "/9j/4AAQSkZJRg…", "mime": "image/jpeg"},
                "message_text": "Do you have this wine?",
                "configuration": {},
            }
        }
    )

    chatbot_id: str = Field(min_length=1, max_length=64)
    image_data: ImageDataIn
    message_text: str | None = Field(default=None, max_length=8000, description="kept by the seed's shape; unused")
    configuration: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = Field(default=None, max_length=64, description="a stored conversation to attach it to")
    session_token: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(
        default=None, max_length=200, description="the uploading shopper (as in process-message): the image is theirs"
    )


class UploadImageForm(BaseModel):
    """The text fields of ``POST /api/upload-image`` as ``multipart/form-data`` (beside its ``file``)."""

    chatbot_id: str = Field(min_length=1, max_length=64)
    session_id: str | None = Field(default=None, max_length=64)
    session_token: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    message_text: str | None = Field(default=None, max_length=8000)


class SourceImage(BaseModel):
    """What the upload itself was, before normalisation."""

    format: str = Field(description="jpeg, png, gif or webp, read from the bytes")
    width: int
    height: int
    bytes: int
    frames: int = Field(description="more than 1: an animated image, of which the first frame is kept")
    orientation: int = Field(description="the EXIF orientation applied (1 = none)")


class UploadImageResponse(BaseModel):
    """The stored, normalised image: name it as ``file_id`` in ``process-message``."""

    success: bool = True
    file_id: str
    mime: str = Field(description="image/jpeg, or image/png for an image with transparency")
    width: int
    height: int
    bytes: int
    sha256: str
    reused: bool = Field(description="the same image was already uploaded here and not yet used: that one is kept")
    session_id: str | None = Field(description="the conversation it belongs to (None: the next message attaches it)")
    url: str = Field(description="GET it back (needs its conversation's token or an API key once attached)")
    source: SourceImage | None = Field(description="the upload before normalisation (None when reused)")
    note: str | None = Field(default=None, description="e.g. that only an animated image's first frame is kept")
