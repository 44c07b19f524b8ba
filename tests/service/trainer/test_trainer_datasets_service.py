"""The trainer with several data sets on the in-memory broker: each trains its own model."""

from __future__ import annotations

from contracts import DriftDetected, FeatureDrift, TrainModel
from services.common.spec_catalogue import SpecCatalogue
from tests.service.trainer.conftest import Trainer
from tests.support.spec_samples import churn, registered, rentals
from tests.unit.trainer.trainer_samples import labelled_records


def learn(trainer: Trainer, *announcements: object) -> None:
    """What the spec feed does when the registry announces a data set (no feed here: the
    in-memory broker runs no app lifespan)."""
    catalogue: SpecCatalogue = trainer.app.state.catalogue
    for event in announcements:
        catalogue.learn(event)  # type: ignore[arg-type]


async def test_each_data_set_trains_its_own_model_on_its_own_records(trainer: Trainer) -> None:
    # The rentals records come before the trainer knows rentals: they are held, not lost.
    rental_records = labelled_records(150, spec=rentals(), prefix="rent")
    await trainer.publish([*labelled_records(120), *rental_records], trainer.topics.records)
    learn(trainer, registered(rentals()), registered(churn()))
    await trainer.publish(list(labelled_records(110, spec=churn())), trainer.topics.records)

    commands = [
        TrainModel(reason="rentals", dataset="rentals"),
        TrainModel(reason="churn", model_name="churn"),
        TrainModel(reason="start-up"),
    ]
    await trainer.publish(list(commands), trainer.topics.trainer_commands)
    for coordinator in trainer.app.state.datasets.coordinators.values():
        await coordinator.runs.wait_idle()

    uploaded = {v.card.model_name: v.card.snapshot_size for _, v in trainer.registry.versions}
    assert uploaded == {"rentals": 150, "churn": 110, "house-prices": 120}
    churn_card = next(v.card for _, v in trainer.registry.versions if v.card.model_name == "churn")
    assert sorted(churn_card.classes or ()) == ["leave", "stay"]  # a classifier of churn
    assert await trainer.metric('mlbus_trainer_records_buffered{model="rentals"}') == 150
    assert await trainer.metric('mlbus_trainer_runs_total{model="churn",outcome="uploaded"}') == 1
    status = (await trainer.http.get("/status")).json()
    assert status["dataset"] == "house-prices"
    assert sorted(status["datasets"]) == ["churn", "house-prices", "rentals"]
    assert status["datasets"]["rentals"]["last_result"]["reason"] == "command: rentals"
    rentals_status = (await trainer.http.get("/status/rentals")).json()
    assert rentals_status["records_buffered"] == 150
    assert (await trainer.http.get("/status/nothing")).status_code == 404


async def test_drift_of_a_learned_model_retrains_it_and_unknown_ones_are_counted(
    trainer: Trainer,
) -> None:
    learn(trainer, registered(rentals()))
    await trainer.publish(list(labelled_records(300, spec=rentals())), trainer.topics.records)
    events = [
        DriftDetected(
            model_name=name,
            model_version=1,
            window_size=500,
            threshold=0.2,
            features=(FeatureDrift(feature="area", psi=0.4),),
        )
        for name in ("rentals", "unknown")
    ]
    await trainer.publish(list(events), trainer.topics.drift)
    await trainer.app.state.datasets.get("rentals").runs.wait_idle()

    [(_, version)] = trainer.registry.versions
    assert (version.card.model_name, version.card.snapshot_size) == ("rentals", 150)
    assert await trainer.metric('mlbus_trainer_unrouted_total{event="drift"}') == 1
    assert await trainer.metric("mlbus_trainer_records_pending") == 0
