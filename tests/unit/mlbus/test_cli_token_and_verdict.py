"""The registry token `mlbus up` shares with promote/rollback, and `mlbus train`'s verdicts."""

from __future__ import annotations

import stat
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from mlbus import registry_token
from mlbus.cli import _say_where_the_token_is, main
from mlbus.cli_models import write_token
from mlbus.runner import StackConfig
from mlbus.train_verdict import Verdict, verdict_of


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLBUS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLBUS_REGISTRY_TOKEN", raising=False)
    return tmp_path / "state"


def test_up_uses_the_exported_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", "exported-token-1234")
    config = StackConfig("b:1", tmp_path)
    assert config.env()["MLBUS_REGISTRY_TOKEN"] == "exported-token-1234"
    _say_where_the_token_is(config)
    assert not (tmp_path / registry_token.TOKEN_FILE_NAME).exists()  # nothing to write down


def test_up_writes_a_generated_token_for_its_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = StackConfig("b:1", tmp_path)
    _say_where_the_token_is(config)
    path = tmp_path / registry_token.TOKEN_FILE_NAME
    assert f"registry token: in {path} (mode 0600)" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (
        registry_token.read_token(path)
        == config.registry_token
        == config.env()["MLBUS_REGISTRY_TOKEN"]
    )


def test_promote_finds_the_token_of_the_running_up(tmp_path: Path) -> None:
    path = registry_token.write_token_file(tmp_path, "generated-token")
    args = Namespace(token=None, token_file=None)
    with pytest.raises(RuntimeError, match="a registry token is needed"):
        write_token(args)
    registry_token.point_at(path)
    assert write_token(args) == "generated-token"
    registry_token.forget(path)  # `mlbus up` stopped
    assert not registry_token.pointer_path().exists()
    with pytest.raises(RuntimeError, match="a registry token is needed"):
        write_token(args)


def test_the_token_comes_from_option_then_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = registry_token.write_token_file(tmp_path, "from-file")
    assert write_token(Namespace(token=None, token_file=path)) == "from-file"
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", "from-env")
    assert write_token(Namespace(token=None, token_file=path)) == "from-env"
    assert write_token(Namespace(token="from-option", token_file=path)) == "from-option"
    monkeypatch.delenv("MLBUS_REGISTRY_TOKEN")
    with pytest.raises(RuntimeError, match="no registry token in"):
        write_token(Namespace(token=None, token_file=tmp_path / "missing"))


def test_promote_without_any_token_says_where_it_looked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["promote", "m", "1", "--registry", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "MLBUS_REGISTRY_TOKEN" in err
    assert "--token-file" in err


def _status(reason: str, **result: Any) -> dict[str, Any]:
    return {"running": False, "records_buffered": 10, "last_result": {"reason": reason, **result}}


def test_a_verdict_is_only_about_the_request_that_asked() -> None:
    mine = "requested from the CLI (abc)"
    assert verdict_of({"last_result": None}, mine) is None
    assert verdict_of(_status("command: someone else's", outcome="skipped"), mine) is None
    uploaded = verdict_of(
        _status(
            f"command: {mine}",
            outcome="uploaded",
            detail="wine-quality v3",
            version=3,
            rmse=0.5,
            snapshot_size=1200,
        ),
        mine,
    )
    assert uploaded is not None
    assert uploaded.trained
    assert uploaded.model_name == "wine-quality"
    assert uploaded.render() == "trained wine-quality v3 on 1,200 records, holdout rmse 0.5"


def test_a_verdict_is_found_after_another_run_ended_behind_it() -> None:
    mine = "requested from the CLI (def)"
    status = {
        "last_result": {"reason": "drift", "outcome": "uploaded", "detail": "m v4", "version": 4},
        "recent_results": [
            {"reason": f"command: {mine}", "outcome": "skipped", "detail": "too few"},
            {"reason": "drift", "outcome": "uploaded", "detail": "m v4", "version": 4},
        ],
    }
    verdict = verdict_of(status, mine)
    assert verdict is not None
    assert verdict.render() == "skipped: too few"


@pytest.mark.parametrize(
    ("outcome", "detail", "rendered"),
    [
        ("skipped", "10 records buffered, 200 needed", "skipped: 10 records buffered, 200 needed"),
        ("failed", "linear model refused: parity 4e-3", "refused: linear model refused: parity"),
        ("failed", "registry answered 500", "failed: registry answered 500"),
    ],
)
def test_verdicts_that_trained_nothing(outcome: str, detail: str, rendered: str) -> None:
    verdict = Verdict(outcome=outcome, detail=detail)
    assert not verdict.trained
    assert verdict.model_name is None
    assert verdict.render().startswith(rendered)


def test_a_verdict_is_found_under_the_data_set_it_trained() -> None:
    mine = "requested from the CLI (ghi)"
    start_up = {"recent_results": [{"reason": "drift", "outcome": "uploaded", "detail": "m v4"}]}
    rentals = {
        "recent_results": [
            {
                "reason": f"command: {mine}",
                "outcome": "uploaded",
                "detail": "rentals v2",
                "version": 2,
            },
        ]
    }
    status = start_up | {"datasets": {"house-prices": start_up, "rentals": rentals}}
    verdict = verdict_of(status, mine)
    assert verdict is not None
    assert verdict.model_name == "rentals"
    assert verdict_of(status, "requested from the CLI (other)") is None
