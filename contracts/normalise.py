"""The one normaliser and validator of a record's fields against a dataset spec.

Ingest (Kafka and POST /records), the predictor's POST /predict and `mlbus publish --check`
all call `normalise_fields`, so a record gets the same features, and is refused for the same
reasons, on every path. Pure functions, no I/O. Every check runs, so a refusal names all of a
record's problems at once, never only the first.
"""

from __future__ import annotations

import math
import re
import sys
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from contracts.datasets import (
    BooleanFeature,
    CategoricalFeature,
    ClassificationTarget,
    DatasetSpec,
    Feature,
    FeatureValue,
    IntegerFeature,
    NumericFeature,
    Target,
)
from contracts.events import RejectionReason, TargetValue

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

T = TypeVar("T")
MAX_RECORD_ID_LENGTH = 256
_NUMERIC_TEXT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)", re.IGNORECASE
)
_WHOLE_NUMBER_TEXT = re.compile(r"[+-]?\d{1,15}(?:\.0*)?")
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class Invalid(ValueError):
    """One value broke one rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class Fields(NamedTuple):
    """A record's fields normalised: exactly the spec's features, the target when labelled,
    the features that took the spec's imputed value, and every reason it cannot be accepted.

    (A named tuple: made for every record, it costs a tenth of a frozen dataclass.)"""

    features: dict[str, FeatureValue]
    target: TargetValue
    imputed: tuple[str, ...]
    reasons: tuple[RejectionReason, ...]


def normalise_fields(
    record: Mapping[str, Any], spec: DatasetSpec, *, also_known: Collection[str] = ()
) -> Fields:
    """The spec's features and target of `record`, normalised, with all its problems.

    Fields that are neither features, the target, the record id field nor in `also_known`
    are reasons ('unknown_field'): a misspelt column must not pass as a missing value.
    """
    compiled = _compiled(spec)
    reasons: list[RejectionReason] = []
    features: dict[str, FeatureValue] = {}
    imputed: list[str] = []
    get = record.get
    for feature, normalise in compiled.features:  # a plain loop: runs for every field
        name = feature.name
        value = get(name)
        try:
            if value is not None:
                features[name] = normalise(value)
                continue
            if feature.impute is not None:
                imputed.append(name)
            features[name] = _missing_value(feature, record)
        except Invalid as exc:
            reasons.append(RejectionReason(field=name, rule=exc.rule, message=exc.message))
    target = _checked(spec.target.name, reasons, partial(_target_value, spec.target, record))
    known = compiled.known.union(also_known) if also_known else compiled.known
    reasons.extend(_unknown_fields(record, known))
    return Fields(features, target, tuple(imputed), tuple(reasons))


class _Compiled(NamedTuple):
    """What normalise_fields needs of a spec, worked out once: every record of a stream
    checks the same spec, and reading it feature by feature cost more than the values."""

    spec: DatasetSpec
    features: tuple[tuple[Feature, Callable[[object], FeatureValue]], ...]
    known: frozenset[str]


_COMPILED: dict[int, _Compiled] = {}


def _compiled(spec: DatasetSpec) -> _Compiled:
    cached = _COMPILED.get(id(spec))
    if cached is None or cached.spec is not spec:
        known = frozenset({*spec.feature_names, spec.target.name, spec.record_id_field})
        normalisers = tuple((f, _fast_normaliser(f)) for f in spec.features)
        cached = _COMPILED[id(spec)] = _Compiled(spec, normalisers, known)
    return cached


# Integers beyond this take the general path: float() of a huge one overflows, and the
# general path turns that into the 'finite' rule.
_SAFE_INTEGER = 2**53


def _fast_normaliser(feature: Feature) -> Callable[[object], FeatureValue]:
    """normalise_value for `feature`, with a shortcut for the plain case (a JSON number in
    bounds, a category spelt as written, a JSON boolean) that returns what normalise_value
    returns; anything else goes to normalise_value itself, so the rules stay in one place."""
    general = partial(normalise_value, feature)
    if isinstance(feature, NumericFeature | IntegerFeature):
        return _fast_number(feature, general)
    if isinstance(feature, CategoricalFeature):
        exact = _category_lookups(feature)[0]

        def category(value: object) -> FeatureValue:
            found = exact.get(value) if type(value) is str else None
            return found if found is not None else general(value)

        return category
    return lambda value: value if type(value) is bool else general(value)


def _fast_number(
    feature: NumericFeature | IntegerFeature, general: Callable[[object], FeatureValue]
) -> Callable[[object], FeatureValue]:
    # Finite bounds always, so that a value within them is finite too (NaN fails both tests).
    low = max(-sys.float_info.max, -math.inf if feature.min is None else feature.min)
    high = min(sys.float_info.max, math.inf if feature.max is None else feature.max)
    as_float = isinstance(feature, NumericFeature)

    def number(value: object) -> FeatureValue:
        if isinstance(value, float):
            if as_float and low <= value <= high:
                return float(value)
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and -_SAFE_INTEGER < value < _SAFE_INTEGER
            and low <= value <= high
        ):
            return float(value) if as_float else int(value)
        return general(value)

    return number


def _checked(name: str, reasons: list[RejectionReason], check: Callable[[], T]) -> T | None:
    """`check()`, or None after adding its complaint to `reasons`."""
    try:
        return check()
    except Invalid as exc:
        reasons.append(RejectionReason(field=name, rule=exc.rule, message=exc.message))
        return None


def _missing_value(feature: Feature, record: Mapping[str, Any]) -> FeatureValue:
    """The value of a feature that is missing or null in `record`, or Invalid."""
    if feature.nullable:  # the spec's imputation rule, in its canonical form
        return None if feature.impute is None else normalise_value(feature, feature.impute)
    if feature.name not in record:
        raise Invalid("required", "required feature is missing")
    raise Invalid("null", "feature is not nullable")


def _target_value(target: Target, record: Mapping[str, Any]) -> TargetValue:
    """The target: a float, or a class name; absent or null means the record is unlabelled."""
    value = record.get(target.name)
    if value is None:
        return None
    if isinstance(target, ClassificationTarget):
        return target_class(target, value)
    number = _finite(_number(value))
    _check_bounds(number, target.min, target.max)
    return float(number)


def target_class(target: ClassificationTarget, value: object) -> str:
    """The class a label names, spelt as the spec spells it; raises Invalid.

    Labels normalise as categories do; a whole number (1, 1.0, or the text "1.0" that a CSV
    writer makes of an integer column with gaps) is its integer's text.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | str):
        text = str(value)
    else:
        raise Invalid("type", f"expected a class name, got {json_type(value)}")
    lookups = _class_lookups(target)
    found = _lookup(lookups, text)
    if found is None and _WHOLE_NUMBER_TEXT.fullmatch(text.strip()):
        found = _lookup(lookups, str(int(float(text))))
    if found is None:
        allowed = ", ".join(target.classes)
        raise Invalid("class", f"unknown class {text!r:.60}; allowed: {allowed}")
    return found


def _unknown_fields(record: Mapping[str, Any], known: Collection[str]) -> list[RejectionReason]:
    return [
        RejectionReason(field=name, rule="unknown_field", message="field is not in the spec")
        for name in record
        if name not in known
    ]


def record_id_text(value: object) -> str:
    """A record id as text: a non-empty string of at most 256 characters, or an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        message = f"record id must be a non-empty string or an integer, got {value!r:.60}"
        raise Invalid("type", message)
    if len(value) > MAX_RECORD_ID_LENGTH:
        raise Invalid("max", f"record id longer than {MAX_RECORD_ID_LENGTH} characters")
    return value


# --- single values -----------------------------------------------------------------------


def normalise_value(feature: Feature, value: object) -> FeatureValue:
    """The canonical form of a non-null `value` of `feature`; raises Invalid."""
    match feature:
        case NumericFeature():
            number = float(_finite(_number(value)))
            _check_bounds(number, feature.min, feature.max)
            return number
        case IntegerFeature():
            integer = _integer(_finite(_number(value)))
            _check_bounds(integer, feature.min, feature.max)
            return integer
        case CategoricalFeature():
            return _category(feature, value)
        case BooleanFeature():
            return _boolean(value)
    raise TypeError(f"unsupported feature {feature!r}")


def _number(value: object) -> int | float:
    if isinstance(value, bool):  # bool is an int in Python, never a number in a record
        raise Invalid("type", "expected a number, got a boolean")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        # Parse the text the pattern checked: str.strip also removes separators such as
        # U+001F and U+2028 that float() does not.
        text = value.strip()
        if _NUMERIC_TEXT.fullmatch(text):
            return float(text)
    raise Invalid("type", f"expected a number, got {json_type(value)} {value!r:.60}")


def _finite(number: int | float) -> int | float:
    try:
        finite = math.isfinite(number)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise Invalid("finite", f"expected a finite number, got {number!r:.60}")
    return number


def _integer(number: int | float) -> int:
    if isinstance(number, float) and not number.is_integer():
        raise Invalid("type", f"expected an integer, got {number!r}")
    return int(number)


def _check_bounds(number: int | float, low: float | None, high: float | None) -> None:
    if low is not None and number < low:
        raise Invalid("min", f"{number!r} is below the minimum {low!r}")
    if high is not None and number > high:
        raise Invalid("max", f"{number!r} is above the maximum {high!r}")


def _category(feature: CategoricalFeature, value: object) -> str:
    if isinstance(value, bool):  # JSON true/false spell yes/no categories through aliases
        text = "true" if value else "false"
    elif isinstance(value, int | str):
        text = str(value)
    else:
        raise Invalid("type", f"expected a string, got {json_type(value)}")
    category = _lookup(_category_lookups(feature), text)
    if category is None:
        allowed = ", ".join(feature.categories)
        raise Invalid("category", f"unknown category {text!r:.60}; allowed: {allowed}")
    return category


def _lookup(lookups: tuple[dict[str, str], dict[str, str]], text: str) -> str | None:
    """The name `text` spells: as written first, then normalised (case, whitespace)."""
    exact, normalised = lookups
    found = exact.get(text)
    return found if found is not None else normalised.get(normalise_text(text))


# Lookups per categorical feature and classification target, built once: validation runs for
# every record.
_LOOKUPS: dict[int, tuple[object, dict[str, str], dict[str, str]]] = {}


def _category_lookups(feature: CategoricalFeature) -> tuple[dict[str, str], dict[str, str]]:
    """Spellings as written, and normalised spellings, to their category."""
    return _names_lookups(feature, feature.categories, feature.aliases)


def _class_lookups(target: ClassificationTarget) -> tuple[dict[str, str], dict[str, str]]:
    return _names_lookups(target, target.classes, target.aliases)


def _names_lookups(
    owner: object, names: tuple[str, ...], aliases: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    cached = _LOOKUPS.get(id(owner))
    if cached is None or cached[0] is not owner:
        exact = {c: c for c in names} | dict(aliases)
        normalised = {normalise_text(c): c for c in names}
        normalised.update({normalise_text(alias): c for alias, c in aliases.items()})
        cached = _LOOKUPS[id(owner)] = (owner, exact, normalised)
    return cached[1], cached[2]


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and normalise_text(value) in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[normalise_text(value)]
    raise Invalid("type", f"expected a boolean (true/false, yes/no, 1/0), got {value!r:.60}")


def normalise_text(text: str) -> str:
    """Lower case, no outer whitespace, inner whitespace runs as one space."""
    return " ".join(text.split()).lower()


def json_type(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__
