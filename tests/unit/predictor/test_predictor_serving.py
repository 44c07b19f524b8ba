"""ModelHolder and AliasReloader: atomic swaps, refusals that keep the old model serving."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from contracts import HOUSE_PRICES, ModelRefused, ModelVersion
from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel, ModelInput, signature_problems
from services.predictor.registry_client import ArtifactTransferError, RegistryError
from services.predictor.serving import (
    AliasReloader,
    ModelHolder,
    ReloadOutcome,
    keep_models_loaded,
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
    loads: float = metrics.model_loads.labels(model=MODEL_NAME, outcome=outcome)._value.get()
    return loads


def _served_version(metrics: PredictorMetrics) -> float:
    version: float = metrics.model_version.labels(model=MODEL_NAME)._value.get()
    return version


@pytest.fixture
def holder() -> ModelHolder:
    return ModelHolder()


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def reloader(
    holder: ModelHolder, registry: FakeRegistry, metrics: PredictorMetrics
) -> AliasReloader:
    return AliasReloader(holder, registry, MODEL_NAME, metrics)


async def test_wait_ready_returns_the_first_swapped_in_model(
    holder: ModelHolder, model_v1: LoadedModel
) -> None:
    waiter = asyncio.create_task(holder.wait_ready())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    assert holder.current is None
    assert holder.swap(model_v1) is None
    assert await asyncio.wait_for(waiter, 1) is model_v1


async def test_swap_replaces_the_single_reference_and_returns_the_old(
    holder: ModelHolder,
    model_v1: LoadedModel,
    reloader: AliasReloader,
    registry: FakeRegistry,
    onnx_v2: bytes,
) -> None:
    holder.swap(model_v1)
    registry.promote(model_version(2, onnx_v2), onnx_v2)
    assert await reloader.reload() is ReloadOutcome.LOADED
    model_v2 = holder.current
    assert model_v2 is not None
    assert model_v2.version == 2
    assert holder.swap(model_v1) is model_v2
    assert holder.current is model_v1


async def test_reload_loads_the_champion_then_skips_the_same_version(
    reloader: AliasReloader, registry: FakeRegistry, metrics: PredictorMetrics, onnx_v1: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    assert await reloader.reload() is ReloadOutcome.LOADED
    assert await reloader.reload() is ReloadOutcome.UNCHANGED
    assert registry.downloads == 1
    assert (_loads(metrics, "loaded"), _served_version(metrics)) == (1, 1)


async def test_new_model_loads_beside_the_old_one_which_serves_until_the_swap(
    holder: ModelHolder,
    reloader: AliasReloader,
    registry: FakeRegistry,
    model_v1: LoadedModel,
    onnx_v2: bytes,
) -> None:
    holder.swap(model_v1)
    registry.gate = asyncio.Event()
    registry.promote(model_version(2, onnx_v2), onnx_v2)
    reload = asyncio.create_task(reloader.reload())
    await asyncio.sleep(0.01)
    # Mid-reload, a batch is scored at once by the old model.
    serving = holder.current
    assert serving is model_v1
    before = float(serving.predict([ROW])[0])
    registry.gate.set()
    assert await reload is ReloadOutcome.LOADED
    after_model = holder.current
    assert after_model is not None
    assert after_model.version == 2
    assert float(after_model.predict([ROW])[0]) == pytest.approx(2 * before, rel=1e-4)


async def test_corrupt_champion_is_refused_and_the_old_model_keeps_serving(
    holder: ModelHolder,
    reloader: AliasReloader,
    registry: FakeRegistry,
    metrics: PredictorMetrics,
    model_v1: LoadedModel,
) -> None:
    holder.swap(model_v1)
    corrupt = b"\x08\x07 definitely not an onnx graph"
    registry.promote(model_version(2, corrupt), corrupt)
    assert await reloader.reload() is ReloadOutcome.REFUSED
    assert holder.current is model_v1
    assert holder.current.predict([ROW]).shape == (1,)
    assert (_loads(metrics, "refused"), _loads(metrics, "loaded")) == (1, 0)


async def test_champion_with_a_wrong_sha256_is_refused(
    holder: ModelHolder,
    reloader: AliasReloader,
    registry: FakeRegistry,
    metrics: PredictorMetrics,
    model_v1: LoadedModel,
    onnx_v2: bytes,
) -> None:
    holder.swap(model_v1)
    registry.promote(model_version(2, onnx_v2, sha="0" * 64), onnx_v2)
    assert await reloader.reload() is ReloadOutcome.REFUSED
    assert holder.current is model_v1
    assert _loads(metrics, "refused") == 1


async def test_no_champion_yet_and_registry_down_leave_nothing_loaded(
    holder: ModelHolder,
    reloader: AliasReloader,
    registry: FakeRegistry,
    metrics: PredictorMetrics,
) -> None:
    assert await reloader.reload() is ReloadOutcome.NO_CHAMPION

    async def unreachable(model_name: str, alias: str) -> ModelVersion | None:
        raise RegistryError("connection refused")

    registry.alias = unreachable  # type: ignore[method-assign]
    assert await reloader.reload() is ReloadOutcome.UNAVAILABLE
    assert holder.current is None
    assert _loads(metrics, "refused") == 0


async def test_concurrent_reloads_download_once(
    reloader: AliasReloader, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    outcomes = await asyncio.gather(reloader.reload(), reloader.reload())
    assert sorted(o.value for o in outcomes) == ["loaded", "unchanged"]
    assert registry.downloads == 1


async def test_background_loader_retries_until_a_champion_appears(
    holder: ModelHolder, reloader: AliasReloader, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    task = asyncio.create_task(
        keep_models_loaded([reloader], poll_seconds=0.01, recheck_seconds=60)
    )
    try:
        await asyncio.sleep(0.05)
        assert holder.current is None
        assert not task.done()
        registry.promote(model_version(1, onnx_v1), onnx_v1)
        model = await asyncio.wait_for(holder.wait_ready(), 5)
        assert model.version == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_refused_version_is_announced_once_and_not_downloaded_again(
    holder: ModelHolder, registry: FakeRegistry, metrics: PredictorMetrics, model_v1: LoadedModel
) -> None:
    refusals: list[ModelRefused] = []

    async def announce(event: ModelRefused) -> None:
        refusals.append(event)

    reloader = AliasReloader(holder, registry, MODEL_NAME, metrics, on_refused=announce)
    holder.swap(model_v1)
    corrupt = b"not onnx"
    registry.promote(model_version(2, corrupt), corrupt)
    assert await reloader.reload() is ReloadOutcome.REFUSED
    assert await reloader.reload() is ReloadOutcome.REFUSED
    assert registry.downloads == 1
    assert holder.current is model_v1
    assert [(r.version, r.refused_by) for r in refusals] == [(2, "predictor")]
    assert "onnxruntime cannot load it" in refusals[0].reason


async def test_a_model_whose_inputs_do_not_fit_the_spec_is_refused(
    holder: ModelHolder, registry: FakeRegistry, metrics: PredictorMetrics, onnx_v1: bytes
) -> None:
    spec = HOUSE_PRICES.model_copy(
        update={"features": tuple(f for f in HOUSE_PRICES.features if f.name != NUMERIC)}
    )
    reloader = AliasReloader(holder, registry, MODEL_NAME, metrics, spec=spec)
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    assert await reloader.reload() is ReloadOutcome.REFUSED
    assert holder.current is None
    assert await AliasReloader(
        holder, registry, MODEL_NAME, metrics, spec=HOUSE_PRICES
    ).reload() is (ReloadOutcome.LOADED)


async def test_the_challenger_is_loaded_swapped_and_dropped_when_its_alias_goes(
    registry: FakeRegistry, metrics: PredictorMetrics, onnx_v1: bytes, onnx_v2: bytes
) -> None:
    shadow = ModelHolder()
    reloader = AliasReloader(shadow, registry, MODEL_NAME, metrics, alias="challenger")
    assert await reloader.reload() is ReloadOutcome.NO_CHAMPION
    assert shadow.current is None
    registry.set_challenger(model_version(2, onnx_v2), onnx_v2)
    assert await reloader.reload() is ReloadOutcome.LOADED
    assert shadow.current is not None
    assert shadow.current.version == 2
    assert metrics.challenger_version.labels(model=MODEL_NAME)._value.get() == 2
    assert metrics.swaps.labels(model=MODEL_NAME, alias="challenger")._value.get() == 1
    registry.set_challenger(None)
    await reloader.reload()
    assert shadow.current is None
    assert metrics.challenger_version.labels(model=MODEL_NAME)._value.get() == 0


def test_signature_problems_name_unknown_inputs_and_wrong_types() -> None:
    inputs = [
        ModelInput(NUMERIC, "tensor(float)"),
        ModelInput(CATEGORICAL, "tensor(float)"),
        ModelInput("colour", "tensor(string)"),
    ]
    problems = signature_problems(inputs, HOUSE_PRICES)
    assert len(problems) == 2
    assert "'furnishingstatus' is tensor(float), spec needs tensor(string)" in problems[0]
    assert "'colour' is not a feature" in problems[1]


class _CutOnce(FakeRegistry):
    """A registry whose next `cuts` downloads break off mid-transfer."""

    cuts: int = 0

    async def download(self, version: ModelVersion) -> bytes:
        if self.cuts > 0:
            self.cuts -= 1
            self.downloads += 1
            raise ArtifactTransferError(f"v{version.version}: download interrupted")
        return await super().download(version)


async def test_an_interrupted_download_keeps_the_old_model_and_is_retried_not_refused(
    holder: ModelHolder, metrics: PredictorMetrics, model_v1: LoadedModel, onnx_v2: bytes
) -> None:
    registry = _CutOnce()
    registry.cuts = 2
    refusals: list[ModelRefused] = []

    async def announce(event: ModelRefused) -> None:
        refusals.append(event)

    reloader = AliasReloader(holder, registry, MODEL_NAME, metrics, on_refused=announce)
    holder.swap(model_v1)
    registry.promote(model_version(2, onnx_v2), onnx_v2)
    assert await reloader.reload() is ReloadOutcome.INTERRUPTED
    assert holder.current is model_v1
    assert reloader.retry_pending
    assert await reloader.reload() is ReloadOutcome.INTERRUPTED
    assert [(r.version, "will retry" in r.reason) for r in refusals] == [(2, True)]  # once
    assert await reloader.reload() is ReloadOutcome.LOADED
    assert holder.current is not None
    assert holder.current.version == 2
    assert not reloader.retry_pending
    assert registry.downloads == 3
    assert (_loads(metrics, "interrupted"), _loads(metrics, "refused")) == (2, 0)
    assert _served_version(metrics) == 2


async def test_the_background_loader_retries_an_interrupted_download_at_poll_speed(
    holder: ModelHolder, metrics: PredictorMetrics, model_v1: LoadedModel, onnx_v2: bytes
) -> None:
    registry = _CutOnce()
    registry.cuts = 3
    reloader = AliasReloader(holder, registry, MODEL_NAME, metrics)
    holder.swap(model_v1)  # a champion serves: without a pending retry it would wait 60 s
    registry.promote(model_version(2, onnx_v2), onnx_v2)
    task = asyncio.create_task(
        keep_models_loaded([reloader], poll_seconds=0.01, recheck_seconds=60)
    )
    try:
        for _ in range(500):
            current = holder.current
            if current is not None and current.version == 2:
                break
            await asyncio.sleep(0.01)
        assert holder.current is not None
        assert holder.current.version == 2
        assert registry.downloads == 4
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failed_event_driven_reload_wakes_the_loader_from_its_long_recheck(
    holder: ModelHolder, metrics: PredictorMetrics, onnx_v1: bytes, onnx_v2: bytes
) -> None:
    registry = _CutOnce()
    reloader = AliasReloader(holder, registry, MODEL_NAME, metrics)
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    task = asyncio.create_task(
        keep_models_loaded([reloader], poll_seconds=0.01, recheck_seconds=60)
    )
    try:
        assert (await asyncio.wait_for(holder.wait_ready(), 5)).version == 1
        await asyncio.sleep(0.05)  # the loader is now in its 60 s recheck wait
        registry.cuts = 1
        registry.promote(model_version(2, onnx_v2), onnx_v2)
        assert await reloader.reload() is ReloadOutcome.INTERRUPTED  # as on a ModelPromoted
        for _ in range(500):
            current = holder.current
            if current is not None and current.version == 2:
                break
            await asyncio.sleep(0.01)
        assert holder.current is not None
        assert holder.current.version == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
