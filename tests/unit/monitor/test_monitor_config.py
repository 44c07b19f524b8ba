"""Monitor settings from MLBUS_MONITOR_* variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.monitor.config import Settings


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert defaults.port == 8005 and defaults.registry_url == "http://127.0.0.1:8003"
    assert (defaults.window_size, defaults.min_window, defaults.drift_windows) == (500, 100, 2)
    assert defaults.psi_threshold == 0.2

    monkeypatch.setenv("MLBUS_MONITOR_WINDOW_SIZE", "50")
    monkeypatch.setenv("MLBUS_MONITOR_MIN_WINDOW", "10")
    monkeypatch.setenv("MLBUS_MONITOR_PSI_THRESHOLD", "0.1")
    monkeypatch.setenv("MLBUS_MONITOR_REGISTRY_URL", "http://registry:8003")
    monkeypatch.setenv("MLBUS_KAFKA_TOPIC_PREFIX", "t.")
    settings = Settings()
    policy = settings.window_policy
    assert (policy.window_size, policy.min_window, policy.psi_threshold) == (50, 10, 0.1)
    assert settings.registry_url == "http://registry:8003"
    assert settings.kafka.topics.predict_results == "t.predict.results.v1"


def test_min_window_must_fit_in_a_window() -> None:
    with pytest.raises(ValidationError, match="min_window"):
        Settings(window_size=10, min_window=20)
