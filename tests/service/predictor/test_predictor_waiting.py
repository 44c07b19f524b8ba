"""A batch that finds no model in time goes back to Kafka: never dropped, never dead-lettered."""

from __future__ import annotations

import pytest

from contracts import PredictionRequested
from services.predictor.config import Settings
from tests.service.predictor.conftest import Predictor


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"model_wait_seconds": 0.05})


async def test_a_batch_without_a_model_is_handed_back_not_rejected(predictor: Predictor) -> None:
    request = PredictionRequested(
        record_id="early", dataset="house-prices", features={"area": 5000.0}
    )
    await predictor.broker.publish_batch(request, topic=predictor.topics.predict_requests)
    # The handler nacks the batch (Kafka rewinds to it); nothing is published anywhere.
    assert predictor.results == []
    assert predictor.rejected == []
    assert await predictor.metric_total("mlbus_predictor_rejected_total") == 0
    assert predictor.holder.current is None
