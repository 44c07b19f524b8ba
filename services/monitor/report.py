"""The /report page: per feature, reference vs current histograms (inline SVG) and statistics.

Self-contained HTML: no script, no CDN, so it renders anywhere (and in a headless browser).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from services.monitor.accumulate import (
    PREDICTION,
    PROBABILITY,
    Baseline,
    ColumnBins,
    reference_bins,
)
from services.monitor.class_report import classification_section

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import numpy as np

    from services.monitor.accumulate import LabelDrift
    from services.monitor.class_window import ClassWindow
    from services.monitor.live_error import ErrorKey, ErrorWindow
    from services.monitor.stats import ColumnStatistics
    from services.monitor.windows import ModelKey, WindowReport

WIDTH, HEIGHT, MARGIN = 420, 160, 24
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
.features { display: flex; flex-wrap: wrap; gap: 1rem; }
.feature { border: 1px solid #ddd; border-radius: 6px; padding: .5rem; }
.feature.drifting { border-color: #c0392b; background: #fdf2f1; }
table { border-collapse: collapse; font-size: .85rem; }
td, th { padding: .15rem .5rem; text-align: right; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem; }
"""
REFERENCE_COLOUR, CURRENT_COLOUR = "#95a5a6", "#2980b9"


def render_report(
    windows: Iterable[tuple[ModelKey, WindowReport, Baseline]],
    errors: Iterable[tuple[ErrorKey, ErrorWindow]],
    classified: Iterable[tuple[ErrorKey, ClassWindow]] = (),
    label_drift: Mapping[ModelKey, LabelDrift] | None = None,
) -> str:
    sections = [_model_section(key, report, baseline) for key, report, baseline in windows]
    body = "".join(sections) or "<p id='empty'>No window evaluated yet.</p>"
    classes = classification_section(classified, label_drift or {})
    # A classifier's joined labels are not "no labels": the error section then only shows
    # when it has a regressor's rows.
    live = _error_section(errors, quiet=bool(classes)) + classes
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>mlbus drift report</title><style>{STYLE}</style></head><body>"
        "<h1>mlbus drift report</h1>"
        "<p class='legend'>"
        f"<span style='background:{REFERENCE_COLOUR}'></span>reference (training data)"
        f"<span style='background:{CURRENT_COLOUR}'></span>latest window</p>"
        f"{body}{live}</body></html>"
    )


def _model_section(key: ModelKey, report: WindowReport, baseline: Baseline) -> str:
    stats = report.statistics
    state = "drifting" if report.drifting else "stable"
    kind = "complete" if report.complete else "partial"
    header = (
        f"<h2>{escape(key[0])} v{key[1]}: {state}</h2>"
        f"<p>Latest {kind} window of {report.size} predictions; "
        f"{stats.drift_share:.0%} of features drifting; reference of {baseline.size} rows.</p>"
        f"{_sequential(report)}"
    )
    bins = _bins(baseline)
    cards = [
        _feature_card(name, bins[name], report.counts[name], s)
        for name, s in sorted(stats.features.items(), key=_alarming_first)
    ]
    if stats.prediction is not None:
        cards.append(
            _feature_card(
                "prediction", bins[PREDICTION], report.counts[PREDICTION], stats.prediction
            )
        )
    for class_name, s in stats.probabilities.items():
        column = PROBABILITY + class_name
        cards.append(_feature_card(column, bins[column], report.counts[column], s))
    return f"{header}<div class='features'>{''.join(cards)}</div>"


def _sequential(report: WindowReport) -> str:
    totals = report.sequential
    if totals is None:
        return ""
    drifting = sorted(name for name, s in totals.features.items() if s.drifting)
    named = ", ".join(escape(name) for name in drifting) or "none"
    return (
        f"<p class='sequential'>All {report.sequential_size} predictions of the version's "
        f"complete windows together: {totals.drift_share:.0%} of features drifting "
        f"({named}).</p>"
    )


def _bins(baseline: Baseline) -> dict[str, ColumnBins]:
    return reference_bins(baseline.reference)


def _alarming_first(item: tuple[str, ColumnStatistics]) -> tuple[bool, bool, float]:
    """Drifting features first, then features without values, then by PSI."""
    s = item[1]
    return (not s.drifting, s.present, -s.psi if s.present else 0.0)


def _feature_card(name: str, bins: ColumnBins, counts: np.ndarray, stats: ColumnStatistics) -> str:
    values = counts[: bins.size]  # the last slot counts missing values
    total = values.sum()
    current = values / total if total else values.astype(float)
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{value:.4g}</td></tr>"
        for label, value in stats.as_dict().items()
    )
    css = "feature drifting" if stats.drifting else "feature"
    chart = (
        _histogram(name, bins.labels, bins.fractions, current)
        if total
        else "<p class='absent'>No value in this window.</p>"
    )
    return (
        f"<div class='{css}' data-feature='{escape(name)}'><h3>{escape(name)}</h3>"
        f"<p class='binning' data-binning='{bins.binning}'>{_binning(bins)}</p>"
        f"{chart}<table>{rows}</table></div>"
    )


def _binning(bins: ColumnBins) -> str:
    missing = f"; {bins.missing_fraction:.1%} missing in training"
    if bins.binning == "discrete":
        return f"one bin per value ({bins.size - 2}), values beyond them apart{missing}"
    if bins.binning == "quantile":
        return f"{bins.size} quantile bins{missing}"
    return f"{bins.size - 1} categories, unseen ones apart{missing}"


def _histogram(name: str, labels: Sequence[str], reference: np.ndarray, current: np.ndarray) -> str:
    """Grouped bars: reference and current share of each bin."""
    top = max(float(reference.max(initial=0)), float(current.max(initial=0)), 1e-9)
    slot = (WIDTH - 2 * MARGIN) / max(len(labels), 1)
    bar = slot * 0.4
    plot_height = HEIGHT - 2 * MARGIN
    shapes = []
    for i, label in enumerate(labels):
        x = MARGIN + i * slot
        for offset, share, colour in (
            (0.1, reference[i], REFERENCE_COLOUR),
            (0.5, current[i], CURRENT_COLOUR),
        ):
            h = plot_height * float(share) / top
            shapes.append(
                f"<rect x='{x + offset * slot:.1f}' y='{HEIGHT - MARGIN - h:.1f}' "
                f"width='{bar:.1f}' height='{h:.1f}' fill='{colour}'>"
                f"<title>{escape(label)}: {float(share):.1%}</title></rect>"
            )
        shapes.append(
            f"<text x='{x + slot / 2:.1f}' y='{HEIGHT - MARGIN + 12}' font-size='8' "
            f"text-anchor='middle'>{escape(_axis_label(label))}</text>"
        )
    axis = (
        f"<line x1='{MARGIN}' y1='{HEIGHT - MARGIN}' x2='{WIDTH - MARGIN}' "
        f"y2='{HEIGHT - MARGIN}' stroke='#333'/>"
        f"<text x='{MARGIN}' y='{MARGIN - 8}' font-size='9'>max {top:.0%}</text>"
    )
    return (
        f"<svg class='chart' role='img' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' xmlns='http://www.w3.org/2000/svg'>"
        f"<title>{escape(name)}: reference vs latest window</title>{axis}{''.join(shapes)}</svg>"
    )


def _error_section(errors: Iterable[tuple[ErrorKey, ErrorWindow]], *, quiet: bool) -> str:
    rows = []
    for (model, version, role), window in sorted(errors):
        summary = window.current()
        if summary is None:
            continue
        kind = "complete" if summary.complete else "partial"
        rows.append(
            f"<tr><td>{escape(model)}</td><td>{version}</td><td>{escape(role)}</td>"
            f"<td>{summary.rmse:.4g}</td><td>{summary.mae:.4g}</td>"
            f"<td>{summary.count} ({kind})</td></tr>"
        )
    if not rows:
        return "" if quiet else "<h2>Live error</h2><p>No labels joined yet.</p>"
    head = (
        "<tr><th>model</th><th>version</th><th>role</th><th>RMSE</th><th>MAE</th>"
        "<th>labels</th></tr>"
    )
    return f"<h2>Live error</h2><table id='live-error'>{head}{''.join(rows)}</table>"


def _axis_label(label: str, limit: int = 9) -> str:
    """A numeric bin by its lower edge, compactly (its full range is in the bar's tooltip)."""
    lower, separator, _ = label.partition(" to ")
    if separator:
        try:
            return _compact(float(lower))
        except ValueError:
            pass
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _compact(value: float) -> str:
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g}{suffix}"
    return f"{value:.3g}"
