"""`mlbus train`'s wait for the trainer's verdict on the command it published.

The trainer's GET /status names how its latest requests ended (uploaded, failed, skipped),
each with the request's reason; the CLI puts a tag of its own in the reason, so it knows its
command's verdict from another's, even when another run ended after it. A model the trainer
refused (ONNX parity) ends as failed, with the reason it also publishes as ModelRefused on the
registry topic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from mlbus.cli_models import CLASSIFIER_SCORES, scores_text


@dataclass(frozen=True)
class Verdict:
    """How the trainer ended one request."""

    outcome: str  # uploaded, failed or skipped
    detail: str
    version: int | None = None
    rmse: float | None = None
    snapshot_size: int = 0
    # A classifier's holdout scores (log_loss, accuracy, ...) and the one promotion compares
    # by, when the trainer reports them: shown instead of rmse.
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        return self.outcome == "uploaded" and self.version is not None

    @property
    def model_name(self) -> str | None:
        """The trained model's name: an upload's detail is "<name> v<version>"."""
        name, sep, _ = self.detail.rpartition(" v")
        return name if self.trained and sep else None

    def render(self) -> str:
        if self.trained:
            return f"trained {self.detail} on {self.snapshot_size:,} records{self._scores()}"
        if self.outcome == "skipped":
            return f"skipped: {self.detail}"
        if "refused" in self.detail:
            return f"refused: {self.detail}"
        return f"failed: {self.detail}"

    def _scores(self) -> str:
        shown = scores_text(self.scores)
        if shown:
            return f", holdout {shown}"
        return f", holdout rmse {self.rmse:.6g}" if self.rmse is not None else ""


def wait_for_verdict(
    trainer_url: str, reason: str, *, timeout: float, poll_seconds: float = 0.5
) -> Verdict:
    """The trainer's verdict on the request made with `reason`; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    last: str = "no answer yet"
    with httpx.Client(timeout=5.0) as client:
        while True:
            try:
                status = client.get(f"{trainer_url}/status").raise_for_status().json()
                verdict = verdict_of(status, reason)
                if verdict is not None:
                    return verdict
                last = _progress(status)
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{trainer_url}/status: {exc}"
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"no verdict from the trainer after {timeout:.0f}s ({last}); the command"
                    " was published and may still run: see the trainer's /status"
                )
            time.sleep(poll_seconds)


def verdict_of(status: dict[str, Any], reason: str) -> Verdict | None:
    """The verdict in a /status answer if it is about the request made with `reason`."""
    mine = f"command: {reason}"
    result = next((r for r in _results(status) if r.get("reason") == mine), None)
    if result is None:
        return None
    return Verdict(
        outcome=str(result.get("outcome")),
        detail=str(result.get("detail")),
        version=result.get("version"),
        rmse=result.get("rmse"),
        snapshot_size=int(result.get("snapshot_size") or 0),
        scores=_classifier_scores(result),
    )


def _results(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Every result a /status answer names, newest first within each data set: the start-up
    data set's, then each data set's (a trainer of one data set has no `datasets`)."""
    found: list[dict[str, Any]] = []
    datasets = status.get("datasets")
    for answer in [status, *(datasets.values() if isinstance(datasets, dict) else ())]:
        # A trainer older than `recent_results` has only its last result.
        results = answer.get("recent_results") or [answer.get("last_result")]
        found += [r for r in reversed(results) if isinstance(r, dict)]
    return found


def _classifier_scores(result: dict[str, Any]) -> dict[str, Any]:
    """The classifier scores of a trainer result, beside the metric promotion compares by."""
    scores = {name: result[name] for name in CLASSIFIER_SCORES if result.get(name) is not None}
    metric, score = result.get("metric"), result.get("score")
    if metric in CLASSIFIER_SCORES and score is not None:  # the trainer's /status says this
        scores.setdefault(metric, score)
    if scores and metric is not None:
        scores["metric"] = metric
    return scores


def _progress(status: dict[str, Any]) -> str:
    if status.get("running"):
        return "a run is in progress"
    return f"{status.get('records_buffered', '?')} records buffered, no verdict yet"


def registration(registry_url: str, model_name: str, version: int) -> str:
    """How the registry took the version: champion or challenger, and why."""
    url = f"{registry_url}/models/{model_name}/versions/{version}/details"
    try:
        details = httpx.get(url, timeout=15.0).raise_for_status().json()
        return f"registered as {details['registered_as']}: {details['decision_reason']}"
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return f"registry: cannot tell how it took v{version} ({url}: {exc!r:.200})"
