"""Building the topic classifiers a process uses: the configured embedder, the offline classifier
of a chatbot, and the LLM one when the chatbot has a model that is not the offline answerer."""

from __future__ import annotations

import threading

from samtale.analytics.embedding import MultilingualEmbedder
from samtale.analytics.topics import TopicClassifier, get_topic_classifier
from samtale.chatbots.schema import ChatbotConfig
from samtale.settings import Settings

_SHARED: dict[str, MultilingualEmbedder] = {}
_SHARED_LOCK = threading.Lock()


def build_topic_embedder(settings: Settings) -> MultilingualEmbedder | None:
    """The process's multilingual embedder when ``analytics_embedder`` is ``multilingual``, else None.

    One instance per process (the model is loaded at its first use, 72 MB memory-mapped).
    """
    if settings.analytics_embedder != "multilingual":
        return None
    with _SHARED_LOCK:
        if "multilingual" not in _SHARED:
            _SHARED["multilingual"] = MultilingualEmbedder(threads=1)
        return _SHARED["multilingual"]


def offline_classifier(config: ChatbotConfig, *, settings: Settings) -> TopicClassifier:
    """The chatbot's fitted offline topic classifier (cached per topics and embedder; CPU work:
    call off the event loop).

    Raises:
        AnalyticsEmbedderError: the configured embedder could not be loaded.
    """
    return get_topic_classifier(config.topics, embedder=build_topic_embedder(settings))


def uses_llm(config: ChatbotConfig, *, settings: Settings) -> bool:
    """True when the chatbot answers with a real model (``openai`` or ``flowise``), whose judgement
    the analytics ask for (unless ``analytics_llm`` is off); the offline answerer has none to give."""
    if not settings.analytics_llm:
        return False
    provider = config.llm.provider or settings.llm_provider
    return provider in ("openai", "flowise")
