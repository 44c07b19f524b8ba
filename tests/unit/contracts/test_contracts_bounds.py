"""Dead-letter events are bounded by construction: every text cut with a note, reasons counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    MAX_ORIGINAL_CHARS,
    MAX_REASONS,
    RecordRejected,
    RejectionReason,
    unicode_text,
)
from contracts.events import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, MAX_RULE_CHARS, bounded_text


@given(st.text(), st.integers(min_value=40, max_value=500))
def test_bounded_text_fits_its_limit_notes_the_cut_and_is_idempotent(text: str, limit: int) -> None:
    bounded = bounded_text(text, limit)
    assert len(bounded) <= limit
    bounded.encode("utf-8")  # lone surrogates are escaped
    assert bounded_text(bounded, limit) == bounded
    if len(unicode_text(text)) > limit:
        assert bounded.endswith("more characters cut]")
    else:
        assert bounded == unicode_text(text)


def test_the_note_says_how_many_characters_were_cut() -> None:
    bounded = bounded_text("x" * 1000, 100)
    kept = bounded.index("...")
    assert bounded.endswith(f"...[{1000 - kept} more characters cut]")


def test_every_text_of_a_rejection_is_bounded_wherever_it_is_made() -> None:
    reason = RejectionReason(field="f" * 10**6, rule="r" * 10**6, message="m" * 10**6)
    assert MAX_FIELD_CHARS - 2 <= len(reason.field or "") <= MAX_FIELD_CHARS
    assert MAX_RULE_CHARS - 2 <= len(reason.rule) <= MAX_RULE_CHARS
    assert MAX_MESSAGE_CHARS - 2 <= len(reason.message) <= MAX_MESSAGE_CHARS
    event = RecordRejected(
        record_id="i" * 10**6, source="s" * 10**6, original="o" * 10**7, reasons=[reason] * 1000
    )
    assert MAX_ORIGINAL_CHARS - 2 <= len(event.original) <= MAX_ORIGINAL_CHARS
    assert len(event.reasons) == MAX_REASONS
    assert event.reasons[-1].message == f"{1000 - MAX_REASONS + 1} more reasons cut"
    assert len(event.record_id or "") <= 300
    assert len(event.source) <= 300


def test_a_lone_surrogate_anywhere_in_a_rejection_still_serialises() -> None:
    reason = RejectionReason(field="\ud800", rule="\udc00", message="\ud83d")
    event = RecordRejected(record_id="\ud800", source="t", original="\udfff", reasons=[reason])
    text = event.model_dump_json()
    assert RecordRejected.model_validate_json(text).original == "\\udfff"
