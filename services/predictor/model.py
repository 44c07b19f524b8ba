"""An ONNX model loaded into onnxruntime, verified and warmed, that scores whole batches."""

from __future__ import annotations

import hashlib
import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from contracts import CategoricalFeature, ClassificationTarget, DatasetSpec, ModelCard
from services.predictor.classes import ClassMismatch, ClassRule, class_rule

log = logging.getLogger(__name__)

FLOAT_TENSOR = "tensor(float)"
STRING_TENSOR = "tensor(string)"
SUPPORTED_TYPES = (FLOAT_TENSOR, STRING_TENSOR)

Row = Mapping[str, Any]


class ModelLoadError(Exception):
    """A model that must not serve: wrong hash, not ONNX, unsupported inputs, or failed warm-up."""


@dataclass(frozen=True)
class ModelInput:
    name: str
    type: str  # the onnxruntime type string, one of SUPPORTED_TYPES


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LoadedModel:
    """One model version, ready to serve: build it with `load_model`.

    A regressor's first output is its prediction. A classifier (`rule` set) is scored by its
    second output, the probability of each class, which `predict_columns` returns in the
    spec's class order; `rule` decides the class.
    """

    def __init__(
        self,
        name: str,
        version: int,
        sha256: str,
        session: ort.InferenceSession,
        rule: ClassRule | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.session = session
        self.rule = rule
        self.inputs = tuple(ModelInput(i.name, i.type) for i in session.get_inputs())
        self.output_name: str = session.get_outputs()[0 if rule is None else 1].name
        # Mixed into its predictions' event ids (see scoring.prediction_ids).
        self.id_mask = hashlib.sha256(f"{name}/{version}/{sha256}".encode()).digest()[:16]
        self._accepted_types = tuple(
            (i.name, _STRING_TYPES if i.type == STRING_TENSOR else _NUMBER_TYPES)
            for i in self.inputs
        )
        self._accepted_or_none = tuple(
            accepted | {_NONE_TYPE} for _, accepted in self._accepted_types
        )
        names = [i.name for i in self.inputs]
        self._values_of: Callable[[Row], tuple[Any, ...]] = (
            operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        )

    def __repr__(self) -> str:
        return f"LoadedModel({self.name!r}, version={self.version}, sha256={self.sha256[:12]})"

    def row_problem(self, row: Row) -> str | None:
        """Why `row` cannot be scored by this model, or None when it can."""
        for name, accepted in self._accepted_types:
            value = row.get(name, _MISSING)
            # Exact type lookups first: this runs for every record, isinstance is slower.
            if type(value) in accepted or value is None:
                continue  # None: NaN for numbers, "" for strings (see _column)
            problem = _value_problem(name, value, accepted)
            if problem is not None:
                return problem
        return None

    def columns(self, rows: Sequence[Row]) -> Columns:
        """Each input's values over `rows`, in input order; KeyError if a row lacks one.

        One C-level pass (itemgetter, zip) instead of a loop per input and row: this and
        `all_accepted` replace `row_problem` on the hot path, which is left for the culprits.
        """
        if not rows:
            return [() for _ in self.inputs]
        return list(zip(*map(self._values_of, rows), strict=True))

    def all_accepted(self, columns: Columns) -> bool:
        """Whether every value has a type its input takes (None too: a missing value)."""
        return all(
            accepted.issuperset(map(type, values))
            for values, accepted in zip(columns, self._accepted_or_none, strict=True)
        )

    def predict(self, features: Sequence[Row]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Predictions for `features` (rows that passed `row_problem`), in one session.run."""
        return self.predict_columns(self.columns(features), len(features))

    def predict_columns(
        self, columns: Columns, count: int
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Predictions for `count` rows given as `columns`, in one session.run: a value per row,
        or for a classifier a row of probabilities, one per class of `rule`."""
        rule = self.rule
        if not count:
            return np.empty((0,) if rule is None else (0, len(rule.classes)), dtype=np.float64)
        feeds = {i.name: _tensor(i, values) for i, values in zip(self.inputs, columns, strict=True)}
        output = np.asarray(self.session.run([self.output_name], feeds)[0], dtype=np.float64)
        if rule is None:
            return output.reshape(count)
        return rule.ordered(output.reshape(count, len(rule.classes)))


Columns = list[tuple[Any, ...]]  # per model input, its values over a batch of rows

_MISSING = object()
_NONE_TYPE = type(None)
_NUMBER_TYPES = frozenset({int, float, bool})
_STRING_TYPES = frozenset({str})


def _value_problem(name: str, value: object, accepted: frozenset[type]) -> str | None:
    """Why `value` cannot feed input `name` (None for subclasses of an accepted type)."""
    if value is _MISSING:
        return f"missing feature {name!r}"
    if accepted is _STRING_TYPES:
        return (
            None if isinstance(value, str) else f"feature {name!r} must be a string, got {value!r}"
        )
    if isinstance(value, int | float):
        return None
    return f"feature {name!r} must be a number, got {value!r}"


def _tensor(model_input: ModelInput, values: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    """The [N, 1] tensor of one input; None becomes NaN (float) or "" (string)."""
    if model_input.type == FLOAT_TENSOR:
        # numpy turns None into NaN and booleans into 0/1 when the dtype is float.
        return np.array(values, dtype=np.float32).reshape(-1, 1)
    strings = ["" if value is None else value for value in values]
    return np.array(strings, dtype=object).reshape(-1, 1)


def load_model(
    name: str,
    version: int,
    data: bytes,
    expected_sha256: str,
    spec: DatasetSpec | None = None,
    card: ModelCard | None = None,
) -> LoadedModel:
    """Verify, load, check against `spec` and warm a model; raise ModelLoadError if it must not
    serve. A card with classes makes it a classifier (see `classifier_rule`)."""
    actual = sha256_hex(data)
    if actual != expected_sha256.lower():
        raise ModelLoadError(
            f"{name} v{version}: sha256 {actual} does not match the expected {expected_sha256}"
        )
    options = ort.SessionOptions()
    # One thread per session: the predictor scales by processes and batches, not by threads.
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several types for bad bytes
        raise ModelLoadError(f"{name} v{version}: onnxruntime cannot load it: {exc}") from exc
    model = LoadedModel(
        name, version, actual, session, classifier_rule(f"{name} v{version}", session, spec, card)
    )
    _check_inputs(model)
    if spec is not None:
        problems = signature_problems(model.inputs, spec)
        if problems:
            raise ModelLoadError(
                f"{name} v{version}: inputs do not match spec {spec.name!r}: {'; '.join(problems)}"
            )
    _warm(model)
    return model


def classifier_rule(
    label: str, session: ort.InferenceSession, spec: DatasetSpec | None, card: ModelCard | None
) -> ClassRule | None:
    """None for a regressor; for a classifier (its card names classes) the rule that decides
    its class: the served spec's target (else the card's) and its probability columns."""
    classes = card.classes if card is not None else None
    target = _served_target(spec, card)
    if classes is None:
        if spec is not None and target is not None:
            raise ModelLoadError(
                f"{label}: spec {spec.name!r} classifies; the model's card names no classes"
            )
        return None
    if target is None:
        raise ModelLoadError(f"{label}: a classifier, but the spec's target is not classification")
    outputs = session.get_outputs()
    if len(outputs) < 2 or outputs[1].type != FLOAT_TENSOR:
        shown = [f"{o.name}: {o.type}" for o in outputs]
        raise ModelLoadError(f"{label}: a classifier needs a probabilities output 1; has {shown}")
    try:
        rule = class_rule(classes, target)
    except ClassMismatch as exc:
        raise ModelLoadError(f"{label}: {exc}") from exc
    _note_target(label, card, target)
    return rule


def _served_target(spec: DatasetSpec | None, card: ModelCard | None) -> ClassificationTarget | None:
    """The classification target served: the spec's; without a spec, the card's."""
    if spec is not None:
        return spec.classification
    trained = card.target if card is not None else None
    return trained if isinstance(trained, ClassificationTarget) else None


def _note_target(label: str, card: ModelCard | None, served: ClassificationTarget) -> None:
    trained = card.target if card is not None else None
    if trained is not None and trained != served:
        log.info(
            "predictor: %s was trained for target %s; the served spec's wins: %s",
            label,
            trained.model_dump(exclude_defaults=True),
            served.model_dump(exclude_defaults=True),
        )


def _check_inputs(model: LoadedModel) -> None:
    if not model.inputs:
        raise ModelLoadError(f"{model.name} v{model.version}: the graph has no inputs")
    unsupported = [f"{i.name}: {i.type}" for i in model.inputs if i.type not in SUPPORTED_TYPES]
    if unsupported:
        raise ModelLoadError(
            f"{model.name} v{model.version}: unsupported input types {unsupported}; "
            f"every input must be one of {SUPPORTED_TYPES}"
        )


def _warm(model: LoadedModel) -> None:
    """Score one dummy row so the first real batch does not pay for lazy initialisation."""
    dummy = {i.name: (0.0 if i.type == FLOAT_TENSOR else "") for i in model.inputs}
    try:
        model.predict([dummy])  # also checks the output's shape: a value or a class row each
    except Exception as exc:
        raise ModelLoadError(f"{model.name} v{model.version}: warm-up failed: {exc}") from exc


def expected_input_type(spec: DatasetSpec) -> dict[str, str]:
    """The ONNX input type of each spec feature (the trainer's layout)."""
    return {
        f.name: STRING_TENSOR if isinstance(f, CategoricalFeature) else FLOAT_TENSOR
        for f in spec.features
    }


def signature_problems(inputs: Sequence[ModelInput], spec: DatasetSpec) -> list[str]:
    """Why these inputs cannot be fed from records of `spec` (empty when they can).

    A model may use a subset of the features, but every input must be a feature of the spec
    with the tensor type the spec's feature type maps to.
    """
    expected = expected_input_type(spec)
    problems = []
    for model_input in inputs:
        wanted = expected.get(model_input.name)
        if wanted is None:
            problems.append(f"input {model_input.name!r} is not a feature of the spec")
        elif wanted != model_input.type:
            problems.append(
                f"input {model_input.name!r} is {model_input.type}, spec needs {wanted}"
            )
    return problems
