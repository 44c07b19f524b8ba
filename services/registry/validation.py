"""Checks an upload must pass before anything is written: model name, card, ONNX artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import onnxruntime
from pydantic import TypeAdapter, ValidationError

from contracts import (
    CategoricalFeature,
    ClassificationTarget,
    DatasetSpec,
    ModelCard,
    ModelMetrics,
)
from services.registry.signature import OnnxSignature, signature_of

if TYPE_CHECKING:
    from collections.abc import Sequence

# The same rule as ModelCard.model_name: names become URL paths and keys, never file paths.
_MODEL_NAME: TypeAdapter[str] = TypeAdapter(Annotated[str, ModelCard.model_fields["model_name"]])

_ONNX_TYPES = {"tensor(float)": "float", "tensor(string)": "string"}


class InvalidUpload(ValueError):
    """An upload the registry refuses; the message says why, for the HTTP 422 detail."""


def validate_model_name(name: str) -> str:
    try:
        return _MODEL_NAME.validate_python(name)
    except ValidationError as exc:
        raise InvalidUpload(
            f"invalid model name {name!r}: lower-case letters, digits, '-' and '_' only"
        ) from exc


def parse_card(card_json: str | bytes, url_name: str) -> ModelCard:
    """The card as a ModelCard whose name is the URL's, whose scores lie in their range
    (the one promotion compares by present) and, for a classifier, whose classes are known."""
    try:
        # Readers drop metrics they do not know (older cards still load); an upload naming
        # one is refused instead, so nothing it sends is silently lost.
        card = ModelCard.model_validate_json(card_json, extra="forbid")
    except ValidationError as exc:
        raise InvalidUpload(f"invalid model card: {_summary(exc)}") from exc
    if card.model_name != url_name:
        raise InvalidUpload(
            f"model name in the URL ({url_name!r}) differs from the card's ({card.model_name!r})"
        )
    check_scores(card.metrics)
    check_classes(card)
    return card


# Scores that can be no less than 0, and those that lie in [0, 1]. Finite: the contract
# refuses inf and NaN in every metric.
_NOT_NEGATIVE = ("rmse", "mae", "log_loss")
_FRACTIONS = ("accuracy", "macro_f1", "roc_auc")


def check_scores(metrics: ModelMetrics) -> None:
    """Scores in their range, and the one promotion compares by (`metric`) present."""
    for name in _NOT_NEGATIVE:
        score = getattr(metrics, name)
        if score is not None and score < 0:
            raise InvalidUpload(f"card metrics.{name} must be >= 0, got {score}")
    for name in _FRACTIONS:
        score = getattr(metrics, name)
        if score is not None and not 0 <= score <= 1:
            raise InvalidUpload(f"card metrics.{name} must lie in [0, 1], got {score}")
    if getattr(metrics, metrics.metric) is None:
        raise InvalidUpload(
            f"card metrics.metric is {metrics.metric!r}, but metrics.{metrics.metric} is missing:"
            " promotion could not compare the version"
        )


def check_classes(card: ModelCard) -> None:
    """A classifier names the class of each probability column, once each, all of them
    classes of the target it was trained for; a regressor names none."""
    target = card.target if isinstance(card.target, ClassificationTarget) else None
    classifies = card.metrics.task == "classification" or target is not None
    if card.classes is None:
        if classifies:
            raise InvalidUpload("a classifier's card must name its classes (card.classes)")
        return
    if not classifies:
        raise InvalidUpload("card.classes is for classifiers: metrics.task is 'regression'")
    if len(set(card.classes)) != len(card.classes) or len(card.classes) < 2:
        raise InvalidUpload(f"card.classes must be two or more distinct: {list(card.classes)}")
    if target is not None:
        unknown = sorted(set(card.classes) - set(target.classes))
        if unknown:
            raise InvalidUpload(
                f"card.classes {unknown} are not classes of target {target.name!r}:"
                f" {list(target.classes)}"
            )


def check_sha256(actual: str, declared: str | None) -> None:
    """The uploader's declared sha256 (if any) must be the one of the bytes received."""
    if declared is not None and declared.strip().lower() != actual:
        raise InvalidUpload(
            f"sha256 mismatch: the artifact received hashes to {actual},"
            f" the uploader declared {declared.strip()!r} (corrupted or truncated upload?)"
        )


def check_spec(card: ModelCard, spec: DatasetSpec | None) -> None:
    """With a spec configured, the card must be for its data set with one input per feature."""
    if spec is None:
        return
    if card.dataset != spec.name:
        raise InvalidUpload(f"dataset {card.dataset!r} is not the registry's spec {spec.name!r}")
    expected = {
        f.name: "string" if isinstance(f, CategoricalFeature) else "float" for f in spec.features
    }
    actual = {i.name: i.type for i in card.inputs}
    if actual != expected:
        missing = sorted(set(expected) - set(actual))
        unknown = sorted(set(actual) - set(expected))
        typed = sorted(n for n in set(actual) & set(expected) if actual[n] != expected[n])
        raise InvalidUpload(
            f"model inputs do not match spec {spec.name!r}: missing {missing},"
            f" not in the spec {unknown}, wrong type {typed}"
        )
    _check_task(card, spec)


def check_card_fits(card: ModelCard, specs: Sequence[DatasetSpec]) -> None:
    """The card must fit one of its data set's specs (newest first: a model trained on an
    earlier compatible version still serves); refused with the newest one's reason."""
    if not specs:
        raise InvalidUpload(
            f"data set {card.dataset!r} has no spec in the registry: register it first"
            f" (PUT /specs/{card.dataset}, or mlbus spec register)"
        )
    refusals: list[InvalidUpload] = []
    for spec in specs:
        try:
            check_spec(card, spec)
        except InvalidUpload as exc:
            refusals.append(exc)
        else:
            return
    raise refusals[0]


def _check_task(card: ModelCard, spec: DatasetSpec) -> None:
    """A classifier for a classification spec, its classes among the spec's; a regressor for a
    regression spec."""
    target = spec.classification
    if target is None:
        if card.classes is not None:
            raise InvalidUpload(f"a classifier, but spec {spec.name!r} has a regression target")
        return
    if card.classes is None:
        raise InvalidUpload(f"spec {spec.name!r} classifies, but the card names no classes")
    unknown = sorted(set(card.classes) - set(target.classes))
    if unknown:
        raise InvalidUpload(f"card.classes {unknown} are not classes of spec {spec.name!r}")


def check_onnx(artifact: bytes, card: ModelCard) -> OnnxSignature:
    """Load the artifact with onnxruntime; its inputs must be exactly the card's inputs."""
    session = _load_session(artifact)
    actual = {i.name: _ONNX_TYPES.get(i.type, i.type) for i in session.get_inputs()}
    expected = {i.name: i.type for i in card.inputs}
    if len(expected) != len(card.inputs):
        raise InvalidUpload("the card lists an input name more than once")
    if set(actual) != set(expected):
        raise InvalidUpload(
            f"ONNX inputs {sorted(actual)} differ from the card's inputs {sorted(expected)}"
        )
    mismatched = sorted(n for n in expected if actual[n] != expected[n])
    if mismatched:
        details = ", ".join(f"{n}: onnx {actual[n]} / card {expected[n]}" for n in mismatched)
        raise InvalidUpload(f"ONNX input types differ from the card's: {details}")
    if not session.get_outputs():
        raise InvalidUpload("the ONNX model has no output")
    if card.classes is not None:
        _check_probabilities_output(session, card.classes)
    return signature_of(session)


def _check_probabilities_output(session: Any, classes: tuple[str, ...]) -> None:
    """A classifier's output 1: a float tensor with a column per class (ZipMap off)."""
    outputs = session.get_outputs()
    if len(outputs) < 2 or outputs[1].type != "tensor(float)":
        shown = [f"{o.name}: {o.type}" for o in outputs]
        raise InvalidUpload(
            f"a classifier's ONNX output 1 must be its probabilities, a float tensor; has {shown}"
        )
    shape = outputs[1].shape
    columns = shape[-1] if shape else None
    if isinstance(columns, int) and columns != len(classes):
        raise InvalidUpload(
            f"ONNX probabilities have {columns} columns; the card names {len(classes)} classes"
        )


def _summary(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'card'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )


def _load_session(artifact: bytes) -> Any:
    if not artifact:
        raise InvalidUpload("the artifact is empty: expected an ONNX model")
    try:
        return onnxruntime.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several pybind error types for bad models
        raise InvalidUpload(f"the artifact is not a loadable ONNX model: {exc}") from exc
