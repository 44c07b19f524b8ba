"""The trainer end to end on the in-memory broker: records and commands in, uploads out."""

from __future__ import annotations

import httpx
import onnxruntime as ort
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import DriftDetected, FeatureDrift, ModelRefused, TrainModel
from services.trainer.app import create_app
from services.trainer.holdout import holdout_rows, is_held_out
from services.trainer.registry_client import RegistryClient
from tests.service.trainer.conftest import FakeRegistry, Trainer, make_settings
from tests.unit.trainer.trainer_samples import labelled_records


async def test_records_and_a_train_command_lead_to_an_upload(trainer: Trainer) -> None:
    records = labelled_records(300)
    await trainer.publish(list(records), trainer.topics.records)
    await trainer.idle()
    assert trainer.registry.versions == []  # retrain_every is far away
    await trainer.publish([TrainModel(reason="service test")], trainer.topics.trainer_commands)
    await trainer.idle()

    [(onnx, version)] = trainer.registry.versions
    card = version.card
    assert card.model_name == "house-prices"
    assert card.snapshot_size == 300
    held_out = [r.record_id for r in records if is_held_out(r.record_id, 0.2)]
    assert card.estimator == "hist_gradient_boosting"
    assert card.metrics.holdout_rows == holdout_rows(held_out)
    assert [i.name for i in card.inputs] == list(records[0].features)
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [None, 1]
    assert (
        await trainer.metric('mlbus_trainer_runs_total{model="house-prices",outcome="uploaded"}')
        == 1
    )
    assert await trainer.metric('mlbus_trainer_records_buffered{model="house-prices"}') == 300
    assert await trainer.metric('mlbus_trainer_last_rmse{model="house-prices"}') == pytest.approx(
        card.metrics.rmse
    )
    assert await trainer.metric('mlbus_trainer_training_seconds_count{model="house-prices"}') == 1
    status = (await trainer.http.get("/status")).json()
    assert status["last_result"]["outcome"] == "uploaded"
    assert status["last_result"]["reason"] == "command: service test"


@pytest.mark.parametrize("settings", [{"retrain_every": 120}], indirect=True)
async def test_retrain_every_new_records_uploads_without_a_command(trainer: Trainer) -> None:
    await trainer.publish(list(labelled_records(130)), trainer.topics.records)
    await trainer.idle()
    [size] = [v.card.snapshot_size for _, v in trainer.registry.versions]
    # The run snapshots the buffer when it begins: records that came after the 120th may
    # already be in it; the rest count towards the next run.
    assert 120 <= size <= 130
    assert trainer.coordinator.new_since_run == 130 - size


async def test_bad_messages_are_skipped_and_unlabelled_records_not_buffered(
    trainer: Trainer,
) -> None:
    labelled = labelled_records(120)
    unlabelled = [r.model_copy(update={"target": None}) for r in labelled_records(5, prefix="u")]
    await trainer.broker.publish(b"not json", trainer.topics.records)
    await trainer.broker.publish({"kind": "record.ingested.v1"}, trainer.topics.records)
    await trainer.publish([*labelled, *unlabelled], trainer.topics.records)
    await trainer.broker.publish(b"{broken", trainer.topics.trainer_commands)
    assert len(trainer.coordinator.buffer) == 120
    await trainer.publish([TrainModel()], trainer.topics.trainer_commands)
    await trainer.idle()
    assert len(trainer.registry.versions) == 1


async def test_a_command_with_too_few_records_is_skipped(trainer: Trainer) -> None:
    await trainer.publish(list(labelled_records(9)), trainer.topics.records)
    await trainer.publish([TrainModel(reason="too early")], trainer.topics.trainer_commands)
    await trainer.idle()
    assert trainer.registry.versions == []
    assert (
        await trainer.metric(
            'mlbus_trainer_skipped_total{model="house-prices",reason="too_few_records"}'
        )
        == 1
    )
    status = (await trainer.http.get("/status")).json()
    assert status["last_result"]["outcome"] == "skipped"


async def test_drift_retrains_on_the_most_recent_records(trainer: Trainer) -> None:
    await trainer.publish(list(labelled_records(400)), trainer.topics.records)
    drift = DriftDetected(
        model_name="house-prices",
        model_version=1,
        window_size=500,
        threshold=0.2,
        features=(FeatureDrift(feature="area", psi=0.4),),
    )
    await trainer.publish([drift], trainer.topics.drift)
    await trainer.idle()
    [(_, version)] = trainer.registry.versions
    assert version.card.snapshot_size == 150  # drift_records


async def test_a_wrong_token_counts_a_failed_run_and_the_trainer_goes_on(
    topic_prefix: str,
) -> None:
    settings = make_settings(topic_prefix)
    registry = FakeRegistry(token="the-real-token")
    uploader = RegistryClient(
        "http://registry", settings.registry_token, transport=registry.transport()
    )
    app = create_app(settings, uploader=uploader)
    topics = settings.kafka.topics
    async with (
        TestKafkaBroker(app.state.broker) as broker,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for record in labelled_records(150):
            await broker.publish(record, topics.records, key=record.record_id.encode())
        await broker.publish(TrainModel(), topics.trainer_commands)
        await app.state.coordinator.runs.wait_idle()
        metrics = (await http.get("/metrics")).text
        assert 'mlbus_trainer_runs_total{model="house-prices",outcome="failed"} 1.0' in metrics
        status = (await http.get("/status")).json()
        assert "registry answered 401" in status["last_result"]["detail"]
        # Still consuming: the next command is handled (and fails the same way).
        await broker.publish(TrainModel(), topics.trainer_commands)
        await app.state.coordinator.runs.wait_idle()
        metrics = (await http.get("/metrics")).text
        assert 'mlbus_trainer_runs_total{model="house-prices",outcome="failed"} 2.0' in metrics
    assert registry.versions == []


async def test_ops_routes(trainer: Trainer) -> None:
    assert (await trainer.http.get("/healthz")).json()["service"] == "trainer"
    assert "mlbus_trainer_records_buffered" in (await trainer.http.get("/metrics")).text


async def test_a_second_run_scores_the_champion_on_its_own_holdout(trainer: Trainer) -> None:
    await trainer.publish(list(labelled_records(200)), trainer.topics.records)
    await trainer.publish([TrainModel(estimator="linear")], trainer.topics.trainer_commands)
    await trainer.idle()
    await trainer.publish([TrainModel()], trainer.topics.trainer_commands)
    await trainer.idle()
    [(_, first), (_, second)] = trainer.registry.versions
    assert first.card.metrics.champion_version is None  # no champion yet
    assert second.card.metrics.champion_version == 1
    # Same records, same seed: the same holdout, so the champion scores its own RMSE.
    assert second.card.metrics.champion_rmse == pytest.approx(first.card.metrics.rmse, rel=1e-5)


async def test_a_model_failing_parity_is_refused_on_the_models_topic(topic_prefix: str) -> None:
    settings = make_settings(topic_prefix, parity_tolerance=-1.0)
    registry = FakeRegistry()
    uploader = RegistryClient(
        "http://registry", settings.registry_token, transport=registry.transport()
    )
    app = create_app(settings, uploader=uploader)
    broker: KafkaBroker = app.state.broker
    topics = settings.kafka.topics
    refusals: list[ModelRefused] = []

    @broker.subscriber(topics.models, group_id=f"{topic_prefix}watcher")
    async def watch(event: ModelRefused) -> None:
        refusals.append(event)

    async with TestKafkaBroker(broker):
        for record in labelled_records(150):
            await broker.publish(record, topics.records, key=record.record_id.encode())
        await broker.publish(TrainModel(), topics.trainer_commands)
        await app.state.coordinator.runs.wait_idle()
    assert registry.versions == []
    [refusal] = refusals
    assert refusal.refused_by == "trainer"
    assert refusal.model_name == "house-prices"
    assert "of the target's spread" in refusal.reason


async def test_a_repeated_run_on_the_same_records_uploads_no_new_version(trainer: Trainer) -> None:
    await trainer.publish(list(labelled_records(200)), trainer.topics.records)
    for command in (TrainModel(), TrainModel(reason="restarted"), TrainModel(seed=5)):
        await trainer.publish([command], trainer.topics.trainer_commands)
        await trainer.idle()
    first, second = (version.card for _, version in trainer.registry.versions)
    assert first.snapshot_fingerprint == second.snapshot_fingerprint  # same records ...
    assert second.metrics.model_dump()["seed"] == 5  # ... but another seed: trained
    assert (
        await trainer.metric('mlbus_trainer_skipped_total{model="house-prices",reason="unchanged"}')
        == 1
    )
    assert (
        await trainer.metric('mlbus_trainer_runs_total{model="house-prices",outcome="uploaded"}')
        == 2
    )
