"""Credentials: ``${ENV_VAR}`` references and Fernet encryption at rest.

A secret in a chatbot's YAML is either a reference such as ``${SHOPIFY_TOKEN}`` (resolved from
the environment when used, never stored resolved) or a literal value, which is encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived from
``SAMTALE_SECRET_KEY`` before it is stored. Secrets are never logged and never returned by the
API: exports show :data:`REDACTED` in their place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from samtale.errors import InputError

ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
REDACTED = "<encrypted>"


class SecretError(InputError):
    """A secret cannot be decrypted (wrong SAMTALE_SECRET_KEY) or an ``${ENV}`` reference is unset."""

    code = "secret_unavailable"


def fernet_for(secret_key: str) -> Fernet:
    """A Fernet instance keyed by SHA-256 of ``secret_key`` (any length of key is accepted)."""
    digest = hashlib.sha256(secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secrets(secrets: dict[str, str], *, secret_key: str) -> bytes:
    """Encrypt a ``name → value`` mapping of secrets into one Fernet token (bytes)."""
    return fernet_for(secret_key).encrypt(json.dumps(secrets, sort_keys=True).encode("utf-8"))


def decrypt_secrets(token: bytes, *, secret_key: str) -> dict[str, str]:
    """Decrypt a token made by :func:`encrypt_secrets`.

    Raises:
        SecretError: when the token was made with another key or is corrupt.
    """
    try:
        data: dict[str, str] = json.loads(fernet_for(secret_key).decrypt(token))
    except (InvalidToken, ValueError) as exc:
        raise SecretError("stored credentials cannot be decrypted: was SAMTALE_SECRET_KEY changed?") from exc
    return data


def is_env_reference(value: Any) -> bool:
    """True when ``value`` is a string of the form ``${NAME}``."""
    return isinstance(value, str) and ENV_REFERENCE.match(value) is not None


def resolve_secret(value: str, *, environ: dict[str, str] | None = None) -> str:
    """Resolve ``${NAME}`` from the environment; any other string is returned as it is.

    Raises:
        SecretError: when the referenced variable is not set (its name is in the message,
            its value never is).
    """
    match = ENV_REFERENCE.match(value)
    if match is None:
        return value
    env = os.environ if environ is None else environ
    name = match.group(1)
    if name not in env:
        raise SecretError(f"environment variable {name} is referenced by a credential but not set")
    return env[name]
