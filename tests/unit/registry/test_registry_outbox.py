import asyncio
from functools import partial
from pathlib import Path

import pytest

from contracts import ModelPromoted, ModelRegistered
from services.registry.artifacts import ArtifactStore
from services.registry.events import OutboxEvent
from services.registry.outbox import Outbox
from services.registry.policy import decide_promotion
from services.registry.sql import open_database
from services.registry.store import RegistryStore
from tests.unit.registry.registry_samples import make_card

POLICY = partial(decide_promotion, margin=0.0)


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> RegistryStore:
    store = RegistryStore(open_database(database_url), ArtifactStore(tmp_path / "artifacts"))
    store.register(make_card(rmse=10.0), b"model-1", POLICY)  # registered + promoted
    store.register(make_card(rmse=12.0), b"model-2", POLICY)  # registered only
    return store


class FlakySender:
    """Records what it sends; fails the calls whose numbers are in `fail_on`."""

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.sent: list[OutboxEvent] = []

    async def __call__(self, event: OutboxEvent) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("broker unreachable")
        self.sent.append(event)


async def test_flush_sends_everything_in_order_once(store: RegistryStore) -> None:
    sender = FlakySender(fail_on=set())
    outbox = Outbox(store, sender)
    assert await outbox.flush() == 3
    assert [(type(e), e.version) for e in sender.sent] == [
        (ModelRegistered, 1),
        (ModelPromoted, 1),
        (ModelRegistered, 2),
    ]
    assert store.pending_events() == []
    assert await outbox.flush() == 0
    assert len(sender.sent) == 3


async def test_failed_send_keeps_the_event_and_its_successors(store: RegistryStore) -> None:
    sender = FlakySender(fail_on={2})
    outbox = Outbox(store, sender)
    assert await outbox.flush() == 1
    assert [type(p.event) for p in store.pending_events()] == [ModelPromoted, ModelRegistered]
    assert await outbox.flush() == 2
    assert [type(e) for e in sender.sent] == [ModelRegistered, ModelPromoted, ModelRegistered]


async def test_flush_within_gives_up_waiting_but_keeps_the_events(store: RegistryStore) -> None:
    async def hang(_: OutboxEvent) -> None:
        await asyncio.sleep(60)

    await asyncio.wait_for(Outbox(store, hang).flush_within(0.05), timeout=5)
    assert len(store.pending_events()) == 3


async def test_run_retries_until_the_broker_answers(store: RegistryStore) -> None:
    sender = FlakySender(fail_on={1, 2})
    task = asyncio.create_task(Outbox(store, sender).run(interval_seconds=0.01))
    try:
        async with asyncio.timeout(5):
            while store.pending_events():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert [e.version for e in sender.sent] == [1, 1, 2]
