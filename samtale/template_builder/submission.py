"""Send a session's final template to Meta and record what Meta answered (``template_submissions``)."""

from __future__ import annotations

from typing import Any

from samtale.storage.db import Database
from samtale.storage.models.template_builder import TemplateDraft, TemplateSession, TemplateSubmission
from samtale.template_builder.errors import MetaAPIError, TemplatePayloadError, TemplateSessionNotFoundError
from samtale.template_builder.meta import MetaTemplateClient, MetaTemplateRejectedError
from samtale.template_builder.validator import validate_template


async def submit_session(
    db: Database, *, session_id: str, client: MetaTemplateClient, waba_id: str, access_token: str
) -> dict[str, Any]:
    """Submit the session's final payload to Meta and record the outcome.

    Args:
        client: the Graph API client (its base URL may point at the simulator).
        waba_id, access_token: the chatbot's WhatsApp Business Account id and its resolved token.

    Returns:
        ``{"submission_id", "meta_template_id", "status", "category"}``.

    Raises:
        TemplateSessionNotFoundError: unknown ``session_id`` (404).
        TemplatePayloadError: the session has not reached FINAL with a valid draft (422).
        MetaTemplateRejectedError: Meta refused the content (422; recorded as REJECTED).
        MetaAPIError: Meta failed or refused the credentials (503; recorded as FAILED).
    """
    async with db.session() as session:
        row = await session.get(TemplateSession, session_id)
        if row is None:
            raise TemplateSessionNotFoundError(f"no template-builder session with id {session_id}")
        draft = await session.get(TemplateDraft, row.active_draft_id) if row.active_draft_id else None
    payload = dict(draft.payload) if draft is not None else {}
    result = validate_template(payload)
    if row.last_action != "FINAL" or not result.valid:
        raise TemplatePayloadError(
            "the template is not finished yet: keep chatting until the assistant answers FINAL",
            details={"last_action": row.last_action, "errors": [e.model_dump() for e in result.errors]},
        )
    try:
        outcome = await client.create_template(waba_id=waba_id, access_token=access_token, payload=payload)
    except (MetaTemplateRejectedError, MetaAPIError) as exc:
        status = "REJECTED" if isinstance(exc, MetaTemplateRejectedError) else "FAILED"
        async with db.session() as session:
            session.add(
                TemplateSubmission(
                    session_id=session_id, payload=payload, status=status, error={"message": exc.message, **exc.details}
                )
            )
        raise
    async with db.session() as session:
        record = TemplateSubmission(
            session_id=session_id, payload=payload, meta_template_id=outcome.template_id, status=outcome.status
        )
        session.add(record)
        await session.flush()
        submission_id = record.id
    return {
        "submission_id": submission_id,
        "meta_template_id": outcome.template_id,
        "status": outcome.status,
        "category": outcome.category,
    }
