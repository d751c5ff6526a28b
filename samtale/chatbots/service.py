"""Chatbot configuration service: YAML import and export, loading, integration secrets.

A chatbot document is split on import: the flows, routing and settings go to ``chatbots.config``,
prompt templates to ``prompt_templates`` and integrations to ``integrations`` (literal secrets
Fernet-encrypted, ``${ENV}`` references kept as references). Export puts the document back
together with :data:`~samtale.chatbots.secrets.REDACTED` in place of every encrypted secret;
importing such an export keeps the stored secret, so import → export → import round-trips.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, select

from samtale.chatbots.routing_config import RoutingConfigError
from samtale.chatbots.routing_validation import validate_routing
from samtale.chatbots.schema import ChatbotConfig, IntegrationConfig
from samtale.chatbots.secrets import REDACTED, decrypt_secrets, encrypt_secrets, is_env_reference, resolve_secret
from samtale.errors import InputError, NotFoundError
from samtale.storage.db import Database
from samtale.storage.models import Chatbot, Integration, PromptTemplate


class ChatbotNotFoundError(NotFoundError):
    """No chatbot with that id exists."""

    code = "chatbot_not_found"


class ChatbotConfigError(InputError):
    """A chatbot document does not validate; the message names the field and the flow."""

    code = "invalid_chatbot_config"


class ConfigCache(Protocol):
    """The part of a cache the service uses (see ``samtale.storage.cache``)."""

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        """Return the cached value or load, store and return it."""
        ...

    async def delete(self, key: str) -> None:
        """Invalidate one key (in every worker)."""
        ...


def parse_chatbot_documents(text: str) -> list[ChatbotConfig]:
    """Parse one or more YAML documents (``---`` separated) into validated chatbot configs.

    Raises:
        ChatbotConfigError: on YAML syntax errors or a document that does not validate; the
            message says which document and field.
    """
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise ChatbotConfigError(f"not valid YAML: {exc}") from exc
    if not documents:
        raise ChatbotConfigError("the file holds no chatbot document")
    configs = []
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, dict):
            raise ChatbotConfigError(f"document {number} is not a mapping")
        try:
            config = ChatbotConfig.model_validate(document)
            validate_routing(config)
            configs.append(config)
        except RoutingConfigError as exc:
            raise ChatbotConfigError(f"chatbot document {number} is invalid: {exc.message}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'document'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ChatbotConfigError(f"chatbot document {number} is invalid: {problems}") from exc
    return configs


def dump_chatbot_yaml(config: ChatbotConfig) -> str:
    """A chatbot config as a YAML document (unset optional fields left out)."""
    data = config.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _stored_document(config: ChatbotConfig) -> dict[str, Any]:
    document = config.model_dump(mode="json", exclude={"prompts", "integrations", "identity_secret"}, exclude_none=True)
    if config.identity_secret is not None and is_env_reference(config.identity_secret):
        document["identity_secret"] = config.identity_secret  # a reference, not the secret
    return document


def _identity_secret_token(config: ChatbotConfig, existing: Chatbot | None, secret_key: str) -> bytes | None:
    """The Fernet token to store for the chatbot's literal ``identity_secret`` (None for none or ``${ENV}``).

    Raises:
        ChatbotConfigError: ``<encrypted>`` given when no identity secret is stored.
    """
    value = config.identity_secret
    if value is None or is_env_reference(value):
        return None
    if value == REDACTED:
        if existing is None or existing.identity_secret_encrypted is None:
            raise ChatbotConfigError(f"identity_secret is {REDACTED} but no identity secret is stored for this chatbot")
        return existing.identity_secret_encrypted
    return encrypt_secrets({"identity_secret": value}, secret_key=secret_key)


async def import_chatbot(
    *, db: Database, config: ChatbotConfig, secret_key: str, cache: ConfigCache | None = None
) -> None:
    """Create or replace a chatbot from its config document.

    Literal secrets of integrations and a literal ``identity_secret`` are encrypted; a secret
    given as ``<encrypted>`` keeps the value already stored (so an export can be edited and
    imported back).

    Raises:
        ChatbotConfigError: when ``<encrypted>`` is given for a secret nothing is stored for.
    """
    async with db.session() as session:
        existing = await session.get(Chatbot, config.id)
        old_secrets: dict[str, dict[str, str]] = {}
        if existing is not None:
            for integration in (
                await session.scalars(select(Integration).where(Integration.chatbot_id == config.id))
            ).all():
                if integration.secrets_encrypted:
                    old_secrets[integration.name] = decrypt_secrets(
                        integration.secrets_encrypted, secret_key=secret_key
                    )
            await session.execute(delete(Integration).where(Integration.chatbot_id == config.id))
            await session.execute(delete(PromptTemplate).where(PromptTemplate.chatbot_id == config.id))
            existing.name = config.name
            existing.language = config.language
            existing.config = _stored_document(config)
            existing.identity_secret_encrypted = _identity_secret_token(config, existing, secret_key)
        else:
            session.add(
                Chatbot(
                    id=config.id,
                    name=config.name,
                    language=config.language,
                    config=_stored_document(config),
                    identity_secret_encrypted=_identity_secret_token(config, None, secret_key),
                )
            )
        for name, body in config.prompts.items():
            session.add(PromptTemplate(chatbot_id=config.id, name=name, body=body))
        for integration_config in config.integrations:
            session.add(_integration_row(config.id, integration_config, old_secrets, secret_key))
    if cache is not None:
        await cache.delete(config.id)


def _integration_row(
    chatbot_id: str, integration: IntegrationConfig, old_secrets: dict[str, dict[str, str]], secret_key: str
) -> Integration:
    references: dict[str, str] = {}
    literals: dict[str, str] = {}
    for name, value in integration.secrets.items():
        if is_env_reference(value):
            references[name] = value
        elif value == REDACTED:
            previous = old_secrets.get(integration.name, {})
            if name not in previous:
                raise ChatbotConfigError(
                    f"integration '{integration.name}': secret '{name}' is {REDACTED} but no value is stored for it"
                )
            literals[name] = previous[name]
        else:
            literals[name] = value
    return Integration(
        chatbot_id=chatbot_id,
        name=integration.name,
        kind=integration.kind,
        settings={**integration.settings, "_secret_references": references, "_secret_names": sorted(literals)},
        secrets_encrypted=encrypt_secrets(literals, secret_key=secret_key) if literals else None,
    )


async def load_chatbot(*, db: Database, chatbot_id: str) -> ChatbotConfig:
    """Load a chatbot's whole config with secrets redacted (encrypted ones as ``<encrypted>``).

    Raises:
        ChatbotNotFoundError: when no chatbot has that id.
    """
    async with db.session() as session:
        row = await session.get(Chatbot, chatbot_id)
        if row is None:
            raise ChatbotNotFoundError(f"unknown chatbot '{chatbot_id}'")
        prompts = (
            await session.scalars(
                select(PromptTemplate).where(PromptTemplate.chatbot_id == chatbot_id).order_by(PromptTemplate.name)
            )
        ).all()
        integrations = (
            await session.scalars(
                select(Integration).where(Integration.chatbot_id == chatbot_id).order_by(Integration.name)
            )
        ).all()
    document = dict(row.config)
    if row.identity_secret_encrypted is not None:
        document["identity_secret"] = REDACTED
    document["prompts"] = {prompt.name: prompt.body for prompt in prompts}
    document["integrations"] = [_integration_document(integration) for integration in integrations]
    return ChatbotConfig.model_validate(document)


def _integration_document(integration: Integration) -> dict[str, Any]:
    settings = dict(integration.settings)
    references: dict[str, str] = settings.pop("_secret_references", {})
    encrypted_names: list[str] = settings.pop("_secret_names", [])
    secrets = dict(references)
    # Names only: the encrypted values stay encrypted.
    secrets.update({name: REDACTED for name in encrypted_names})
    return {"name": integration.name, "kind": integration.kind, "settings": settings, "secrets": secrets}


async def get_chatbot(*, db: Database, chatbot_id: str, cache: ConfigCache | None = None) -> ChatbotConfig:
    """The chatbot's config, from the cache when given (TTL 5 min by default, seed 000).

    Raises:
        ChatbotNotFoundError: when no chatbot has that id.
    """
    if cache is None:
        return await load_chatbot(db=db, chatbot_id=chatbot_id)
    config: ChatbotConfig = await cache.get_or_load(chatbot_id, lambda: load_chatbot(db=db, chatbot_id=chatbot_id))
    return config


async def list_chatbots(*, db: Database) -> list[tuple[str, str, str]]:
    """Every chatbot as ``(id, name, language)``, by id."""
    async with db.session() as session:
        rows = (await session.execute(select(Chatbot.id, Chatbot.name, Chatbot.language).order_by(Chatbot.id))).all()
    return [(row[0], row[1], row[2]) for row in rows]


async def allowed_origins_by_chatbot(*, db: Database) -> dict[str, list[str]]:
    """``allowed_origins`` of every chatbot, by chatbot id (validated when the documents were written)."""
    async with db.session() as session:
        rows = (await session.execute(select(Chatbot.id, Chatbot.config))).all()
    return {chatbot_id: list((document or {}).get("allowed_origins") or []) for chatbot_id, document in rows}


_RETENTION_DAYS: TypeAdapter[int | None] = TypeAdapter(int | None)


async def retention_days_by_chatbot(*, db: Database) -> dict[str, int]:
    """``retention_days`` of every chatbot that sets it, by chatbot id (the retention job's input).

    Read from the stored documents (validated by :class:`ChatbotConfig` when they were written);
    a chatbot without ``retention_days`` keeps its conversations for ever and is not listed.
    """
    async with db.session() as session:
        rows = (await session.execute(select(Chatbot.id, Chatbot.config))).all()
    found: dict[str, int] = {}
    for chatbot_id, document in rows:
        value = _RETENTION_DAYS.validate_python((document or {}).get("retention_days"))
        if value is not None:
            found[chatbot_id] = value
    return found


async def integration_secrets(*, db: Database, chatbot_id: str, name: str, secret_key: str) -> dict[str, str]:
    """The decrypted and resolved secrets of one integration (for the outbound client only).

    Raises:
        NotFoundError: when the chatbot has no integration of that name.
        SecretError: when a secret cannot be decrypted or an ``${ENV}`` variable is unset.
    """
    async with db.session() as session:
        integration = await session.scalar(
            select(Integration).where(Integration.chatbot_id == chatbot_id, Integration.name == name)
        )
    if integration is None:
        raise NotFoundError(f"chatbot '{chatbot_id}' has no integration '{name}'")
    resolved = {key: resolve_secret(value) for key, value in integration.settings.get("_secret_references", {}).items()}
    if integration.secrets_encrypted:
        resolved.update(decrypt_secrets(integration.secrets_encrypted, secret_key=secret_key))
    return resolved


async def identity_secret(*, db: Database, chatbot_id: str, secret_key: str) -> str | None:
    """The chatbot's decrypted (or ``${ENV}``-resolved) identity secret, None when it has none.

    For verifying ``user_hash`` only; never log or return it.

    Raises:
        ChatbotNotFoundError: when no chatbot has that id.
        SecretError: the stored secret cannot be decrypted, or its ``${ENV}`` variable is unset.
    """
    async with db.session() as session:
        row = (
            await session.execute(
                select(Chatbot.config, Chatbot.identity_secret_encrypted).where(Chatbot.id == chatbot_id)
            )
        ).first()
    if row is None:
        raise ChatbotNotFoundError(f"unknown chatbot '{chatbot_id}'")
    config, token = row
    if token is not None:
        return decrypt_secrets(token, secret_key=secret_key)["identity_secret"]
    reference = config.get("identity_secret")
    return resolve_secret(reference) if isinstance(reference, str) else None
