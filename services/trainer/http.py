"""The trainer's HTTP routes (beside /healthz, /readyz and /metrics): GET /status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.trainer.coordinator import TrainingCoordinator


def build_http_router(coordinator: TrainingCoordinator) -> APIRouter:
    router = APIRouter(tags=["trainer"])

    @router.get("/status")
    async def status() -> dict[str, Any]:
        """Buffered records, the run in progress or pending, and how the last request ended."""
        return coordinator.status()

    return router
