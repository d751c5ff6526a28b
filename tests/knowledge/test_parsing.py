"""A shop's files become documents and chunks the way an operator expects."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from samtale.knowledge.chunking import ChunkingOptions, chunk_document
from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.parsers import CsvOptions, parse_csv, parse_file, typed_value
from tests.knowledge.helpers import TERMS


def test_a_product_feed_row_becomes_one_document_with_typed_metadata() -> None:
    feed = "sku,title,price,points,handle,description\nA-7,Rainstorm Pinot Gris,14,87.5,@paul,Tart and snappy.\n"
    result = parse_csv(feed, source="feed.csv", options=CsvOptions(id_column="sku", metadata_only_columns=("handle",)))

    (wine,) = result.documents
    assert wine.external_id == "A-7"
    assert wine.title == "Rainstorm Pinot Gris"
    assert wine.text.splitlines() == [
        "title: Rainstorm Pinot Gris",
        "price: 14",
        "points: 87.5",
        "description: Tart and snappy.",
    ]
    assert wine.metadata == {
        "sku": "A-7",
        "title": "Rainstorm Pinot Gris",
        "price": 14,
        "points": 87.5,
        "handle": "@paul",
        "description": "Tart and snappy.",
    }


def test_rows_without_an_id_column_are_named_by_file_and_row() -> None:
    result = parse_csv("name;colour\nRing;gold\nChain;silver\n", source="jewellery.csv")
    assert [d.external_id for d in result.documents] == ["jewellery.csv#1", "jewellery.csv#2"]
    assert result.documents[1].text == "name: Chain\ncolour: silver"


def test_codes_stay_text_and_a_duplicate_id_is_reported() -> None:
    assert typed_value("007") == "007"
    assert typed_value("-3") == -3
    result = parse_csv("id,name\n1,a\n1,b\n", source="dup.csv", options=CsvOptions(id_column="id"))
    assert len(result.documents) == 1
    assert "appears more than once" in result.row_errors[0]


def test_an_unknown_id_column_names_the_columns_there_are() -> None:
    with pytest.raises(KnowledgeInputError, match="'sku' is not a column"):
        parse_csv("id,name\n1,a\n", source="feed.csv", options=CsvOptions(id_column="sku"))


def test_markdown_chunks_follow_headings_and_keep_the_heading_path() -> None:
    (terms,) = parse_file(TERMS).documents
    chunks = chunk_document(terms)

    assert terms.title == "Terms & Conditions"
    titles = [chunk.title for chunk in chunks]
    assert "Terms & Conditions > Products and Orders" in titles
    returns = chunks[titles.index("Terms & Conditions > Products and Orders")]
    assert "within 14 days of delivery" in returns.text
    assert returns.embed_text.startswith("Terms & Conditions > Products and Orders\n\n")
    assert "publishdate" not in terms.text  # front matter is metadata, not text


def test_long_text_is_split_with_overlap_within_the_size_limit() -> None:
    from samtale.knowledge.parsers import Document

    text = " ".join(f"Sentence {i} tells the shopper about parcel {i}." for i in range(60))
    document = Document(external_id="faq.txt", source="faq.txt", title="FAQ", text=text, kind="text")
    chunks = chunk_document(document, options=ChunkingOptions(max_chars=300, overlap_chars=80))

    assert len(chunks) > 5
    assert all(len(chunk.text) <= 300 for chunk in chunks)
    for before, after in itertools.pairwise(chunks):
        first_sentence = after.text.split(". ")[0]
        assert first_sentence in before.text  # the next chunk starts with the end of the previous one


def test_a_file_that_is_not_utf8_is_refused_with_its_name(tmp_path: Path) -> None:
    latin = tmp_path / "vins.csv"
    latin.write_bytes("id,name\n1,Côtes du Rhône\n".encode("latin-1"))
    with pytest.raises(KnowledgeInputError, match=r"vins\.csv is not UTF-8"):
        parse_file(latin)


def test_a_long_list_is_split_between_its_lines_and_the_overlap_starts_at_a_line() -> None:
    from samtale.knowledge.parsers import Document

    items = "\n".join(f"- Size {i}: chest {80 + i} cm; waist {60 + i} cm; ships in {i % 5 + 1} days" for i in range(60))
    document = Document(external_id="sizes.md", source="sizes.md", title="Sizes", text=items, kind="markdown")
    chunks = chunk_document(document, options=ChunkingOptions(max_chars=400, overlap_chars=100))

    assert len(chunks) > 5
    for chunk in chunks:
        assert len(chunk.text) <= 400
        assert all(line.startswith("- Size ") for line in chunk.text.splitlines())  # no line cut in two
    for before, after in itertools.pairwise(chunks):
        assert after.text.splitlines()[0] in before.text.splitlines()  # overlap: whole lines of the previous
