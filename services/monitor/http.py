"""The monitor's HTTP routes (beside /healthz, /readyz and /metrics): GET /windows, /report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.monitor.processor import PredictionProcessor
from services.monitor.report import render_report


def build_http_router(processor: PredictionProcessor) -> APIRouter:
    router = APIRouter(tags=["monitor"])

    @router.get("/windows")
    async def windows() -> list[dict[str, Any]]:
        """The state of every (model, version) window."""
        return window_status(processor)

    @router.get("/report", response_class=HTMLResponse)
    async def report() -> HTMLResponse:
        """Reference vs latest window of every feature, as charts, with the statistics."""
        return HTMLResponse(report_page(processor))

    return router


def report_page(processor: PredictionProcessor) -> str:
    windows = [
        (key, state.last_report, state.baseline)
        for key, state in processor.windows.states()
        if state.last_report is not None and state.baseline is not None
    ]
    joiner = processor.joiner
    return render_report(
        windows, joiner.windows.items(), joiner.classified.items(), processor.label_drift
    )


def window_status(processor: PredictionProcessor) -> list[dict[str, Any]]:
    return [
        {
            "model_name": name,
            "model_version": version,
            "pending": len(state.pending),
            "complete_windows": state.complete_windows,
            "drifting_windows": state.drifting_windows,
            "dropped": state.dropped,
            "counted": state.counts.size if state.counts is not None else 0,
            "drift_share": (
                state.last_report.statistics.drift_share if state.last_report else None
            ),
        }
        for (name, version), state in processor.windows.states()
    ]
