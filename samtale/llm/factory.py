"""Choose and build a chatbot flow's LLM provider from its merged ``llm`` settings.

Precedence (DESIGN section 4): the flow's ``llm`` over the chatbot's ``llm`` (the caller merges
them with :meth:`LLMSettings.merged`) over the process settings (``SAMTALE_LLM_*``,
``SAMTALE_OPENAI_*``, ``SAMTALE_FLOWISE_*``). ``api_key`` values in chatbot config are
``${ENV}`` references, resolved here when the provider is built.
"""

from __future__ import annotations

import httpx

from samtale.chatbots.schema import LLMSettings
from samtale.chatbots.secrets import SecretError, resolve_secret
from samtale.llm.base import LLMError, LLMProvider
from samtale.llm.flowise_provider import FlowiseProvider
from samtale.llm.offline import OfflineProvider
from samtale.llm.openai_provider import OpenAIProvider
from samtale.settings import Settings


class LLMConfigError(LLMError):
    """A chatbot's LLM settings cannot be used (a Flowise flow without a chatflow id, an unset key)."""

    code = "llm_misconfigured"


def create_provider(
    llm: LLMSettings,
    *,
    settings: Settings,
    http_client: httpx.AsyncClient | None = None,
    environ: dict[str, str] | None = None,
) -> LLMProvider:
    """Build the provider ``llm`` names, filling unset fields from the process ``settings``.

    Args:
        llm: the flow's merged LLM settings (unset ``provider`` means ``settings.llm_provider``,
            which defaults to ``offline``).
        settings: process settings, for default model, base URLs, keys and the AI pool timeout.
        http_client: the shared AI connection pool (providers never close it).
        environ: the environment used to resolve ``${ENV}`` keys (tests); None = ``os.environ``.

    Raises:
        LLMConfigError: ``flowise`` without a chatflow id, or an ``${ENV}`` key whose variable
            is not set.
    """
    provider = llm.provider or settings.llm_provider
    if provider == "offline":
        return OfflineProvider()
    api_key = _api_key(llm.api_key, environ=environ)
    if provider == "openai":
        return OpenAIProvider(
            base_url=llm.base_url or settings.openai_base_url,
            api_key=api_key or settings.openai_api_key or "",
            model=llm.model or settings.llm_model,
            http_client=http_client,
            timeout_s=settings.pool_ai_timeout_s,
            temperature=llm.temperature if llm.temperature is not None else settings.llm_temperature,
            max_tokens=llm.max_tokens if llm.max_tokens is not None else settings.llm_max_tokens,
        )
    if not llm.chatflow_id:
        raise LLMConfigError("an llm of provider 'flowise' needs a chatflow_id (the Flowise chatflow to call)")
    return FlowiseProvider(
        base_url=llm.base_url or settings.flowise_base_url,
        chatflow_id=llm.chatflow_id,
        api_key=api_key or settings.flowise_api_key,
        http_client=http_client,
        timeout_s=settings.pool_ai_timeout_s,
    )


def _api_key(reference: str | None, *, environ: dict[str, str] | None) -> str | None:
    if reference is None:
        return None
    try:
        return resolve_secret(reference, environ=environ)
    except SecretError as exc:
        raise LLMConfigError(exc.message) from exc


def create_json_provider(*, settings: Settings, http_client: httpx.AsyncClient | None = None) -> LLMProvider | None:
    """The process's provider for JSON completions (the template builder's assistant), or None.

    The OpenAI-compatible provider of ``SAMTALE_OPENAI_*`` / ``SAMTALE_LLM_MODEL`` when
    ``SAMTALE_LLM_PROVIDER=openai``; None otherwise (the caller falls back to its offline
    wizard: Flowise answers chat text, not JSON), on the pool's timeout. No ``max_tokens`` cap (a template's JSON
    outgrows ``SAMTALE_LLM_MAX_TOKENS``) and no default temperature: the caller sends its own.
    """
    if settings.llm_provider != "openai":
        return None
    return OpenAIProvider(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key or "",
        model=settings.llm_model,
        http_client=http_client,
    )
