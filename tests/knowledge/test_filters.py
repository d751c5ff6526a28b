"""Shoppers state limits in their questions ("under $30", "fra Italien", "a Pinot Noir"); the product
flow turns them into metadata filters, but only on fields and values the catalogue really has."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from samtale.knowledge.embedders import LocalEmbedder
from samtale.knowledge.ingest import ingest_paths
from samtale.knowledge.parsers import CsvOptions, typed_value
from samtale.knowledge.question_filters import CatalogueFields, LLMFilterExtractor, rule_filters
from samtale.knowledge.retrieval import Retriever
from samtale.llm.fake import FakeLLMServer
from samtale.llm.openai_provider import OpenAIProvider
from samtale.storage.db import Database
from tests.knowledge.helpers import SHARED_DATA, TERMS, WINE_METADATA_ONLY, WINES, chatbot_id, wine_rows, write_wines


def _fields(path: Path, columns: set[str]) -> CatalogueFields:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return CatalogueFields.from_metadata(
        [{name: typed_value(value) for name, value in row.items() if value and name in columns} for row in rows]
    )


@pytest.fixture(scope="module")
def wines() -> CatalogueFields:
    """The fields of the 5,810-wine catalogue (country, province, region_1, variety, price, points)."""
    return _fields(WINES, {"country", "province", "region_1", "variety", "price", "points", "winery"})


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Do you have a Pinot Noir under $30?", {"variety": "Pinot Noir", "price": {"lt": 30}}),
        ("something for less than 200 kr", {"price": {"lt": 200}}),
        ("a wine between 20 and 40 dollars", {"price": {"gte": 20, "lte": 40}}),
        ("at most $50 please", {"price": {"lte": 50}}),
        ("a bottle from Oregon", {"province": "Oregon"}),
        ("a red from Italy", {"country": "Italy"}),
        ("har I noget fra Italien under 200 kr?", {"country": "Italy", "price": {"lt": 200}}),
        ("mellem 100 og 150 kr, gerne fransk", {"price": {"gte": 100, "lte": 150}, "country": "France"}),
        ("Italian or Spanish wines over 90 points", {"country": ["Italy", "Spain"], "points": {"gt": 90}}),
        ("a Napa Valley Cabernet Sauvignon", {"region_1": "Napa Valley", "variety": "Cabernet Sauvignon"}),
        ("Do you have a Tinta de Toro?", {"variety": "Tinta de Toro"}),
        ("anything not from the US, $20-$40", {"price": {"gte": 20, "lte": 40}, "country": {"ne": "US"}}),
        ("Tell us about your return policy", {}),
        ("I want a wine that is 5 years old or more", {}),
    ],
)
def test_rules_turn_stated_limits_into_filters(wines: CatalogueFields, question: str, expected: dict[str, Any]) -> None:
    assert rule_filters(question, wines) == expected


def test_wine_colours_filter_only_a_catalogue_that_records_them(wines: CatalogueFields) -> None:
    xwines = _fields(SHARED_DATA / "catalog" / "xwines-100.csv", {"Type", "Country", "RegionName"})
    assert rule_filters("en rødvin fra Brasilien", xwines) == {"Type": "Red"}  # no Danish alias for Brazil
    assert rule_filters("a white wine from Brazil", xwines) == {"Type": "White", "Country": "Brazil"}
    assert rule_filters("har I mousserende vin?", xwines) == {"Type": "Sparkling"}
    # The wine magazine catalogue has no colour field: "rødvin" filters nothing there.
    assert rule_filters("en rødvin fra Italien", wines) == {"country": "Italy"}


def test_an_index_without_product_fields_gets_no_filters() -> None:
    policies = CatalogueFields.from_metadata([{"title": "Returns", "section": "Shipping"}])
    assert policies.empty
    assert rule_filters("Can I return a wine under $30 from Italy?", policies) == {}


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    header, rows = wine_rows(200)
    return write_wines(tmp_path_factory.mktemp("feed") / "wines.csv", header, rows)


async def test_a_product_question_is_searched_with_its_filters_and_no_fallback(
    db: Database, embedder: LocalEmbedder, feed: Path
) -> None:
    shop = chatbot_id("filters")
    await ingest_paths(
        db=db,
        embedder=embedder,
        chatbot_id=shop,
        index_name="products",
        paths=[feed],
        id_column="id",
        csv_options=CsvOptions(metadata_only_columns=WINE_METADATA_ONLY),
    )
    await ingest_paths(db=db, embedder=embedder, chatbot_id=shop, index_name="policies", paths=[TERMS])
    retriever = Retriever(db=db, embedder=embedder)

    found = await retriever.retrieve(chatbot_id=shop, index_name="products", query="a Pinot Noir under $30", top_k=5)
    assert found.filters is not None and found.filters.source == "rules"
    assert dict(found.filters.filters) == {"variety": "Pinot Noir", "price": {"lt": 30}}
    assert found.chunks
    assert all(c.metadata["variety"] == "Pinot Noir" and float(c.metadata["price"]) < 30 for c in found.chunks)  # type: ignore[arg-type]

    # Nothing that cheap: the shopper is told so rather than shown dearer wines.
    none = await retriever.retrieve(chatbot_id=shop, index_name="products", query="a Pinot Noir under $2", top_k=5)
    assert none.filters is not None and none.chunks == []

    # The policy index has no product fields: the same kind of question searches it unfiltered.
    terms = await retriever.retrieve(
        chatbot_id=shop, index_name="policies", query="can I return a wine under $30?", top_k=3
    )
    assert terms.filters is None and terms.chunks

    off = await retriever.retrieve(
        chatbot_id=shop, index_name="products", query="a Pinot Noir under $30", top_k=5, filter_mode="off"
    )
    assert off.filters is None and any(
        c.metadata.get("variety") != "Pinot Noir" or not float(c.metadata.get("price") or 1e9) < 30  # type: ignore[arg-type]
        for c in off.chunks
    )


async def test_the_llm_chooses_filters_when_the_rules_find_none(
    db: Database, embedder: LocalEmbedder, feed: Path
) -> None:
    shop = chatbot_id("llm-filters")
    await ingest_paths(
        db=db,
        embedder=embedder,
        chatbot_id=shop,
        index_name="products",
        paths=[feed],
        id_column="id",
        csv_options=CsvOptions(metadata_only_columns=WINE_METADATA_ONLY),
    )
    retriever = Retriever(db=db, embedder=embedder)
    answer = {
        "filters": [
            {"field": "province", "op": "eq", "value": "tuscany"},
            {"field": "price", "op": "lte", "value": 40},
            {"field": "country", "op": "eq", "value": "Atlantis"},  # not in the catalogue: dropped
        ]
    }
    async with FakeLLMServer(replies=[json.dumps(answer)]) as server:
        provider = OpenAIProvider(base_url=server.base_url, api_key="test", model="fake-model")
        extractor = LLMFilterExtractor(provider=provider)
        found = await retriever.retrieve(
            chatbot_id=shop,
            index_name="products",
            query="something my aunt who loves Chianti country would enjoy, not too pricey",
            top_k=5,
            filter_mode="llm",
            extractor=extractor,
        )
        request = server.chat_requests[0].json
        assert request["response_format"]["json_schema"]["name"] == "catalogue_filters"
        assert found.filters is not None and found.filters.source == "llm"
        assert dict(found.filters.filters) == {"province": "Tuscany", "price": {"lte": 40}}
        assert found.chunks and all(c.metadata["province"] == "Tuscany" for c in found.chunks)

        # Rules come first: a question they understand never reaches the LLM.
        asked = len(server.chat_requests)
        ruled = await retriever.retrieve(
            chatbot_id=shop,
            index_name="products",
            query="a Pinot Noir under $30",
            top_k=5,
            filter_mode="llm",
            extractor=extractor,
        )
        assert ruled.filters is not None and ruled.filters.source == "rules"
        assert len(server.chat_requests) == asked
        await provider.aclose()  # its private connection pool, else its sockets leak (ResourceWarning)

    async with FakeLLMServer(replies=["x"], fail_first=5, fault="status", fault_status=500) as broken:
        provider = OpenAIProvider(base_url=broken.base_url, api_key="test", model="fake-model")
        failed = await retriever.retrieve(
            chatbot_id=shop,
            index_name="products",
            query="something my aunt would enjoy",
            top_k=5,
            filter_mode="llm",
            extractor=LLMFilterExtractor(provider=provider, timeout_s=5),
        )
        assert failed.filters is not None and failed.filters.error and failed.filters.filters == {}
        assert failed.chunks  # answered without LLM filters
        await provider.aclose()


def test_a_field_only_part_of_the_catalogue_carries_is_not_filtered_on() -> None:
    """A `colour` column from one small feed must not hide every wine of a larger feed without it."""
    with_colour = [{"country": "Italy", "colour": "red", "price": 200.0} for _ in range(3)]
    without_colour = [{"country": "Portugal", "province": "Douro", "price": 15.0} for _ in range(10)]
    fields = CatalogueFields.from_metadata(with_colour + without_colour)
    found = rule_filters("Do you sell the Quinta dos Avidagos Red from the Douro?", fields)
    assert "colour" not in found
    assert found.get("province") == "Douro"
    only_colour = CatalogueFields.from_metadata(with_colour)
    assert rule_filters("a red from Italy", only_colour).get("colour") == "red"
