"""The accounting helper itself (no broker): what it calls lost, duplicated and unstable."""

from __future__ import annotations

import json
from typing import Any

from contracts import Topics
from tests.support.accounting import tally

TOPICS = Topics.with_prefix("t.")


def encoded(*events: dict[str, Any]) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


def test_tally_finds_lost_duplicated_and_unstable_records() -> None:
    messages = {
        TOPICS.raw: [*encoded({"record_id": "a"}, {"record_id": "b"}, {"record_id": "c"}), b"{"],
        TOPICS.predict_requests: encoded(
            {"event_id": "e1", "record_id": "a"},
            {"event_id": "e1", "record_id": "a"},  # redelivered under the same id: fine
            {"event_id": "e2", "record_id": "b"},
            {"event_id": "e3", "record_id": "c"},
            {"event_id": "e4", "record_id": "c"},  # sent once, republished as a new event
        ),
        TOPICS.predict_results: encoded(
            {"event_id": "p1", "request_event_id": "e1", "record_id": "a"},
            {"event_id": "p2", "request_event_id": "e1", "record_id": "a"},
            {"event_id": "p3", "request_event_id": "e3", "record_id": "c"},
        ),
        TOPICS.rejected: encoded({"event_id": "r1", "record_id": None}),
    }
    result = tally(messages, TOPICS)
    assert result.received == 4
    assert result.accepted_requests == 4
    assert result.dead_lettered == 1
    assert result.processed == 2
    assert sorted(result.lost) == ["b", "c"]  # e2 and e4 were never predicted
    assert result.duplicated == {"requests": 1, "predictions": 1}
    assert result.unstable_ids == {"c": ["e3", "e4"]}
    assert result.prediction_event_ids == 3
    assert result.unreadable == {TOPICS.raw: 1}
    assert "lost 2" in result.summary()


def test_a_record_sent_twice_may_have_two_events() -> None:
    messages = {
        TOPICS.raw: encoded({"record_id": "a"}, {"record_id": "a"}),
        TOPICS.predict_requests: encoded(
            {"event_id": "e1", "record_id": "a"}, {"event_id": "e2", "record_id": "a"}
        ),
    }
    result = tally(messages, TOPICS)
    assert result.duplicated == {"raw": 1}
    assert result.unstable_ids == {}


def test_a_record_prefix_keeps_only_that_tests_records() -> None:
    messages = {
        TOPICS.raw: encoded({"record_id": "mine-1"}, {"record_id": "other-1"}),
        TOPICS.predict_requests: encoded(
            {"event_id": "e1", "record_id": "mine-1"}, {"event_id": "e2", "record_id": "other-1"}
        ),
    }
    result = tally(messages, TOPICS, record_prefix="mine-")
    assert (result.received, result.accepted_requests, result.lost) == (1, 1, ["mine-1"])
