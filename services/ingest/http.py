"""The HTTP side of ingest: POST /records, routed exactly like a Kafka message."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from contracts import RejectionReason
from services.common.http import BodyLimit, problem_responses
from services.ingest.routing import Ingestor, Origin, Rejected

log = logging.getLogger(__name__)

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "One record (a JSON object) or a JSON array of records.",
        "content": {"application/json": {"schema": {}}},
    }
}


_DATASET_DOC = "the data set the records belong to (default: the spec ingest started with)"


class RejectedRecord(BaseModel):
    index: int
    record_id: str | None
    reasons: list[RejectionReason]


class IngestAnswer(BaseModel):
    accepted: int
    rejected: list[RejectedRecord]
    # Valid records whose id was routed within the idempotency horizon: not routed again.
    duplicates: list[RejectedRecord] = []


def body_limits(max_body_bytes: int) -> Sequence[BodyLimit]:
    return (BodyLimit("POST", "/records", max_body_bytes),)


def build_http_router(ingestor: Ingestor, max_records: int) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post("/records", openapi_extra=_BODY_DOC, responses=problem_responses(413, 422, 503))
    async def post_records(
        request: Request, dataset: Annotated[str | None, Query(description=_DATASET_DOC)] = None
    ) -> IngestAnswer:
        """Validate and route records; rejected ones are also dead-lettered with their reasons.

        At most `max_records` records per body (413). A record with text that is not valid
        Unicode (a lone surrogate escape) is rejected alone, as on Kafka: the rest are routed.
        Records of a data set that is not known are each rejected with the rule 'dataset', and
        those of a retired one with the rule 'retired'.
        """
        # The raw body, not a parsed model: malformed records are answered and dead-lettered.
        body = await request.body()
        refuse_unfit_body(body, max_records)
        try:
            outcome = await ingestor.ingest(body, Origin(source="http"), dataset)
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
    """413 for an array of more than `max_records` records.

    A body that is not JSON, or a record with a lone surrogate, passes: the ingestor rejects
    and dead-letters it with its reason, as it does a Kafka message.
    """
    # An array of n elements takes at least 2n + 1 bytes ("[1,1,...]"): a shorter body cannot
    # hold too many, and is not decoded here.
    if len(body) <= 2 * max_records + 1:
        return
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return
    if isinstance(decoded, list) and len(decoded) > max_records:
        raise HTTPException(
            413, f"{len(decoded)} records in one body: at most {max_records} per request"
        )


def _answer(rejected: Rejected) -> RejectedRecord:
    return RejectedRecord(
        index=rejected.index, record_id=rejected.record_id, reasons=list(rejected.reasons)
    )
