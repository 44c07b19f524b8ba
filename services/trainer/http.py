"""The trainer's HTTP routes (beside /healthz, /readyz and /metrics): GET /status[/dataset]."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.trainer.datasets import TrainerDatasets


def build_http_router(datasets: TrainerDatasets) -> APIRouter:
    router = APIRouter(tags=["trainer"])

    @router.get("/status")
    async def status() -> dict[str, Any]:
        """The start-up data set's buffer, runs and results; every data set's under
        `datasets`, and the records held for data sets not known yet."""
        return datasets.status()

    @router.get("/status/{dataset}")
    async def dataset_status(dataset: str) -> dict[str, Any]:
        """One data set's buffered records, the run in progress or pending, and results."""
        if datasets.get(dataset) is None:
            raise HTTPException(404, f"the trainer does not train data set {dataset!r}")
        return datasets.dataset_status(dataset)

    return router
