"""The chat page at ``/``: a small widget that streams answers with EventSource."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    # The page reads streams with ?token= URLs: a link it shows must not carry them away in Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
router = APIRouter(include_in_schema=False)


@router.get("/")
async def chat_page() -> FileResponse:
    """The chat page (``?chatbot=ID`` picks the chatbot; default ``vinhuset``)."""
    return FileResponse(STATIC / "chat.html", media_type="text/html", headers=PAGE_HEADERS)
