"""Routing examples: reading ``utterance,flow`` CSV files and storing them in a chatbot's config.

The examples of a chatbot live in its config document (``routing.examples``, route key →
utterances), so they are exported and imported with the chatbot.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from samtale.chatbots.routing_validation import route_keys, validate_routing
from samtale.chatbots.schema import ChatbotConfig
from samtale.errors import InputError, NotFoundError
from samtale.storage.db import Database
from samtale.storage.models import Chatbot, Integration, PromptTemplate


class ExamplesFileError(InputError):
    """A routing examples CSV cannot be read or names an unknown flow."""

    code = "invalid_routing_examples"


@dataclass(frozen=True, slots=True)
class LabelledUtterance:
    """One row of an examples or evaluation file: the utterance and its expected route key."""

    utterance: str
    flow: str


def read_labelled_csv(path: Path) -> list[LabelledUtterance]:
    """Read a CSV with the header ``utterance,flow`` (UTF-8, other columns ignored).

    Raises:
        ExamplesFileError: the file is missing, lacks those columns, or has an empty cell.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"utterance", "flow"} <= set(reader.fieldnames):
                raise ExamplesFileError(f"{path.name}: the header must have the columns `utterance,flow`")
            rows: list[LabelledUtterance] = []
            for line, row in enumerate(reader, start=2):
                utterance = (row.get("utterance") or "").strip()
                flow = (row.get("flow") or "").strip()
                if not utterance or not flow:
                    raise ExamplesFileError(f"{path.name} line {line}: `utterance` and `flow` must both be filled")
                rows.append(LabelledUtterance(utterance=utterance, flow=flow))
    except OSError as exc:
        raise ExamplesFileError(f"cannot read {path}: {exc.strerror}") from exc
    return rows


def merge_examples(
    existing: Mapping[str, list[str]], rows: list[LabelledUtterance], *, route_keys: list[str]
) -> tuple[dict[str, list[str]], int]:
    """``existing`` plus the rows' utterances, without duplicates (case-insensitive, per route key).

    Returns:
        The merged examples and how many utterances were new.

    Raises:
        ExamplesFileError: a row names a flow that is not one of ``route_keys``.
    """
    merged = {key: list(values) for key, values in existing.items()}
    seen = {key: {value.strip().lower() for value in values} for key, values in merged.items()}
    added = 0
    for row in rows:
        if row.flow not in route_keys:
            raise ExamplesFileError(
                f"flow '{row.flow}' of utterance '{row.utterance[:60]}' is not a route key of this chatbot "
                f"({', '.join(route_keys)})"
            )
        key_seen = seen.setdefault(row.flow, set())
        if row.utterance.lower() in key_seen:
            continue
        key_seen.add(row.utterance.lower())
        merged.setdefault(row.flow, []).append(row.utterance)
        added += 1
    return merged, added


async def import_examples(*, db: Database, chatbot_id: str, path: Path) -> int:
    """Merge the ``utterance,flow`` rows of ``path`` into the chatbot's ``routing.examples``.

    The updated document is validated (``ChatbotConfig`` and ``validate_routing``) before it
    is saved. Returns how many utterances were new.

    Raises:
        NotFoundError: no chatbot has that id.
        ExamplesFileError: the file is unreadable or names a flow the chatbot does not have.
        RoutingConfigError: the resulting routing config is refused.
    """
    rows = await asyncio.to_thread(read_labelled_csv, path)
    async with db.session() as session:
        row = await session.get(Chatbot, chatbot_id)
        if row is None:
            raise NotFoundError(f"unknown chatbot '{chatbot_id}'")
        document = dict(row.config)
        routing = dict(document.get("routing") or {})
        current = await _validated(session, chatbot_id, document)
        merged, added = merge_examples(routing.get("examples") or {}, rows, route_keys=route_keys(current))
        routing["examples"] = merged
        document["routing"] = routing
        validate_routing(await _validated(session, chatbot_id, document))
        row.config = document
    return added


async def load_chatbot_config(*, db: Database, chatbot_id: str) -> ChatbotConfig:
    """The chatbot's validated config with its prompt templates and integration names (no secrets).

    Raises:
        NotFoundError: no chatbot has that id.
        ExamplesFileError: the stored document does not validate.
    """
    async with db.session() as session:
        row = await session.get(Chatbot, chatbot_id)
        if row is None:
            raise NotFoundError(f"unknown chatbot '{chatbot_id}'")
        return await _validated(session, chatbot_id, dict(row.config))


async def _validated(session: AsyncSession, chatbot_id: str, document: dict[str, Any]) -> ChatbotConfig:
    """``document`` (a ``chatbots.config``) validated together with the chatbot's stored prompts."""
    prompts = (await session.scalars(select(PromptTemplate).where(PromptTemplate.chatbot_id == chatbot_id))).all()
    integrations = (await session.scalars(select(Integration).where(Integration.chatbot_id == chatbot_id))).all()
    full = {
        **document,
        "prompts": {prompt.name: prompt.body for prompt in prompts},
        "integrations": [{"name": item.name, "kind": item.kind} for item in integrations],
    }
    try:
        return ChatbotConfig.model_validate(full)
    except ValidationError as exc:
        raise ExamplesFileError(f"chatbot '{chatbot_id}' would not validate: {exc.errors()[0]['msg']}") from exc
