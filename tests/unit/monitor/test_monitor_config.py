"""Monitor settings from MLBUS_MONITOR_* variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.monitor.config import Settings


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert defaults.port == 8005
    assert defaults.registry_url == "http://127.0.0.1:8003"
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


def test_drift_decision_and_live_error_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.alpha, defaults.drift_share, defaults.cooldown_seconds) == (0.01, 0.05, 300)
    assert defaults.window_seconds is None
    assert defaults.error_window == 200
    monkeypatch.setenv("MLBUS_MONITOR_ALPHA", "0.05")
    monkeypatch.setenv("MLBUS_MONITOR_DRIFT_SHARE", "0.25")
    monkeypatch.setenv("MLBUS_MONITOR_COOLDOWN_SECONDS", "60")
    monkeypatch.setenv("MLBUS_MONITOR_WINDOW_SECONDS", "30")
    monkeypatch.setenv("MLBUS_MONITOR_JOIN_HORIZON_SECONDS", "120")
    settings = Settings()
    policy = settings.window_policy
    assert (policy.alpha, policy.drift_share, policy.cooldown_seconds) == (0.05, 0.25, 60)
    assert policy.window_seconds == 30
    assert settings.join_horizon_seconds == 120
    with pytest.raises(ValidationError, match="alpha"):
        Settings(alpha=1.5)


def test_effect_size_missing_rate_and_sequential_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings().window_policy
    assert (defaults.effect, defaults.wasserstein_threshold) == ("distance", 0.05)
    assert (defaults.total_variation_threshold, defaults.missing_threshold) == (0.05, 0.05)
    assert not defaults.sequential
    assert defaults.sequential_alpha == 0.001
    monkeypatch.setenv("MLBUS_MONITOR_EFFECT", "psi")
    monkeypatch.setenv("MLBUS_MONITOR_WASSERSTEIN_THRESHOLD", "0.2")
    monkeypatch.setenv("MLBUS_MONITOR_TOTAL_VARIATION_THRESHOLD", "0.1")
    monkeypatch.setenv("MLBUS_MONITOR_MISSING_THRESHOLD", "0.02")
    monkeypatch.setenv("MLBUS_MONITOR_SEQUENTIAL", "true")
    monkeypatch.setenv("MLBUS_MONITOR_SEQUENTIAL_ALPHA", "0.0005")
    policy = Settings().window_policy
    assert policy.rule.effect == "psi"
    assert policy.rule.threshold == 0.2
    assert (policy.wasserstein_threshold, policy.total_variation_threshold) == (0.2, 0.1)
    assert policy.missing_threshold == 0.02
    assert policy.sequential
    assert policy.sequential_rule.alpha == 0.0005
    with pytest.raises(ValidationError, match="effect"):
        Settings(effect="ks")
