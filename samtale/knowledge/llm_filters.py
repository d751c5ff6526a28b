"""Question filters from the chatbot's LLM (structured output), validated against the catalogue:
:class:`LLMFilterExtractor`, used by :func:`samtale.knowledge.question_filters.choose_filters` when a
flow asks for LLM filters and the rules found none."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from samtale.knowledge.catalogue_fields import CatalogueFields
from samtale.knowledge.lexical import fold
from samtale.llm.base import ChatMessage, GenerationRequest, LLMProvider


def filters_schema(fields: CatalogueFields) -> dict[str, Any]:
    """The OpenAI ``response_format`` asking for ``{"filters": [{field, op, value}]}`` over ``fields``."""
    names = list(fields.numeric) + list(fields.values)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "catalogue_filters",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "filters": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string", "enum": names},
                                "op": {"type": "string", "enum": ["eq", "in", "lt", "lte", "gt", "gte"]},
                                "value": {"type": ["string", "number", "array"], "items": {"type": "string"}},
                            },
                            "required": ["field", "op", "value"],
                            "additionalProperties": False,
                        },
                    }
                },
                "required": ["filters"],
                "additionalProperties": False,
            },
        },
    }


def validated_llm_filters(answer: str, fields: CatalogueFields) -> dict[str, Any]:
    """The filters of an LLM's JSON answer that name real fields with values the catalogue holds.

    Anything else (unknown field or value, a range on a category, text that is not JSON) is dropped.
    """
    try:
        document = json.loads(answer)
    except ValueError:
        return {}
    items = document.get("filters") if isinstance(document, dict) else None
    found: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name, operator, value = item.get("field"), item.get("op"), item.get("value")
        if name in fields.numeric and operator in ("lt", "lte", "gt", "gte", "eq"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.setdefault(name, {})[operator] = value
        elif name in fields.values and operator in ("eq", "in"):
            known = fields.values[name]
            wanted = value if isinstance(value, list) else [value]
            matched = [known[fold(str(v)).strip()] for v in wanted if fold(str(v)).strip() in known]
            if matched:
                found[name] = matched[0] if len(matched) == 1 else matched
    return found


class LLMFilterExtractor:
    """Asks the chatbot's LLM for filters with structured output; the answer is validated.

    Args:
        provider: the flow's LLM provider.
        model: the model to ask; None = the provider's.
        timeout_s: how long to wait before going on without LLM filters.
    """

    def __init__(self, *, provider: LLMProvider, model: str | None = None, timeout_s: float = 5.0) -> None:
        self.provider = provider
        self.model = model
        self.timeout_s = timeout_s

    async def extract(self, question: str, fields: CatalogueFields) -> dict[str, Any]:
        """Filters for ``question`` (``{}`` when the LLM names none that the catalogue can use).

        Raises:
            LLMError: the provider failed; TimeoutError: no answer within ``timeout_s``.
        """
        prompt = (
            "Turn the shopper's question into filters over this product catalogue. Use only the fields "
            "listed and only conditions the shopper states (a price limit, a country, a grape...). "
            "Category values must be written as the catalogue writes them. Answer JSON "
            '{"filters": [{"field": ..., "op": "eq|in|lt|lte|gt|gte", "value": ...}]}; '
            'answer {"filters": []} when the question states no condition.\n\n'
            f"Fields: {json.dumps(fields.describe(), ensure_ascii=False)}\n\nQuestion: {question}"
        )
        request = GenerationRequest(
            messages=[ChatMessage(role="user", content=prompt)],
            question=question,
            model=self.model,
            temperature=0.0,
            max_tokens=200,
            response_format=filters_schema(fields),
        )
        completion = await asyncio.wait_for(self.provider.complete(request), timeout=self.timeout_s)
        return validated_llm_filters(completion.text, fields)
