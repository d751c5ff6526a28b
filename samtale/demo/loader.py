"""Loads the demo shop: chatbots ``vinhuset`` (English) and ``vinhuset-da`` (Danish) with their data.

The data in this folder was written for the project: 34 wines and the shop's terms in English
and Danish. Loading is idempotent: chatbots are replaced, and re-ingesting unchanged files adds
no chunk.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import import_chatbot, parse_chatbot_documents
from samtale.knowledge.embedders import build_embedder
from samtale.knowledge.ingest import ingest_paths
from samtale.settings import Settings
from samtale.storage.db import create_database
from samtale.storage.migrate import upgrade_database

DEMO_DIR = Path(__file__).parent
DEMO_CHATBOTS = {
    "vinhuset": {"language": "en", "policies": DEMO_DIR / "policies.en.md"},
    "vinhuset-da": {"language": "da", "policies": DEMO_DIR / "policies.da.md"},
}


def _demo_config() -> list[ChatbotConfig]:
    return parse_chatbot_documents((DEMO_DIR / "vinhuset.yaml").read_text(encoding="utf-8"))


async def load_demo(*, settings: Settings, console: Console | None = None) -> None:
    """Migrate, import the demo chatbots and ingest their knowledge bases."""
    # Alembic runs synchronously, and the YAML and the embedding model are files: all three are
    # done in worker threads so the event loop running this is never blocked.
    await asyncio.to_thread(upgrade_database, settings.database_url)
    base = (await asyncio.to_thread(_demo_config))[0]
    db = create_database(settings.database_url)
    embedder = await asyncio.to_thread(build_embedder, settings)
    try:
        for chatbot_id, spec in DEMO_CHATBOTS.items():
            config = base.model_copy(
                update={
                    "id": chatbot_id,
                    "name": "Vinhuset" if spec["language"] == "en" else "Vinhuset (dansk)",
                    "language": spec["language"],
                }
            )
            await import_chatbot(db=db, config=config, secret_key=settings.secret_key)
            for index_name, paths, id_column in (
                ("products", [DEMO_DIR / "products.csv"], "id"),
                ("policies", [Path(str(spec["policies"]))], None),
            ):
                report = await ingest_paths(
                    db=db,
                    embedder=embedder,
                    chatbot_id=chatbot_id,
                    index_name=index_name,
                    paths=paths,
                    id_column=id_column,
                )
                if console is not None:
                    console.print(
                        f"{chatbot_id}/{index_name}: {report.documents_added} documents added, "
                        f"{report.documents_updated} updated, {report.documents_unchanged} unchanged, "
                        f"{report.chunks_written} chunks written"
                    )
    finally:
        await db.dispose()
