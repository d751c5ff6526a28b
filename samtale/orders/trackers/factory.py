"""Build the tracker a chatbot's order integration names (kind ``shopify``, ``magento``,
``commercetools``, ``bevco`` or ``generic``), with its secrets resolved and never exposed.

Settings common to every kind: ``allow_private_network`` (bool, default false) and
``second_factors`` (``[email]`` by default; ``[email, postcode]`` where the shop allows the
postcode). Secrets are ``${ENV_VAR}`` references (resolved here), values decrypted by the
caller, or a Fernet token of the whole set (``encrypted_secrets`` with ``secret_key``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import httpx
from pydantic import ValidationError

from samtale.chatbots.schema import IntegrationConfig
from samtale.chatbots.secrets import REDACTED, SecretError, decrypt_secrets, resolve_secret
from samtale.orders.errors import OrderAPIConfigError
from samtale.orders.trackers.base import HttpTracker, RetryPolicy, SecondFactor
from samtale.orders.trackers.commercetools import CommercetoolsTracker
from samtale.orders.trackers.generic import GenericRestTracker
from samtale.orders.trackers.generic_config import BEVCO_PRESET, GenericRestSettings, merge_settings
from samtale.orders.trackers.magento import MagentoTracker
from samtale.orders.trackers.shopify import ShopifyTracker

TRACKER_KINDS = ("shopify", "magento", "commercetools", "bevco", "generic")
COMMON_SETTINGS = {"allow_private_network", "second_factors"}


def _secrets(
    integration: IntegrationConfig,
    *,
    secrets: Mapping[str, str] | None,
    encrypted_secrets: bytes | None,
    secret_key: str | None,
    environ: dict[str, str] | None,
) -> dict[str, str]:
    resolved: dict[str, str] = {}
    try:
        for name, value in integration.secrets.items():
            if value != REDACTED:
                resolved[name] = resolve_secret(value, environ=environ)
        if encrypted_secrets is not None:
            if secret_key is None:
                raise OrderAPIConfigError("encrypted order API credentials need the secret key to decrypt them")
            resolved.update(decrypt_secrets(encrypted_secrets, secret_key=secret_key))
    except SecretError as exc:
        # The message names the variable, never its value.
        raise OrderAPIConfigError(f"integration '{integration.name}': {exc.message}") from None
    resolved.update(secrets or {})
    return resolved


def _second_factors(value: object) -> tuple[SecondFactor, ...]:
    factors = value if isinstance(value, list | tuple) else ["email"]
    chosen = tuple(factor for factor in ("email", "postcode") if factor in factors)
    if not chosen or len(chosen) != len(factors):
        raise OrderAPIConfigError("second_factors must be a non-empty list of 'email' and 'postcode'")
    return cast(tuple[SecondFactor, ...], chosen)


def create_tracker(
    integration: IntegrationConfig,
    *,
    client: httpx.AsyncClient,
    secret_key: str | None = None,
    encrypted_secrets: bytes | None = None,
    secrets: Mapping[str, str] | None = None,
    environ: dict[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> HttpTracker:
    """The tracker for ``integration``.

    Args:
        integration: the chatbot config's integration (``kind`` one of :data:`TRACKER_KINDS`).
        client: the ``orders`` pool's client (3 connections, 15 s timeout, seed 000).
        secret_key: ``SAMTALE_SECRET_KEY``, to decrypt ``encrypted_secrets``.
        encrypted_secrets: the integration row's ``secrets_encrypted`` Fernet token, if any.
        secrets: already resolved secrets (e.g. from ``samtale.chatbots.service.integration_secrets``);
            they win over the others.
        environ: the environment for ``${ENV}`` references (default ``os.environ``).
        retry: retry policy (default :class:`RetryPolicy`).

    Raises:
        OrderAPIConfigError: unknown kind, bad or missing settings, a missing or undecryptable
            secret. Messages name settings and secrets, never their values.
    """
    kind = integration.kind
    if kind not in TRACKER_KINDS:
        raise OrderAPIConfigError(
            f"integration '{integration.name}' has kind '{kind}'; order trackers are {TRACKER_KINDS}"
        )
    resolved = _secrets(
        integration, secrets=secrets, encrypted_secrets=encrypted_secrets, secret_key=secret_key, environ=environ
    )
    settings: dict[str, Any] = dict(integration.settings)
    common: dict[str, Any] = {
        "client": client,
        "retry": retry,
        "allow_private_network": bool(settings.pop("allow_private_network", False)),
        "second_factors": _second_factors(settings.pop("second_factors", ["email"])),
    }
    try:
        if kind == "shopify":
            return ShopifyTracker(**settings, **_pick(resolved, "access_token", "client_id", "client_secret"), **common)
        if kind == "magento":
            names = ("consumer_key", "consumer_secret", "access_token", "access_token_secret", "username", "password")
            return MagentoTracker(**settings, **_pick(resolved, *names), **common)
        if kind == "commercetools":
            return CommercetoolsTracker(**settings, **_pick(resolved, "client_id", "client_secret"), **common)
        generic = GenericRestSettings.model_validate(
            merge_settings(BEVCO_PRESET, settings) if kind == "bevco" else settings
        )
        return GenericRestTracker(settings=generic, secrets=resolved, kind=kind, **common)
    except TypeError as exc:
        raise OrderAPIConfigError(f"integration '{integration.name}' ({kind}) has bad settings: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise OrderAPIConfigError(f"integration '{integration.name}' ({kind}) has bad settings: {problems}") from None


def _pick(secrets: dict[str, str], *names: str) -> dict[str, Any]:
    return {name: secrets[name] for name in names if secrets.get(name)}
