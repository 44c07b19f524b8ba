from pathlib import Path

import pytest
from pydantic import ValidationError

from services.registry.config import Settings
from services.registry.sql import open_database

TOKEN = "registry-config-token-2b8d4f6a0c1e3a5c7e9b"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["TOKEN", "PORT", "DATA_DIR", "PROMOTION_MARGIN", "DATABASE_URL", "SPEC_CHECK"]:
        monkeypatch.delenv(f"MLBUS_REGISTRY_{name}", raising=False)


def test_settings_come_from_the_registry_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_REGISTRY_DATA_DIR", "/srv/registry")
    monkeypatch.setenv("MLBUS_REGISTRY_PROMOTION_MARGIN", "0.05")
    settings = Settings()
    assert settings.token.get_secret_value() == TOKEN
    assert settings.data_dir == Path("/srv/registry")
    assert settings.database_path == Path("/srv/registry/registry.sqlite3")
    assert settings.artifact_dir == Path("/srv/registry/artifacts")
    assert settings.promotion_margin == 0.05


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", TOKEN)
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
        Settings(token=TOKEN, promotion_margin=margin)


def test_sqlite_in_the_data_dir_unless_a_database_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_REGISTRY_DATA_DIR", "/srv/registry")
    assert Settings().database == "sqlite:////srv/registry/registry.sqlite3"
    assert Settings().spec_check is False
    url = "postgresql://mlbus:pw-secret@db:5432/registry"
    monkeypatch.setenv("MLBUS_REGISTRY_DATABASE_URL", url)
    monkeypatch.setenv("MLBUS_REGISTRY_SPEC_CHECK", "true")
    settings = Settings()
    assert settings.database == url
    assert settings.spec_check
    assert "pw-secret" not in repr(settings)  # the URL carries a password: a secret


def test_unknown_database_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        open_database("mysql://db/registry")
