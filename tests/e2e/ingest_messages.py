"""Hypothesis strategies for raw ingest messages, each with the outcome ingest must give it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

from contracts import HOUSE_PRICES, CategoricalFeature, IntegerFeature, NumericFeature
from mlbus.datagen import RecordGenerator
from services.ingest.validation import normalise_text

Outcome = Literal["training", "prediction", "rejected", "duplicate"]
SPEC = HOUSE_PRICES
KNOWN = {*SPEC.feature_names, SPEC.target.name, SPEC.record_id_field}
_CATEGORIES = [f for f in SPEC.features if isinstance(f, CategoricalFeature)]


@dataclass
class Generated:
    """One message to publish: a record (its id set later) or raw bytes, and what must happen."""

    kind: str
    outcome: Outcome
    record: dict[str, Any] | None = None
    raw: bytes | None = None
    rule: str | None = None  # a rule the rejection must name
    back: int = 0  # a duplicate: repeats the back-th valid message before it (0: the last)

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.record, allow_nan=True).encode()


def _spellings(feature: CategoricalFeature) -> list[str]:
    """Accepted spellings of the categories: any case, outer whitespace, aliases."""
    words = [*feature.categories, *feature.aliases]
    cased = [spelling for word in words for spelling in (word, word.upper(), word.title())]
    return [f"{pad}{word}{pad}" for word in cased for pad in ("", " ", " \t")]


def _base_record(seed: int, labelled: bool, respelled: tuple[str, str]) -> dict[str, Any]:
    """A valid record of the seeded generator, one categorical value in another spelling."""
    record = RecordGenerator(seed=seed).record(labelled=labelled)
    del record[SPEC.record_id_field]  # set when the messages are numbered
    if not labelled:
        record[SPEC.target.name] = None
    name, spelling = respelled
    record[name] = spelling
    return record


def _valid_record() -> st.SearchStrategy[dict[str, Any]]:
    # Few draws per record keeps generation fast: hypothesis picks the seed, the labelling
    # and one category spelling; the seeded generator fills the rest with valid values.
    respelled = st.sampled_from([(f.name, word) for f in _CATEGORIES for word in _spellings(f)])
    return st.builds(_base_record, st.integers(0, 2**32), st.booleans(), respelled)


def _valid() -> st.SearchStrategy[Generated]:
    return _valid_record().map(
        lambda r: Generated(
            "valid", "prediction" if r[SPEC.target.name] is None else "training", record=r
        )
    )


def _broken(
    kind: str, rule: str, field: st.SearchStrategy[str], value: st.SearchStrategy[Any]
) -> st.SearchStrategy[Generated]:
    def build(record: dict[str, Any], name: str, bad: Any) -> Generated:
        return Generated(kind, "rejected", record={**record, name: bad}, rule=rule)

    return st.builds(build, _valid_record(), field, value)


_NUMBERS = [f.name for f in SPEC.features if isinstance(f, NumericFeature | IntegerFeature)]
_ALLOWED = {normalise_text(word) for f in _CATEGORIES for word in (*f.categories, *f.aliases)}


def _missing() -> st.SearchStrategy[Generated]:
    def build(record: dict[str, Any], name: str) -> Generated:
        return Generated(
            "missing",
            "rejected",
            record={k: v for k, v in record.items() if k != name},
            rule="required",
        )

    return st.builds(build, _valid_record(), st.sampled_from(SPEC.feature_names))


def _malformed() -> st.SearchStrategy[Generated]:
    truncated = st.builds(
        lambda r, cut: json.dumps(r).encode()[: max(1, cut)], _valid_record(), st.integers(1, 60)
    )
    garbage = st.binary(max_size=200).filter(lambda b: not _is_json(b))
    return (truncated | garbage).map(
        lambda raw: Generated("malformed", "rejected", raw=raw, rule="json")
    )


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _not_an_object() -> st.SearchStrategy[Generated]:
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    values = scalars | st.lists(scalars, max_size=0)  # an empty array carries no record
    return values.filter(lambda v: v != []).map(
        lambda v: Generated("not_object", "rejected", raw=json.dumps(v).encode(), rule="type")
    )


def messages() -> st.SearchStrategy[Generated]:
    """Every kind of message, valid ones more often (duplicates are made of them later)."""
    wrong_type = st.one_of(
        st.just([1]),
        st.just({"a": 1}),
        st.booleans(),
        st.text(min_size=1, max_size=8).filter(lambda t: not _number_like(t)),
    )
    unknown_category = st.text(max_size=30).filter(lambda t: normalise_text(t) not in _ALLOWED)
    # Huge strings are rarer (about 5%), so that 10,000 messages stay about 20 megabytes.
    huge = st.integers(10_000, 60_000).map(lambda n: "x" * n)
    categorical_names = st.sampled_from([f.name for f in _CATEGORIES])
    huge_string = _broken("huge_string", "category", categorical_names, huge)
    mix = st.one_of(
        _valid(),
        _valid(),
        _valid(),
        _broken("wrong_type", "type", st.sampled_from(_NUMBERS), wrong_type),
        _missing(),
        _broken("null", "null", st.sampled_from(SPEC.feature_names), st.none()),
        _broken(
            "extra",
            "unknown_field",
            st.text(min_size=1, max_size=20).filter(lambda n: n not in KNOWN),
            st.integers(),
        ),
        _broken(
            "nan_inf",
            "finite",
            st.sampled_from(_NUMBERS),
            st.sampled_from([math.nan, math.inf, -math.inf]),
        ),
        _broken("unknown_category", "category", categorical_names, unknown_category),
        _malformed(),
        _not_an_object(),
        st.integers(0, 50).map(lambda back: Generated("duplicate", "duplicate", back=back)),
    )
    return st.sampled_from(range(50)).flatmap(lambda n: huge_string if n == 0 else mix)


def _number_like(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True
