"""Fixtures for routing tests: the bitext-shop example chatbot and a router fitted on a subset.

The full Bitext train file takes about 20 s to embed on 2 cores, so unit tests fit the router on
the chatbot's own examples plus every 20th Bitext training row; the full figures are benchmarks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from samtale.chatbots.schema import ChatbotConfig
from samtale.knowledge.embedders import LocalEmbedder
from samtale.routing.examples import merge_examples, read_labelled_csv
from samtale.routing.router import Router
from samtale.routing.semantic import get_semantic_model
from samtale.routing.validation import route_keys

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT / ".." / "shared" / "data"
BITEXT_SHOP = ROOT / "examples" / "bitext-shop.yaml"
SHOP_QUESTIONS = Path(__file__).parent / "data" / "shop-questions.csv"
# Written for tuning (the blind set, shop-questions-blind.csv, is measured by bench/routing.py only).
SHOP_QUESTIONS_DEV = Path(__file__).parent / "data" / "shop-questions-dev.csv"
BITEXT_EVERY = 20


# Read once at import, outside any event loop (async tests build their configs from it).
_BITEXT_SHOP_DOCUMENT: dict[str, Any] = yaml.safe_load(BITEXT_SHOP.read_text(encoding="utf-8"))


def bitext_shop_document() -> dict[str, Any]:
    """The shipped bitext-shop chatbot document, as a dict (fresh copy)."""
    return copy.deepcopy(_BITEXT_SHOP_DOCUMENT)


def bitext_shop_with_train_subset() -> ChatbotConfig:
    """bitext-shop with every 20th row of bitext-flows-train merged into its examples."""
    config = ChatbotConfig.model_validate(bitext_shop_document())
    rows = read_labelled_csv(SHARED_DATA / "intents" / "bitext-flows-train.csv")[::BITEXT_EVERY]
    examples, _ = merge_examples(config.routing.examples, rows, route_keys=route_keys(config))
    return config.model_copy(update={"routing": config.routing.model_copy(update={"examples": examples})})


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The local embedder (model loaded once per test session)."""
    return LocalEmbedder()


@pytest.fixture(scope="session")
def shop_config() -> ChatbotConfig:
    """bitext-shop with a Bitext train subset in its examples."""
    return bitext_shop_with_train_subset()


@pytest.fixture(scope="session")
def shop_router(shop_config: ChatbotConfig, embedder: LocalEmbedder) -> Router:
    """A router for :func:`shop_config`, its semantic model fitted once per session."""
    semantic = get_semantic_model(
        embedder=embedder,
        examples=shop_config.routing.examples,
        k=shop_config.routing.semantic_k,
        lexical_weight=shop_config.routing.semantic_lexical_weight,
        threshold=shop_config.routing.semantic_threshold,
    )
    return Router(config=shop_config, embedder=embedder, semantic=semantic)
