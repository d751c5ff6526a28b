"""A shop's real files in every format become the documents and chunks an operator expects, and a
bad file fails alone with a message naming it while the rest of the batch is ingested."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from sqlalchemy import func, select

from samtale.knowledge.chunking import ChunkingOptions, chunk_document
from samtale.knowledge.embedders import LocalEmbedder
from samtale.knowledge.errors import FileTooLargeError, KnowledgeInputError
from samtale.knowledge.ingest import ingest_paths
from samtale.knowledge.parsers import JsonOptions, detect_format, parse_file
from samtale.knowledge.retrieval import Retriever
from samtale.storage.db import Database
from samtale.storage.models.knowledge import KnowledgeChunk, KnowledgeDocument
from tests.knowledge.helpers import SHARED_DATA, chatbot_id

CATALOG = SHARED_DATA / "catalog"
POLICIES = SHARED_DATA / "policies"

SHIPPING_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Shipping and delivery</title></head>
<body><nav><a href="/">Home</a> · <a href="/shop">Shop</a> · <a href="/cart">Cart</a></nav>
<main><h1>Shipping and delivery</h1>
<p>We pack and ship every order within two working days from our workshop in Aarhus.</p>
<h2>Costs</h2><p>Shipping inside Denmark costs 39 kr. Orders over 500 kr ship free of charge.</p>
<h2>Abroad</h2><p>We ship to Sweden and Norway for 99 kr; delivery there takes three to five days.</p></main>
<footer>© Stellaholm · CVR 12345678 · All rights reserved</footer></body></html>"""


def make_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A real PDF (Helvetica text, one list of lines per page), written with pypdf."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for lines in pages:
        page = writer.add_blank_page(width=612, height=792)
        operations = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            operations.append(f"({escaped}) Tj T*")
        operations.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(operations).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})}
        )
    if title:
        writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


HANDBOOK_PAGES = [
    ["Returns", "", "You may return any unworn item within 30 days of delivery.", "Refunds reach your card in 5 days."],
    ["Care", "", "Polish silver jewellery with a soft dry cloth.", "Keep pearls away from perfume."],
]


def test_a_shopify_export_becomes_one_product_per_handle_with_its_variants() -> None:
    result = parse_file(CATALOG / "shopify-jewelery.csv")

    assert result.row_errors == []
    assert len(result.documents) == 20  # 41 rows, 20 handles
    anchor = next(d for d in result.documents if d.external_id == "leather-anchor")
    assert anchor.title == "Anchor Bracelet Mens"
    assert anchor.metadata["price"] == 55 and anchor.metadata["price_max"] == 69.99
    assert anchor.metadata["compare_at_price"] == 85
    assert anchor.metadata["color"] == "Gold, Silver"
    assert anchor.metadata["vendor"] == "Company 123" and anchor.metadata["variants"] == 2
    assert "Price: 55 to 69.99" in anchor.text.splitlines()
    assert "Variants: Gold 69.99; Silver 55" in anchor.text.splitlines()
    necklace = next(d for d in result.documents if d.external_id == "gemstone")
    assert "<" not in necklace.text  # Body (HTML) cleaned
    assert "- Sterling silver chain, 14 inches" in necklace.text.splitlines()

    for name, products in (("shopify-apparel.csv", 20), ("shopify-home-and-garden.csv", 20)):
        parsed = parse_file(CATALOG / name)
        assert (len(parsed.documents), parsed.row_errors) == (products, [])
    pot = next(
        d for d in parse_file(CATALOG / "shopify-home-and-garden.csv").documents if d.external_id == "clay-plant-pot"
    )
    assert pot.metadata["size"] == "Regular, Large" and pot.metadata["price"] == 9.99


def test_xwines_rows_keep_numbers_as_numbers() -> None:
    result = parse_file(CATALOG / "xwines-100.csv", csv_options=None)
    assert len(result.documents) == 100 and result.row_errors == []
    first = result.documents[0]
    assert first.title == "Origem Merlot"
    assert first.metadata["ABV"] == 13.0 and first.metadata["WineID"] == 100062


def test_an_html_page_keeps_its_main_text_and_headings() -> None:
    document = parse_file_bytes("shipping.html", SHIPPING_PAGE.encode())[0]
    chunks = chunk_document(document)

    assert document.title == "Shipping and delivery"
    assert "Home" not in document.text and "CVR" not in document.text  # navigation and footer left out
    titles = [chunk.title for chunk in chunks]
    assert "Shipping and delivery > Costs" in titles
    costs = chunks[titles.index("Shipping and delivery > Costs")]
    assert "Orders over 500 kr ship free" in costs.text


def test_a_pdf_is_read_page_by_page_and_chunks_know_their_page() -> None:
    document = parse_file_bytes("handbook.pdf", make_pdf(HANDBOOK_PAGES, title="Customer handbook"))[0]
    chunks = chunk_document(document)

    assert document.title == "Customer handbook" and document.metadata["pages"] == 2
    assert [chunk.metadata["page"] for chunk in chunks] == [1, 2]
    assert "within 30 days of delivery" in chunks[0].text
    assert "Polish silver jewellery" in chunks[1].text and "30 days" not in chunks[1].text


def test_json_lines_records_take_their_id_text_and_typed_metadata(tmp_path: Path) -> None:
    lines = [
        {
            "sku": "R-1",
            "title": "Silver ring",
            "text": "A plain band.\n\nHandmade in Aarhus.",
            "price": 450,
            "tags": ["silver", "ring"],
        },
        {"sku": "R-2", "title": "Gold ring", "text": "A twisted band.", "price": 1299.5, "metadata": {"stock": 3}},
        "not an object",
        {"title": "no sku", "text": "orphan"},
    ]
    feed = tmp_path / "rings.jsonl"
    feed.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n", encoding="utf-8")

    result = parse_file(feed, json_options=JsonOptions(id_field="sku"))

    assert [d.external_id for d in result.documents] == ["R-1", "R-2"]
    silver, gold = result.documents
    assert silver.title == "Silver ring" and silver.text == "A plain band.\n\nHandmade in Aarhus."
    assert silver.metadata == {"sku": "R-1", "title": "Silver ring", "price": 450, "tags": "silver, ring"}
    assert gold.metadata["price"] == 1299.5 and gold.metadata["stock"] == 3
    assert len(result.row_errors) == 3
    assert any("line 3: not a JSON object" in e for e in result.row_errors)
    assert any("line 4: the id field 'sku' is missing" in e for e in result.row_errors)
    assert any("line 5: not valid JSON" in e for e in result.row_errors)


def test_the_abcd_policy_handbook_json_is_chunked_by_flow_and_subflow() -> None:
    (guidelines,) = parse_file(POLICIES / "abcd-guidelines.json").documents
    chunks = chunk_document(guidelines)
    titles = {chunk.title for chunk in chunks}

    assert guidelines.external_id == "abcd-guidelines.json"
    assert "abcd-guidelines > Storewide Query > subflows > Membership FAQ" in titles
    membership = next(c for c in chunks if c.title == "abcd-guidelines > Storewide Query > subflows > Membership FAQ")
    assert "How long does membership last?" in membership.text
    assert all(len(chunk.text) <= ChunkingOptions().max_chars for chunk in chunks)

    (kb,) = parse_file(POLICIES / "abcd-kb.json").documents
    assert "recover_username: pull-up-account; verify-identity" in kb.text.splitlines()


def test_formats_are_recognised_by_content_when_the_name_says_nothing() -> None:
    assert detect_format("upload", b"%PDF-1.7\n...") == "pdf"
    assert detect_format("page", b"  <!doctype html><html>") == "html"
    assert detect_format("feed", b'{"id": 1}\n{"id": 2}\n') == "jsonl"
    assert detect_format("policies", b'{"refunds": {"days": 30}}') == "json"
    assert detect_format("terms.MD", b"# Terms") == "markdown"
    with pytest.raises(KnowledgeInputError, match="unsupported file type"):
        detect_format("photo.jpg", b"\xff\xd8\xff\xe0")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "broken.pdf: the file is not a readable PDF"),
        ("vins.csv", "id,name\n1,Côtes du Rhône\n".encode("latin-1"), "vins.csv is not UTF-8"),
        (
            "app.html",
            b"<html><head><title>Shop</title><script>boot()</script></head><body><div id='root'></div></body></html>",
            "app.html: the HTML page has no main text",
        ),
        ("scan.pdf", None, "scan.pdf: the PDF has no extractable text"),
        ("empty.md", b"  \n", "empty.md: the file is empty"),
    ],
)
def test_a_bad_file_is_refused_with_a_message_naming_it(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content if content is not None else make_pdf([[]]))
    with pytest.raises(KnowledgeInputError, match=message):
        parse_file(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "catalogue.csv"
    big.write_bytes(b"id,name\n" + b"1,x\n" * 1000)
    with pytest.raises(FileTooLargeError, match=r"catalogue\.csv is 4,008 bytes, over the 1,000-byte limit"):
        parse_file(big, max_bytes=1000)


def parse_file_bytes(name: str, data: bytes) -> list:
    """Parse ``data`` as a file called ``name`` (written to a temporary folder)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return parse_file(path).documents


async def test_a_batch_with_bad_files_ingests_the_good_ones_and_nothing_of_the_bad(
    db: Database, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    shop = chatbot_id("stellaholm")
    await asyncio.to_thread((tmp_path / "shipping.html").write_text, SHIPPING_PAGE, encoding="utf-8")
    await asyncio.to_thread(
        (tmp_path / "handbook.pdf").write_bytes, make_pdf(HANDBOOK_PAGES, title="Customer handbook")
    )
    await asyncio.to_thread((tmp_path / "broken.pdf").write_bytes, make_pdf(HANDBOOK_PAGES)[:300])
    await asyncio.to_thread((tmp_path / "vins.csv").write_bytes, "id,name\n1,Côtes du Rhône\n".encode("latin-1"))
    await asyncio.to_thread(
        (tmp_path / "app.html").write_text, "<html><body><script>boot()</script></body></html>", encoding="utf-8"
    )
    await asyncio.to_thread((tmp_path / "huge.txt").write_bytes, b"word " * 5000)
    paths = [tmp_path / n for n in ("shipping.html", "broken.pdf", "vins.csv", "handbook.pdf", "app.html", "huge.txt")]
    paths.append(CATALOG / "shopify-apparel.csv")

    report = await ingest_paths(
        db=db, embedder=embedder, chatbot_id=shop, index_name="shop", paths=paths, max_file_bytes=20_000
    )

    assert report.files_failed == 4
    failed = {error.source for error in report.errors}
    assert failed == {"broken.pdf", "vins.csv", "app.html", "huge.txt"}
    assert report.documents_added == 2 + 20  # the page, the handbook and the apparel products
    async with db.session() as session:
        sources = set(
            (await session.scalars(select(KnowledgeDocument.source).where(KnowledgeDocument.chatbot_id == shop))).all()
        )
        orphan_chunks = await session.scalar(
            select(func.count())
            .select_from(KnowledgeChunk)
            .where(KnowledgeChunk.chatbot_id == shop, KnowledgeChunk.document_id.not_in(select(KnowledgeDocument.id)))
        )
    assert sources == {"shipping.html", "handbook.pdf", "shopify-apparel.csv"}
    assert orphan_chunks == 0

    retriever = Retriever(db=db, embedder=embedder)
    found = await retriever.search(
        chatbot_id=shop, index_name="shop", query="how long do I have to return an item?", top_k=3
    )
    assert found[0].document_id == "handbook.pdf" and found[0].metadata["page"] == 1
    found = await retriever.search(chatbot_id=shop, index_name="shop", query="Classic Varsity Top sizes", top_k=3)
    assert found[0].document_id == "classic-varsity-top" and found[0].metadata["price"] == 60

    again = await ingest_paths(
        db=db, embedder=embedder, chatbot_id=shop, index_name="shop", paths=paths, max_file_bytes=20_000
    )
    assert (again.documents_unchanged, again.documents_added, again.chunks_written) == (22, 0, 0)


def test_the_cli_names_each_bad_file_ingests_the_rest_and_exits_non_zero(
    kb_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from samtale.knowledge.cli import kb_app
    from samtale.settings import get_settings

    monkeypatch.setenv("SAMTALE_DATABASE_URL", kb_database_url)
    monkeypatch.setenv("SAMTALE_KNOWLEDGE_MAX_FILE_BYTES", "20000")
    get_settings.cache_clear()
    (tmp_path / "shipping.html").write_text(SHIPPING_PAGE, encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type")
    (tmp_path / "huge.txt").write_bytes(b"word " * 5000)
    shop = chatbot_id("cli-formats")
    try:
        paths = [str(tmp_path / n) for n in ("shipping.html", "broken.pdf", "huge.txt")]
        result = CliRunner().invoke(kb_app, ["ingest", "--chatbot", shop, "--index", "policies", *paths])
        listed = CliRunner().invoke(kb_app, ["list", "--chatbot", shop])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("not ingested broken.pdf: the file is not a readable PDF") for line in lines)
    assert any("huge.txt is 25,000 bytes, over the 20,000-byte limit" in line for line in lines)
    assert "1 documents added" in result.output
    assert "policies" in listed.output
