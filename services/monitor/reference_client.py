"""The baseline of a model version (reference statistics, training size), fetched once."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from contracts import ClassificationTarget, ModelCard, ModelVersion
from services.monitor.accumulate import Baseline

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)


class ReferenceSource(Protocol):
    async def get(self, model_name: str, version: int) -> Baseline | None:
        """The version's baseline, or None while it cannot be had (ask again later)."""
        ...


class RegistryReferenceClient:
    """GET /models/{name}/versions/{version} -> card.reference; failures wait `retry_seconds`.

    A failed fetch is never raised: the caller keeps its predictions and asks again later,
    and until `retry_seconds` have passed it gets None at once instead of another slow try.
    """

    def __init__(
        self,
        base_url: str,
        *,
        retry_seconds: float = 5.0,
        timeout_seconds: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_seconds, transport=transport
        )
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._cache: dict[tuple[str, int], Baseline] = {}
        self._next_attempt: dict[tuple[str, int], float] = {}
        self._lock = asyncio.Lock()  # one fetch at a time: handler and sweeper may both ask

    async def get(self, model_name: str, version: int) -> Baseline | None:
        key = (model_name, version)
        if key in self._cache:
            return self._cache[key]
        async with self._lock:
            if key in self._cache:
                return self._cache[key]
            if self._clock() < self._next_attempt.get(key, float("-inf")):
                return None
            reference = await self._fetch(model_name, version)
            if reference is None:
                self._next_attempt[key] = self._clock() + self._retry_seconds
                return None
            self._cache[key] = reference
            self._next_attempt.pop(key, None)
            return reference

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch(self, model_name: str, version: int) -> Baseline | None:
        path = f"/models/{quote(model_name, safe='')}/versions/{version}"
        try:
            response = await self._http.get(path)
            response.raise_for_status()
            model_version = ModelVersion.model_validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as exc:
            log.warning(
                "reference of %s v%d not available yet (%s); retrying in %.0f s",
                model_name,
                version,
                exc,
                self._retry_seconds,
            )
            return None
        return baseline_of(model_version.card)


# A classifier's holdout scores, as its model card names them.
CLASSIFICATION_SCORES = ("accuracy", "log_loss", "macro_f1", "roc_auc")


def baseline_of(card: ModelCard) -> Baseline:
    """What the monitor needs of a model card."""
    metrics = card.metrics
    target = card.target
    scores = {name: getattr(metrics, name) for name in CLASSIFICATION_SCORES}
    # The reference was computed on the training rows, which it counts; cards written
    # before it did only record the whole snapshot (training and holdout), the closest
    # there is. The size sets how cautious the two-sample tests are.
    return Baseline(
        card.reference,
        card.reference.size or card.snapshot_size,
        holdout_rmse=metrics.rmse,
        holdout_mae=metrics.mae,
        holdout_scores={name: value for name, value in scores.items() if value is not None},
        positive=target.positive if isinstance(target, ClassificationTarget) else None,
    )
