"""The classifier parts of the /report page: live scores, per-class recall and precision,
label drift, and a reliability chart (inline SVG and its table) per (model, version, role)."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from services.monitor.accumulate import LabelDrift
    from services.monitor.class_scores import ReliabilityBin
    from services.monitor.class_window import ClassScores, ClassWindow
    from services.monitor.live_error import ErrorKey
    from services.monitor.windows import ModelKey

SIDE, PAD = 220, 28
DIAGONAL_COLOUR, OBSERVED_COLOUR = "#95a5a6", "#c0392b"


def classification_section(
    windows: Iterable[tuple[ErrorKey, ClassWindow]], label_drift: Mapping[ModelKey, LabelDrift]
) -> str:
    """Every classifier window with joined labels; empty when there is none."""
    parts = []
    for key, window in sorted(windows, key=lambda item: item[0]):
        scores = window.scores()
        if scores is not None:
            parts.append(_window_part(key, scores, label_drift.get((key[0], key[1]))))
    if not parts:
        return ""
    return "<h2>Live classification</h2>" + "".join(parts)


def _window_part(key: ErrorKey, scores: ClassScores, drift: LabelDrift | None) -> str:
    model, version, role = key
    kind = "complete" if scores.complete else "filling"
    title = f"{escape(model)} v{version} ({escape(role)})"
    return (
        f"<div class='classifier' data-model='{escape(model)}' data-version='{version}' "
        f"data-role='{escape(role)}'><h3>{title}</h3>"
        f"<p>Latest {scores.count} joined labels ({kind} window).</p>"
        f"{_scores_table(scores)}{_classes_table(scores)}{_label_drift(drift)}"
        f"{_reliability(scores)}</div>"
    )


def _scores_table(scores: ClassScores) -> str:
    cells = "".join(
        f"<tr><th>{escape(name)}</th><td>{value:.4g}</td></tr>"
        for name, value in scores.as_dict().items()
    )
    return f"<table class='scores'>{cells}</table>"


def _classes_table(scores: ClassScores) -> str:
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td>{_number(scores.recall[name])}</td>"
        f"<td>{_number(scores.precision[name])}</td></tr>"
        for name in scores.recall
    )
    head = "<tr><th>class</th><th>recall</th><th>precision</th></tr>"
    return f"<table class='per-class'>{head}{rows}</table>"


def _label_drift(drift: LabelDrift | None) -> str:
    if drift is None:
        return ""
    s = drift.statistics
    state = "drifting" if s.drifting else "stable"
    shares = ", ".join(
        f"{escape(name)} {window:.1%} (training {reference:.1%})"
        for name, (reference, window) in drift.shares.items()
        if reference > 0 or window > 0
    )
    return (
        f"<p class='label-drift {state}'>Labels {state}: chi-squared p = {s.p_value:.3g}, "
        f"total variation {s.total_variation:.3f}, PSI {s.psi:.3f}; {shares}.</p>"
    )


def _reliability(scores: ClassScores) -> str:
    """Observed rate against mean predicted probability per bin; the diagonal is calibrated."""
    about = escape(scores.calibrated)
    rows = "".join(
        f"<tr><td>{b.lower:.1f} to {b.upper:.1f}</td><td>{b.count}</td>"
        f"<td>{b.predicted:.3f}</td><td>{b.observed:.3f}</td></tr>"
        for b in scores.reliability
    )
    head = "<tr><th>bin</th><th>rows</th><th>predicted</th><th>observed</th></tr>"
    return (
        f"<h4>Reliability of {about} (ECE {scores.ece:.3f})</h4>"
        f"{_reliability_chart(scores.reliability, about)}"
        f"<table class='reliability'>{head}{rows}</table>"
    )


def _reliability_chart(bins: list[ReliabilityBin], about: str) -> str:
    plot = SIDE - 2 * PAD

    def x(p: float) -> float:
        return PAD + plot * p

    def y(p: float) -> float:
        return SIDE - PAD - plot * p

    points = " ".join(f"{x(b.predicted):.1f},{y(b.observed):.1f}" for b in bins)
    dots = "".join(
        f"<circle cx='{x(b.predicted):.1f}' cy='{y(b.observed):.1f}' r='3' "
        f"fill='{OBSERVED_COLOUR}'><title>{b.lower:.1f} to {b.upper:.1f}: {b.count} rows, "
        f"predicted {b.predicted:.1%}, observed {b.observed:.1%}</title></circle>"
        for b in bins
    )
    frame = (
        f"<rect x='{PAD}' y='{PAD}' width='{plot}' height='{plot}' fill='none' stroke='#333'/>"
        f"<line x1='{x(0)}' y1='{y(0)}' x2='{x(1)}' y2='{y(1)}' stroke='{DIAGONAL_COLOUR}' "
        "stroke-dasharray='4 3'/>"
        f"<text x='{SIDE / 2}' y='{SIDE - 6}' font-size='9' text-anchor='middle'>predicted</text>"
        f"<text x='10' y='{SIDE / 2}' font-size='9' transform='rotate(-90 10 {SIDE / 2})' "
        "text-anchor='middle'>observed</text>"
    )
    line = f"<polyline points='{points}' fill='none' stroke='{OBSERVED_COLOUR}'/>" if bins else ""
    return (
        f"<svg class='reliability-chart' role='img' width='{SIDE}' height='{SIDE}' "
        f"viewBox='0 0 {SIDE} {SIDE}' xmlns='http://www.w3.org/2000/svg'>"
        f"<title>Reliability of {about}: observed vs predicted</title>{frame}{line}{dots}</svg>"
    )


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
