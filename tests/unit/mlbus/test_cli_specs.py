"""`mlbus spec register` and `mlbus specs` against a real registry app served by uvicorn.

The registry's broker is not started here: its events wait in the outbox (the e2e test reads
them from a real broker); this test is about what the CLI sends and prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlbus.cli import _parser, _register_specs, _spec_paths, main
from mlbus.runner import StackConfig
from tests.support.spec_samples import churn, rentals, with_feature
from tests.unit.mlbus.conftest import TOKEN


def spec_file(tmp_path: Path, name: str, body: object) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


def test_register_prints_the_version_and_whether_it_is_new(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = spec_file(tmp_path, "rentals.yaml", rentals().model_dump(mode="json"))
    wider = with_feature(rentals(), {"name": "garden", "type": "boolean", "nullable": True})
    second = spec_file(tmp_path, "rentals-2.yaml", wider.model_dump(mode="json"))
    write = ["--registry", registry, "--token", TOKEN]
    assert main(["spec", "register", first, *write]) == 0
    assert main(["spec", "register", first, *write]) == 0
    assert main(["spec", "register", second, *write]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "rentals: spec v1 (major 1), new version",
        "rentals: spec v1 (major 1), unchanged, already the latest",
        "rentals: spec v2 (major 1), new version",
    ]


def test_an_incompatible_spec_fails_with_the_reasons_unless_major(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write = ["--registry", registry, "--token", TOKEN]
    first = spec_file(tmp_path, "a.yaml", churn().model_dump(mode="json"))
    assert main(["spec", "register", first, *write]) == 0
    fewer = spec_file(tmp_path, "b.yaml", churn(("stay", "gone")).model_dump(mode="json"))
    assert main(["spec", "register", fewer, *write]) == 1
    assert "409" in capsys.readouterr().err
    assert main(["spec", "register", fewer, "--major", *write]) == 0
    assert capsys.readouterr().out.strip() == "churn: spec v2 (major 2), new version"


def test_register_without_a_token_fails_and_specs_lists_without_one(
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLBUS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLBUS_REGISTRY_TOKEN", raising=False)
    path = spec_file(tmp_path, "r.yaml", rentals().model_dump(mode="json"))
    assert main(["spec", "register", path, "--registry", registry]) == 1
    assert "a registry token is needed" in capsys.readouterr().err
    assert main(["specs", "--registry", registry]) == 0
    assert capsys.readouterr().out.strip() == "no specs registered yet"
    main(["spec", "register", path, "--registry", registry, "--token", TOKEN])
    capsys.readouterr()
    assert main(["specs", "--registry", registry]) == 0
    assert capsys.readouterr().out.split() == [
        "rentals",
        "v1",
        "major",
        "1",
        "regression",
        "3",
        "features",
    ]


def test_up_takes_many_specs_starts_services_with_the_first_and_registers_each(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = spec_file(tmp_path, "rentals.yaml", rentals().model_dump(mode="json"))
    second = spec_file(tmp_path, "churn.yaml", churn().model_dump(mode="json"))
    args = _parser().parse_args(["up", "--spec", first, "--spec", second])
    paths = _spec_paths(args)
    assert paths == [Path(first).resolve(), Path(second).resolve()]
    config = StackConfig("b:1", tmp_path, spec_path=paths[0], registry_token=TOKEN)
    assert config.env()["MLBUS_INGEST_SPEC"] == str(Path(first).resolve())  # as before
    config.ports = {**config.ports, "registry": int(registry.rsplit(":", 1)[1])}
    _register_specs(config, paths)
    assert capsys.readouterr().out.splitlines() == [
        "  rentals: spec v1 (major 1), new version (rentals.yaml)",
        "  churn: spec v1 (major 1), new version (churn.yaml)",
    ]


def test_demo_keeps_a_single_spec() -> None:
    args = _parser().parse_args(["demo", "--spec", "a.yaml"])
    assert _spec_paths(args) == [Path("a.yaml").resolve()]
    assert _spec_paths(_parser().parse_args(["up"])) == []


def test_retire_prints_the_retirement_and_specs_shows_it(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write = ["--registry", registry, "--token", TOKEN]
    path = spec_file(tmp_path, "r.yaml", rentals().model_dump(mode="json"))
    assert main(["spec", "retire", "rentals", *write]) == 1  # not registered: 404
    assert "registry answered 404" in capsys.readouterr().err
    main(["spec", "register", path, *write])
    assert main(["spec", "retire", "rentals", "--reason", "replaced by flats", *write]) == 0
    assert main(["spec", "retire", "rentals", *write]) == 0
    first, again = capsys.readouterr().out.splitlines()[-2:]
    assert first.startswith("rentals: retired at v1 since ")
    assert first.endswith(": replaced by flats")
    assert again.startswith("rentals: already retired at v1 since ")
    assert main(["specs", "--registry", registry]) == 0
    listed = capsys.readouterr().out
    assert "retired since " in listed
    assert listed.rstrip().endswith(": replaced by flats")
