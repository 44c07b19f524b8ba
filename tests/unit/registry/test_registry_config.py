from pathlib import Path

import pytest
from pydantic import ValidationError

from services.registry.config import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["TOKEN", "PORT", "DATA_DIR", "PROMOTION_MARGIN"]:
        monkeypatch.delenv(f"MLBUS_REGISTRY_{name}", raising=False)


def test_settings_come_from_the_registry_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", "s3cret-token")
    monkeypatch.setenv("MLBUS_REGISTRY_DATA_DIR", "/srv/registry")
    monkeypatch.setenv("MLBUS_REGISTRY_PROMOTION_MARGIN", "0.05")
    settings = Settings()
    assert settings.token.get_secret_value() == "s3cret-token"
    assert settings.data_dir == Path("/srv/registry")
    assert settings.database_path == Path("/srv/registry/registry.sqlite3")
    assert settings.artifact_dir == Path("/srv/registry/artifacts")
    assert settings.promotion_margin == 0.05


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", "s3cret-token")
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8003)
    assert settings.data_dir == Path("var/registry")
    assert settings.promotion_margin == 0.0


def test_token_is_required() -> None:
    with pytest.raises(ValidationError, match="token"):
        Settings()


@pytest.mark.parametrize("placeholder", ["", "  ", "changeme", "CHANGEME"])
def test_placeholder_tokens_are_refused(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(token=placeholder)


@pytest.mark.parametrize("margin", [-0.1, 1.0])
def test_margin_must_be_a_fraction(margin: float) -> None:
    with pytest.raises(ValidationError, match="promotion_margin"):
        Settings(token="s3cret-token", promotion_margin=margin)
