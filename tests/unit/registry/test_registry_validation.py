import json
import re

import pytest

from services.registry.validation import (
    InvalidUpload,
    check_onnx,
    parse_card,
    validate_model_name,
)
from tests.unit.registry.registry_samples import make_card, make_onnx


@pytest.mark.parametrize("name", ["house-prices", "m1", "a_b-c"])
def test_valid_model_names_pass(name: str) -> None:
    assert validate_model_name(name) == name


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "House", "", "x\n", "-x", "a" * 65])
def test_invalid_model_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidUpload, match="invalid model name"):
        validate_model_name(name)


def test_card_is_parsed_when_name_matches() -> None:
    card = make_card()
    assert parse_card(card.model_dump_json(), "house-prices") == card


def test_card_for_another_model_is_refused() -> None:
    with pytest.raises(InvalidUpload, match="differs from the card"):
        parse_card(make_card(name="other").model_dump_json(), "house-prices")


@pytest.mark.parametrize("text", ["not json", "{}", '{"model_name": "house-prices"}'])
def test_malformed_card_is_refused(text: str) -> None:
    with pytest.raises(InvalidUpload, match="invalid model card"):
        parse_card(text, "house-prices")


@pytest.mark.parametrize(
    ("rmse", "why"),
    [
        ("NaN", "metrics.rmse: Input should be a finite number"),
        ("Infinity", "metrics.rmse: Input should be a finite number"),
        ("1e999", "metrics.rmse: Input should be a finite number"),  # overflows to inf
        ("-1.0", "rmse must be >= 0"),
    ],
)
def test_card_rmse_must_be_comparable(rmse: str, why: str) -> None:
    text = make_card().model_dump_json().replace('"rmse":10.0', f'"rmse":{rmse}')
    assert json.loads(text)["metrics"]["rmse"] != 10.0
    with pytest.raises(InvalidUpload, match=re.escape(why)):
        parse_card(text, "house-prices")


@pytest.mark.parametrize(
    ("metric", "value", "why"),
    [
        ("mae", "Infinity", "metrics.mae: Input should be a finite number"),
        ("r2", "NaN", "metrics.r2: Input should be a finite number"),
        ("champion_rmse", "-Infinity", "metrics.champion_rmse: Input should be a finite number"),
        ("seed", "NaN", "metrics.seed: Input should be a finite number"),
        ("hyperparameters", '{"alpha": Infinity}', "metrics.hyperparameters.alpha.float:"),
    ],
)
def test_every_metric_must_be_finite(metric: str, value: str, why: str) -> None:
    # The registry serves cards as JSON, which has no inf or NaN: a stored one would make every
    # later read of the model fail. The trainer never scores a non-finite champion RMSE (None).
    card = json.loads(make_card().model_dump_json())
    card["metrics"][metric] = "<value>"
    text = json.dumps(card).replace('"<value>"', value)
    with pytest.raises(InvalidUpload, match=re.escape(why)):
        parse_card(text, "house-prices")


@pytest.mark.parametrize(
    ("metric", "value"), [("mape", "0.1"), ("folds", '{"rmse": [1.0, 2.0]}'), ("seeds", "[1]")]
)
def test_a_metric_the_contract_does_not_name_is_refused_not_dropped(
    metric: str, value: str
) -> None:
    # Readers of stored cards drop unknown metrics; an upload is told instead of losing them.
    card = json.loads(make_card().model_dump_json())
    card["metrics"][metric] = "<value>"
    text = json.dumps(card).replace('"<value>"', value)
    with pytest.raises(InvalidUpload, match=re.escape(f"metrics.{metric}: Extra inputs")):
        parse_card(text, "house-prices")


def test_matching_onnx_passes() -> None:
    check_onnx(make_onnx(), make_card())


@pytest.mark.parametrize(
    "artifact", [b"", b"not an onnx model", make_onnx()[:40], make_onnx()[:-20]]
)
def test_bytes_that_are_not_a_loadable_onnx_model_are_refused(artifact: bytes) -> None:
    with pytest.raises(InvalidUpload, match="ONNX model"):
        check_onnx(artifact, make_card())


@pytest.mark.parametrize(
    "inputs",
    [
        [("area", "float")],
        [("area", "float"), ("bedrooms", "float"), ("parking", "float")],
        [("area", "float"), ("rooms", "float")],
    ],
)
def test_input_names_must_equal_the_cards(inputs: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidUpload, match="differ from the card's inputs"):
        check_onnx(make_onnx(), make_card(inputs=inputs))


def test_input_types_must_equal_the_cards() -> None:
    card = make_card(inputs=[("area", "float"), ("bedrooms", "string")])
    with pytest.raises(InvalidUpload, match="bedrooms: onnx float / card string"):
        check_onnx(make_onnx(), card)


def test_duplicate_card_inputs_are_refused() -> None:
    card = make_card(inputs=[("area", "float"), ("bedrooms", "float"), ("area", "float")])
    with pytest.raises(InvalidUpload, match="more than once"):
        check_onnx(make_onnx(), card)
