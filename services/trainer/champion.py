"""The champion's ONNX model, loaded to be scored on this run's holdout rows."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import onnxruntime as ort

from services.trainer.onnx_export import onnx_feeds, onnx_inputs

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from contracts import DatasetSpec
    from services.trainer.run_types import Champion

log = logging.getLogger(__name__)


def champion_session(champion: Champion, spec: DatasetSpec) -> ort.InferenceSession | None:
    """An onnxruntime session of the champion; None (logged) if it does not load or its
    inputs do not fit this data set's layout."""
    try:
        session = ort.InferenceSession(champion.onnx, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a corrupt or foreign artifact: nothing to compare with
        log.warning("trainer: champion v%d does not load: %s", champion.version, exc)
        return None
    ours = {i.name: f"tensor({i.type})" for i in onnx_inputs(spec)}
    wanted = {i.name: i.type for i in session.get_inputs()}
    misfits = sorted(n for n, t in wanted.items() if ours.get(n) != t)
    if misfits:
        log.info("trainer: champion v%d inputs %s do not fit", champion.version, misfits)
        return None
    return session


def champion_feeds(
    session: ort.InferenceSession, frame: pd.DataFrame, spec: DatasetSpec
) -> dict[str, np.ndarray[Any, Any]]:
    """Feeds of the inputs the champion takes (an older one may take fewer features)."""
    wanted = {i.name for i in session.get_inputs()}
    return {n: v for n, v in onnx_feeds(frame, spec).items() if n in wanted}
