"""Prompt assembly: a chatbot's Jinja2 template rendered in a sandbox, plus history and the question.

Templates are written by operators, so they run in Jinja2's ``SandboxedEnvironment`` (no access
to Python internals) with ``StrictUndefined`` (a misspelt variable is an error, not silence).
A template that fails to compile or render raises :class:`PromptTemplateError`, category
``template``: the turn ends with an ``error`` event instead of a crash.

Variables available to a template: ``chatbot`` (id, name, language), ``flow`` (type, route_key),
``question``, ``language``, ``context`` (list of chunks: title, text, metadata, score, source),
``context_text`` (the chunks joined), ``order`` (the verified order summary or None),
``history`` (list of {role, content}), ``memories`` (the verified shopper's recalled memories,
list of {question, answer}; empty unless the chatbot enables ``memory``), ``image`` (the
message's photo: {description, source, facts}, or None; ``source`` ``none`` means it could not
be looked at and ``description`` is empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.errors import ErrorCategory, SamtaleError
from samtale.knowledge.types import ContextChunk
from samtale.llm.base import ChatMessage

DEFAULT_SYSTEM_PROMPTS = {
    "en": (
        "You are the customer-service assistant of {{ chatbot.name }}. Answer the shopper's question "
        "briefly and politely, in English, using only the shop information below. If the information "
        "does not answer the question, say so and suggest contacting the shop.\n"
        "{% if order %}\nThe shopper's verified order:\n{{ order | tojson }}\n{% endif %}"
        "{% if memories %}\nWhat the shopper asked you to remember about them:\n"
        "{% for memory in memories %}- {{ memory.question }} {{ memory.answer }}\n{% endfor %}{% endif %}"
        "{% if image and image.description %}\nThe shopper sent a photo. An image model describes it as:\n"
        "{{ image.description }}\n{% elif image %}\nThe shopper sent a photo that cannot be looked at here; "
        "do not guess what it shows.\n{% endif %}"
        "{% if context_text %}\nShop information:\n{{ context_text }}\n{% endif %}"
    ),
    "da": (
        "Du er kundeservice-assistent for {{ chatbot.name }}. Svar kort og høfligt på dansk, kun ud fra "
        "butikkens oplysninger nedenfor. Hvis oplysningerne ikke besvarer spørgsmålet, så sig det og "
        "foreslå at kontakte butikken.\n"
        "{% if order %}\nKundens bekræftede ordre:\n{{ order | tojson }}\n{% endif %}"
        "{% if memories %}\nHvad kunden har bedt dig huske om dem:\n"
        "{% for memory in memories %}- {{ memory.question }} {{ memory.answer }}\n{% endfor %}{% endif %}"
        "{% if image and image.description %}\nKunden har sendt et billede. En billedmodel beskriver det sådan:\n"
        "{{ image.description }}\n{% elif image %}\nKunden har sendt et billede, som ikke kan ses her; "
        "gæt ikke på, hvad det viser.\n{% endif %}"
        "{% if context_text %}\nButikkens oplysninger:\n{{ context_text }}\n{% endif %}"
    ),
}


class PromptTemplateError(SamtaleError):
    """A prompt template failed to compile or render; the message names the template."""

    code = "template_error"
    category = ErrorCategory.TEMPLATE


_environment = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    return _environment.from_string(source)


def render_template(*, name: str, source: str, variables: Mapping[str, Any]) -> str:
    """Render one template in the sandbox.

    Raises:
        PromptTemplateError: on a syntax error, an undefined variable or a sandbox violation.
    """
    try:
        return _compile(source).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        raise PromptTemplateError(
            f"prompt template '{name}' has a syntax error on line {exc.lineno}: {exc.message}"
        ) from exc
    except (jinja2.UndefinedError, jinja2.exceptions.SecurityError, TypeError, ValueError) as exc:
        raise PromptTemplateError(f"prompt template '{name}' failed to render: {exc}") from exc


def context_as_text(context: Sequence[ContextChunk]) -> str:
    """The retrieved chunks as numbered blocks, for the prompt."""
    blocks = []
    for number, chunk in enumerate(context, start=1):
        heading = f"[{number}] {chunk.title}" if chunk.title else f"[{number}]"
        blocks.append(f"{heading}\n{chunk.text}")
    return "\n\n".join(blocks)


def build_messages(
    *,
    chatbot: ChatbotConfig,
    flow: FlowConfig,
    question: str,
    history: Sequence[tuple[str, str]],
    context: Sequence[ContextChunk],
    order: Mapping[str, Any] | None,
    memories: Sequence[tuple[str, str]] = (),
    image: Mapping[str, Any] | None = None,
) -> list[ChatMessage]:
    """The chat messages sent to the LLM: rendered system prompt, recent history, the question.

    ``memories`` are the shopper's recalled memories as ``(question, answer)`` pairs; ``image``
    the message's photo as the ``image`` event has it (description, source, facts), or None.

    The flow's template is ``flow.prompt``, else a prompt named after the flow type, else the
    built-in default in the chatbot's language.

    Raises:
        PromptTemplateError: when the template fails.
    """
    name = flow.prompt or flow.type
    source = chatbot.prompts.get(name)
    if source is None:
        name, source = f"default-{chatbot.language}", DEFAULT_SYSTEM_PROMPTS[chatbot.language]
    variables = {
        "chatbot": {"id": chatbot.id, "name": chatbot.name, "language": chatbot.language},
        "flow": {"type": flow.type, "route_key": flow.key},
        "question": question,
        "language": chatbot.language,
        "context": [
            {"title": c.title, "text": c.text, "metadata": c.metadata, "score": c.score, "source": c.source}
            for c in context
        ],
        "context_text": context_as_text(context),
        "order": dict(order) if order else None,
        "history": [{"role": role, "content": content} for role, content in history],
        "memories": [{"question": question, "answer": answer} for question, answer in memories],
        "image": dict(image) if image is not None else None,
    }
    system = render_template(name=name, source=source, variables=variables)
    messages = [ChatMessage(role="system", content=system)]
    for role, content in history:
        if role in ("user", "assistant") and content:  # a photo sent without text left an empty message
            messages.append(ChatMessage(role=role, content=content))  # type: ignore[arg-type]
    messages.append(ChatMessage(role="user", content=question))
    return messages
