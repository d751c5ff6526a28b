"""Opaque page cursors of the conversation lists (keyset paging, never ``OFFSET``).

A cursor is the sort key of the last row of a page, as base64url (no padding) of a compact
JSON array: ``[kind, pinned, last_message_at, id]``. ``kind`` names the list it belongs to
(``"s"`` a shopper's list, pinned first; ``"a"`` the staff list), so a cursor of one list is
refused by the other. The next page is the rows strictly after that key in the list's order,
which stays right while rows are added or change between two pages (a row that moved is
shown once more or not at all, never a page shifted by one). A cursor that does not decode is
422 ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from samtale.errors import InputError

CursorKind = Literal["s", "a"]
"""``s``: a shopper's list (``GET /api/conversations``); ``a``: the staff list."""

MAX_CURSOR_CHARS = 400
"""A longer cursor is not one of ours."""


class InvalidCursorError(InputError):
    """The ``cursor`` is not one this list handed out (HTTP 422)."""

    code = "invalid_cursor"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The sort key of the last row of a page: pinned (shopper list only), last activity, id."""

    kind: CursorKind
    pinned: bool
    last_message_at: datetime
    id: str

    def encode(self) -> str:
        """The cursor as an opaque URL-safe string."""
        raw = json.dumps(
            [self.kind, int(self.pinned), self.last_message_at.isoformat(), self.id], separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(value: str | None, *, kind: CursorKind) -> Cursor | None:
    """The :class:`Cursor` in ``value`` (None for no cursor).

    Args:
        value: what the caller sent as ``cursor`` (a page's ``next_cursor``).
        kind: the list asking; a cursor of another list is refused.

    Raises:
        InvalidCursorError: ``value`` is not a cursor of this list (422 ``invalid_cursor``).
    """
    if value is None or value == "":
        return None
    invalid = InvalidCursorError("cursor is not a next_cursor of this list", details={"field": "cursor"})
    if len(value) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        parsed = json.loads(raw.decode("utf-8"))
        list_kind, pinned, last, row_id = parsed
        if list_kind != kind or pinned not in (0, 1) or not isinstance(row_id, str) or not isinstance(last, str):
            raise invalid
        when = datetime.fromisoformat(last)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise invalid from exc
    if when.tzinfo is None or not row_id or len(row_id) > 64:
        raise invalid
    return Cursor(kind=kind, pinned=bool(pinned), last_message_at=when, id=row_id)
