"""The HTTP side of ingest: POST /records, routed exactly like a Kafka message."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from contracts import RejectionReason
from contracts.text import may_hold_surrogate
from services.common.http import BodyLimit, problem_responses, refuse_lone_surrogates
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


def records_body_limits(max_body_bytes: int) -> Sequence[BodyLimit]:
    return (BodyLimit("POST", "/records", max_body_bytes),)


def records_api(ingestor: Ingestor, max_records: int) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post("/records", openapi_extra=_BODY_DOC, responses=problem_responses(413, 422, 503))
    async def post_records(request: Request) -> IngestAnswer:
        """Validate and route records; rejected ones are also dead-lettered with their reasons.

        At most `max_records` records per body (413); text that is not valid Unicode (a lone
        surrogate escape) is refused whole (422): no part of it could be published.
        """
        # The raw body, not a parsed model: malformed records are answered and dead-lettered.
        body = await request.body()
        refuse_unfit_body(body, max_records)
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


def refuse_unfit_body(body: bytes, max_records: int) -> None:
    """413 for an array of more than `max_records` records; 422 for a lone surrogate.

    A body that is not JSON passes: the ingestor rejects and dead-letters it with its reason,
    as it does a Kafka message.
    """
    # An array of n elements takes at least 2n + 1 bytes ("[1,1,...]"): a body shorter than
    # that cannot be too long, and needs decoding here only if it may hold a surrogate.
    too_long_possible = len(body) > 2 * max_records + 1
    if not (too_long_possible or may_hold_surrogate(body)):
        return
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return
    if isinstance(decoded, list) and len(decoded) > max_records:
        raise HTTPException(
            413, f"{len(decoded)} records in one body: at most {max_records} per request"
        )
    refuse_lone_surrogates(body, decoded)


def _answer(rejected: Rejected) -> RejectedRecord:
    return RejectedRecord(
        index=rejected.index, record_id=rejected.record_id, reasons=list(rejected.reasons)
    )
