"""The HTTP side of ingest: POST /records, routed exactly like a Kafka message."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from contracts import RejectionReason
from services.ingest.routing import Ingestor, Origin, Rejected

log = logging.getLogger(__name__)

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "One record (a JSON object) or a JSON array of records.",
        "content": {"application/json": {"schema": {}}},
    }
}


class RejectedRecord(BaseModel):
    index: int
    record_id: str | None
    reasons: list[RejectionReason]


class IngestAnswer(BaseModel):
    accepted: int
    rejected: list[RejectedRecord]
    # Valid records whose id was routed within the idempotency horizon: not routed again.
    duplicates: list[RejectedRecord] = []


def records_api(ingestor: Ingestor) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post("/records", openapi_extra=_BODY_DOC)
    async def post_records(request: Request) -> IngestAnswer:
        """Validate and route records; rejected ones are also dead-lettered with their reasons."""
        # The raw body, not a parsed model: malformed records are answered and dead-lettered.
        body = await request.body()
        try:
            outcome = await ingestor.ingest(body, Origin(source="http"))
        except Exception as exc:  # the broker did not take an event: the client should retry
            log.warning("ingest: POST /records could not publish: %s", exc)
            raise HTTPException(503, f"broker unavailable, retry later: {exc}") from exc
        return IngestAnswer(
            accepted=outcome.accepted,
            rejected=[_answer(r) for r in outcome.rejected],
            duplicates=[_answer(r) for r in outcome.duplicates],
        )

    return router


def _answer(rejected: Rejected) -> RejectedRecord:
    return RejectedRecord(
        index=rejected.index, record_id=rejected.record_id, reasons=list(rejected.reasons)
    )
