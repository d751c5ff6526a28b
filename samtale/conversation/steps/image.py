"""Image step: describe the message's photo before the turn is routed (issue 14).

The description (:mod:`samtale.images.describe`) is emitted as the ``image`` event
``{file_id, description, source, facts}`` before any token, joins the routing and retrieval
query (:attr:`~samtale.conversation.turn.TurnContext.search_text`: a photo of a wine label
finds that wine, a photo of a broken bottle the damaged-goods policy), goes into the prompt
(template variable ``image``) and is stored with the user message. Its time is ``image_ms``.

The vision model is asked with the chatbot's image prompt: ``prompts[images.prompt]``, else a
template named ``image``, else the built-in one in the chatbot's language (seed 001: "Template
System Integration"). A turn without a vision model, or whose model failed, says so: the
event's ``source`` is ``none`` and the answer begins with :data:`UNSEEN_NOTICE`.
"""

from __future__ import annotations

import time
from typing import cast

from samtale.conversation.events import EventName, ImageData
from samtale.conversation.prompts import render_template
from samtale.conversation.turn import TurnContext, TurnDependencies
from samtale.images.describe import DEFAULT_IMAGE_PROMPTS, ImageDescription, image_facts

UNSEEN_NOTICE = {
    "en": "I have received your photo, but I cannot look at images here. Could you describe what it shows?",
    "da": "Jeg har modtaget dit billede, men jeg kan ikke se billeder her. Vil du beskrive, hvad det viser?",
}
"""What the answer says first when the image could not be described (``source: "none"``)."""


def image_prompt(ctx: TurnContext) -> str:
    """The chatbot's image prompt, rendered (module docstring).

    Raises:
        PromptTemplateError: the template fails (category ``template``).
    """
    chatbot = ctx.chatbot
    name = chatbot.images.prompt or "image"
    source = chatbot.prompts.get(name)
    if source is None:
        name, source = f"default-image-{chatbot.language}", DEFAULT_IMAGE_PROMPTS[chatbot.language]
    variables = {
        "chatbot": {"id": chatbot.id, "name": chatbot.name, "language": chatbot.language},
        "language": chatbot.language,
    }
    return render_template(name=name, source=source, variables=variables)


async def run(ctx: TurnContext, deps: TurnDependencies) -> None:
    """Describe ``ctx.turn.image`` into ``ctx.image`` and emit ``image``; nothing without an image.

    Raises:
        SamtaleError: the template failed, or the image's bytes cannot be read (file storage).
    """
    attached = ctx.turn.image
    if attached is None:
        return
    started = time.perf_counter()
    if deps.images is None:
        described = ImageDescription(
            file_id=attached.file.id,
            description="",
            source="none",
            facts=image_facts(attached.file, frames=attached.frames),
            reason="this deployment describes no images",
        )
    else:
        described = await deps.images.describe(
            chatbot=ctx.chatbot, file=attached.file, prompt=image_prompt(ctx), frames=attached.frames
        )
    ctx.image = described
    ctx.metrics.image_ms = (time.perf_counter() - started) * 1000.0
    ctx.stream.emit(EventName.IMAGE, cast(ImageData, described.as_event()))


PHOTO_QUESTION = {"en": "What can you tell me about this photo?", "da": "Hvad kan du fortælle om dette billede?"}
"""The question the model is asked for a photo sent without text (the stored message stays empty)."""


def photo_question(ctx: TurnContext) -> str:
    """:data:`PHOTO_QUESTION` in the chatbot's language (a photo sent without text)."""
    return PHOTO_QUESTION[ctx.chatbot.language]


def unseen_notice(ctx: TurnContext) -> str | None:
    """The sentence the answer starts with when the image could not be looked at, else None."""
    if ctx.image is None or ctx.image.source != "none":
        return None
    return UNSEEN_NOTICE[ctx.chatbot.language]
