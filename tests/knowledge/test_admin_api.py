"""An operator manages a shop's knowledge over the admin API: uploads a batch of files (some of
them bad), follows the background job, sees the indexes and documents, deletes one, re-indexes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from samtale.chatbots.apikeys import create_api_key
from samtale.chatbots.service import import_chatbot, parse_chatbot_documents
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.base import utcnow
from samtale.storage.models.knowledge import KnowledgeIndex, KnowledgeJob
from tests.conftest import SettingsFactory
from tests.knowledge.helpers import SHARED_DATA
from tests.knowledge.test_formats import HANDBOOK_PAGES, SHIPPING_PAGE, make_pdf

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = "/api/admin/chatbots/wine-shop/knowledge"
SIZE_LIMIT = 200_000


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """The usual test settings with a small knowledge file size limit."""
    return make_settings(knowledge_max_file_bytes=SIZE_LIMIT)


@pytest.fixture
async def admin(services: Services) -> dict[str, str]:
    """The wine shop imported from the example config, and headers with its admin key."""
    text = await asyncio.to_thread((ROOT / "examples" / "wine-shop.yaml").read_text, encoding="utf-8")
    await import_chatbot(
        db=services.db, config=parse_chatbot_documents(text)[0], secret_key=services.settings.secret_key
    )
    key = await create_api_key(db=services.db, name="ops", is_admin=True, chatbot_id="wine-shop")
    return {"Authorization": f"Bearer {key}"}


async def finished(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll a job's status URL until it ends; returns the last status."""
    for _ in range(1200):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        job = response.json()
        if job["state"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the job did not end: {job}")


async def test_an_upload_ingests_the_good_files_and_reports_each_bad_one(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str]
) -> None:
    apparel = await asyncio.to_thread((SHARED_DATA / "catalog" / "shopify-apparel.csv").read_bytes)
    files = [
        ("files", ("shipping.html", SHIPPING_PAGE.encode(), "text/html")),
        ("files", ("handbook.pdf", make_pdf(HANDBOOK_PAGES, title="Customer handbook"), "application/pdf")),
        ("files", ("broken.pdf", make_pdf(HANDBOOK_PAGES)[:300], "application/pdf")),
        ("files", ("vins.csv", "id,name\n1,Côtes du Rhône\n".encode("latin-1"), "text/csv")),
        ("files", ("app.html", b"<html><body><script>boot()</script></body></html>", "text/html")),
        ("files", ("huge.txt", b"word " * (SIZE_LIMIT // 4), "text/plain")),
        ("files", ("shopify-apparel.csv", apparel, "text/csv")),
    ]
    response = await client.post(f"{KNOWLEDGE}/indexes/shop/documents", files=files, headers=admin)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["job"]["state"] == "queued" and response.headers["Location"] == accepted["status_url"]
    job = await finished(client, accepted["status_url"], admin)

    assert job["state"] == "completed_with_errors"
    assert job["files"] == [name for _, (name, _, _) in files]
    errors = {error["file"]: error["message"] for error in job["errors"]}
    assert set(errors) == {"broken.pdf", "vins.csv", "app.html", "huge.txt"}
    assert "not a readable PDF" in errors["broken.pdf"]
    assert "is not UTF-8" in errors["vins.csv"]
    assert "no main text" in errors["app.html"]
    assert f"over the {SIZE_LIMIT:,}-byte limit" in errors["huge.txt"]
    assert job["result"]["documents_added"] == 22 and job["result"]["files_failed"] == 4
    assert job["progress"]["phase"] == "done" and job["progress"]["done"] == job["progress"]["total"] > 0

    indexes = (await client.get(f"{KNOWLEDGE}/indexes", headers=admin)).json()["indexes"]
    assert [(i["name"], i["documents"]) for i in indexes] == [("shop", 22)]
    assert indexes[0]["chunks"] >= 22 and indexes[0]["embedding_model"] == "all-MiniLM-L6-v2"
    listed = (await client.get(f"{KNOWLEDGE}/indexes/shop/documents?limit=5", headers=admin)).json()
    assert listed["total"] == 22 and len(listed["documents"]) == 5
    top = (await client.get(f"{KNOWLEDGE}/indexes/shop/documents?limit=100", headers=admin)).json()["documents"]
    varsity = next(d for d in top if d["id"] == "classic-varsity-top")
    assert varsity["source"] == "shopify-apparel.csv" and varsity["metadata"]["price"] == 60

    found = await services.retriever.search(
        chatbot_id="wine-shop", index_name="shop", query="Classic Varsity Top", top_k=1
    )
    assert found[0].document_id == "classic-varsity-top"
    deleted = await client.delete(f"{KNOWLEDGE}/indexes/shop/documents/classic-varsity-top", headers=admin)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "classic-varsity-top", "index": "shop"}
    found = await services.retriever.search(
        chatbot_id="wine-shop", index_name="shop", query="Classic Varsity Top", top_k=3
    )
    assert "classic-varsity-top" not in [chunk.document_id for chunk in found]
    missing = await client.delete(f"{KNOWLEDGE}/indexes/shop/documents/classic-varsity-top", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "knowledge_not_found"

    chunks_before = (await client.get(f"{KNOWLEDGE}/indexes", headers=admin)).json()["indexes"][0]
    started = await client.post(f"{KNOWLEDGE}/indexes/shop/reindex", headers=admin)
    assert started.status_code == 202
    reindexed = await finished(client, started.json()["status_url"], admin)
    assert reindexed["state"] == "succeeded" and reindexed["kind"] == "reindex"
    assert reindexed["result"]["chunks"] == chunks_before["chunks"]
    assert reindexed["result"]["chunks_embedded"] == 0  # every vector came from the embedding cache
    after = (await client.get(f"{KNOWLEDGE}/indexes", headers=admin)).json()["indexes"][0]
    assert (after["documents"], after["chunks"]) == (21, chunks_before["chunks"])
    assert after["version"] > chunks_before["version"]
    found = await services.retriever.search(
        chatbot_id="wine-shop", index_name="shop", query="how long do I have to return an item?", top_k=1
    )
    assert found[0].document_id == "handbook.pdf" and found[0].metadata["page"] == 1

    history = (await client.get(f"{KNOWLEDGE}/jobs", headers=admin)).json()["jobs"]
    assert [j["kind"] for j in history] == ["reindex", "ingest"]


async def test_the_knowledge_api_needs_an_admin_key_of_the_chatbot(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str]
) -> None:
    other = await create_api_key(db=services.db, name="other", is_admin=True, chatbot_id="other-shop")
    widget = await create_api_key(db=services.db, name="widget", is_admin=False)
    upload = {"files": ("faq.md", b"# FAQ\n\nWe ship in two days.\n", "text/markdown")}

    assert (await client.get(f"{KNOWLEDGE}/indexes")).status_code == 401
    assert (await client.get(f"{KNOWLEDGE}/indexes", headers={"X-API-Key": widget})).status_code == 403
    refused = await client.post(f"{KNOWLEDGE}/indexes/faq/documents", files=upload, headers={"X-API-Key": other})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    accepted = await client.post(f"{KNOWLEDGE}/indexes/faq/documents", files=upload, headers=admin)
    job = await finished(client, accepted.json()["status_url"], admin)
    assert job["state"] == "succeeded" and job["errors"] == []
    foreign = await client.get(
        f"/api/admin/chatbots/other-shop/knowledge/jobs/{job['id']}", headers={"X-API-Key": other}
    )
    assert foreign.status_code == 404  # another chatbot's job is not found, not shown


async def test_bad_requests_get_a_clear_error(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str]
) -> None:
    upload = {"files": ("faq.md", b"# FAQ\n\nWe ship in two days.\n", "text/markdown")}
    no_files = await client.post(f"{KNOWLEDGE}/indexes/faq/documents", data={"prune": "true"}, headers=admin)
    assert no_files.status_code == 422 and no_files.json()["error"]["code"] == "invalid_input"
    bad_name = await client.post(f"{KNOWLEDGE}/indexes/my%20faq!/documents", files=upload, headers=admin)
    assert bad_name.status_code == 422 and "invalid index name" in bad_name.json()["error"]["message"]
    unknown_shop = await client.post(
        "/api/admin/chatbots/nobody/knowledge/indexes/faq/documents",
        files=upload,
        headers={"Authorization": f"Bearer {await create_api_key(db=services.db, name='root', is_admin=True)}"},
    )
    assert unknown_shop.status_code == 404 and unknown_shop.json()["error"]["code"] == "chatbot_not_found"
    assert (await client.post(f"{KNOWLEDGE}/indexes/none/reindex", headers=admin)).status_code == 404

    async with services.db.session() as session:
        session.add(
            KnowledgeIndex(
                chatbot_id="wine-shop",
                name="legacy",
                embedding_model="text-embedding-3-small",
                dimension=1536,
                version=3,
            )
        )
    other_model = await client.post(f"{KNOWLEDGE}/indexes/legacy/documents", files=upload, headers=admin)
    assert other_model.status_code == 409 and other_model.json()["error"]["code"] == "embedder_mismatch"


async def test_a_job_whose_worker_stopped_is_reported_failed(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str]
) -> None:
    silent_since = utcnow() - timedelta(minutes=10)
    async with services.db.session() as session:
        session.add(
            KnowledgeJob(
                id="job-of-a-dead-worker",
                chatbot_id="wine-shop",
                index_name="products",
                kind="ingest",
                state="running",
                phase="embedding",
                done=120,
                total=5810,
                files=["winemag-5k.csv"],
                errors=[],
                worker="other-host:4242:deadbeef",
                created_at=silent_since,
                started_at=silent_since,
                updated_at=silent_since,
            )
        )
    job = (await client.get(f"{KNOWLEDGE}/jobs/job-of-a-dead-worker", headers=admin)).json()
    assert job["state"] == "failed" and job["progress"]["done"] == 120
    assert "the worker running this job stopped" in job["errors"][-1]["message"]
    assert job["finished_at"] is not None


def test_file_names_are_reduced_to_their_last_part() -> None:
    from samtale.knowledge.jobs import safe_file_name

    assert safe_file_name("../../etc/passwd", fallback="x") == "passwd"
    assert safe_file_name("C:\\shop\\terms.md", fallback="x") == "terms.md"
    assert safe_file_name("..", fallback="upload-1") == "upload-1"
