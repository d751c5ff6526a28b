"""Which knowledge indexes use a remote vector store: chatbot integrations of kind ``pinecone``/``qdrant``.

A chatbot's YAML names the store as an integration; its API key is a secret (``${ENV_VAR}`` or a
literal encrypted at rest by :mod:`samtale.chatbots.secrets`), never stored or logged in clear::

    integrations:
      - name: catalogue-vectors
        kind: pinecone
        settings: {knowledge_indexes: [products], index: vinhuset, namespace: products}
        secrets: {api_key: "${PINECONE_API_KEY}"}
      - name: policy-vectors
        kind: qdrant
        settings: {knowledge_index: policies, url: "http://qdrant:6333", collection: vinhuset-policies}
        secrets: {api_key: "${QDRANT_API_KEY}"}

Settings: ``knowledge_index`` or ``knowledge_indexes`` (required: the indexes that use it).
Pinecone: ``index`` (required), ``namespace`` (default ``{chatbot}.{knowledge index}``),
``host`` (control plane, default Pinecone's), ``index_host``, ``cloud``, ``region``,
``timeout_s``; secret ``api_key`` (required). Qdrant: ``url`` (required), ``collection``
(default ``{chatbot}__{knowledge index}``), ``timeout_s``; secret ``api_key`` (optional).
An index named by no such integration stays in the embedded store.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from samtale.chatbots.service import integration_secrets
from samtale.errors import InputError
from samtale.knowledge.stores.base import VectorStore
from samtale.knowledge.stores.pinecone import PineconeStore
from samtale.knowledge.stores.qdrant import QdrantStore
from samtale.storage.db import Database
from samtale.storage.models import Integration

STORE_KINDS = frozenset({"pinecone", "qdrant"})


class StoreConfigError(InputError):
    """A vector-store integration is missing a setting or a secret it needs."""

    code = "invalid_vector_store_config"


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """A resolved store configuration for one knowledge index (secrets included: never log it)."""

    kind: str
    integration: str
    settings: tuple[tuple[str, Any], ...]
    api_key: str | None

    def fingerprint(self) -> str:
        """A digest of the whole spec (the key hashed too), to notice a changed configuration."""
        text = repr((self.kind, self.integration, self.settings, self.api_key))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def indexes_of(settings: Mapping[str, Any]) -> list[str]:
    """The knowledge indexes an integration's settings name (``knowledge_index``/``knowledge_indexes``)."""
    names: list[str] = []
    if isinstance(settings.get("knowledge_index"), str):
        names.append(settings["knowledge_index"])
    many = settings.get("knowledge_indexes")
    if isinstance(many, list):
        names.extend(str(name) for name in many)
    return names


def build_store(*, chatbot_id: str, index_name: str, spec: StoreSpec) -> VectorStore:
    """The store client for ``spec`` serving ``index_name`` of ``chatbot_id``.

    Raises:
        StoreConfigError: a required setting or secret is missing.
    """
    settings = dict(spec.settings)
    timeout_s = float(settings.get("timeout_s", 10.0))
    where = f"integration {spec.integration!r} ({spec.kind})"
    if spec.kind == "pinecone":
        if not settings.get("index"):
            raise StoreConfigError(f"{where}: settings.index (the Pinecone index name) is required")
        if not spec.api_key:
            raise StoreConfigError(f"{where}: secrets.api_key is required")
        return PineconeStore(
            api_key=spec.api_key,
            index_name=str(settings["index"]),
            namespace=str(settings.get("namespace") or f"{chatbot_id}.{index_name}"),
            controller_host=settings.get("host"),
            index_host=settings.get("index_host"),
            cloud=str(settings.get("cloud", "aws")),
            region=str(settings.get("region", "us-east-1")),
            timeout_s=timeout_s,
        )
    if spec.kind == "qdrant":
        if not settings.get("url"):
            raise StoreConfigError(f"{where}: settings.url (the Qdrant server) is required")
        return QdrantStore(
            url=str(settings["url"]),
            collection=str(settings.get("collection") or f"{chatbot_id}__{index_name}"),
            api_key=spec.api_key,
            timeout_s=timeout_s,
        )
    raise StoreConfigError(f"{where}: unknown vector store kind; use one of {', '.join(sorted(STORE_KINDS))}")


class StoreRegistry:
    """Finds the remote store of a chatbot's knowledge index from its integrations, and keeps clients.

    The integration rows are re-read at most every ``check_interval_s`` seconds per index, so an
    imported config change reaches every worker; a client is rebuilt only when its spec changed.

    Args:
        db: the database (integrations table).
        secret_key: ``SAMTALE_SECRET_KEY``, to decrypt the stores' API keys.
        check_interval_s: how long a lookup is trusted (seconds).
    """

    def __init__(self, *, db: Database, secret_key: str, check_interval_s: float = 30.0) -> None:
        self.db = db
        self.secret_key = secret_key
        self.check_interval_s = check_interval_s
        self._entries: dict[tuple[str, str], tuple[float, str | None, VectorStore | None]] = {}
        self._lock = asyncio.Lock()

    async def spec_for(self, *, chatbot_id: str, index_name: str) -> StoreSpec | None:
        """The store spec of the index, or None when it uses the embedded store.

        Raises:
            StoreConfigError: two store integrations name the same index.
            SecretError: the API key cannot be decrypted or its ``${ENV}`` variable is unset.
        """
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(Integration).where(Integration.chatbot_id == chatbot_id, Integration.kind.in_(STORE_KINDS))
                )
            ).all()
        found = [row for row in rows if index_name in indexes_of(row.settings)]
        if not found:
            return None
        if len(found) > 1:
            names = ", ".join(sorted(row.name for row in found))
            raise StoreConfigError(f"knowledge index {index_name!r} is named by several vector stores: {names}")
        row = found[0]
        secrets = await integration_secrets(
            db=self.db, chatbot_id=chatbot_id, name=row.name, secret_key=self.secret_key
        )
        settings = {key: value for key, value in row.settings.items() if not key.startswith("_")}
        return StoreSpec(
            kind=row.kind,
            integration=row.name,
            settings=tuple(
                sorted(
                    (key, repr(value) if isinstance(value, list | dict) else value) for key, value in settings.items()
                )
            ),
            api_key=secrets.get("api_key"),
        )

    async def resolve(self, *, chatbot_id: str, index_name: str) -> VectorStore | None:
        """The store client of the index (cached), or None for the embedded store."""
        key = (chatbot_id, index_name)
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self.check_interval_s:
            return entry[2]
        async with self._lock:
            spec = await self.spec_for(chatbot_id=chatbot_id, index_name=index_name)
            fingerprint = spec.fingerprint() if spec is not None else None
            entry = self._entries.get(key)
            if entry is not None and entry[1] == fingerprint:
                self._entries[key] = (time.monotonic(), fingerprint, entry[2])
                return entry[2]
            if entry is not None and entry[2] is not None:
                await entry[2].aclose()
            store = build_store(chatbot_id=chatbot_id, index_name=index_name, spec=spec) if spec is not None else None
            self._entries[key] = (time.monotonic(), fingerprint, store)
            return store

    async def aclose(self) -> None:
        """Close every store client."""
        for _, _, store in self._entries.values():
            if store is not None:
                await store.aclose()
        self._entries.clear()
