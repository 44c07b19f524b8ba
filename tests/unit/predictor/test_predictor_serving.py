"""ModelHolder and ChampionReloader: atomic swaps, refusals that keep the old model serving."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from contracts import ModelVersion
from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel
from services.predictor.registry_client import RegistryError
from services.predictor.serving import (
    ChampionReloader,
    ModelHolder,
    ReloadOutcome,
    keep_champion_loaded,
)
from tests.unit.predictor.predictor_fixtures import (
    CATEGORICAL,
    MODEL_NAME,
    NUMERIC,
    FakeRegistry,
    model_version,
)

ROW = {NUMERIC: 6000.0, CATEGORICAL: "furnished"}


def _loads(metrics: PredictorMetrics, outcome: str) -> float:
    return metrics.model_loads.labels(outcome=outcome)._value.get()


def _served_version(metrics: PredictorMetrics) -> float:
    return metrics.model_version.labels(model=MODEL_NAME)._value.get()


@pytest.fixture
def holder() -> ModelHolder:
    return ModelHolder()


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def reloader(
    holder: ModelHolder, registry: FakeRegistry, metrics: PredictorMetrics
) -> ChampionReloader:
    return ChampionReloader(holder, registry, MODEL_NAME, metrics)


async def test_wait_ready_returns_the_first_swapped_in_model(
    holder: ModelHolder, model_v1: LoadedModel
) -> None:
    waiter = asyncio.create_task(holder.wait_ready())
    await asyncio.sleep(0.01)
    assert not waiter.done() and holder.current is None
    assert holder.swap(model_v1) is None
    assert await asyncio.wait_for(waiter, 1) is model_v1


async def test_swap_replaces_the_single_reference_and_returns_the_old(
    holder: ModelHolder,
    model_v1: LoadedModel,
    reloader: ChampionReloader,
    registry: FakeRegistry,
    onnx_v2: bytes,
) -> None:
    holder.swap(model_v1)
    registry.promote(model_version(2, onnx_v2), onnx_v2)
    assert await reloader.reload_champion() is ReloadOutcome.LOADED
    model_v2 = holder.current
    assert model_v2 is not None and model_v2.version == 2
    assert holder.swap(model_v1) is model_v2
    assert holder.current is model_v1


async def test_reload_loads_the_champion_then_skips_the_same_version(
    reloader: ChampionReloader, registry: FakeRegistry, metrics: PredictorMetrics, onnx_v1: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    assert await reloader.reload_champion() is ReloadOutcome.LOADED
    assert await reloader.reload_champion() is ReloadOutcome.UNCHANGED
    assert registry.downloads == 1
    assert (_loads(metrics, "loaded"), _served_version(metrics)) == (1, 1)


async def test_new_model_loads_beside_the_old_one_which_serves_until_the_swap(
    holder: ModelHolder,
    reloader: ChampionReloader,
    registry: FakeRegistry,
    model_v1: LoadedModel,
    onnx_v2: bytes,
) -> None:
    holder.swap(model_v1)
    registry.gate = asyncio.Event()
    registry.promote(model_version(2, onnx_v2), onnx_v2)
    reload = asyncio.create_task(reloader.reload_champion())
    await asyncio.sleep(0.01)
    # Mid-reload, a batch is scored at once by the old model.
    serving = holder.current
    assert serving is model_v1
    before = float(serving.predict([ROW])[0])
    registry.gate.set()
    assert await reload is ReloadOutcome.LOADED
    after_model = holder.current
    assert after_model is not None and after_model.version == 2
    assert float(after_model.predict([ROW])[0]) == pytest.approx(2 * before, rel=1e-4)


async def test_corrupt_champion_is_refused_and_the_old_model_keeps_serving(
    holder: ModelHolder,
    reloader: ChampionReloader,
    registry: FakeRegistry,
    metrics: PredictorMetrics,
    model_v1: LoadedModel,
) -> None:
    holder.swap(model_v1)
    corrupt = b"\x08\x07 definitely not an onnx graph"
    registry.promote(model_version(2, corrupt), corrupt)
    assert await reloader.reload_champion() is ReloadOutcome.REFUSED
    assert holder.current is model_v1
    assert holder.current.predict([ROW]).shape == (1,)
    assert (_loads(metrics, "refused"), _loads(metrics, "loaded")) == (1, 0)


async def test_champion_with_a_wrong_sha256_is_refused(
    holder: ModelHolder,
    reloader: ChampionReloader,
    registry: FakeRegistry,
    metrics: PredictorMetrics,
    model_v1: LoadedModel,
    onnx_v2: bytes,
) -> None:
    holder.swap(model_v1)
    registry.promote(model_version(2, onnx_v2, sha="0" * 64), onnx_v2)
    assert await reloader.reload_champion() is ReloadOutcome.REFUSED
    assert holder.current is model_v1
    assert _loads(metrics, "refused") == 1


async def test_no_champion_yet_and_registry_down_leave_nothing_loaded(
    holder: ModelHolder,
    reloader: ChampionReloader,
    registry: FakeRegistry,
    metrics: PredictorMetrics,
) -> None:
    assert await reloader.reload_champion() is ReloadOutcome.NO_CHAMPION

    async def unreachable(model_name: str) -> ModelVersion | None:
        raise RegistryError("connection refused")

    registry.champion = unreachable  # type: ignore[method-assign]
    assert await reloader.reload_champion() is ReloadOutcome.UNAVAILABLE
    assert holder.current is None
    assert _loads(metrics, "refused") == 0


async def test_concurrent_reloads_download_once(
    reloader: ChampionReloader, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    outcomes = await asyncio.gather(reloader.reload_champion(), reloader.reload_champion())
    assert sorted(o.value for o in outcomes) == ["loaded", "unchanged"]
    assert registry.downloads == 1


async def test_background_loader_retries_until_a_champion_appears(
    holder: ModelHolder, reloader: ChampionReloader, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    task = asyncio.create_task(
        keep_champion_loaded(reloader, poll_seconds=0.01, recheck_seconds=60)
    )
    try:
        await asyncio.sleep(0.05)
        assert holder.current is None and not task.done()
        registry.promote(model_version(1, onnx_v1), onnx_v1)
        model = await asyncio.wait_for(holder.wait_ready(), 5)
        assert model.version == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
