"""The description of a shopper's image by a vision-capable model (seed 001: "Description
Generation", "Retry Logic"; DESIGN section 12).

The image goes to the chatbot's vision model (``images.llm`` over the chatbot's ``llm``) through
the one provider interface: the OpenAI-compatible provider sends it as an ``image_url`` content
part with a ``data:`` URL, Flowise as an entry of its Prediction API's ``uploads``. The model is
asked with the chatbot's image prompt (rendered by the caller: ``prompts[images.prompt]``, a
template named ``image``, or :data:`DEFAULT_IMAGE_PROMPTS` in the chatbot's language). Failures
before the first token are retried with exponential backoff
(:func:`samtale.llm.base.stream_with_retries`, ``SAMTALE_LLM_RETRIES``), each call within the
``ai`` pool's timeout. A description is stored on the file's row (``files.description``,
``processed``), and the same image (same SHA-256) of the same chatbot is described once.

Never an invented description: without a vision model (the offline answerer), or when the model
fails or says nothing, the result is ``source: "none"`` with only the facts the bytes give.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select, update

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.files.service import load_file
from samtale.files.storage import FileStorage
from samtale.files.types import FileInfo
from samtale.llm.base import (
    ChatMessage,
    GenerationRequest,
    ImagePart,
    LLMError,
    LLMProvider,
    TextDelta,
    stream_with_retries,
)
from samtale.storage.db import Database
from samtale.storage.models import UploadedFile

logger = logging.getLogger(__name__)

Source = Literal["model", "cache", "none"]

MAX_DESCRIPTION_CHARS = 2000
"""The longest description kept (a model that rambles is cut here)."""

DESCRIPTION_MAX_TOKENS = 300
"""The reply length asked of the vision model, in tokens."""

RETRY_BASE_DELAY_S = 0.25
"""The first back-off between vision attempts before a first token, seconds (doubling)."""

DEFAULT_IMAGE_PROMPTS = {
    "en": (
        "You help the customer service of {{ chatbot.name }}, a web shop. A shopper sent the photo below. "
        "Describe in English, in at most five sentences, what it shows that matters to the shop: products "
        "(name, producer, label text, colour, size), any damage or defect, packaging, documents such as "
        "receipts. Quote the text you can read exactly. Do not guess what you cannot see, and do not "
        "describe people beyond what the question needs."
    ),
    "da": (
        "Du hjælper kundeservice hos {{ chatbot.name }}, en webshop. En kunde har sendt billedet nedenfor. "
        "Beskriv på dansk, i højst fem sætninger, hvad det viser, som er vigtigt for butikken: varer "
        "(navn, producent, tekst på etiketten, farve, størrelse), skader eller fejl, emballage, dokumenter "
        "som kvitteringer. Gengiv den tekst, du kan læse, præcist. Gæt ikke på det, du ikke kan se, og "
        "beskriv ikke personer."
    ),
}
"""The built-in image prompts (Jinja2, variables ``chatbot`` and ``language``)."""

DESCRIBE_REQUEST = {"en": "Describe this photo.", "da": "Beskriv dette billede."}
"""The user message sent with the image."""


@dataclass(frozen=True, slots=True)
class ImageDescription:
    """What a turn knows of its image.

    Attributes:
        file_id: the stored image.
        description: the model's words, or "" when ``source`` is ``none``.
        source: ``model`` (described now), ``cache`` (the same image was described before for
            this chatbot) or ``none`` (no vision model, or it failed: nothing is invented).
        facts: what the bytes say: ``format``, ``width``, ``height``, ``bytes``, ``orientation``
            (``landscape`` | ``portrait`` | ``square``), and ``frames`` when the upload was animated.
        reason: why ``source`` is ``none``.
    """

    file_id: str
    description: str
    source: Source
    facts: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def as_event(self) -> dict[str, Any]:
        """The ``image`` event's data: ``{file_id, description, source, facts}`` (+ ``reason``)."""
        event: dict[str, Any] = {
            "file_id": self.file_id,
            "description": self.description,
            "source": self.source,
            "facts": self.facts,
        }
        if self.reason is not None:
            event["reason"] = self.reason
        return event


def image_facts(info: FileInfo, *, frames: int = 1) -> dict[str, Any]:
    """The facts of a stored image that need no model (``ImageDescription.facts``)."""
    width, height = info.width or 0, info.height or 0
    orientation = "square" if width == height else ("landscape" if width > height else "portrait")
    facts: dict[str, Any] = {
        "format": info.mime.removeprefix("image/"),
        "width": width,
        "height": height,
        "bytes": info.size_bytes,
        "orientation": orientation,
    }
    if frames > 1:
        facts["frames"] = frames
        facts["note"] = "animated: only the first frame is described"
    return facts


def vision_flow(chatbot: ChatbotConfig) -> FlowConfig:
    """The flow whose provider describes images: ``main`` with the chatbot's ``images.llm``."""
    return FlowConfig(type="main", llm=chatbot.images.llm)


class ImageDescriber:
    """Describes stored images with each chatbot's vision model (module docstring).

    Args:
        db: the database (the file's row, the description cache).
        storage: the file storage backend (the image's bytes).
        provider_factory: the LLM provider of a chatbot's flow (the process's registry).
        retries: retries before the first token (``SAMTALE_LLM_RETRIES``).
    """

    def __init__(
        self,
        *,
        db: Database,
        storage: FileStorage,
        provider_factory: Callable[[ChatbotConfig, FlowConfig], LLMProvider],
        retries: int = 2,
    ) -> None:
        self.db = db
        self.storage = storage
        self.provider_factory = provider_factory
        self.retries = retries

    async def describe(
        self, *, chatbot: ChatbotConfig, file: FileInfo, prompt: str, frames: int = 1
    ) -> ImageDescription:
        """Describe ``file`` (an image of ``chatbot``) with the rendered image ``prompt``.

        Raises:
            FileNotFoundInStoreError: the image's bytes are gone (404). FileStorageError: the
            backend failed (503). LLMConfigError: the vision model's settings cannot be used.
            A failing or silent model is not raised: it is ``source: "none"``.
        """
        facts = image_facts(file, frames=frames)
        known = file.description if file.processed and file.description else await self._described(chatbot, file)
        if known:
            return ImageDescription(file_id=file.id, description=known, source="cache", facts=facts)
        provider = self.provider_factory(chatbot, vision_flow(chatbot))
        if provider.name == "offline":
            return ImageDescription(
                file_id=file.id, description="", source="none", facts=facts, reason="no vision model is configured"
            )
        loaded = await load_file(db=self.db, storage=self.storage, chatbot_id=chatbot.id, file_id=file.id)
        llm = chatbot.llm.merged(chatbot.images.llm)
        request = GenerationRequest(
            messages=[
                ChatMessage(role="system", content=prompt),
                ChatMessage(role="user", content=DESCRIBE_REQUEST[chatbot.language]),
            ],
            question=DESCRIBE_REQUEST[chatbot.language],
            language=chatbot.language,
            model=llm.model,
            temperature=llm.temperature,
            max_tokens=DESCRIPTION_MAX_TOKENS,
            chatbot_name=chatbot.name,
            images=[ImagePart(data=loaded.data, mime=file.mime, name=file.name)],
        )
        pieces: list[str] = []
        try:
            stream = stream_with_retries(provider, request, attempts=self.retries + 1, base_delay_s=RETRY_BASE_DELAY_S)
            async for item in stream:
                if isinstance(item, TextDelta):
                    pieces.append(item.text)
        except LLMError as exc:
            logger.warning("the vision model of chatbot %s failed to describe file %s: %s", chatbot.id, file.id, exc)
            return ImageDescription(
                file_id=file.id, description="", source="none", facts=facts, reason="the vision model failed"
            )
        text = "".join(pieces).strip()[:MAX_DESCRIPTION_CHARS]
        if not text:
            return ImageDescription(
                file_id=file.id, description="", source="none", facts=facts, reason="the vision model said nothing"
            )
        await self._remember(chatbot, file, text)
        return ImageDescription(file_id=file.id, description=text, source="model", facts=facts)

    async def _described(self, chatbot: ChatbotConfig, file: FileInfo) -> str | None:
        """An earlier description of the same bytes for this chatbot (index ``ix_files_chatbot_sha256``)."""
        async with self.db.session() as session:
            found = await session.scalar(
                select(UploadedFile.description)
                .where(
                    UploadedFile.chatbot_id == chatbot.id,
                    UploadedFile.sha256 == file.sha256,
                    UploadedFile.processed.is_(True),
                    UploadedFile.description.is_not(None),
                )
                .limit(1)
            )
        return found or None

    async def _remember(self, chatbot: ChatbotConfig, file: FileInfo, text: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(UploadedFile)
                .where(UploadedFile.chatbot_id == chatbot.id, UploadedFile.id == file.id)
                .values(processed=True, description=text)
            )
