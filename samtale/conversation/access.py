"""Who may continue a conversation: its session token, or its shopper's verified identity.

A conversation is continued (``POST /api/process-message`` with an existing ``session_id``) only
with one of:

* the **session token** its first turn returned (``X-Session-Token`` or ``session_token``),
  compared as SHA-256 hashes with :func:`hmac.compare_digest`;
* the **verified identity** of its shopper: the shop's own backend signs the shopper's user id
  with the chatbot's ``identity_secret``, ``user_hash = hex(HMAC-SHA256(identity_secret,
  user_id))`` (the scheme of Intercom's and Chatwoot's identity verification), sent as
  ``X-User-Hash`` or ``user_hash``. A verified shopper reaches all their conversations from any
  device.

Without either the caller gets 401 ``session_token_required``; with credentials that do not fit
the conversation, or a conversation of another chatbot or user, 404 ``session_not_found``, the
same answer as for a conversation that does not exist, so nothing is revealed about it. A
``user_hash`` that does not verify is 401 ``invalid_user_hash`` whatever the conversation.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from samtale.errors import AuthError, NotFoundError
from samtale.streaming.hub import hash_token


class ConversationNotFoundError(NotFoundError):
    """The conversation does not exist for this chatbot and user, or the caller may not see it."""

    code = "session_not_found"


class SessionTokenRequiredError(AuthError):
    """Continuing a conversation needs its session token or the shopper's verified identity (HTTP 401)."""

    code = "session_token_required"


class InvalidUserHashError(AuthError):
    """The ``user_hash`` is not the HMAC of this user id under the chatbot's identity secret (HTTP 401)."""

    code = "invalid_user_hash"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a caller presented to continue a conversation (either may be None), and the address
    it came from (``client_address``: counts failed order look-ups across conversations)."""

    session_token: str | None = None
    user_hash: str | None = None
    client_address: str | None = None

    @property
    def empty(self) -> bool:
        """True when neither a token nor a user hash was presented."""
        return not self.session_token and not self.user_hash


def user_hash_for(*, identity_secret: str, user_id: str) -> str:
    """``hex(HMAC-SHA256(identity_secret, user_id))``, both UTF-8: what a shop's backend sends as ``X-User-Hash``."""
    return hmac.new(identity_secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_user_hash(*, identity_secret: str | None, user_id: str, user_hash: str) -> bool:
    """Whether ``user_hash`` is ``user_id``'s HMAC under ``identity_secret`` (constant-time comparison).

    Raises:
        InvalidUserHashError: the chatbot has no identity secret, or the hash does not verify.
    """
    if not identity_secret:
        raise InvalidUserHashError("this chatbot does not verify shoppers' identities (no identity_secret is set)")
    expected = user_hash_for(identity_secret=identity_secret, user_id=user_id)
    if not hmac.compare_digest(expected, user_hash.strip().lower()):
        raise InvalidUserHashError("user_hash does not verify for this user_id")
    return True


def token_matches(*, token: str | None, token_hash: str | None) -> bool:
    """Whether the presented session token hashes to ``token_hash`` (constant-time; False when either is missing)."""
    if not token or not token_hash:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


def authorise_continuation(
    *,
    session_id: str,
    credentials: Credentials,
    verified: bool,
    chatbot_id: str,
    user_id: str,
    owner_chatbot_id: str,
    owner_user_id: str,
    token_hash: str | None,
) -> None:
    """Check that the caller may continue the conversation ``session_id``.

    Args:
        session_id: the conversation (for the error message only).
        credentials: what the caller presented.
        verified: the caller's ``user_hash`` verified for ``user_id`` (see :func:`verify_user_hash`).
        chatbot_id, user_id: whom the request names.
        owner_chatbot_id, owner_user_id: whose conversation it is.
        token_hash: the conversation's session token hash (None for a conversation stored
            before tokens were kept: only its verified shopper may continue it).

    Raises:
        SessionTokenRequiredError: no credentials at all.
        ConversationNotFoundError: another chatbot's or user's conversation, or credentials that
            do not fit it (the same answer as for no conversation).
    """
    if credentials.empty:
        raise SessionTokenRequiredError(
            "continuing a conversation needs its session_token (X-Session-Token) or a verified user_hash"
        )
    unknown = ConversationNotFoundError(f"unknown conversation session {session_id}")
    if owner_chatbot_id != chatbot_id or owner_user_id != user_id:
        raise unknown
    if token_matches(token=credentials.session_token, token_hash=token_hash):
        return
    if verified:
        return
    raise unknown


class IdentityRequiredError(AuthError):
    """Reading a shopper's conversations or memories needs their verified identity (HTTP 401)."""

    code = "user_hash_required"


@dataclass(frozen=True, slots=True)
class ShopperIdentity:
    """A shopper whose ``user_hash`` verified under their chatbot's identity secret."""

    chatbot_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ConversationCaller:
    """Who asks for one stored conversation: its session token, a verified shopper, or both (either may be None)."""

    session_token: str | None = None
    identity: ShopperIdentity | None = None


def authorise_conversation(
    *,
    session_id: str,
    caller: ConversationCaller,
    owner_chatbot_id: str,
    owner_user_id: str,
    token_hash: str | None,
) -> None:
    """Check that ``caller`` may read or change the stored conversation ``session_id``.

    The conversation's session token opens it; so does the verified identity of its own shopper
    (same chatbot and user id).

    Raises:
        SessionTokenRequiredError: the caller presented neither a token nor an identity (401).
        ConversationNotFoundError: what was presented does not open this conversation (404,
            the same answer as for one that does not exist).
    """
    if not caller.session_token and caller.identity is None:
        raise SessionTokenRequiredError(
            "reading a conversation needs its session_token (X-Session-Token) or the shopper's verified "
            "identity (X-User-Hash with chatbot_id and user_id)"
        )
    if token_matches(token=caller.session_token, token_hash=token_hash):
        return
    identity = caller.identity
    if identity is not None and identity.chatbot_id == owner_chatbot_id and identity.user_id == owner_user_id:
        return
    raise ConversationNotFoundError(f"unknown conversation session {session_id}")
