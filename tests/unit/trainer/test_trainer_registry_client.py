"""The registry client: multipart upload with the bearer token, clear errors otherwise."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from pydantic import SecretStr

from contracts import HOUSE_PRICES, ModelCard, ModelVersion
from services.trainer.registry_client import RegistryClient, RegistryError
from services.trainer.snapshot import take_snapshot
from services.trainer.training import TrainedModel, TrainingOptions, train_model
from tests.unit.trainer.trainer_samples import TOKEN, labelled_records


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    snapshot = take_snapshot(labelled_records(100), HOUSE_PRICES)
    return train_model(snapshot, HOUSE_PRICES, "house-prices", TrainingOptions(estimator="linear"))


def version_of(card: ModelCard, size: int) -> ModelVersion:
    return ModelVersion(
        model_name=card.model_name,
        version=7,
        sha256="ab" * 32,
        size_bytes=size,
        created_at="2025-01-01T00:00:00Z",
        aliases=("champion",),
        card=card,
    )


def client(handler: httpx.MockTransport | None = None, token: str = TOKEN) -> RegistryClient:
    return RegistryClient("http://registry:8003/", SecretStr(token), transport=handler)


async def test_upload_posts_the_artifact_and_card_with_the_token(model: TrainedModel) -> None:
    seen: list[httpx.Request] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = version_of(model.card, len(model.onnx)).model_dump(mode="json")
        return httpx.Response(201, json=body)

    version = await client(httpx.MockTransport(registry)).upload(model.onnx, model.card)

    assert version.version == 7
    assert version.aliases == ("champion",)
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "http://registry:8003/models/house-prices/versions"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    content = request.read()
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="artifact"; filename="house-prices.onnx"' in content
    assert model.onnx in content
    card_part = content.split(b'name="card"\r\n\r\n', 1)[1].split(b"\r\n--", 1)[0]
    assert ModelCard.model_validate(json.loads(card_part)) == model.card


@pytest.mark.parametrize("status", [401, 422, 500])
async def test_non_2xx_answers_raise_a_registry_error(model: TrainedModel, status: int) -> None:
    def registry(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"detail": "nope"})

    with pytest.raises(RegistryError, match=f"registry answered {status} .*nope"):
        await client(httpx.MockTransport(registry)).upload(model.onnx, model.card)


async def test_an_unreachable_registry_raises_a_registry_error(model: TrainedModel) -> None:
    def registry(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RegistryError, match=r"upload to .* failed"):
        await client(httpx.MockTransport(registry)).upload(model.onnx, model.card)


async def test_an_answer_that_is_no_model_version_raises(model: TrainedModel) -> None:
    def registry(_: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"ok": True})

    with pytest.raises(RegistryError, match="no ModelVersion"):
        await client(httpx.MockTransport(registry)).upload(model.onnx, model.card)


def champion_registry(
    model: TrainedModel, *, alias_status: int = 200, artifact: bytes | None = None
) -> httpx.MockTransport:
    """A registry whose champion of house-prices is v7 = `model` (or `alias_status`)."""
    version = version_of(model.card, len(model.onnx)).model_copy(
        update={"sha256": hashlib.sha256(model.onnx).hexdigest()}
    )

    def registry(request: httpx.Request) -> httpx.Response:
        match request.url.path:
            case "/models/house-prices/aliases/champion":
                if alias_status != 200:
                    return httpx.Response(alias_status, json={"detail": "no champion"})
                return httpx.Response(200, json=version.model_dump(mode="json"))
            case "/models/house-prices/versions/7/artifact":
                return httpx.Response(200, content=model.onnx if artifact is None else artifact)
        return httpx.Response(404)

    return httpx.MockTransport(registry)


async def test_champion_downloads_the_alias_version_and_its_artifact(model: TrainedModel) -> None:
    champion = await client(champion_registry(model)).champion("house-prices")
    assert champion is not None
    assert (champion.version, champion.onnx) == (7, model.onnx)


async def test_no_champion_yet_is_none(model: TrainedModel) -> None:
    assert await client(champion_registry(model, alias_status=404)).champion("house-prices") is None


async def test_a_champion_artifact_with_another_hash_is_refused(model: TrainedModel) -> None:
    transport = champion_registry(model, artifact=model.onnx[:-1])
    with pytest.raises(RegistryError, match="sha256"):
        await client(transport).champion("house-prices")


async def test_a_failing_alias_lookup_raises_a_registry_error(model: TrainedModel) -> None:
    with pytest.raises(RegistryError, match="answered 500"):
        await client(champion_registry(model, alias_status=500)).champion("house-prices")
