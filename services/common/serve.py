"""Run a service's app with uvicorn: the body of every `python -m services.NAME`."""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from fastapi import FastAPI

# The cyclic collector's default first threshold (700 allocations) makes it run dozens of times
# per batch of thousands of records: a full pass of the hot path in the profile. Objects on the
# hot path die young and hold no cycles, so collect far less often.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect rarely (GC_THRESHOLDS); call `freeze_startup_objects` once started."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_objects() -> None:
    """Move everything allocated so far (modules, models, clients) out of the collector's
    reach: they live as long as the process, and each full collection would walk them again."""
    gc.collect()
    gc.freeze()


def serve(app: FastAPI, host: str, port: int) -> None:
    tune_gc()
    app.state.freeze_gc_after_start = True  # see service_app; tests in one process do not
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
