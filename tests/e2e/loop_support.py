"""What the end-to-end loop tests ask of a running stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.polling import eventually

if TYPE_CHECKING:
    from mlbus.runner import Stack


async def trainer_buffered(stack: Stack) -> float:
    """How many labelled records the trainer holds (mlbus_trainer_records_buffered)."""
    stack.check_alive()
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{stack.config.url('trainer')}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlbus_trainer_records_buffered":
                return sample.value
    return 0.0


async def until_buffered(stack: Stack, count: int, timeout: float) -> None:
    """Until the trainer holds `count` labelled records: a run then trains on them."""
    await eventually(
        lambda: trainer_buffered(stack),
        what=f"the trainer buffering {count} records",
        until=lambda buffered: buffered >= count,
        timeout=timeout,
        interval=0.5,
        context=lambda: stack.log_tail("trainer"),
    )
